//! Strict delivery: audited before the handler runs, refused with 503 when
//! that entry cannot be written, the final entry confirmed before the response.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::{Delivery, Outcome};
use audit_tower::{AuditLayer, Level, Policy, Rule};
use axum::Router;
use axum::routing::post;
use common::{Trail, client, serve_axum, within};
use http::Method;

fn counting_handler(calls: &Arc<AtomicUsize>) -> axum::routing::MethodRouter {
    let calls = calls.clone();
    post(move || {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, Ordering::SeqCst);
            "transferred"
        }
    })
}

#[tokio::test]
async fn a_failing_sink_gets_503_and_the_handler_never_runs() {
    let trail = Trail::with_delivery(Delivery::Strict);
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/transfers", counting_handler(&calls))
        .layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;

    trail.written_genesis().await;
    trail.sink.control().set_down(true);
    let res = within(client().post(format!("http://{addr}/transfers")).send()).await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the handler must not run");

    // The sink recovers: the attempt and the refusal are delivered from the pipeline.
    trail.sink.control().set_down(false);
    let entries = trail.wait_for(2).await;
    let stage = |s: &str| entries.iter().find(|e| e.metadata.get("stage").is_some_and(|v| v == s));
    let received = stage("received").expect("received entry");
    let refused = stage("refused").expect("refused entry");
    assert_eq!(received.event, "transfer.create");
    assert_eq!(refused.outcome, Outcome::Failure);
    assert_eq!(refused.response.as_ref().unwrap().status, Some(503));
    assert_eq!(received.source.request_id, refused.source.request_id);
    assert_eq!(trail.finish().await.len(), 2);
}

#[tokio::test]
async fn both_entries_are_written_before_the_response_goes_out() {
    let trail = Trail::with_delivery(Delivery::Strict);
    let calls = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/transfers", counting_handler(&calls))
        .layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;
    let res = within(client().post(format!("http://{addr}/transfers")).send()).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // No waiting: strict entries are confirmed by the sink before the response.
    let entries = trail.entries();
    assert_eq!(entries.len(), 2, "{entries:#?}");
    assert_eq!(entries[0].metadata["stage"], "received");
    assert_eq!(entries[1].metadata["stage"], "completed");
    assert_eq!(entries[1].metadata["received_id"], entries[0].id.to_string());
    assert_eq!(entries[1].outcome, Outcome::Success);
    assert_eq!(entries[1].response.as_ref().unwrap().status, Some(200));
}

#[tokio::test]
async fn strict_per_rule_while_the_auditor_buffers() {
    let trail = Trail::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let policy = Policy::new()
        .rule(Rule::new().method(Method::POST).route("/transfers").delivery(Delivery::Strict))
        .rule(Rule::new().method(Method::POST).level(Level::Metadata));
    let app = Router::new()
        .route("/transfers", counting_handler(&calls))
        .route("/notes", counting_handler(&calls))
        .layer(AuditLayer::new(trail.auditor.clone()).policy(policy));
    let addr = serve_axum(app).await;

    trail.written_genesis().await;
    trail.sink.control().set_down(true);
    let c = client();
    let strict = within(c.post(format!("http://{addr}/transfers")).send()).await.unwrap();
    assert_eq!(strict.status(), 503);
    // A buffered route keeps working while the sink is down.
    let buffered = within(c.post(format!("http://{addr}/notes")).send()).await.unwrap();
    assert_eq!(buffered.status(), 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    trail.sink.control().set_down(false);
    let entries = trail.wait_for(3).await;
    assert_eq!(entries.len(), 3, "received, refused, and the note: {entries:#?}");
}
