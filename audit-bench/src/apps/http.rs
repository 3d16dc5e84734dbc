//! The HTTP scenarios' service: `PATCH /projects/{id}` of a SaaS-style API
//! (bearer-token authentication, a JSON body of about 300 bytes, an
//! in-memory project store, field-level changes), served three ways:
//!
//! - **bare**: the router alone;
//! - **audited**: `AuditLayer` outside the authentication middleware and a
//!   handler marked `#[audited(event = "project.update")]`;
//! - **peer**: tower-http's `TraceLayer` with a span that carries the same
//!   fields as an audit entry (actor, tenant, resource, client address, user
//!   agent, request id, method, route, path, status, duration, outcome, the
//!   request body and the changes), logged as JSON by tracing-subscriber
//!   through tracing-appender's non-blocking writer in lossless mode.
//!
//! Every variant does the same handler work: authenticate, parse, update the
//! project under a lock, answer with it. Auditing (or tracing) is all that
//! differs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use audit_core::{Actor, AsActor, AuditScope, Auditor, audited};
use audit_tower::{AuditLayer, Level, Policy, Rule};
use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::patch;
use axum::{Json, Router};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::RwLock;
use tower_http::trace::TraceLayer;
use tracing::field::Empty;

use crate::loadgen::HttpTarget;

/// Projects in the store (requests cycle over them).
pub(crate) const PROJECTS: usize = 100;
/// The bearer token the load generator sends.
const TOKEN: &str = "tok_5f2a9c1e7b4d";

/// How the service is wrapped.
#[derive(Debug, Clone)]
pub(crate) enum Mode {
    /// No auditing, no tracing.
    Bare,
    /// `AuditLayer` + `#[audited]`.
    Audited(AuditOptions),
    /// `TraceLayer` + JSON logs (the server runtime's threads must have the
    /// peer's dispatcher as their default; see `apps::peer`).
    Peer,
}

/// The audited variant's settings.
#[derive(Debug, Clone)]
pub(crate) struct AuditOptions {
    pub(crate) auditor: Auditor,
    /// The policy level of the route (default: the layer's default,
    /// `Metadata`); `Request` records the request body.
    pub(crate) level: Option<Level>,
    /// The body capture cap (default: the layer's, 64 KiB).
    pub(crate) max_body_bytes: Option<usize>,
}

#[derive(Debug, Clone)]
struct AppState {
    projects: Arc<RwLock<HashMap<String, Project>>>,
    users: Arc<HashMap<String, CurrentUser>>,
}

/// The authenticated caller.
#[derive(Debug, Clone)]
struct CurrentUser {
    id: String,
    name: String,
    email: String,
    tenant: String,
}

impl AsActor for CurrentUser {
    fn as_actor(&self) -> Actor {
        Actor::user(&self.id).name(&self.name).email(&self.email)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = StatusCode;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<CurrentUser>().cloned().ok_or(StatusCode::UNAUTHORIZED)
    }
}

/// The body of `PATCH /projects/{id}`, as in the SaaS API.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ProjectPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    visibility: Option<String>,
}

/// A project, as in the SaaS API.
#[derive(Debug, Clone, Serialize)]
struct Project {
    id: String,
    name: String,
    description: String,
    visibility: String,
}

#[derive(Debug)]
enum ApiError {
    NotFound(String),
    Invalid(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(id) => write!(f, "project {id} not found"),
            Self::Invalid(why) => write!(f, "invalid request: {why}"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

/// The handler's work, shared by every variant (the SaaS API's
/// `update_project`): validate, update under the store's write lock.
/// Returns the project before and after.
async fn apply_update(
    app: &AppState,
    _user: &CurrentUser,
    id: &str,
    patch: ProjectPatch,
) -> Result<(Project, Project), ApiError> {
    let mut projects = app.projects.write().await;
    let before = projects.get(id).cloned().ok_or_else(|| ApiError::NotFound(id.to_owned()))?;
    let mut after = before.clone();
    if let Some(name) = patch.name {
        if name.is_empty() || name.len() > 64 {
            return Err(ApiError::Invalid("name must be 1 to 64 characters".into()));
        }
        after.name = name;
    }
    if let Some(description) = patch.description {
        after.description = description;
    }
    if let Some(visibility) = patch.visibility {
        if !matches!(visibility.as_str(), "private" | "internal" | "public") {
            return Err(ApiError::Invalid(format!("unknown visibility {visibility}")));
        }
        after.visibility = visibility;
    }
    projects.insert(id.to_owned(), after.clone());
    Ok((before, after))
}

async fn update_project_bare(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<ProjectPatch>,
) -> Result<Json<Project>, ApiError> {
    let (_, after) = apply_update(&app, &user, &id, body).await?;
    Ok(Json(after))
}

#[audited(event = "project.update")]
async fn update_project_audited(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<ProjectPatch>,
) -> Result<Json<Project>, ApiError> {
    let (before, after) = apply_update(&app, &user, &id, body).await?;
    if let Some(scope) = AuditScope::current() {
        scope.record_changes(&before, &after);
    }
    Ok(Json(after))
}

/// What a `TraceLayer` user writes to log the same fields as an audit entry.
async fn update_project_traced(
    State(app): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<ProjectPatch>,
) -> Result<Json<Project>, ApiError> {
    let span = tracing::Span::current();
    span.record("actor_id", user.id.as_str());
    span.record("actor_email", user.email.as_str());
    span.record("tenant", user.tenant.as_str());
    span.record("resource_id", id.as_str());
    if let Ok(body) = serde_json::to_string(&body) {
        span.record("request_body", body);
    }
    let (before, after) = apply_update(&app, &user, &id, body).await?;
    let changes = audit_core::diff::diff_serialize(&before, &after);
    if let Ok(changes) = serde_json::to_string(&changes) {
        span.record("changes", changes);
    }
    if let Ok(response) = serde_json::to_string(&after) {
        span.record("response_body", response);
    }
    Ok(Json(after))
}

/// Bearer-token authentication (inside the audit layer, so rejected
/// requests are audited too).
async fn authenticate(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let user = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| app.users.get(token))
        .cloned();
    let scope = req.extensions().get::<AuditScope>().cloned();
    match user {
        Some(user) => {
            // As the SaaS API does: tell the request's audit scope (if any)
            // who is calling.
            if let Some(scope) = scope {
                scope.set_actor(&user);
                scope.set_tenant(user.tenant.clone());
            }
            req.extensions_mut().insert(user);
            next.run(req).await
        }
        None => {
            if let Some(scope) = scope {
                scope.mark_audited();
                scope.deny("unknown bearer token");
            }
            StatusCode::UNAUTHORIZED.into_response()
        }
    }
}

fn state() -> AppState {
    let projects = (0..PROJECTS)
        .map(|i| {
            let id = format!("p_{i}");
            let p = Project {
                id: id.clone(),
                name: format!("Project {i}"),
                description: String::new(),
                visibility: "private".into(),
            };
            (id, p)
        })
        .collect();
    let users = HashMap::from([(
        TOKEN.to_owned(),
        CurrentUser {
            id: "u_alice".into(),
            name: "Alice".into(),
            email: "alice@example.com".into(),
            tenant: "acme".into(),
        },
    )]);
    AppState { projects: Arc::new(RwLock::new(projects)), users: Arc::new(users) }
}

/// The router of a variant.
pub(crate) fn router(mode: &Mode) -> Router {
    let state = state();
    let auth = middleware::from_fn_with_state(state.clone(), authenticate);
    match mode {
        Mode::Bare => Router::new()
            .route("/projects/{id}", patch(update_project_bare))
            .route_layer(auth)
            .with_state(state),
        Mode::Audited(options) => {
            let mut layer = AuditLayer::new(options.auditor.clone());
            if let Some(level) = options.level {
                layer = layer.policy(Policy::default().prepend(
                    Rule::new().method(Method::PATCH).route("/projects/{id}").level(level),
                ));
            }
            if let Some(max) = options.max_body_bytes {
                layer = layer.max_body_bytes(max);
            }
            Router::new()
                .route("/projects/{id}", patch(update_project_audited))
                .route_layer(auth)
                .layer(layer)
                .with_state(state)
        }
        Mode::Peer => {
            let trace = TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route =
                        req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
                    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
                    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
                    tracing::info_span!(
                        "request",
                        event = "project.update",
                        method = %req.method(),
                        route = route.as_deref().unwrap_or(""),
                        path = req.uri().path(),
                        query = req.uri().query().unwrap_or(""),
                        request_id = %uuid::Uuid::now_v7(),
                        user_agent = ua.unwrap_or(""),
                        client_address = ?ip,
                        service = "bench",
                        actor_id = Empty,
                        actor_email = Empty,
                        tenant = Empty,
                        resource_id = Empty,
                        request_body = Empty,
                        response_body = Empty,
                        changes = Empty,
                    )
                })
                .on_request(())
                .on_response(|res: &Response, latency: Duration, _: &tracing::Span| {
                    let status = res.status();
                    tracing::info!(
                        status = status.as_u16(),
                        duration_us = latency.as_micros() as u64,
                        outcome = if status.is_success() { "success" } else { "failure" },
                        "project.update"
                    );
                });
            Router::new()
                .route("/projects/{id}", patch(update_project_traced))
                .route_layer(auth)
                .layer(trace)
                .with_state(state)
        }
    }
}

/// Serves the router on 127.0.0.1:0 on the current runtime; returns the address.
pub(crate) async fn serve(router: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ =
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await;
    });
    Ok(addr)
}

/// The request body: a description and a visibility, about `size` bytes
/// of JSON (at least the ~300 bytes of the SaaS API's update).
pub(crate) fn body(size: usize) -> Bytes {
    let description = "Flight software for the command and lunar modules: guidance, navigation \
        and control, with the executive and the waitlist scheduler, the DSKY interface, \
        restart protection and the rendezvous radar routines, revision 2";
    let mut body = json!({"description": description, "visibility": "internal"});
    let base = serde_json::to_vec(&body).map(|v| v.len()).unwrap_or(0);
    if size > base {
        let padded = format!("{description}{}", " ".repeat(size - base));
        body["description"] = Value::String(padded);
    }
    Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
}

/// The load generator's request: `PATCH /projects/p_<n>` with the body.
pub(crate) fn target(body_size: usize) -> HttpTarget {
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {TOKEN}")).expect("valid header"),
    );
    headers
        .insert(header::USER_AGENT, HeaderValue::from_static("audit-bench/0.1 (hyper; +loopback)"));
    HttpTarget {
        method: Method::PATCH,
        paths: (0..PROJECTS).map(|i| format!("/projects/p_{i}")).collect(),
        headers,
        body: body(body_size),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_body_is_about_300_bytes_and_grows_on_request() {
        let n = body(0).len();
        assert!((250..=350).contains(&n), "{n} bytes");
        assert_eq!(body(300).len(), 300.max(n));
        assert_eq!(body(4096).len(), 4096);
    }
}
