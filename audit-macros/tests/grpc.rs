//! A tonic service behind `AuditLayer`, through a real server and client on
//! loopback: `#[audited]` methods of the `#[tonic::async_trait]` impl fill the
//! call's scope; the layer records one entry per call.

mod common;

use std::net::SocketAddr;

use audit_core::{Action, Auditor, Outcome, Resource, audited};
use audit_tower::AuditLayer;
use common::{auditor, recorded, request_body, response_body};
use serde_json::json;
use tonic::{Code, Request, Response, Status};

use audit_testkit::proto::members::members_client::MembersClient;
use audit_testkit::proto::members::members_server::{Members, MembersServer};
use audit_testkit::proto::members::{
    AddMemberRequest, Member, RemoveMemberRequest, RemoveMemberResponse, Role,
};

struct Service;

#[tonic::async_trait]
impl Members for Service {
    #[audited(event = "member.add", tenant = request.get_ref().org)]
    async fn add_member(
        &self,
        request: Request<AddMemberRequest>,
    ) -> Result<Response<Member>, Status> {
        let r = request.into_inner();
        if !r.email.contains('@') {
            return Err(Status::invalid_argument(format!("`{}` is not an email address", r.email)));
        }
        Ok(Response::new(Member { id: "m_1".into(), email: r.email, role: r.role }))
    }

    #[audited(event = "member.remove", resource_id = request.get_ref().id)]
    async fn remove_member(
        &self,
        request: Request<RemoveMemberRequest>,
    ) -> Result<Response<RemoveMemberResponse>, Status> {
        if request.get_ref().id == "m_owner" {
            return Err(Status::permission_denied("the owner cannot be removed"));
        }
        Ok(Response::new(RemoveMemberResponse {}))
    }
}

async fn serve(auditor: &Auditor) -> MembersClient<tonic::transport::Channel> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let router = tonic::transport::Server::builder()
        .layer(AuditLayer::new(auditor.clone()))
        .add_service(MembersServer::new(Service));
    tokio::spawn(router.serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)));
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}")).unwrap();
    MembersClient::new(endpoint.connect().await.unwrap())
}

fn add(email: &str) -> AddMemberRequest {
    AddMemberRequest {
        org: "acme".into(),
        email: email.into(),
        invite_token: "inv_secret".into(),
        role: Role::Admin.into(),
    }
}

async fn calls(auditor: &Auditor) {
    let mut client = serve(auditor).await;
    let member = client.add_member(add("c@example.com")).await.unwrap();
    assert_eq!(member.get_ref().id, "m_1");
    let bad = client.add_member(add("not-an-email")).await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    client.remove_member(RemoveMemberRequest { id: "m_1".into() }).await.unwrap();
    let denied = client.remove_member(RemoveMemberRequest { id: "m_owner".into() }).await;
    assert_eq!(denied.unwrap_err().code(), Code::PermissionDenied);
}

#[tokio::test]
async fn one_entry_per_call_with_message_status_and_outcome() {
    let (auditor, sink) = auditor();
    calls(&auditor).await;
    let e = recorded(&auditor, &sink).await;
    let events: Vec<&str> = e.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["member.add", "member.add", "member.remove", "member.remove"], "{e:#?}");

    // a prost message (no `Serialize`): its `Debug` read back as JSON, redacted
    let request = serde_json::to_value(&e[0].request).unwrap();
    assert_eq!(request["service"], "members.v1.Members");
    assert_eq!(request["method"], "AddMember");
    assert_eq!(
        request_body(&e[0]),
        json!({"org": "acme", "email": "c@example.com", "invite_token": "[REDACTED]", "role": "Admin"})
    );
    assert_eq!(
        response_body(&e[0]),
        json!({"id": "m_1", "email": "c@example.com", "role": "Admin"})
    );
    assert_eq!(e[0].tenant.as_deref(), Some("acme"));
    assert_eq!(e[0].action, Action::Create);
    assert_eq!(e[0].resource, vec![Resource::new("member", "m_1")]);
    assert_eq!(e[0].outcome, Outcome::Success);
    assert_eq!(e[0].response.as_ref().unwrap().grpc_status, Some(0));

    assert_eq!(e[1].outcome, Outcome::Failure);
    assert_eq!(e[1].reason.as_deref(), Some("`not-an-email` is not an email address"));
    assert_eq!(e[1].response.as_ref().unwrap().grpc_status, Some(3));

    assert_eq!(e[2].resource, vec![Resource::new("member", "m_1")]);
    assert_eq!(e[2].outcome, Outcome::Success);
    assert_eq!(
        (e[3].outcome, e[3].reason.as_deref()),
        (Outcome::Denied, Some("the owner cannot be removed"))
    );
    assert_eq!(e[3].response.as_ref().unwrap().grpc_status, Some(7));
}
