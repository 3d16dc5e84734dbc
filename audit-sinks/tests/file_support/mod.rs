//! Helpers shared by the file sink and store tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use audit_core::json::rfc3339_micros;
use audit_core::query::Query;
use audit_core::store::{AuditStore, StoreError};
use audit_core::{Actor, AuditEvent, Resource};
use audit_sinks::file::FileStore;
use futures::StreamExt as _;
use time::OffsetDateTime;
use uuid::Uuid;

/// An entry with a fresh UUIDv7 and the current time, numbered in its metadata.
pub fn entry(n: usize) -> AuditEvent {
    AuditEvent::builder("project.update")
        .id(Uuid::now_v7())
        .time(rfc3339_micros::truncate(OffsetDateTime::now_utc()))
        .actor(Actor::user(format!("u_{n}")).email(format!("user{n}@example.com")))
        .tenant("acme")
        .resource(Resource::new("project", format!("p_{n}")))
        .description(format!("user{n}@example.com updated project p_{n}"))
        .metadata("n", n)
        .build()
}

/// `count` entries numbered from `from`.
pub fn entries(from: usize, count: usize) -> Vec<AuditEvent> {
    (from..from + count).map(entry).collect()
}

/// Every item a full scan yields, errors included.
pub async fn scan_all(store: &FileStore) -> Vec<Result<AuditEvent, StoreError>> {
    let query = Query::new();
    store.scan(&query).collect().await
}

/// The entries of a full scan; panics on the first error.
pub async fn scan_ok(store: &FileStore) -> Vec<AuditEvent> {
    scan_all(store)
        .await
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("scan failed: {e}")))
        .collect()
}

/// The names of the log files in `dir` (`audit-*`), sorted.
pub fn log_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("audit-"))
        .collect();
    names.sort();
    names
}

/// Log files with a given suffix.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    log_files(dir).into_iter().filter(|n| n.ends_with(suffix)).map(|n| dir.join(n)).collect()
}

/// The ids of entries, in order.
pub fn ids(entries: &[AuditEvent]) -> Vec<Uuid> {
    entries.iter().map(|e| e.id).collect()
}
