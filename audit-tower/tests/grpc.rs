//! gRPC through a real tonic server and client: the status from the headers
//! (trailers-only) or the trailers, every status class, the peer from tonic's
//! connect info, strict refusal as `UNAVAILABLE`.

mod common;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::{AuditEvent, AuditScope, Delivery, Outcome, Request as AuditRequest, Resource};
use audit_tower::AuditLayer;
use common::{Trail, within};
use futures::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status};

use audit_testkit::proto::projects::projects_client::ProjectsClient;
use audit_testkit::proto::projects::projects_server::{Projects, ProjectsServer};
use audit_testkit::proto::projects::{
    GetProjectRequest, Project, UpdateProjectRequest, WatchProjectsRequest,
};

#[derive(Default)]
struct Service {
    updates: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Projects for Service {
    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        self.updates.fetch_add(1, Ordering::SeqCst);
        let r = request.into_inner();
        if r.name == "panic" {
            panic!("project store unavailable");
        }
        if let Some(scope) = AuditScope::current() {
            scope.add_resource(Resource::new("project", r.id.clone()));
        }
        if r.code != 0 {
            return Err(Status::new(Code::from(r.code), format!("cannot update {}", r.id)));
        }
        Ok(Response::new(Project { id: r.id, name: r.name }))
    }

    async fn get_project(
        &self,
        request: Request<GetProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        Ok(Response::new(Project { id: request.into_inner().id, name: "apollo".into() }))
    }

    type WatchProjectsStream = Pin<Box<dyn Stream<Item = Result<Project, Status>> + Send>>;

    async fn watch_projects(
        &self,
        request: Request<WatchProjectsRequest>,
    ) -> Result<Response<Self::WatchProjectsStream>, Status> {
        // Streaming calls are no reads by name: audit them.
        let code = request.into_inner().code;
        if code == -1 {
            // Never ends: the client has to go away.
            let forever =
                futures::stream::repeat_with(|| Ok(Project { id: "p_1".into(), name: "x".into() }))
                    .then(|item| async move {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                        item
                    });
            return Ok(Response::new(Box::pin(forever)));
        }
        let first = Ok(Project { id: "p_1".into(), name: "apollo".into() });
        let last = (code != 0).then(|| Err(Status::new(Code::from(code), "watch interrupted")));
        Ok(Response::new(Box::pin(futures::stream::iter(std::iter::once(first).chain(last)))))
    }
}

async fn serve(
    trail: &Trail,
    updates: Arc<AtomicUsize>,
) -> ProjectsClient<tonic::transport::Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(AuditLayer::new(trail.auditor.clone()))
        .add_service(ProjectsServer::new(Service { updates }));
    tokio::spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    ProjectsClient::new(channel)
}

fn update(id: &str, code: i32) -> UpdateProjectRequest {
    UpdateProjectRequest { id: id.into(), name: "apollo".into(), code }
}

fn by_resource<'a>(entries: &'a [AuditEvent], id: &str) -> &'a AuditEvent {
    let found: Vec<_> =
        entries.iter().filter(|e| e.resource.iter().any(|r| r.id.as_deref() == Some(id))).collect();
    assert_eq!(found.len(), 1, "one entry for {id}: {entries:#?}");
    found[0]
}

#[tokio::test]
async fn unary_success_has_the_status_from_the_trailers() {
    let trail = Trail::new();
    let mut client = serve(&trail, Arc::default()).await;
    let project = within(client.update_project(update("p_ok", 0))).await.unwrap();
    assert_eq!(project.get_ref().name, "apollo");
    // A read: not audited by the default policy.
    within(client.get_project(GetProjectRequest { id: "p_ok".into() })).await.unwrap();

    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let e = &entries[0];
    assert_eq!(e.event, "project.update");
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(
        e.source.ip,
        Some("127.0.0.1".parse().unwrap()),
        "the peer, from tonic's connect info"
    );
    let response = e.response.as_ref().unwrap();
    assert_eq!((response.status, response.grpc_status), (Some(200), Some(0)));
    match e.request.as_ref().unwrap() {
        AuditRequest::Grpc(g) => {
            assert_eq!(
                (g.service.as_str(), g.method.as_str()),
                ("projects.v1.Projects", "UpdateProject")
            );
        }
        other => panic!("not gRPC: {other:?}"),
    }
}

#[tokio::test]
async fn every_status_class_maps_to_its_outcome() {
    let trail = Trail::new();
    let mut client = serve(&trail, Arc::default()).await;
    let cases = [
        (Code::PermissionDenied, Outcome::Denied),
        (Code::Unauthenticated, Outcome::Denied),
        (Code::NotFound, Outcome::Failure),
        (Code::Internal, Outcome::Failure),
        (Code::InvalidArgument, Outcome::Failure),
        (Code::AlreadyExists, Outcome::Failure),
    ];
    for (code, _) in cases {
        let err = within(client.update_project(update(&format!("p_{}", code as i32), code as i32)))
            .await
            .unwrap_err();
        assert_eq!(err.code(), code);
    }
    let entries = trail.finish().await;
    assert_eq!(entries.len(), cases.len());
    for (code, outcome) in cases {
        let e = by_resource(&entries, &format!("p_{}", code as i32));
        assert_eq!(e.outcome, outcome, "{code:?}");
        // Trailers-only: the status came in the response headers.
        assert_eq!(e.response.as_ref().unwrap().grpc_status, Some(code as i32));
        let reason = e.reason.as_deref().unwrap();
        assert!(reason.starts_with(&format!("cannot update p_{}", code as i32)), "{reason}");
    }
}

#[tokio::test]
async fn streaming_status_comes_from_the_trailers() {
    let trail = Trail::new();
    let mut client = serve(&trail, Arc::default()).await;
    for code in [0, Code::FailedPrecondition as i32] {
        let mut stream = within(client.watch_projects(WatchProjectsRequest { code }))
            .await
            .unwrap()
            .into_inner();
        assert!(within(stream.next()).await.unwrap().is_ok(), "the first message arrives");
        let end = within(stream.next()).await;
        assert_eq!(end.is_some(), code != 0);
    }
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert!(entries.iter().all(|e| e.event == "project.watch"));
    let statuses: Vec<_> =
        entries.iter().map(|e| (e.response.as_ref().unwrap().grpc_status, e.outcome)).collect();
    assert!(statuses.contains(&(Some(0), Outcome::Success)), "{statuses:?}");
    assert!(statuses.contains(&(Some(9), Outcome::Failure)), "{statuses:?}");
}

#[tokio::test]
async fn a_panicking_rpc_is_internal_and_a_failure() {
    let trail = Trail::new();
    let mut client = serve(&trail, Arc::default()).await;
    let mut req = update("p_panic", 0);
    req.name = "panic".into();
    let err = within(client.update_project(req)).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, Outcome::Failure);
    // A fixed reason: the panic's message goes to the logs, not the entry.
    assert_eq!(entries[0].reason.as_deref(), Some("the handler panicked"));
    assert_eq!(entries[0].response.as_ref().unwrap().grpc_status, Some(13));
}

#[tokio::test]
async fn strict_refusal_is_unavailable_and_the_rpc_never_runs() {
    let trail = Trail::with_delivery(Delivery::Strict);
    let updates = Arc::new(AtomicUsize::new(0));
    let mut client = serve(&trail, updates.clone()).await;
    trail.written_genesis().await;
    trail.sink.control().set_down(true);
    let err = within(client.update_project(update("p_strict", 0))).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert_eq!(updates.load(Ordering::SeqCst), 0);
    trail.sink.control().set_down(false);

    // With the sink back, the call goes through with both strict entries.
    within(client.update_project(update("p_strict2", 0))).await.unwrap();
    assert_eq!(updates.load(Ordering::SeqCst), 1);
    let entries = trail.finish().await;
    let stages: Vec<_> =
        entries.iter().map(|e| e.metadata["stage"].as_str().unwrap().to_owned()).collect();
    assert_eq!(entries.len(), 4, "{stages:?}");
    for stage in ["received", "refused", "completed"] {
        assert!(stages.iter().any(|s| s == stage), "{stage} in {stages:?}");
    }
}

#[tokio::test]
async fn a_client_that_drops_a_stream_leaves_a_cancelled_entry() {
    let trail = Trail::new();
    let mut client = serve(&trail, Arc::default()).await;
    let mut stream = within(client.watch_projects(WatchProjectsRequest { code: -1 }))
        .await
        .unwrap()
        .into_inner();
    assert!(within(stream.next()).await.unwrap().is_ok());
    drop(stream);
    let entries = trail.wait_for(1).await;
    assert_eq!(entries[0].outcome, Outcome::Cancelled);
    assert_eq!(entries[0].response.as_ref().unwrap().grpc_status, None);
    assert_eq!(trail.finish().await.len(), 1);
}
