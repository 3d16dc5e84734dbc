//! Plain (non-async) functions: recorded before they return on a
//! multi-threaded runtime and outside any runtime; spawned on a
//! current-thread runtime, which must not block.

mod common;

use audit_core::{Auditor, Outcome, audited};
use common::{auditor, recorded, request_body, until_recorded};
use serde_json::json;

#[audited(event = "ledger.post", auditor = auditor)]
fn post(auditor: &Auditor, account: &str, cents: i64) -> Result<i64, String> {
    if cents == 0 {
        return Err("empty posting".to_owned());
    }
    let parsed: i64 = account.len().try_into().map_err(|_| "too long".to_owned())?;
    Ok(parsed + cents)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_multi_threaded_runtime_the_entry_is_recorded_before_returning() {
    let (auditor, sink) = auditor();
    assert_eq!(post(&auditor, "acme", 5), Ok(9));
    // recorded already: no yield in between
    assert_eq!(auditor.stats().recorded, 2);
    assert_eq!(post(&auditor, "acme", 0), Err("empty posting".into()));
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 2);
    assert_eq!(request_body(&e[0]), json!({"account": "acme", "cents": 5}));
    assert_eq!(e[1].outcome, Outcome::Failure);
    assert_eq!(e[1].reason.as_deref(), Some("empty posting"));
}

#[tokio::test(flavor = "current_thread")]
async fn on_a_current_thread_runtime_the_entry_is_spawned() {
    let (auditor, sink) = auditor();
    assert_eq!(post(&auditor, "acme", 1), Ok(5));
    until_recorded(&auditor, 1).await;
    assert_eq!(recorded(&auditor, &sink).await.len(), 1);
}

#[test]
fn outside_any_runtime_the_entry_is_recorded_before_returning() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (auditor, sink) = rt.block_on(async { auditor() });
    // this thread is not in the runtime
    assert_eq!(post(&auditor, "acme", 2), Ok(6));
    assert_eq!(auditor.stats().recorded, 2);
    let e = rt.block_on(recorded(&auditor, &sink));
    assert_eq!(e[0].outcome, Outcome::Success);
}
