//! The example SaaS API (`examples::saas`), served in-process as shipped:
//! `AuditLayer` with its policy (`RequestResponse` on the mutating routes),
//! `#[audited]` handlers and a file sink.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use audit_core::Auditor;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use bytes::Bytes;
use examples::saas::grpc::pb::UpdateProjectRequest;
use examples::saas::grpc::pb::projects_client::ProjectsClient;
use examples::saas::model::{NewProject, Role};
use examples::saas::{Config, CurrentUser, RunningServer, serve};
use serde_json::json;
use tonic::metadata::MetadataValue;
use tonic::transport::{Channel, Endpoint};

use crate::harness::BenchResult;
use crate::loadgen::{Caller, HttpTarget};

/// Projects created before the load (requests cycle over them).
const PROJECTS: usize = 100;

/// The new description every update sends.
const DESCRIPTION: &str = "Flight software for the command and lunar modules: guidance, \
    navigation and control, with the executive and the waitlist scheduler, the DSKY interface, \
    restart protection and the rendezvous radar routines, revision 2";

/// The running API and the ids of its projects.
#[derive(Debug)]
pub(crate) struct Saas {
    pub(crate) server: RunningServer,
    pub(crate) project_ids: Vec<String>,
}

impl Saas {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub(crate) fn grpc_addr(&self) -> Option<SocketAddr> {
        self.server.grpc_addr()
    }

    pub(crate) fn auditor(&self) -> Auditor {
        self.server.auditor().clone()
    }
}

/// Starts the API on 127.0.0.1:0 (and its gRPC server, when asked) with
/// its file sink in `dir`, and creates the projects. Call on the server
/// runtime.
pub(crate) async fn start(dir: &Path, grpc: bool) -> BenchResult<Saas> {
    let mut config = Config::new(dir.join("log"));
    if grpc {
        config = config.with_grpc();
    }
    let server = serve(config).await?;
    let alice = CurrentUser::user("u_alice", "Alice", "alice@example.com", Role::Admin);
    let mut project_ids = Vec::with_capacity(PROJECTS);
    for i in 0..PROJECTS {
        let p = server
            .state()
            .create_project(&alice, NewProject::named(format!("Project {i}")))
            .await?;
        project_ids.push(p.id);
    }
    Ok(Saas { server, project_ids })
}

/// `PATCH /projects/{id}` with a ~300-byte body, as alice.
pub(crate) fn target(project_ids: &[String]) -> HttpTarget {
    let body = json!({"description": DESCRIPTION, "visibility": "internal"});
    let mut headers = HeaderMap::new();
    headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer alice-token"));
    headers
        .insert(header::USER_AGENT, HeaderValue::from_static("audit-bench/0.1 (hyper; +loopback)"));
    HttpTarget {
        method: Method::PATCH,
        paths: project_ids.iter().map(|id| format!("/projects/{id}")).collect(),
        headers,
        body: Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
    }
}

/// One HTTP/2 connection sending the API's gRPC `UpdateProject`, one call
/// at a time, as alice.
#[derive(Debug)]
pub(crate) struct SaasGrpcCaller {
    client: ProjectsClient<Channel>,
    ids: Arc<[String]>,
    next: usize,
}

impl SaasGrpcCaller {
    /// `n` connections to `addr`. Call on the load runtime.
    pub(crate) async fn many(
        addr: SocketAddr,
        ids: &[String],
        n: usize,
    ) -> Result<Vec<Self>, tonic::transport::Error> {
        let ids: Arc<[String]> = ids.into();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let channel = Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?;
            out.push(Self { client: ProjectsClient::new(channel), ids: ids.clone(), next: i * 7 });
        }
        Ok(out)
    }
}

impl Caller for SaasGrpcCaller {
    async fn call(&mut self) -> Result<(), String> {
        let id = self.ids[self.next % self.ids.len()].clone();
        self.next = self.next.wrapping_add(1);
        let mut request = tonic::Request::new(UpdateProjectRequest {
            id,
            name: None,
            description: Some(DESCRIPTION.to_owned()),
            visibility: Some("internal".to_owned()),
        });
        request
            .metadata_mut()
            .insert("authorization", MetadataValue::from_static("Bearer alice-token"));
        self.client.update_project(request).await.map(|_| ()).map_err(|s| s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_about_300_bytes() {
        let n = target(&["p_1".to_owned()]).body.len();
        assert!((250..=350).contains(&n), "{n} bytes");
    }
}
