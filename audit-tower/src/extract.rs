//! The axum extractor: [`Audit`].

use std::ops::Deref;

use audit_core::{Actor, AuditScope};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

/// The request's [`AuditScope`], for handlers that add resources, changes or
/// metadata by hand.
///
/// A newtype because `AuditScope` lives in `audit-core`, which knows nothing
/// of axum; [`AuditScope::current`] reaches the same scope from anywhere in
/// the handler's task. Extracting it also picks up an [`Actor`] that
/// authentication middleware inside the layer put in the request extensions,
/// unless the scope already has one.
///
/// ```
/// use audit_core::Resource;
/// use audit_tower::Audit;
/// use axum::extract::Path;
///
/// async fn archive(Audit(audit): Audit, Path(id): Path<String>) -> &'static str {
///     audit.add_resource(Resource::new("project", id));
///     audit.set_metadata("archived_by", "owner");
///     "archived"
/// }
/// # let _ = axum::Router::<()>::new().route("/projects/{id}/archive", axum::routing::post(archive));
/// ```
///
/// Use `Option<Audit>` where the layer may be missing; a plain `Audit`
/// without the layer is rejected with [`MissingAuditLayer`] (a 500).
#[derive(Debug, Clone)]
pub struct Audit(pub AuditScope);

impl Deref for Audit {
    type Target = AuditScope;

    fn deref(&self) -> &AuditScope {
        &self.0
    }
}

fn scope_of(parts: &Parts) -> Option<AuditScope> {
    let scope = parts.extensions.get::<AuditScope>()?.clone();
    if let Some(actor) = parts.extensions.get::<Actor>() {
        scope.set_actor_if_unset(actor.clone());
    }
    Some(scope)
}

impl<S: Send + Sync> FromRequestParts<S> for Audit {
    type Rejection = MissingAuditLayer;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        scope_of(parts).map(Audit).ok_or(MissingAuditLayer)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Audit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(scope_of(parts).map(Audit))
    }
}

/// The rejection of [`Audit`] when the request did not pass through an
/// [`AuditLayer`](crate::AuditLayer): a 500, since it is a wiring mistake.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct MissingAuditLayer;

impl std::fmt::Display for MissingAuditLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "no audit scope in the request: add `AuditLayer` to the router (`Router::layer`) \
             before using the `Audit` extractor",
        )
    }
}

impl std::error::Error for MissingAuditLayer {}

impl IntoResponse for MissingAuditLayer {
    fn into_response(self) -> Response {
        tracing::error!("{self}");
        (StatusCode::INTERNAL_SERVER_ERROR, self.to_string()).into_response()
    }
}
