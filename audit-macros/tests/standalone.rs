//! `#[audited]` outside any layer: the function records its own entry through
//! `auditor = ...`, with what it captures from its arguments and result.

mod common;

use audit_core::{Action, Actor, AsActor, Auditor, Outcome, Resource, audited};
use common::{auditor, recorded, request_body, response_body};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize)]
struct Invoice {
    id: String,
    total_cents: u64,
}

struct Customer {
    id: String,
    email: String,
}

impl AsActor for Customer {
    fn as_actor(&self) -> Actor {
        Actor::user(&self.id).email(&self.email)
    }
}

#[audited(event = "invoice.create", auditor = auditor)]
async fn create_invoice(
    auditor: &Auditor,
    by: &Customer,
    customer: &str,
    total_cents: u64,
) -> Invoice {
    let _ = by;
    Invoice { id: format!("inv_{customer}"), total_cents }
}

#[tokio::test]
async fn records_one_entry_with_arguments_result_and_actor() {
    let (auditor, sink) = auditor();
    let by = Customer { id: "u_1".into(), email: "alice@example.com".into() };
    let invoice = create_invoice(&auditor, &by, "acme", 4200).await;
    assert_eq!(invoice.id, "inv_acme");

    let entries = recorded(&auditor, &sink).await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    let e = &entries[0];
    assert_eq!(e.event, "invoice.create");
    assert_eq!(e.action, Action::Create);
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.actor, Actor::user("u_1").email("alice@example.com"));
    // serializable arguments, by name; the actor and the auditor are not request data
    assert_eq!(request_body(e), json!({"customer": "acme", "total_cents": 4200}));
    assert_eq!(response_body(e), json!({"id": "inv_acme", "total_cents": 4200}));
    // the returned id names the created resource
    assert_eq!(e.resource, vec![Resource::new("invoice", "inv_acme")]);
    assert_eq!(e.description, "alice@example.com created invoice inv_acme");
    assert!(e.response.as_ref().unwrap().duration_us.is_some());
    assert_eq!(e.service.name, "svc");
}

#[audited(
    event = "project.rename",
    auditor = auditor,
    action = "update",
    resource = "workspace_project",
    resource_id = project_id,
    actor = Actor::system("renamer"),
    tenant = org,
    metadata(region = "eu", "old-len" = old.len()),
    description = "{actor} renamed {resource.type} {resource.id} in {tenant} ({metadata.region})",
    delivery = "strict",
)]
async fn rename(auditor: &Auditor, org: &str, project_id: u64, old: String, new: String) -> bool {
    old != new
}

#[tokio::test]
async fn attribute_arguments_fill_the_entry() {
    let (auditor, sink) = auditor();
    assert!(rename(&auditor, "acme", 42, "Apollo".into(), "Artemis".into()).await);
    let e = &recorded(&auditor, &sink).await[0];
    assert_eq!(e.action, Action::Update);
    assert_eq!(e.resource, vec![Resource::new("workspace_project", "42")]);
    assert_eq!(e.actor, Actor::system("renamer"));
    assert_eq!(e.tenant.as_deref(), Some("acme"));
    assert_eq!(e.metadata["region"], "eu");
    assert_eq!(e.metadata["old-len"], 6);
    assert_eq!(e.description, "system:renamer renamed workspace_project 42 in acme (eu)");
    assert_eq!(response_body(e), json!(true));
}

#[audited(event = "report.run", auditor = &auditor)]
async fn owned_auditor(auditor: Auditor, n: u8) -> u8 {
    drop(auditor);
    n
}

#[audited(event = "report.run", auditor = auditor)]
async fn arc_auditor(auditor: std::sync::Arc<Auditor>) {
    drop(auditor);
}

#[tokio::test]
async fn auditor_may_be_owned_borrowed_or_shared() {
    let (auditor, sink) = auditor();
    assert_eq!(owned_auditor(auditor.clone(), 3).await, 3);
    arc_auditor(std::sync::Arc::new(auditor.clone())).await;
    let entries = recorded(&auditor, &sink).await;
    assert_eq!(entries.len(), 2);
    assert_eq!(request_body(&entries[0]), json!({"n": 3}));
    // an action without a resource id still names the resource type
    assert_eq!(entries[1].resource, vec![Resource::of_type("report")]);
    assert!(entries[1].request.is_none());
}

mod renamed {
    pub(crate) use audit_core as audit;
}

#[audited(event = "flag.set", crate = renamed::audit, auditor = auditor)]
fn set_flag(auditor: &Auditor, _unused: &str, flag: &str) -> bool {
    #![allow(clippy::needless_return)]
    return !flag.is_empty();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crate_path_inner_attributes_and_underscore_parameters() {
    let (auditor, sink) = auditor();
    assert!(set_flag(&auditor, "ignored", "beta"));
    let e = &recorded(&auditor, &sink).await[0];
    assert_eq!(e.event, "flag.set");
    assert_eq!(request_body(e), json!({"flag": "beta"}));
}
