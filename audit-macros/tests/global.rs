//! Without `auditor = ...` the global default auditor records; without one
//! the function still returns its result, and the missing entry is counted.

mod common;

use audit_core::macro_support::unrecorded;
use audit_core::{Actor, audited, set_global_auditor};
use common::{auditor, recorded};

#[audited(event = "billing.charge", actor = Actor::system("billing-cron"))]
async fn charge(customer: &str) -> Result<u64, String> {
    Ok(customer.len() as u64)
}

#[audited(event = "billing.refund")]
fn refund(cents: u64) -> u64 {
    cents
}

// One test: the global auditor is set once per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_through_the_global_auditor_and_counts_entries_without_one() {
    let before = unrecorded();
    assert_eq!(charge("acme").await, Ok(4));
    assert_eq!(refund(7), 7);
    assert_eq!(unrecorded(), before + 2, "no auditor: counted, never a panic");

    let (auditor, sink) = auditor();
    set_global_auditor(auditor.clone()).unwrap();
    charge("acme").await.unwrap();
    refund(7);
    let e = recorded(&auditor, &sink).await;
    assert_eq!(e.len(), 2);
    assert_eq!(e[0].actor, Actor::system("billing-cron"));
    assert_eq!(e[1].event, "billing.refund");
    assert_eq!(unrecorded(), before + 2);
}
