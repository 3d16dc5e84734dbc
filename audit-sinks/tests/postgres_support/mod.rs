//! Helpers shared by the Postgres sink and store tests: a fresh database
//! with the audit schema per test, entries, and hand-made chains.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use audit_core::integrity::{
    CHECKPOINT_EVENT, CheckpointData, CheckpointPolicy, Sequencer, checkpoint_message, compute_hash,
};
use audit_core::json::rfc3339_micros;
use audit_core::query::Query;
use audit_core::store::AuditStore;
use audit_core::{Actor, AuditEvent, Resource, ServiceInfo, SigningKey};
use audit_testkit::pg::FreshDb;
use futures::TryStreamExt as _;
use time::OffsetDateTime;
use uuid::Uuid;

/// A fresh database (see [`FreshDb`]) with the audit schema.
pub async fn migrated_db() -> FreshDb {
    let db = FreshDb::new().await;
    audit_sinks::postgres::migrate_url(db.url()).await.expect("migrate");
    db
}

/// An entry with a fresh UUIDv7 and the current time, numbered in its metadata.
pub fn entry(n: usize) -> AuditEvent {
    entry_at(n, rfc3339_micros::truncate(OffsetDateTime::now_utc()))
}

/// An entry at `time`, numbered in its metadata.
pub fn entry_at(n: usize, time: OffsetDateTime) -> AuditEvent {
    AuditEvent::builder("project.update")
        .id(Uuid::now_v7())
        .time(time)
        .actor(Actor::user(format!("u_{n}")).email(format!("user{n}@example.com")))
        .tenant("acme")
        .resource(Resource::new("project", format!("p_{n}")))
        .description(format!("user{n}@example.com updated project p_{n}"))
        .metadata("n", n)
        .build()
}

/// Every entry of the store, in write order; panics on an error.
pub async fn scan_all<S: AuditStore + ?Sized>(store: &S) -> Vec<AuditEvent> {
    let query = Query::new();
    store.scan(&query).try_collect().await.expect("scan")
}

/// A signed chain whose entries carry the given times (the sequencer stamps
/// genesis and checkpoints with the current time; here every entry is
/// re-timed and the chain re-hashed and re-signed, as if it had been written
/// back then). `kinds[i]` is `'g'` (genesis, first only), `'e'` (an entry),
/// `'c'` (a checkpoint) or `'C'` (the closing checkpoint, last only).
pub fn chain_at(key: &SigningKey, items: &[(char, OffsetDateTime)]) -> Vec<AuditEvent> {
    let mut seq = Sequencer::new(
        Some(key.clone()),
        CheckpointPolicy::new(1_000_000, Duration::from_secs(365 * 24 * 3600)),
        ServiceInfo::new("retention-test"),
    );
    let mut out = Vec::new();
    for (n, (kind, _)) in items.iter().enumerate() {
        let e = match kind {
            'g' => seq.genesis().unwrap(),
            'c' => seq.checkpoint(false).unwrap(),
            'C' => seq.checkpoint(true).unwrap(),
            _ => {
                let mut e = entry(n);
                seq.seal(&mut e).unwrap();
                e
            }
        };
        out.push(e);
    }
    let chain_id = seq.chain_id();
    let mut prev = audit_core::integrity::ZERO_HASH.to_owned();
    for (n, (e, (_, time))) in out.iter_mut().zip(items).enumerate() {
        e.time = rfc3339_micros::truncate(*time);
        if e.event == CHECKPOINT_EVENT {
            let mut data: CheckpointData =
                serde_json::from_value(e.metadata["checkpoint"].clone()).unwrap();
            data.seq = n as u64 - 1;
            data.hash.clone_from(&prev);
            data.signature = Some(key.sign(&checkpoint_message(chain_id, data.seq, &prev)));
            e.metadata.insert("checkpoint".to_owned(), serde_json::to_value(&data).unwrap());
        }
        let link = e.chain.as_mut().unwrap();
        link.prev.clone_from(&prev);
        link.hash.clear();
        let hash = compute_hash(&prev, e).unwrap();
        e.chain.as_mut().unwrap().hash.clone_from(&hash);
        prev = hash;
    }
    out
}

/// The start (UTC midnight of the 1st) of the month `delta` months from now.
pub fn month_start(delta: i32) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let months = now.year() * 12 + i32::from(u8::from(now.month())) - 1 + delta;
    let (year, month) = (months.div_euclid(12), months.rem_euclid(12) + 1);
    time::Date::from_calendar_date(year, time::Month::try_from(month as u8).unwrap(), 1)
        .unwrap()
        .midnight()
        .assume_utc()
}
