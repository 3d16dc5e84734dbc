//! tonic service methods inside a `#[tonic::async_trait]` impl: the
//! `Box::pin(async move { .. })` body is recognised, the request message is
//! captured (`Serialize`, else `Debug` read back as JSON), and an error `Status` gives the
//! reason and the outcome.

mod common;

use audit_core::{AuditScope, Auditor, Outcome, Resource, audited};
use common::{auditor, recorded, request_body, response_body};
use serde::Serialize;
use serde_json::json;
use tonic::{Code, Request, Response, Status};

/// Like a prost message: `Debug`, not `Serialize`.
#[derive(Debug, Clone)]
struct DeleteProjectRequest {
    id: String,
}

#[derive(Debug, Clone, Serialize)]
struct UpdateProjectRequest {
    id: String,
    name: String,
    password: String,
}

#[derive(Debug, Clone, Serialize)]
struct Project {
    id: String,
    name: String,
}

#[tonic::async_trait]
trait Projects: Send + Sync + 'static {
    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status>;
    async fn delete_project(
        &self,
        request: Request<DeleteProjectRequest>,
    ) -> Result<Response<()>, Status>;
}

struct Service {
    auditor: Auditor,
}

#[tonic::async_trait]
impl Projects for Service {
    #[audited(event = "project.update", auditor = self.auditor, resource_id = request.get_ref().id)]
    async fn update_project(
        &self,
        request: Request<UpdateProjectRequest>,
    ) -> Result<Response<Project>, Status> {
        let req = request.into_inner();
        if req.name.is_empty() {
            return Err(Status::invalid_argument("name must not be empty"));
        }
        Ok(Response::new(Project { id: req.id, name: req.name }))
    }

    #[audited(event = "project.delete", auditor = self.auditor, resource_id = request.get_ref().id)]
    async fn delete_project(
        &self,
        request: Request<DeleteProjectRequest>,
    ) -> Result<Response<()>, Status> {
        if request.get_ref().id == "p_owned_by_bob" {
            return Err(Status::permission_denied("not an owner"));
        }
        let _ = self.auditor.delivery();
        Ok(Response::new(()))
    }
}

fn update(id: &str, name: &str) -> Request<UpdateProjectRequest> {
    Request::new(UpdateProjectRequest { id: id.into(), name: name.into(), password: "pw".into() })
}

#[tokio::test]
async fn records_message_response_and_status_outside_a_layer() {
    let (auditor, sink) = auditor();
    let svc = Service { auditor: auditor.clone() };
    let project = svc.update_project(update("p_1", "Apollo")).await.unwrap();
    assert_eq!(project.get_ref().name, "Apollo");
    let err = svc.update_project(update("p_1", "")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    svc.delete_project(Request::new(DeleteProjectRequest { id: "p_2".into() })).await.unwrap();
    let denied =
        svc.delete_project(Request::new(DeleteProjectRequest { id: "p_owned_by_bob".into() }));
    assert_eq!(denied.await.unwrap_err().code(), Code::PermissionDenied);

    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 4);
    // Serialize: the message as JSON, redacted
    assert_eq!(
        request_body(&e[0]),
        json!({"id": "p_1", "name": "Apollo", "password": "[REDACTED]"})
    );
    assert_eq!(response_body(&e[0]), json!({"id": "p_1", "name": "Apollo"}));
    assert_eq!(e[0].resource, vec![Resource::new("project", "p_1")]);
    assert_eq!(e[0].outcome, Outcome::Success);
    // an error status: the message is the reason, the code is kept
    assert_eq!(
        (e[1].outcome, e[1].reason.as_deref()),
        (Outcome::Failure, Some("name must not be empty"))
    );
    assert_eq!(e[1].response.as_ref().unwrap().grpc_status, Some(3));
    // Debug only: the message's Debug output, read back as JSON
    assert_eq!(request_body(&e[2]), json!({"id": "p_2"}));
    assert_eq!(e[2].outcome, Outcome::Success);
    // PERMISSION_DENIED is denied
    assert_eq!((e[3].outcome, e[3].reason.as_deref()), (Outcome::Denied, Some("not an owner")));
    assert_eq!(e[3].description, "anonymous deleted project p_owned_by_bob (denied)");
}

#[tokio::test]
async fn fills_the_request_scope_inside_a_layer() {
    let (auditor, sink) = auditor();
    let svc = Service { auditor: auditor.clone() };
    let scope = AuditScope::new();
    let result = scope.clone().scope(svc.update_project(update("p_1", ""))).await;
    assert!(result.is_err());
    let e = scope.build_event("unused");
    assert_eq!(e.event, "project.update");
    assert_eq!(
        (e.outcome, e.reason.as_deref()),
        (Outcome::Failure, Some("name must not be empty"))
    );
    // the layer reads the gRPC status from the response itself
    assert!(e.response.is_none());
    assert!(recorded(&auditor, &sink).await.is_empty());
}
