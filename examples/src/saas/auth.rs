//! Bearer-token and API-key authentication, inside the audit layer.
//!
//! The middleware runs *inside* the `AuditLayer`, so the layer has already
//! opened the request's [`AuditScope`] when it runs: on success it tells the
//! scope who is calling (and the tenant), on failure it answers 401 and marks
//! the scope audited and denied, so that even a rejected read leaves an entry
//! (failed authentication is what incident responders look for first).

use audit_core::{Actor, AsActor, AuditScope};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::model::Role;
use super::{ApiError, AppState};

/// The tenant of every demo identity.
pub const TENANT: &str = "acme";

/// The demo credentials: `(token, who)`. Send them as `Authorization: Bearer
/// <token>` or `X-Api-Key: <token>`.
pub const DEMO_TOKENS: [(&str, &str); 3] = [
    ("alice-token", "alice@example.com (admin)"),
    ("bob-token", "bob@example.com (member)"),
    ("ci-token", "API key `ci-deploy` (member)"),
];

/// Who is calling: a user or an API key of a tenant.
///
/// Handlers take it as an argument (it is an axum extractor); `#[audited]`
/// finds the actor in it through [`AsActor`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CurrentUser {
    /// The user id (`u_alice`) or API key id (`key_ci`).
    pub id: String,
    /// A display name (`Alice`, or the key's name `ci-deploy`).
    pub name: String,
    /// A user, with an email, or an API key.
    pub principal: Principal,
    /// What it may do.
    pub role: Role,
    /// Its tenant.
    pub tenant: String,
}

/// What kind of caller a [`CurrentUser`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Principal {
    /// A person.
    User {
        /// Their email address.
        email: String,
    },
    /// An API key.
    ApiKey,
}

impl CurrentUser {
    /// A user of the demo tenant.
    pub fn user(id: &str, name: &str, email: &str, role: Role) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            principal: Principal::User { email: email.to_owned() },
            role,
            tenant: TENANT.to_owned(),
        }
    }

    /// An API key of the demo tenant.
    pub fn api_key(id: &str, name: &str, role: Role) -> Self {
        Self {
            id: id.to_owned(),
            name: name.to_owned(),
            principal: Principal::ApiKey,
            role,
            tenant: TENANT.to_owned(),
        }
    }

    /// Fails with 403 unless the caller is an admin.
    pub fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Member => Err(ApiError::Forbidden(format!("only admins can {what}"))),
        }
    }
}

impl AsActor for CurrentUser {
    fn as_actor(&self) -> Actor {
        match &self.principal {
            Principal::User { email } => Actor::user(&self.id).name(&self.name).email(email),
            Principal::ApiKey => Actor::api_key(&self.id).name(&self.name),
        }
    }
}

/// The credential a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential<'a> {
    /// Neither header.
    Missing,
    /// `Authorization: Bearer <token>`.
    Bearer(&'a str),
    /// `X-Api-Key: <token>`.
    ApiKey(&'a str),
    /// An `Authorization` header of another scheme.
    Unsupported,
}

impl<'a> Credential<'a> {
    /// Reads the credential through a header lookup (HTTP headers or gRPC
    /// metadata); the `Authorization` header wins.
    pub(crate) fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        if let Some(value) = get("authorization") {
            let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
            return match token.trim() {
                token if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => {
                    Self::Bearer(token)
                }
                _ => Self::Unsupported,
            };
        }
        match get("x-api-key") {
            Some(token) if !token.trim().is_empty() => Self::ApiKey(token.trim()),
            _ => Self::Missing,
        }
    }

    fn from_headers(headers: &'a HeaderMap) -> Self {
        Self::from_lookup(|name| headers.get(name).and_then(|v| v.to_str().ok()))
    }

    /// The token, if any.
    pub(crate) fn token(self) -> Option<&'a str> {
        match self {
            Self::Bearer(t) | Self::ApiKey(t) => Some(t),
            Self::Missing | Self::Unsupported => None,
        }
    }

    /// Why authentication failed, for the audit entry's `reason` (the client
    /// only gets a generic 401).
    pub(crate) fn failure_reason(self) -> &'static str {
        match self {
            Self::Missing => "no credentials",
            Self::Bearer(_) => "unknown bearer token",
            Self::ApiKey(_) => "unknown or revoked API key",
            Self::Unsupported => "unsupported authorization scheme",
        }
    }
}

/// Tells the request's audit scope who is calling.
pub(crate) fn on_authenticated(scope: Option<&AuditScope>, user: &CurrentUser) {
    if let Some(scope) = scope {
        scope.set_actor(user);
        scope.set_tenant(user.tenant.clone());
    }
}

/// Marks the request's audit scope audited and denied.
pub(crate) fn on_rejected(scope: Option<&AuditScope>, credential: Credential<'_>) {
    if let Some(scope) = scope {
        scope.mark_audited();
        scope.deny(credential.failure_reason());
    }
}

/// The axum middleware: authenticates, or answers 401.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let scope = request.extensions().get::<AuditScope>().cloned();
    let credential = Credential::from_headers(request.headers());
    match state.authenticate(credential) {
        Some(user) => {
            on_authenticated(scope.as_ref(), &user);
            request.extensions_mut().insert(user.as_actor());
            request.extensions_mut().insert(user);
            next.run(request).await
        }
        None => {
            on_rejected(scope.as_ref(), credential);
            ApiError::Unauthenticated.into_response()
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Self>().cloned().ok_or(ApiError::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials() {
        let lookup = |pairs: &'static [(&'static str, &'static str)]| {
            Credential::from_lookup(move |name| {
                pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            })
        };
        assert_eq!(lookup(&[]), Credential::Missing);
        assert_eq!(lookup(&[("authorization", "Bearer abc")]), Credential::Bearer("abc"));
        assert_eq!(lookup(&[("authorization", "bearer  abc ")]), Credential::Bearer("abc"));
        assert_eq!(lookup(&[("authorization", "Basic YTpi")]), Credential::Unsupported);
        assert_eq!(lookup(&[("authorization", "Bearer")]), Credential::Unsupported);
        assert_eq!(lookup(&[("x-api-key", "k")]), Credential::ApiKey("k"));
        assert_eq!(
            lookup(&[("x-api-key", "k"), ("authorization", "Bearer t")]),
            Credential::Bearer("t")
        );
    }

    #[test]
    fn actors() {
        let alice = CurrentUser::user("u_alice", "Alice", "alice@example.com", Role::Admin);
        assert_eq!(alice.as_actor().to_string(), "alice@example.com");
        let ci = CurrentUser::api_key("key_ci", "ci-deploy", Role::Member);
        assert_eq!(ci.as_actor().to_string(), "api-key:ci-deploy");
        assert!(ci.require_admin("do that").is_err());
    }
}
