//! Helpers shared by the runtime tests.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use audit_core::testing::MemorySink;
use audit_core::{AuditEvent, Auditor};

/// An auditor writing to a fresh memory sink; call inside a Tokio runtime.
pub fn auditor() -> (Auditor, MemorySink) {
    let sink = MemorySink::new();
    let auditor = Auditor::builder().service("svc", "1.0.0").sink(sink.clone()).build().unwrap();
    (auditor, sink)
}

/// Shuts the auditor down (flushing every entry) and returns the entries
/// without the chain's own `audit.*` entries.
pub async fn recorded(auditor: &Auditor, sink: &MemorySink) -> Vec<AuditEvent> {
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    sink.entries().into_iter().filter(|e| !e.event.starts_with("audit.")).collect()
}

/// The JSON of an entry's captured request body.
pub fn request_body(e: &AuditEvent) -> serde_json::Value {
    let request = serde_json::to_value(&e.request).unwrap();
    request.get("body").or_else(|| request.get("message")).cloned().unwrap_or_default()
}

/// The JSON of an entry's captured response body.
pub fn response_body(e: &AuditEvent) -> serde_json::Value {
    e.response
        .as_ref()
        .and_then(|r| r.body.as_ref())
        .map(|b| serde_json::to_value(b).unwrap())
        .unwrap_or_default()
}

/// Lets spawned tasks run until `n` entries (besides the genesis entry) were
/// recorded (a current-thread runtime runs a spawned task only when the test
/// yields).
pub async fn until_recorded(auditor: &Auditor, n: u64) {
    // Bounded by time, not by a count of polls: on a loaded machine the
    // recording task may need many scheduler turns.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if auditor.stats().recorded > n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    panic!("expected {n} recorded entries (plus genesis), got {}", auditor.stats().recorded);
}
