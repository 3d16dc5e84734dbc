//! The gRPC scenario's service: `projects.v1.Projects/UpdateProject` (the
//! test proto of `audit_testkit::proto::projects`, generated at build time),
//! bare or behind `AuditLayer` with `#[audited]` on the method. Both check a
//! bearer token from the metadata and update an in-memory store.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use audit_core::{Actor, AuditScope, Auditor, audited};
use audit_tower::AuditLayer;
use futures::Stream;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Response, Status};

use crate::loadgen::Caller;

use audit_testkit::proto::projects::projects_client::ProjectsClient;
use audit_testkit::proto::projects::projects_server::{Projects, ProjectsServer};
use audit_testkit::proto::projects::{
    GetProjectRequest, Project, UpdateProjectRequest, WatchProjectsRequest,
};

const TOKEN: &str = "Bearer tok_5f2a9c1e7b4d";
const PROJECTS: usize = 100;

#[derive(Debug, Clone)]
struct Store {
    projects: Arc<Mutex<HashMap<String, Project>>>,
    users: Arc<HashMap<String, Actor>>,
}

impl Store {
    fn new() -> Self {
        let projects = (0..PROJECTS)
            .map(|i| {
                (format!("p_{i}"), Project { id: format!("p_{i}"), name: format!("Project {i}") })
            })
            .collect();
        let users =
            HashMap::from([(TOKEN.to_owned(), Actor::user("u_1").email("alice@example.com"))]);
        Self { projects: Arc::new(Mutex::new(projects)), users: Arc::new(users) }
    }

    fn authenticate<T>(&self, request: &Request<T>) -> Result<Actor, Status> {
        request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| self.users.get(t))
            .cloned()
            .ok_or_else(|| Status::unauthenticated("missing or unknown token"))
    }

    fn update(&self, r: UpdateProjectRequest) -> Result<Project, Status> {
        if r.code != 0 {
            return Err(Status::new(Code::from(r.code), "refused"));
        }
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let p = projects.get_mut(&r.id).ok_or_else(|| Status::not_found(r.id.clone()))?;
        p.name = r.name;
        Ok(p.clone())
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<Project, Status>> + Send>>;

#[derive(Debug, Clone)]
struct Bare(Store);

#[tonic::async_trait]
impl Projects for Bare {
    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        let _actor = self.0.authenticate(&request)?;
        Ok(Response::new(self.0.update(request.into_inner())?))
    }

    async fn get_project(
        &self,
        request: Request<GetProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        Ok(Response::new(Project { id: request.into_inner().id, name: String::new() }))
    }

    type WatchProjectsStream = WatchStream;

    async fn watch_projects(
        &self,
        _: Request<WatchProjectsRequest>,
    ) -> Result<Response<Self::WatchProjectsStream>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
}

#[derive(Debug, Clone)]
struct Audited(Store);

#[tonic::async_trait]
impl Projects for Audited {
    #[audited(event = "project.update", resource_id = request.get_ref().id.clone())]
    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        let actor = self.0.authenticate(&request)?;
        if let Some(scope) = AuditScope::current() {
            scope.set_actor(actor);
            scope.set_tenant("acme");
        }
        Ok(Response::new(self.0.update(request.into_inner())?))
    }

    async fn get_project(
        &self,
        request: Request<GetProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        Ok(Response::new(Project { id: request.into_inner().id, name: String::new() }))
    }

    type WatchProjectsStream = WatchStream;

    async fn watch_projects(
        &self,
        _: Request<WatchProjectsRequest>,
    ) -> Result<Response<Self::WatchProjectsStream>, Status> {
        Err(Status::unimplemented("not benchmarked"))
    }
}

/// Serves the service on 127.0.0.1:0 on the current runtime, behind
/// `AuditLayer` when given an auditor.
pub(crate) async fn serve(auditor: Option<Auditor>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let store = Store::new();
    match auditor {
        None => {
            let router =
                tonic::transport::Server::builder().add_service(ProjectsServer::new(Bare(store)));
            tokio::spawn(router.serve_with_incoming(incoming));
        }
        Some(auditor) => {
            let router = tonic::transport::Server::builder()
                .layer(AuditLayer::new(auditor))
                .add_service(ProjectsServer::new(Audited(store)));
            tokio::spawn(router.serve_with_incoming(incoming));
        }
    }
    Ok(addr)
}

/// One HTTP/2 connection sending `UpdateProject` calls one at a time.
#[derive(Debug)]
pub(crate) struct GrpcCaller {
    client: ProjectsClient<Channel>,
    next: usize,
    token: MetadataValue<tonic::metadata::Ascii>,
}

impl GrpcCaller {
    /// `n` connections to `addr`. Call on the load runtime.
    pub(crate) async fn many(
        addr: SocketAddr,
        n: usize,
    ) -> Result<Vec<Self>, tonic::transport::Error> {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let channel = Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?;
            out.push(Self {
                client: ProjectsClient::new(channel),
                next: i * 7,
                token: MetadataValue::from_static(TOKEN),
            });
        }
        Ok(out)
    }
}

impl Caller for GrpcCaller {
    async fn call(&mut self) -> Result<(), String> {
        let id = format!("p_{}", self.next % PROJECTS);
        self.next = self.next.wrapping_add(1);
        let mut request = Request::new(UpdateProjectRequest {
            id,
            name: "Apollo guidance computer".into(),
            code: 0,
        });
        request.metadata_mut().insert("authorization", self.token.clone());
        self.client.update_project(request).await.map(|_| ()).map_err(|s| s.to_string())
    }
}
