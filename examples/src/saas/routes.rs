//! The HTTP API: [`app`], its handlers and its audit [`policy`].

use audit_core::{Action, AuditScope, audited};
use audit_tower::{AuditLayer, Level, Policy, Protocol, Rule};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{delete, get, patch, post};
use axum::{Json, Router, middleware};

use super::auth::{self, CurrentUser};
use super::model::{
    ApiKey, CreatedApiKey, Invite, Member, NewApiKey, NewProject, Project, ProjectPatch,
    RoleChange, SettingsUpdate, SettingsView,
};
use super::{ApiError, AppState};

/// The audited routes: `(method, route template, event)`.
///
/// The handlers name their event with `#[audited]`; the policy names it too,
/// so that a request refused before its handler runs (401) carries the same
/// event name.
pub const AUDITED_ROUTES: [(Method, &str, &str); 8] = [
    (Method::POST, "/projects", "project.create"),
    (Method::PATCH, "/projects/{id}", "project.update"),
    (Method::DELETE, "/projects/{id}", "project.delete"),
    (Method::POST, "/api-keys", "api_key.create"),
    (Method::DELETE, "/api-keys/{id}", "api_key.revoke"),
    (Method::POST, "/members", "member.invite"),
    (Method::PATCH, "/members/{id}/role", "member.role_change"),
    (Method::PUT, "/settings", "settings.update"),
];

/// The audit policy of the HTTP and gRPC servers.
///
/// - the [`AUDITED_ROUTES`] at [`Level::RequestResponse`]: request and
///   response bodies are kept (redacted);
/// - gRPC reads (`GetProject`) not audited, other gRPC calls at
///   [`Level::Metadata`] (`#[audited]` records their messages);
/// - any other mutation at [`Level::Metadata`], as the default policy does.
///
/// Reads are not audited, except that a request refused for lack of
/// credentials always is (the authentication middleware marks it).
pub fn policy() -> Policy {
    let mut policy = Policy::new();
    for (method, route, event) in AUDITED_ROUTES {
        policy = policy.rule(
            Rule::new()
                .protocol(Protocol::Http)
                .method(method)
                .route(route)
                .event(event)
                .level(Level::RequestResponse),
        );
    }
    policy.rule(Rule::new().protocol(Protocol::Grpc).action(Action::Read).level(Level::None)).rule(
        Rule::new()
            .methods([Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .level(Level::Metadata),
    )
}

/// The audit layer of both servers: [`policy`], and the state's trusted
/// proxies.
pub fn audit_layer(state: &AppState) -> AuditLayer {
    AuditLayer::new(state.auditor().clone())
        .policy(policy())
        .trusted_proxies(state.trusted_proxies().iter().copied())
}

/// The HTTP API.
///
/// ```text
/// GET    /projects                 list (not audited)
/// POST   /projects                 project.create
/// GET    /projects/{id}            read (not audited)
/// PATCH  /projects/{id}            project.update, with field-level changes
/// DELETE /projects/{id}            project.delete
/// POST   /api-keys                 api_key.create (admins; the answer carries `secret_key`)
/// DELETE /api-keys/{id}            api_key.revoke (admins)
/// POST   /members                  member.invite (admins)
/// PATCH  /members/{id}/role        member.role_change (admins)
/// GET    /settings                 read (not audited)
/// PUT    /settings                 settings.update (admins; may carry `webhook_secret`)
/// ```
///
/// Layers, outside in: the `AuditLayer` (every request gets a scope; the
/// policy decides what is recorded), then authentication (401 without a
/// known token), then the handler. Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the client
/// address is known.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/projects", get(list_projects).post(create_project))
        .route("/projects/{id}", get(get_project).patch(update_project).delete(delete_project))
        .route("/api-keys", post(create_api_key))
        .route("/api-keys/{id}", delete(revoke_api_key))
        .route("/members", post(invite_member))
        .route("/members/{id}/role", patch(change_member_role))
        .route("/settings", get(get_settings).put(update_settings))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(audit_layer(&state))
        .with_state(state)
}

async fn list_projects(State(state): State<AppState>) -> Json<Vec<Project>> {
    Json(state.list_projects().await)
}

async fn get_project(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Project>, ApiError> {
    state.get_project(&id).await.map(Json)
}

#[audited(event = "project.create")]
async fn create_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<NewProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let project = state.create_project(&user, body).await?;
    Ok((StatusCode::CREATED, Json(project)))
}

#[audited(event = "project.update")]
async fn update_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<ProjectPatch>,
) -> Result<Json<Project>, ApiError> {
    let updated = state.update_project(&user, &id, body).await?;
    if let Some(scope) = AuditScope::current() {
        scope.record_changes(&updated.before, &updated.after);
    }
    Ok(Json(updated.after))
}

#[audited(event = "project.delete")]
async fn delete_project(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let project = state.delete_project(&user, &id).await?;
    if let Some(scope) = AuditScope::current() {
        scope.set_metadata("name", &project.name);
    }
    Ok(StatusCode::NO_CONTENT)
}

#[audited(event = "api_key.create")]
async fn create_api_key(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    let key = state.create_api_key(&user, body).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

#[audited(event = "api_key.revoke")]
async fn revoke_api_key(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    state.revoke_api_key(&user, &id).await.map(Json)
}

#[audited(event = "member.invite")]
async fn invite_member(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<Invite>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let member = state.invite_member(&user, body).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[audited(event = "member.role_change")]
async fn change_member_role(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<String>,
    Json(body): Json<RoleChange>,
) -> Result<Json<Member>, ApiError> {
    let updated = state.change_role(&user, &id, body).await?;
    if let Some(scope) = AuditScope::current() {
        scope.record_changes(&updated.before, &updated.after);
    }
    Ok(Json(updated.after))
}

async fn get_settings(State(state): State<AppState>) -> Json<SettingsView> {
    Json(state.settings().await)
}

#[audited(event = "settings.update", resource_id = user.tenant)]
async fn update_settings(
    State(state): State<AppState>,
    user: CurrentUser,
    Json(body): Json<SettingsUpdate>,
) -> Result<Json<SettingsView>, ApiError> {
    let updated = state.update_settings(&user, body).await?;
    if let Some(scope) = AuditScope::current() {
        // `webhook_secret` is in both: its change is recorded, its values
        // are redacted.
        scope.record_changes(&updated.before, &updated.after);
    }
    Ok(Json(SettingsView::from(&updated.after)))
}
