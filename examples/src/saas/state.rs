//! [`AppState`]: the in-memory data of the demo tenant, the operations on it
//! (shared by the HTTP routes and the gRPC service), and the audit settings.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock as StdRwLock};

use audit_core::{AsActor, Auditor};
use audit_tower::IpNet;
use tokio::sync::RwLock;

use super::ApiError;
use super::auth::{Credential, CurrentUser, TENANT};
use super::model::{
    ApiKey, CreatedApiKey, Invite, Member, NewApiKey, NewProject, Project, ProjectPatch, Role,
    RoleChange, Settings, SettingsUpdate, SettingsView, Visibility,
};

/// Before and after an update, for `AuditScope::record_changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Updated<T> {
    /// The value before the change.
    pub before: T,
    /// The value after it.
    pub after: T,
}

/// The shared state: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    data: Arc<Data>,
    auditor: Auditor,
    trusted_proxies: Arc<[IpNet]>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("tenant", &TENANT)
            .field("auditor", &self.auditor)
            .field("trusted_proxies", &self.trusted_proxies)
            .finish_non_exhaustive()
    }
}

struct Data {
    projects: RwLock<BTreeMap<String, Project>>,
    members: RwLock<BTreeMap<String, Member>>,
    api_keys: RwLock<BTreeMap<String, ApiKey>>,
    settings: RwLock<Settings>,
    /// Token → identity. A std lock: looked up from the synchronous gRPC
    /// interceptor, never held across an `.await`. (A real service would
    /// store a hash of each token, not the token.)
    credentials: StdRwLock<HashMap<String, CurrentUser>>,
    next_id: AtomicU64,
}

impl AppState {
    /// The demo tenant `acme`, with its members alice (admin) and bob
    /// (member), the API key `ci-deploy`, and no projects; entries are
    /// recorded through `auditor`.
    pub fn new(auditor: Auditor) -> Self {
        let alice = CurrentUser::user("u_alice", "Alice", "alice@example.com", Role::Admin);
        let bob = CurrentUser::user("u_bob", "Bob", "bob@example.com", Role::Member);
        let ci = CurrentUser::api_key("key_ci", "ci-deploy", Role::Member);
        let members =
            [("m_1", "alice@example.com", Role::Admin), ("m_2", "bob@example.com", Role::Member)]
                .map(|(id, email, role)| {
                    (id.to_owned(), Member { id: id.to_owned(), email: email.to_owned(), role })
                });
        let ci_key = ApiKey {
            id: ci.id.clone(),
            name: ci.name.clone(),
            prefix: "ci-tok…".to_owned(),
            created_by: "alice@example.com".to_owned(),
        };
        let credentials = [("alice-token", alice), ("bob-token", bob), ("ci-token", ci)]
            .map(|(token, user)| (token.to_owned(), user));
        Self {
            data: Arc::new(Data {
                projects: RwLock::default(),
                members: RwLock::new(members.into_iter().collect()),
                api_keys: RwLock::new(BTreeMap::from([(ci_key.id.clone(), ci_key)])),
                settings: RwLock::new(Settings {
                    display_name: "Acme".to_owned(),
                    ..Settings::default()
                }),
                credentials: StdRwLock::new(credentials.into_iter().collect()),
                next_id: AtomicU64::new(1),
            }),
            auditor,
            trusted_proxies: Arc::new([]),
        }
    }

    /// Trusts these proxies (CIDRs) to report the client address in
    /// `Forwarded`, `X-Forwarded-For` or `X-Real-IP`. Default: none.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies = proxies.into_iter().collect();
        self
    }

    /// The auditor entries are recorded through.
    pub fn auditor(&self) -> &Auditor {
        &self.auditor
    }

    /// The trusted proxies.
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted_proxies
    }

    fn next_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.data.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// The caller a credential stands for, if any.
    pub(crate) fn authenticate(&self, credential: Credential<'_>) -> Option<CurrentUser> {
        let token = credential.token()?;
        let credentials = self.data.credentials.read().unwrap_or_else(PoisonError::into_inner);
        credentials.get(token).cloned()
    }

    // ---- projects -------------------------------------------------------------

    /// Every project, by id.
    pub async fn list_projects(&self) -> Vec<Project> {
        self.data.projects.read().await.values().cloned().collect()
    }

    /// One project.
    pub async fn get_project(&self, id: &str) -> Result<Project, ApiError> {
        let projects = self.data.projects.read().await;
        projects.get(id).cloned().ok_or_else(|| ApiError::not_found("project", id))
    }

    /// Creates a project: 422 for an invalid name or visibility, 409 for a
    /// name that is taken.
    pub async fn create_project(
        &self,
        _by: &CurrentUser,
        new: NewProject,
    ) -> Result<Project, ApiError> {
        let name = valid_name(&new.name)?;
        let visibility = Visibility::parse(&new.visibility)?;
        let mut projects = self.data.projects.write().await;
        ensure_unique(&projects, &name, None)?;
        let project =
            Project { id: self.next_id("p"), name, description: new.description, visibility };
        projects.insert(project.id.clone(), project.clone());
        Ok(project)
    }

    /// Changes some fields of a project.
    pub async fn update_project(
        &self,
        _by: &CurrentUser,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Updated<Project>, ApiError> {
        let mut projects = self.data.projects.write().await;
        let before = projects.get(id).cloned().ok_or_else(|| ApiError::not_found("project", id))?;
        let mut after = before.clone();
        if let Some(name) = patch.name {
            after.name = valid_name(&name)?;
            ensure_unique(&projects, &after.name, Some(id))?;
        }
        if let Some(description) = patch.description {
            after.description = description;
        }
        if let Some(visibility) = patch.visibility {
            after.visibility = Visibility::parse(&visibility)?;
        }
        projects.insert(id.to_owned(), after.clone());
        Ok(Updated { before, after })
    }

    /// Deletes a project and returns it.
    pub async fn delete_project(&self, _by: &CurrentUser, id: &str) -> Result<Project, ApiError> {
        let mut projects = self.data.projects.write().await;
        projects.remove(id).ok_or_else(|| ApiError::not_found("project", id))
    }

    // ---- API keys -------------------------------------------------------------

    /// Creates an API key (admins only); the answer is the only place its
    /// secret is shown.
    pub async fn create_api_key(
        &self,
        by: &CurrentUser,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, ApiError> {
        by.require_admin("create API keys")?;
        let name = valid_name(&new.name)?;
        let mut keys = self.data.api_keys.write().await;
        if keys.values().any(|k| k.name.eq_ignore_ascii_case(&name)) {
            return Err(ApiError::Conflict(format!("an API key named `{name}` already exists")));
        }
        let secret_key = new_secret()?;
        let key = ApiKey {
            id: self.next_id("key"),
            name,
            prefix: format!("{}…", &secret_key[..12]),
            created_by: by.as_actor().to_string(),
        };
        let identity = CurrentUser::api_key(&key.id, &key.name, Role::Member);
        self.data
            .credentials
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(secret_key.clone(), identity);
        keys.insert(key.id.clone(), key.clone());
        Ok(CreatedApiKey { id: key.id, name: key.name, prefix: key.prefix, secret_key })
    }

    /// Revokes an API key (admins only): its secret stops working at once.
    pub async fn revoke_api_key(&self, by: &CurrentUser, id: &str) -> Result<ApiKey, ApiError> {
        by.require_admin("revoke API keys")?;
        let mut keys = self.data.api_keys.write().await;
        let key = keys.remove(id).ok_or_else(|| ApiError::not_found("api_key", id))?;
        self.data
            .credentials
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, user| user.id != key.id);
        Ok(key)
    }

    // ---- members --------------------------------------------------------------

    /// Invites a member (admins only).
    pub async fn invite_member(
        &self,
        by: &CurrentUser,
        invite: Invite,
    ) -> Result<Member, ApiError> {
        by.require_admin("invite members")?;
        let email = invite.email.trim().to_ascii_lowercase();
        if !email.contains('@') || email.starts_with('@') || email.ends_with('@') {
            return Err(ApiError::invalid("email", format!("`{email}` is not an email address")));
        }
        let role: Role = invite.role.parse()?;
        let mut members = self.data.members.write().await;
        if members.values().any(|m| m.email == email) {
            return Err(ApiError::Conflict(format!("{email} is already a member")));
        }
        let member = Member { id: self.next_id("m"), email, role };
        members.insert(member.id.clone(), member.clone());
        Ok(member)
    }

    /// Changes a member's role (admins only).
    pub async fn change_role(
        &self,
        by: &CurrentUser,
        id: &str,
        change: RoleChange,
    ) -> Result<Updated<Member>, ApiError> {
        by.require_admin("change member roles")?;
        let role: Role = change.role.parse()?;
        let mut members = self.data.members.write().await;
        let member = members.get_mut(id).ok_or_else(|| ApiError::not_found("member", id))?;
        let before = member.clone();
        member.role = role;
        Ok(Updated { before, after: member.clone() })
    }

    // ---- settings -------------------------------------------------------------

    /// The settings, without the webhook secret.
    pub async fn settings(&self) -> SettingsView {
        SettingsView::from(&*self.data.settings.read().await)
    }

    /// Replaces the settings (admins only). The returned values include the
    /// webhook secret, so that `record_changes` can say it changed (the
    /// redactor masks both sides).
    pub async fn update_settings(
        &self,
        by: &CurrentUser,
        update: SettingsUpdate,
    ) -> Result<Updated<Settings>, ApiError> {
        by.require_admin("change settings")?;
        if update.display_name.trim().is_empty() {
            return Err(ApiError::invalid("display_name", "must not be empty"));
        }
        if let Some(url) = &update.webhook_url
            && !url.starts_with("https://")
        {
            return Err(ApiError::invalid("webhook_url", "must be an https:// URL"));
        }
        let mut settings = self.data.settings.write().await;
        let before = settings.clone();
        *settings = Settings {
            display_name: update.display_name,
            webhook_url: update.webhook_url,
            webhook_secret: update.webhook_secret,
            require_mfa: update.require_mfa,
        };
        Ok(Updated { before, after: settings.clone() })
    }
}

fn valid_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    match name.chars().count() {
        0 => Err(ApiError::invalid("name", "must not be empty")),
        65.. => Err(ApiError::invalid("name", "must be at most 64 characters")),
        _ => Ok(name.to_owned()),
    }
}

fn ensure_unique(
    projects: &BTreeMap<String, Project>,
    name: &str,
    except: Option<&str>,
) -> Result<(), ApiError> {
    let taken = projects
        .values()
        .any(|p| p.name.eq_ignore_ascii_case(name) && Some(p.id.as_str()) != except);
    if taken {
        return Err(ApiError::Conflict(format!("a project named `{name}` already exists")));
    }
    Ok(())
}

/// `sk_live_` and 32 random hex digits.
fn new_secret() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("could not generate a key: {e}")))?;
    Ok(format!("sk_live_{}", hex::encode(bytes)))
}
