//! Retention drops whole old partitions, reports what they held, and the
//! chains that remain still verify from their oldest kept checkpoint.
#![cfg(feature = "postgres")]

mod postgres_support;

use std::time::Duration;

use audit_core::integrity::{Verifier, VerifyOptions};
use audit_core::store::AuditStore as _;
use audit_core::{Auditor, SigningKey, Sink as _};
use audit_sinks::postgres::{PostgresError, PostgresSink, RETENTION_EVENT, RetentionRule};
use postgres_support::{chain_at, migrated_db, month_start, scan_all};
use time::OffsetDateTime;

#[tokio::test]
async fn retention_drops_old_partitions_and_the_rest_still_verifies() {
    let db = migrated_db().await;
    let key = SigningKey::ed25519_from_bytes(&[9; 32]);
    // Keep partitions whose month ended less than ~2 months ago: the month
    // three months back goes, the one two months back stays.
    let cut = month_start(-2) + time::Duration::days(1);
    let max_age = Duration::try_from(OffsetDateTime::now_utc() - cut).unwrap();
    let sink = PostgresSink::builder().retention(max_age).connect(db.url()).await.unwrap();
    let mut events = sink.retention_events().expect("retention events");

    // One chain written over four months: genesis, entries and a checkpoint
    // in each month, sealed this month.
    let at = |months: i32, hours: i64| month_start(months) + time::Duration::hours(hours);
    let mut items = vec![('g', at(-3, 1))];
    for month in -3..=0 {
        for h in 0..5 {
            items.push(('e', at(month, 2 + h)));
        }
        items.push(('c', at(month, 10)));
    }
    items.push(('C', at(0, 11).min(OffsetDateTime::now_utc())));
    let chain = chain_at(&key, &items);
    for batch in chain.chunks(7) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    // And an unrelated backdated entry from long ago.
    let ancient = postgres_support::entry_at(99, month_start(-14));
    sink.write(audit_core::Batch::new(std::slice::from_ref(&ancient))).await.unwrap();
    assert_eq!(scan_all(&sink.store()).await.len(), chain.len() + 1);

    // Dry run through the store: says what would go, drops nothing.
    let store = sink.store();
    let dry = store.purge_partitions(cut, true).await.unwrap();
    assert_eq!(dry.partitions.len(), 2, "{dry:?}");
    assert_eq!(scan_all(&store).await.len(), chain.len() + 1);

    let report = sink.apply_retention().await.unwrap();
    let names: Vec<&str> = report.partitions.iter().map(|p| p.name.as_str()).collect();
    let name =
        |t: OffsetDateTime| format!("audit_events_p{:04}_{:02}", t.year(), u8::from(t.month()));
    assert_eq!(names, [name(month_start(-14)), name(month_start(-3))]);
    let dropped = &report.partitions[1];
    assert_eq!(dropped.entries, 7, "genesis, 5 entries, a checkpoint");
    assert_eq!(dropped.rule, RetentionRule::MaxAge(max_age));
    assert_eq!(dropped.from, month_start(-3));
    assert_eq!(dropped.to, month_start(-2));
    let chain_id = chain[0].chain.as_ref().unwrap().id;
    assert_eq!(dropped.chains.len(), 1);
    assert_eq!(
        (dropped.chains[0].chain, dropped.chains[0].first_seq, dropped.chains[0].last_seq),
        (chain_id, 0, 6)
    );
    assert_eq!(report.entries(), 8);

    // The report arrives on the events, for the application to record.
    let sent = events.try_recv().expect("a retention report");
    assert_eq!(sent, report);

    // Record it through an auditor: it is chained like any other entry.
    let auditor = Auditor::builder()
        .service("retention-test", "1")
        .signing_key(key.clone())
        // Another instance writing to the same table.
        .sink(PostgresSink::connect(db.url()).await.unwrap())
        .build()
        .unwrap();
    auditor.record(report.event()).await.unwrap();
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();

    // What is left verifies: the old chain from its oldest kept checkpoint
    // on, the auditor's chain whole.
    let left = scan_all(&store).await;
    assert_eq!(left.len(), chain.len() - 7 + 3);
    assert!(left.iter().any(|e| e.event == RETENTION_EVENT));
    let mut verifier =
        Verifier::new(VerifyOptions::new().key(key.verifying_key()).require_sealed(true));
    for e in &left {
        verifier.push(e).unwrap_or_else(|p| panic!("verification failed: {p}"));
    }
    let verified = verifier.finish().unwrap_or_else(|p| panic!("verification failed: {p}"));
    assert_eq!(verified.chains.len(), 2);
    assert_eq!(verified.chains[0].starts_at, Some(7));
    assert!(verified.chains.iter().all(|c| c.sealed));

    // Nothing more to drop; the current month is never dropped.
    assert!(sink.apply_retention().await.unwrap().is_empty());
    sink.shutdown().await.unwrap();
    assert!(events.recv().await.is_none(), "the events close at shutdown");
}

#[tokio::test]
async fn retention_needs_a_policy() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    assert!(matches!(sink.apply_retention().await, Err(PostgresError::NoRetentionPolicy)));
    // The store's purge drops nothing it should keep: the current month stays.
    let report = sink.store().purge(OffsetDateTime::now_utc(), false).await.unwrap();
    assert_eq!(report.removed, 0);
    sink.shutdown().await.unwrap();
}
