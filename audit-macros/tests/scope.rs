//! Inside a request scope (what `AuditLayer` opens) the function fills that
//! scope instead of recording: one operation, one entry. A nested audited
//! function records its own entry, done by the same actor.

mod common;

use audit_core::{Actor, AuditScope, Auditor, Outcome, Resource, audited};
use common::{auditor, recorded, request_body, response_body};
use serde_json::json;

#[audited(event = "project.update", auditor = auditor, resource_id = id)]
async fn update(auditor: &Auditor, id: &str, name: &str) -> Result<String, String> {
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    AuditScope::current().unwrap().set_metadata("len", name.len());
    Ok(format!("{id}:{name}"))
}

/// Stands in for the layer: an unclaimed scope around the handler.
async fn in_request_scope<F: std::future::Future>(fut: F) -> (AuditScope, F::Output) {
    let scope = AuditScope::new();
    scope.set_actor(Actor::user("u_layer"));
    let out = scope.clone().scope(fut).await;
    (scope, out)
}

#[tokio::test]
async fn fills_the_request_scope_and_records_nothing_itself() {
    let (auditor, sink) = auditor();
    let (scope, out) = in_request_scope(update(&auditor, "p_1", "Apollo")).await;
    assert_eq!(out.unwrap(), "p_1:Apollo");
    assert!(scope.is_audited());
    assert!(!scope.claim(), "the function claimed it");
    // success is the layer's to decide from the status code
    assert_eq!(scope.outcome(), None);
    let e = scope.build_event("unused");
    assert_eq!(e.event, "project.update");
    assert_eq!(e.actor, Actor::user("u_layer"));
    assert_eq!(e.resource, vec![Resource::new("project", "p_1")]);
    assert_eq!(e.metadata["len"], 6);
    assert_eq!(request_body(&e), json!({"id": "p_1", "name": "Apollo"}));
    assert_eq!(response_body(&e), json!("p_1:Apollo"));
    assert!(recorded(&auditor, &sink).await.is_empty());
}

#[tokio::test]
async fn taking_the_entry_builds_the_same_entry_and_empties_its_contents() {
    let (auditor, _sink) = auditor();
    let (scope, out) = in_request_scope(update(&auditor, "p_1", "Apollo")).await;
    assert!(out.is_ok());
    scope.record_changes(&json!({"name": "Gemini"}), &json!({"name": "Apollo"}));
    scope.set_tenant("acme");
    let built = scope.build_event("unused");
    let mut taken = scope.take_event("unused");
    // the same entry (but for an id and time, should a build set them)
    (taken.id, taken.time) = (built.id, built.time);
    assert_eq!(serde_json::to_value(&built).unwrap(), serde_json::to_value(&taken).unwrap());
    assert_eq!(taken.changes.len(), 1);
    assert_eq!(taken.tenant.as_deref(), Some("acme"));
    // what decides how the entry is recorded stays; its contents moved out
    assert!(scope.is_audited());
    let rest = scope.build_event("unused");
    assert_eq!(rest.event, "project.update");
    assert_eq!(rest.actor, Actor::anonymous());
    assert!(rest.tenant.is_none() && rest.resource.is_empty() && rest.changes.is_empty());
    assert!(rest.request.is_none() && rest.metadata.is_empty());
}

#[tokio::test]
async fn an_error_sets_the_outcome_in_the_request_scope() {
    let (auditor, _sink) = auditor();
    let (scope, out) = in_request_scope(update(&auditor, "p_1", "")).await;
    assert!(out.is_err());
    let e = scope.build_event("unused");
    assert_eq!(e.outcome, Outcome::Failure);
    assert_eq!(e.reason.as_deref(), Some("name must not be empty"));
}

#[tokio::test]
async fn an_outcome_set_by_the_body_is_kept() {
    #[audited(event = "member.remove", auditor = auditor)]
    async fn remove(auditor: &Auditor) -> Result<(), String> {
        AuditScope::current().unwrap().deny("not an owner");
        Err("forbidden".into())
    }
    let (auditor, _sink) = auditor();
    let (scope, _) = in_request_scope(remove(&auditor)).await;
    let e = scope.build_event("unused");
    assert_eq!((e.outcome, e.reason.as_deref()), (Outcome::Denied, Some("not an owner")));
}

#[audited(event = "email.send", auditor = auditor)]
async fn notify(auditor: &Auditor, to: &str) {
    let _ = to;
}

#[audited(event = "member.invite", auditor = auditor)]
async fn invite(auditor: &Auditor, email: &str) {
    notify(auditor, email).await;
}

#[tokio::test]
async fn nested_functions_record_their_own_entry_with_the_same_actor() {
    let (auditor, sink) = auditor();
    let (scope, ()) = in_request_scope(invite(&auditor, "bob@example.com")).await;
    assert_eq!(scope.event().as_deref(), Some("member.invite"));
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 1, "only the nested function recorded; the layer records the outer one");
    assert_eq!(e[0].event, "email.send");
    assert_eq!(e[0].actor, Actor::user("u_layer"));

    // outside any scope: two entries, inner first
    let (auditor2, sink2) = common::auditor();
    invite(&auditor2, "bob@example.com").await;
    let e = recorded(&auditor2, &sink2).await;
    let events: Vec<&str> = e.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["email.send", "member.invite"]);
}
