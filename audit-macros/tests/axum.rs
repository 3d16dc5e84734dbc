//! axum handlers behind `AuditLayer`: the handler fills the request's scope
//! and the layer records exactly one entry per request, with the extractors'
//! values captured without listing them.

mod common;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use audit_core::{Action, Actor, AsActor, AuditEvent, Auditor, Outcome, Resource, audited};
use audit_tower::AuditLayer;
use axum::body::Body;
use axum::extract::{Extension, Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use common::{auditor, recorded, request_body, response_body};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower::ServiceExt;

#[derive(Debug, Clone)]
struct CurrentUser {
    id: String,
    email: String,
}

impl AsActor for CurrentUser {
    fn as_actor(&self) -> Actor {
        Actor::user(&self.id).email(&self.email)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = StatusCode;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        let id = parts.headers.get("x-user").and_then(|v| v.to_str().ok());
        let id = id.ok_or(StatusCode::UNAUTHORIZED)?;
        Ok(Self { id: id.to_owned(), email: format!("{id}@example.com") })
    }
}

impl<S: Send + Sync> axum::extract::OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(<Self as FromRequestParts<S>>::from_request_parts(parts, state).await.ok())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Project {
    id: String,
    name: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct UpdateProject {
    name: String,
    webhook_secret: String,
    password: String,
}

#[derive(Clone, Default)]
struct Db(Arc<Mutex<HashMap<String, Project>>>);

#[derive(Debug)]
enum ApiError {
    NotFound(String),
    Forbidden,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound(id) => write!(f, "project {id} not found"),
            Self::Forbidden => f.write_str("only owners may do that"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden => StatusCode::FORBIDDEN,
        };
        (status, self.to_string()).into_response()
    }
}

#[audited(event = "project.update", redact(body.webhook_secret))]
async fn update(
    Path(id): Path<String>,
    user: CurrentUser,
    State(db): State<Db>,
    Json(body): Json<UpdateProject>,
) -> Result<Json<Project>, ApiError> {
    if user.id == "mallory" {
        return Err(ApiError::Forbidden);
    }
    let mut db = db.0.lock().unwrap();
    let project = db.get_mut(&id).ok_or_else(|| ApiError::NotFound(id.clone()))?;
    project.name = body.name;
    Ok(Json(project.clone()))
}

#[derive(Debug, Serialize, Deserialize)]
struct CreateProject {
    name: String,
}

#[audited(event = "project.create")]
async fn create(
    user: CurrentUser,
    State(db): State<Db>,
    Json(body): Json<CreateProject>,
) -> (StatusCode, Json<Project>) {
    let _ = user;
    let mut db = db.0.lock().unwrap();
    let project = Project { id: format!("p_{}", db.len() + 1), name: body.name };
    db.insert(project.id.clone(), project.clone());
    (StatusCode::CREATED, Json(project))
}

#[audited(event = "project.delete")]
async fn delete(
    Path(id): Path<String>,
    Extension(user): Extension<CurrentUser>,
    State(db): State<Db>,
) -> impl IntoResponse {
    let _ = user;
    match db.0.lock().unwrap().remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Invite {
    email: String,
    role: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct InviteOptions {
    notify: bool,
}

#[audited(event = "member.invite", description = "{actor} invited a member to {metadata.org}", metadata(org = org))]
async fn invite(
    Path((org, member)): Path<(String, String)>,
    Query(options): Query<InviteOptions>,
    user: CurrentUser,
    Form(form): Form<Invite>,
) -> StatusCode {
    let _ = (member, user);
    if options.notify && form.role.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::ACCEPTED
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Search {
    q: String,
}

#[audited(event = "project.export")]
async fn export(Query(search): Query<Search>, State(db): State<Db>) -> Json<Vec<Project>> {
    let db = db.0.lock().unwrap();
    Json(db.values().filter(|p| p.name.contains(&search.q)).cloned().collect())
}

#[derive(Debug, Serialize, Deserialize)]
struct ProjectPath {
    org: String,
    id: String,
}

#[audited(event = "project.archive")]
async fn archive(params: Path<ProjectPath>, user: Option<CurrentUser>) -> StatusCode {
    let _ = (params, user);
    StatusCode::OK
}

fn app(auditor: &Auditor, db: Db) -> Router {
    Router::new()
        .route("/projects", post(create))
        .route("/projects/export", get(export))
        .route("/projects/{id}", patch(update).delete(delete))
        .route("/orgs/{org}/members/{member}", post(invite))
        .route("/orgs/{org}/projects/{id}/archive", post(archive))
        .layer(axum::middleware::from_fn(
            |mut req: Request<Body>, next: axum::middleware::Next| async move {
                // authentication middleware, for the `Extension<CurrentUser>` handler
                if let Some(id) = req.headers().get("x-user").and_then(|v| v.to_str().ok()) {
                    let user =
                        CurrentUser { id: id.to_owned(), email: format!("{id}@example.com") };
                    req.extensions_mut().insert(user);
                }
                next.run(req).await
            },
        ))
        .layer(AuditLayer::new(auditor.clone()))
        .with_state(db)
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    user: &str,
    body: Option<(&str, String)>,
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(uri).header("x-user", user);
    if let Some((ct, _)) = &body {
        req = req.header("content-type", *ct);
    }
    let req = req.body(body.map(|(_, b)| Body::from(b)).unwrap_or_default()).unwrap();
    app.clone().oneshot(req).await.unwrap().status()
}

fn json_body(v: serde_json::Value) -> Option<(&'static str, String)> {
    Some(("application/json", v.to_string()))
}

fn seeded() -> Db {
    let db = Db::default();
    db.0.lock()
        .unwrap()
        .insert("p_42".into(), Project { id: "p_42".into(), name: "Apollo".into() });
    db
}

async fn entries_of(auditor: &Auditor, sink: &audit_core::testing::MemorySink) -> Vec<AuditEvent> {
    recorded(auditor, sink).await
}

#[tokio::test]
async fn update_handler_one_entry_with_everything_captured() {
    let (auditor, sink) = auditor();
    let app = app(&auditor, seeded());
    let body = json!({"name": "Artemis", "webhook_secret": "whsec_1", "password": "pw"});
    assert_eq!(
        call(&app, "PATCH", "/projects/p_42", "alice", json_body(body)).await,
        StatusCode::OK
    );

    let e = entries_of(&auditor, &sink).await;
    assert_eq!(e.len(), 1, "one request, one entry: {e:#?}");
    let e = &e[0];
    assert_eq!(e.event, "project.update");
    assert_eq!(e.action, Action::Update);
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.actor, Actor::user("alice").email("alice@example.com"));
    assert_eq!(e.resource, vec![Resource::new("project", "p_42")]);
    assert_eq!(
        request_body(e),
        json!({"name": "Artemis", "webhook_secret": "[REDACTED]", "password": "[REDACTED]"})
    );
    assert_eq!(response_body(e), json!({"id": "p_42", "name": "Artemis"}));
    assert_eq!(e.description, "alice@example.com updated project p_42");
    // what the layer adds
    let request = serde_json::to_value(&e.request).unwrap();
    assert_eq!(request["method"], "PATCH");
    assert_eq!(request["route"], "/projects/{id}");
    assert_eq!(e.response.as_ref().unwrap().status, Some(200));
}

#[tokio::test]
async fn errors_give_the_reason_and_forbidden_stays_denied() {
    let (auditor, sink) = auditor();
    let app = app(&auditor, seeded());
    let body = json!({"name": "x", "webhook_secret": "s", "password": "p"});
    assert_eq!(
        call(&app, "PATCH", "/projects/p_9", "alice", json_body(body.clone())).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "PATCH", "/projects/p_42", "mallory", json_body(body)).await,
        StatusCode::FORBIDDEN
    );
    let e = entries_of(&auditor, &sink).await;
    assert_eq!(e.len(), 2);
    assert_eq!(
        (e[0].outcome, e[0].reason.as_deref()),
        (Outcome::Failure, Some("project p_9 not found"))
    );
    assert_eq!(e[0].response.as_ref().unwrap().status, Some(404));
    assert_eq!(
        (e[1].outcome, e[1].reason.as_deref()),
        (Outcome::Denied, Some("only owners may do that"))
    );
}

#[tokio::test]
async fn create_delete_invite_and_an_audited_read() {
    let (auditor, sink) = auditor();
    let app = app(&auditor, seeded());
    assert_eq!(
        call(&app, "POST", "/projects", "bob", json_body(json!({"name": "Gemini"}))).await,
        StatusCode::CREATED
    );
    assert_eq!(call(&app, "DELETE", "/projects/p_42", "bob", None).await, StatusCode::NO_CONTENT);
    assert_eq!(call(&app, "DELETE", "/projects/p_42", "bob", None).await, StatusCode::NOT_FOUND);
    let form =
        Some(("application/x-www-form-urlencoded", "email=c%40example.com&role=admin".to_owned()));
    assert_eq!(
        call(&app, "POST", "/orgs/acme/members/m_7?notify=true", "bob", form).await,
        StatusCode::ACCEPTED
    );
    assert_eq!(call(&app, "GET", "/projects/export?q=Gem", "bob", None).await, StatusCode::OK);
    assert_eq!(
        call(&app, "POST", "/orgs/acme/projects/p_2/archive", "bob", None).await,
        StatusCode::OK
    );

    let e = entries_of(&auditor, &sink).await;
    let events: Vec<&str> = e.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "project.create",
            "project.delete",
            "project.delete",
            "member.invite",
            "project.export",
            "project.archive"
        ]
    );

    // create: the id comes from the returned `Json<Project>` inside the tuple
    assert_eq!(e[0].resource, vec![Resource::new("project", "p_2")]);
    assert_eq!(request_body(&e[0]), json!({"name": "Gemini"}));
    assert_eq!(response_body(&e[0]), json!({"id": "p_2", "name": "Gemini"}));
    assert_eq!(e[0].description, "bob@example.com created project p_2");

    // delete: `impl IntoResponse`; the actor from `Extension<CurrentUser>`;
    // the outcome from the status code
    assert_eq!(e[1].actor, Actor::user("bob").email("bob@example.com"));
    assert_eq!(e[1].resource, vec![Resource::new("project", "p_42")]);
    assert_eq!(e[1].outcome, Outcome::Success);
    assert_eq!(e[2].outcome, Outcome::Failure);

    // invite: form and query, keyed by name; the member id from the path
    assert_eq!(e[3].resource, vec![Resource::new("member", "m_7")]);
    assert_eq!(
        request_body(&e[3]),
        json!({"options": {"notify": true}, "form": {"email": "c@example.com", "role": "admin"}})
    );
    assert_eq!(e[3].description, "bob@example.com invited a member to acme");

    // a GET the default policy would not audit
    assert_eq!(e[4].action, Action::Read);
    assert_eq!(request_body(&e[4]), json!({"search": {"q": "Gem"}}));
    assert_eq!(response_body(&e[4]), json!([{"id": "p_2", "name": "Gemini"}]));

    // `Path<Struct>`: its `id` field; the actor from `Option<CurrentUser>`
    assert_eq!(e[5].resource, vec![Resource::new("project", "p_2")]);
    assert_eq!(e[5].actor, Actor::user("bob").email("bob@example.com"));
}
