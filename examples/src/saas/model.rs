//! What the API stores and exchanges.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ApiError;

/// A project of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Project {
    /// `p_1`, `p_2`, ...
    pub id: String,
    /// Unique within the tenant (case-insensitive), 1 to 64 characters.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Who can see it.
    pub visibility: Visibility,
}

/// Who can see a project.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Visibility {
    /// Members of the project only (the default).
    #[default]
    Private,
    /// Everyone in the tenant.
    Internal,
    /// Everyone.
    Public,
}

impl Visibility {
    /// `private`, `internal` or `public`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Internal => "internal",
            Self::Public => "public",
        }
    }

    /// Parses a client-supplied value; empty means the default.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "" | "private" => Ok(Self::Private),
            "internal" => Ok(Self::Internal),
            "public" => Ok(Self::Public),
            other => Err(ApiError::invalid(
                "visibility",
                format!("`{other}` is not one of private, internal, public"),
            )),
        }
    }
}

impl fmt::Display for Visibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The body of `POST /projects`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewProject {
    /// The name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `private` (default), `internal` or `public`.
    #[serde(default)]
    pub visibility: String,
}

impl NewProject {
    /// A project with a name and defaults for the rest.
    pub fn named(name: impl Into<String>) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

/// The body of `PATCH /projects/{id}`: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProjectPatch {
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A new description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A new visibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visibility: Option<String>,
}

/// A member's role in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// May do everything, including managing members, API keys and settings.
    Admin,
    /// May manage projects.
    Member,
}

impl Role {
    /// `admin` or `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ApiError;
    fn from_str(s: &str) -> Result<Self, ApiError> {
        match s {
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            other => {
                Err(ApiError::invalid("role", format!("`{other}` is not one of admin, member")))
            }
        }
    }
}

/// A member of the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Member {
    /// `m_1`, `m_2`, ...
    pub id: String,
    /// Their email address.
    pub email: String,
    /// Their role.
    pub role: Role,
}

/// The body of `POST /members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Invite {
    /// Who to invite.
    pub email: String,
    /// `admin` or `member` (default).
    #[serde(default = "member_role")]
    pub role: String,
}

fn member_role() -> String {
    Role::Member.as_str().to_owned()
}

/// The body of `PATCH /members/{id}/role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleChange {
    /// `admin` or `member`.
    pub role: String,
}

/// An API key, as listed: never with its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ApiKey {
    /// `key_1`, `key_2`, ...
    pub id: String,
    /// What it is for, e.g. `ci-deploy`.
    pub name: String,
    /// The first characters of the secret, to recognise it (`sk_live_3f9a…`).
    pub prefix: String,
    /// Who created it (actor display form).
    pub created_by: String,
}

/// The body of `POST /api-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NewApiKey {
    /// What it is for.
    pub name: String,
}

/// The answer to `POST /api-keys`: the only time the secret is shown. The
/// audit log keeps it as `"[REDACTED]"` (the `secret` in `secret_key`
/// matches the redactor's default key patterns).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreatedApiKey {
    /// The key's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its prefix.
    pub prefix: String,
    /// The secret to send as `X-Api-Key` or `Authorization: Bearer`.
    pub secret_key: String,
}

/// The tenant's settings, as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Settings {
    /// The tenant's display name.
    pub display_name: String,
    /// Where the tenant wants events delivered.
    pub webhook_url: Option<String>,
    /// The secret its webhook deliveries are signed with.
    pub webhook_secret: Option<String>,
    /// Whether members must use MFA.
    pub require_mfa: bool,
}

/// The body of `PUT /settings` (a full replacement).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SettingsUpdate {
    /// The tenant's display name.
    pub display_name: String,
    /// Where the tenant wants events delivered.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The secret its webhook deliveries are signed with.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Whether members must use MFA.
    #[serde(default)]
    pub require_mfa: bool,
}

/// The settings as the API shows them: the webhook secret is write-only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SettingsView {
    /// The tenant's display name.
    pub display_name: String,
    /// Where the tenant wants events delivered.
    pub webhook_url: Option<String>,
    /// Whether deliveries are signed (a webhook secret is set).
    pub webhook_signed: bool,
    /// Whether members must use MFA.
    pub require_mfa: bool,
}

impl From<&Settings> for SettingsView {
    fn from(s: &Settings) -> Self {
        Self {
            display_name: s.display_name.clone(),
            webhook_url: s.webhook_url.clone(),
            webhook_signed: s.webhook_secret.is_some(),
            require_mfa: s.require_mfa,
        }
    }
}
