//! Who performed an operation: [`Actor`], its [`ActorKind`], and [`AsActor`]
//! for the application's own user types.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of party performed an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ActorKind {
    /// A person with an account.
    User,
    /// An API key or personal access token.
    ApiKey,
    /// Another service, authenticated as itself.
    Service,
    /// The system itself: a scheduled job, a migration, the audit pipeline.
    System,
    /// Nobody authenticated.
    Anonymous,
}

impl ActorKind {
    /// The snake_case name used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiKey => "api_key",
            Self::Service => "service",
            Self::System => "system",
            Self::Anonymous => "anonymous",
        }
    }
}

impl fmt::Display for ActorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who performed an operation.
///
/// Displayed as the email for users that have one (`alice@example.com`),
/// `api-key:<name>` for API keys, `service:<name>`, `system:<name>`, and
/// `anonymous`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Actor {
    /// The email address, for users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The stable identifier (user id, key id, service name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What kind of party this is.
    pub kind: ActorKind,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Actor {
    fn of(kind: ActorKind, id: Option<String>) -> Self {
        Self { kind, id, name: None, email: None }
    }

    /// A user, by stable id; add `.email(..)` and `.name(..)` for display.
    pub fn user(id: impl Into<String>) -> Self {
        Self::of(ActorKind::User, Some(id.into()))
    }

    /// An API key, by key id; `.name(..)` is shown as `api-key:<name>`.
    pub fn api_key(id: impl Into<String>) -> Self {
        Self::of(ActorKind::ApiKey, Some(id.into()))
    }

    /// Another service, by name.
    pub fn service(name: impl Into<String>) -> Self {
        let name = name.into();
        Self { name: Some(name.clone()), ..Self::of(ActorKind::Service, Some(name)) }
    }

    /// The system itself, e.g. `Actor::system("billing-cron")`.
    pub fn system(name: impl Into<String>) -> Self {
        let name = name.into();
        Self { name: Some(name.clone()), ..Self::of(ActorKind::System, Some(name)) }
    }

    /// Nobody authenticated.
    pub fn anonymous() -> Self {
        Self::of(ActorKind::Anonymous, None)
    }

    /// Sets the display name.
    #[must_use]
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the email address.
    #[must_use]
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.email = Some(email.into());
        self
    }

    /// Whether nobody authenticated.
    pub fn is_anonymous(&self) -> bool {
        self.kind == ActorKind::Anonymous
    }
}

impl Default for Actor {
    fn default() -> Self {
        Self::anonymous()
    }
}

impl Actor {
    /// The display form, in pieces (`Display` and the default description
    /// share it; the description pushes the pieces without `fmt`).
    pub(crate) fn display_pieces(&self) -> [&str; 2] {
        let label = self.name.as_deref().or(self.id.as_deref()).unwrap_or("unknown");
        match self.kind {
            ActorKind::User => match (&self.email, &self.name, &self.id) {
                (Some(email), _, _) => [email, ""],
                (None, Some(name), _) => [name, ""],
                (None, None, Some(id)) => ["user:", id],
                (None, None, None) => ["user:unknown", ""],
            },
            ActorKind::ApiKey => ["api-key:", label],
            ActorKind::Service => ["service:", label],
            ActorKind::System => ["system:", label],
            ActorKind::Anonymous => ["anonymous", ""],
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.display_pieces().iter().try_for_each(|piece| f.write_str(piece))
    }
}

/// Objects that can say who they are as an [`Actor`].
///
/// Implement it for the application's own user type so the layer, the macro
/// and extractors can pick the actor up from request extensions or handler
/// arguments.
pub trait AsActor {
    /// The actor this value stands for.
    fn as_actor(&self) -> Actor;
}

impl AsActor for Actor {
    fn as_actor(&self) -> Actor {
        self.clone()
    }
}

impl<T: AsActor + ?Sized> AsActor for &T {
    fn as_actor(&self) -> Actor {
        (**self).as_actor()
    }
}

impl<T: AsActor + ?Sized> AsActor for std::sync::Arc<T> {
    fn as_actor(&self) -> Actor {
        (**self).as_actor()
    }
}
