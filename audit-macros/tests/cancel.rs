//! Every path ends in an entry: a future dropped before it completes is
//! recorded as `cancelled`, a panic as `failure`.

mod common;

use std::time::Duration;

use audit_core::{Auditor, Outcome, audited};
use common::{auditor, recorded, until_recorded};

#[audited(event = "export.run", auditor = auditor)]
async fn slow(auditor: &Auditor) -> u8 {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    1
}

#[tokio::test]
async fn a_dropped_future_is_recorded_as_cancelled() {
    let (auditor, sink) = auditor();
    let timed_out = tokio::time::timeout(Duration::from_millis(10), slow(&auditor)).await;
    assert!(timed_out.is_err());
    until_recorded(&auditor, 1).await;
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].outcome, Outcome::Cancelled);
    assert_eq!(e[0].description, "anonymous performed export.run (cancelled)");
}

#[audited(event = "export.run", auditor = auditor)]
async fn panics(auditor: &Auditor) -> u8 {
    panic!("boom")
}

#[audited(event = "export.run", auditor = auditor)]
fn panics_sync(auditor: &Auditor, n: u8) -> u8 {
    if n > 0 {
        panic!("boom");
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_recorded_as_a_failure() {
    let (auditor, sink) = auditor();
    let a = auditor.clone();
    assert!(tokio::spawn(async move { panics(&a).await }).await.is_err());
    let a = auditor.clone();
    assert!(tokio::task::spawn_blocking(move || panics_sync(&a, 1)).await.is_err());
    until_recorded(&auditor, 2).await;
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 2);
    for e in e {
        assert_eq!((e.outcome, e.reason.as_deref()), (Outcome::Failure, Some("panicked")));
    }
}
