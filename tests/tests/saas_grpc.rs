//! The gRPC counterpart of the SaaS API, through a real tonic server and
//! client on loopback: CreateProject, UpdateProject and DeleteProject leave
//! one entry each with the RPC fields (service, method, message, grpc
//! status) and the outcome; GetProject (a read) leaves none; an
//! unauthenticated call is denied; both protocols share one state.

use audit_core::{Action, Outcome, Request, Resource};
use examples::saas::grpc::pb;
use pb::projects_client::ProjectsClient;
use reqwest::Method;
use serde_json::json;
use tests::{Api, request_body, response_body};
use tonic::Code;
use tonic::transport::Channel;

async fn client(api: &Api) -> ProjectsClient<Channel> {
    let addr = api.server.grpc_addr().expect("gRPC is served");
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    ProjectsClient::new(endpoint.connect().await.unwrap())
}

fn as_<T>(token: Option<&str>, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.metadata_mut().insert("authorization", value);
    }
    request
}

#[tokio::test]
async fn project_operations_over_grpc_leave_entries_with_rpc_fields() {
    let api = Api::start().await;
    let mut grpc = client(&api).await;
    let alice = Some("alice-token");

    let create = pb::CreateProjectRequest { name: "Apollo".into(), ..Default::default() };
    let project = grpc.create_project(as_(alice, create)).await.unwrap().into_inner();
    assert_eq!(project.visibility, "private");
    let update = pb::UpdateProjectRequest {
        id: project.id.clone(),
        name: Some("Apollo 11".into()),
        ..Default::default()
    };
    let updated = grpc.update_project(as_(alice, update)).await.unwrap().into_inner();
    assert_eq!(updated.name, "Apollo 11");
    // a read: not audited
    let get = pb::GetProjectRequest { id: project.id.clone() };
    assert_eq!(grpc.get_project(as_(alice, get)).await.unwrap().into_inner().name, "Apollo 11");
    // the same state over HTTP
    let (status, over_http) =
        api.call(Method::GET, &format!("/projects/{}", project.id), alice, None).await;
    assert_eq!((status, &over_http["name"]), (200, &json!("Apollo 11")));
    // a failure and a denial
    let missing = pb::UpdateProjectRequest { id: "p_404".into(), ..Default::default() };
    let err = grpc.update_project(as_(alice, missing)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let anonymous = pb::DeleteProjectRequest { id: project.id.clone() };
    let err = grpc.delete_project(as_(None, anonymous)).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    let delete = pb::DeleteProjectRequest { id: project.id.clone() };
    grpc.delete_project(as_(Some("bob-token"), delete)).await.unwrap();

    let (e, _dir) = api.finish().await;
    let seen: Vec<(&str, Outcome, Option<i32>)> = e
        .iter()
        .map(|e| (e.event.as_str(), e.outcome, e.response.as_ref().and_then(|r| r.grpc_status)))
        .collect();
    assert_eq!(
        seen,
        [
            ("project.create", Outcome::Success, Some(0)),
            ("project.update", Outcome::Success, Some(0)),
            ("project.update", Outcome::Failure, Some(5)),
            ("project.delete", Outcome::Denied, Some(16)),
            ("project.delete", Outcome::Success, Some(0)),
        ]
    );
    for e in &e {
        let Some(Request::Grpc(call)) = &e.request else { panic!("a gRPC call: {e:#?}") };
        assert_eq!(call.service, "saas.v1.Projects");
        assert!(e.source.ip.is_some_and(|ip| ip.is_loopback()), "{e:#?}");
    }
    let method = |e: &audit_core::AuditEvent| match &e.request {
        Some(Request::Grpc(call)) => call.method.clone(),
        _ => String::new(),
    };
    assert_eq!(method(&e[0]), "CreateProject");
    assert_eq!(method(&e[1]), "UpdateProject");

    // create: the message, the answer, the resource from the answer's id
    assert_eq!(e[0].action, Action::Create);
    assert_eq!(e[0].actor.to_string(), "alice@example.com");
    assert_eq!(e[0].tenant.as_deref(), Some("acme"));
    assert_eq!(e[0].resource, vec![Resource::new("project", &project.id)]);
    assert_eq!(request_body(&e[0])["name"], "Apollo");
    assert_eq!(response_body(&e[0])["id"], project.id.as_str());
    // update: field-level changes
    assert_eq!(e[1].resource, vec![Resource::new("project", &project.id)]);
    assert_eq!(e[1].changes.len(), 1, "{:#?}", e[1].changes);
    assert_eq!(
        (e[1].changes[0].path.as_str(), &e[1].changes[0].before, &e[1].changes[0].after),
        ("name", &json!("Apollo"), &json!("Apollo 11"))
    );
    assert_eq!(e[2].reason.as_deref(), Some("project p_404 not found"));
    // unauthenticated: denied, anonymous, the interceptor's reason
    assert_eq!(e[3].actor.to_string(), "anonymous");
    assert_eq!(e[3].reason.as_deref(), Some("no credentials"));
    assert_eq!(e[4].actor.to_string(), "bob@example.com");
}
