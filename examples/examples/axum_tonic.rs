//! An axum API and a tonic service, each behind an `AuditLayer`.
//!
//! By default the example starts both servers on ephemeral loopback ports,
//! sends a few requests (REST with reqwest, gRPC with the tonic client),
//! then prints every entry as a JSON line: one per audited request, with the
//! route template, the actor, the client IP, the captured and redacted body,
//! and the outcome. With `--serve` it keeps serving on 127.0.0.1:3000 (HTTP)
//! and 127.0.0.1:50051 (gRPC) until Ctrl-C.
//!
//! ```text
//! cargo run -p examples --example axum_tonic
//! cargo run -p examples --example axum_tonic -- --serve
//! curl -X POST localhost:3000/projects -H 'authorization: Bearer alice' \
//!      -H 'content-type: application/json' -d '{"name":"apollo","api_token":"s3cret"}'
//! ```
//!
//! The gRPC service is the `projects.v1` test proto of the workspace's
//! test-support crate (`audit_testkit::proto::projects`), generated at build
//! time with protox and tonic-prost-build (no `protoc`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use audit_core::testing::MemorySink;
use audit_core::{Actor, AuditScope, Auditor, Resource, audited};
use audit_tower::{Audit, AuditLayer, Level, Policy, Rule};
use axum::extract::{Path, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde_json::{Value, json};
use tonic::{Code, Status};

use audit_testkit::proto::projects as pb;
use pb::projects_client::ProjectsClient;
use pb::projects_server::{Projects, ProjectsServer};

// ---- HTTP -----------------------------------------------------------------

/// Authentication, inside the audit layer so rejected requests are audited
/// too: it tells the request's scope who is calling.
async fn authenticate(req: Request, next: Next) -> axum::response::Response {
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    match user {
        Some(user) => {
            if let Some(scope) = req.extensions().get::<AuditScope>() {
                scope.set_actor(Actor::user(user.clone()).email(format!("{user}@example.com")));
            }
            next.run(req).await
        }
        None if req.method() == Method::GET => next.run(req).await,
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

#[audited(event = "project.create")]
async fn create_project(Audit(audit): Audit, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let id = "p_42";
    audit.add_resource(Resource::new("project", id).name(body["name"].as_str().unwrap_or("")));
    (StatusCode::CREATED, Json(json!({"id": id, "name": body["name"]})))
}

#[audited(event = "project.rename")]
async fn rename_project(Path(id): Path<String>, Json(body): Json<Value>) -> Json<Value> {
    // The macro records the resource (from the path) and the request body;
    // the field-level change is the handler's to say.
    if let Some(scope) = AuditScope::current() {
        scope.record_changes(&json!({"name": "apollo"}), &json!({"name": body["name"]}));
    }
    Json(json!({"id": id, "name": body["name"]}))
}

#[audited(event = "project.delete")]
async fn delete_project(Path(id): Path<String>) -> StatusCode {
    if id == "p_locked" {
        return StatusCode::FORBIDDEN;
    }
    StatusCode::NO_CONTENT
}

async fn get_project(Path(id): Path<String>) -> Json<Value> {
    Json(json!({"id": id, "name": "apollo"}))
}

fn http_app(auditor: &Auditor) -> Router {
    let policy = Policy::default()
        // Keep the (redacted) request body of creations.
        .prepend(Rule::new().method(Method::POST).route("/projects").level(Level::Request));
    Router::new()
        .route("/projects", post(create_project))
        .route("/projects/{id}", get(get_project).patch(rename_project).delete(delete_project))
        .layer(middleware::from_fn(authenticate))
        .layer(AuditLayer::new(auditor.clone()).policy(policy))
}

// ---- gRPC -----------------------------------------------------------------

#[derive(Debug, Default)]
struct ProjectsService;

#[tonic::async_trait]
impl Projects for ProjectsService {
    #[audited(
        event = "project.update",
        actor = Actor::service("billing"),
        resource_id = request.get_ref().id
    )]
    async fn update_project(
        &self,
        request: tonic::Request<pb::UpdateProjectRequest>,
    ) -> Result<tonic::Response<pb::Project>, Status> {
        let r = request.into_inner();
        if r.code != 0 {
            return Err(Status::new(Code::from(r.code), "not allowed"));
        }
        Ok(tonic::Response::new(pb::Project { id: r.id, name: r.name }))
    }

    async fn get_project(
        &self,
        request: tonic::Request<pb::GetProjectRequest>,
    ) -> Result<tonic::Response<pb::Project>, Status> {
        Ok(tonic::Response::new(pb::Project { id: request.into_inner().id, name: "apollo".into() }))
    }

    type WatchProjectsStream = Pin<Box<dyn Stream<Item = Result<pb::Project, Status>> + Send>>;

    async fn watch_projects(
        &self,
        _: tonic::Request<pb::WatchProjectsRequest>,
    ) -> Result<tonic::Response<Self::WatchProjectsStream>, Status> {
        let one = pb::Project { id: "p_42".into(), name: "apollo".into() };
        Ok(tonic::Response::new(Box::pin(futures::stream::iter([Ok(one)]))))
    }
}

async fn serve_grpc(auditor: &Auditor, listener: tokio::net::TcpListener) {
    let server = tonic::transport::Server::builder()
        .layer(AuditLayer::new(auditor.clone()))
        .add_service(ProjectsServer::new(ProjectsService));
    tokio::spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        if let Err(e) = server.serve_with_incoming(incoming).await {
            eprintln!("gRPC server stopped: {e}");
        }
    });
}

async fn serve_http(auditor: &Auditor, listener: tokio::net::TcpListener) {
    let app = http_app(auditor).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("HTTP server stopped: {e}");
        }
    });
}

// ---- main -----------------------------------------------------------------

async fn demo(http: SocketAddr, grpc: SocketAddr) -> Result<(), Box<dyn std::error::Error>> {
    let c = reqwest::Client::builder().no_proxy().build()?;
    let base = format!("http://{http}");
    let created = c
        .post(format!("{base}/projects?return=full&token=abc"))
        .bearer_auth("alice")
        .json(&json!({"name": "apollo", "api_token": "s3cret"}))
        .send()
        .await?;
    println!("POST /projects -> {}", created.status());
    let renamed = c
        .patch(format!("{base}/projects/p_42"))
        .bearer_auth("alice")
        .json(&json!({"name": "artemis"}))
        .send()
        .await?;
    println!("PATCH /projects/p_42 -> {}", renamed.status());
    let denied = c.delete(format!("{base}/projects/p_locked")).bearer_auth("bob").send().await?;
    println!("DELETE /projects/p_locked -> {}", denied.status());
    let anonymous = c.delete(format!("{base}/projects/p_42")).send().await?;
    println!("DELETE /projects/p_42 (no token) -> {}", anonymous.status());
    let read = c.get(format!("{base}/projects/p_42")).send().await?;
    println!("GET /projects/p_42 -> {} (reads are not audited)", read.status());

    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))?.connect_lazy();
    let mut client = ProjectsClient::new(channel);
    let ok = client
        .update_project(pb::UpdateProjectRequest {
            id: "p_7".into(),
            name: "gemini".into(),
            code: 0,
        })
        .await;
    println!("gRPC UpdateProject -> {:?}", ok.map(|r| r.into_inner().name));
    let refused = client
        .update_project(pb::UpdateProjectRequest { id: "p_8".into(), name: "x".into(), code: 7 })
        .await;
    println!("gRPC UpdateProject -> {:?}", refused.map_err(|s| s.code()));
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let serve = std::env::args().any(|a| a == "--serve");
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .service("axum-tonic-example", env!("CARGO_PKG_VERSION"))
        .sink(sink.clone())
        .build()?;

    let (http_addr, grpc_addr) =
        if serve { ("127.0.0.1:3000", "127.0.0.1:50051") } else { ("127.0.0.1:0", "127.0.0.1:0") };
    let http = tokio::net::TcpListener::bind(http_addr).await?;
    let grpc = tokio::net::TcpListener::bind(grpc_addr).await?;
    let (http_addr, grpc_addr) = (http.local_addr()?, grpc.local_addr()?);
    serve_http(&auditor, http).await;
    serve_grpc(&auditor, grpc).await;

    if serve {
        println!("HTTP on http://{http_addr}, gRPC on {grpc_addr}; Ctrl-C to stop");
        tokio::signal::ctrl_c().await?;
    } else {
        demo(http_addr, grpc_addr).await?;
    }
    auditor.shutdown(Duration::from_secs(5)).await?;
    // Without the chain's genesis and checkpoint entries.
    let entries: Vec<_> =
        sink.entries().into_iter().filter(|e| !e.event.starts_with("audit.")).collect();
    println!("\n{} entries:", entries.len());
    for entry in &entries {
        println!("{}", serde_json::to_string(entry)?);
    }
    Ok(())
}
