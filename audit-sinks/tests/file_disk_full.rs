//! A full disk: a transient error that says so, entries kept and retried.
//!
//! The full disk is `/dev/full` (every write fails with `ENOSPC`), linked in
//! as the active log file: no root, no mount, and the same on every Linux
//! machine and container.
#![cfg(all(feature = "file", target_os = "linux"))]

mod file_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_core::query::Query;
use audit_core::store::AuditStore;
use audit_core::{AuditEvent, Auditor, RetryPolicy, Sink, SinkErrorKind};
use audit_sinks::file::{FileSink, FileStore};
use file_support::{entries, ids, scan_ok};
use futures::TryStreamExt as _;

/// Makes `/dev/full` the active file of `dir` (named as just started, so that
/// rotation by age leaves it alone).
fn fill_disk(dir: &Path) -> PathBuf {
    let format = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:6]Z"
    );
    let now = time::OffsetDateTime::now_utc().format(format).unwrap();
    let active = dir.join(format!("audit-00000001-{now}.jsonl"));
    std::os::unix::fs::symlink("/dev/full", &active).unwrap();
    active
}

#[tokio::test]
async fn a_full_disk_is_a_transient_error_that_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let active = fill_disk(dir.path());
    let sink = FileSink::builder(dir.path()).build().unwrap();
    let batch = entries(0, 3);
    for _ in 0..2 {
        let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
        assert_eq!(err.kind(), SinkErrorKind::Transient);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("no space left on device writing {}", active.display())),
            "{message}"
        );
        assert!(message.contains("the entries stay queued and are retried"), "{message}");
    }

    // Space again: the same batch goes through, whole.
    std::fs::remove_file(&active).unwrap();
    sink.write(audit_core::Batch::new(&batch)).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&batch));
}

#[tokio::test]
async fn the_auditor_keeps_and_retries_entries_until_there_is_space() {
    let dir = tempfile::tempdir().unwrap();
    let active = fill_disk(dir.path());
    let auditor = Auditor::builder()
        .service("projects-api", "1.0.0")
        .sink(FileSink::builder(dir.path()).build().unwrap())
        .retry_policy(RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(20)))
        .build()
        .unwrap();
    for n in 0..5 {
        auditor.record(AuditEvent::builder("project.update").metadata("n", n)).await.unwrap();
    }
    // Wait (bounded) for the pipeline to have failed a few times.
    for _ in 0..500 {
        if auditor.stats().sinks[0].retried >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = auditor.stats().sinks[0].clone();
    assert!(stats.retried >= 3, "{stats:?}");
    assert_eq!(stats.written, 0);

    std::fs::remove_file(&active).unwrap();
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    let all: Vec<AuditEvent> = store.scan(&Query::new()).try_collect().await.unwrap();
    // genesis, the five entries, the closing checkpoint
    assert_eq!(all.len(), 7);
    assert_eq!(auditor.stats().sinks[0].written, 7);
}
