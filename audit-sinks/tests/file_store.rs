//! `FileStore`: the audit-core conformance suite, reading across rotated and
//! compressed files, corrupt lines, and purge.
#![cfg(feature = "file")]

mod file_support;

use std::io::Write as _;

use audit_core::Sink;
use audit_core::query::{Order, Query};
use audit_core::store::{AuditStore, StoreError};
use audit_core::testing::conformance;
use audit_sinks::file::{FileSink, FileStore, RetentionRule};
use file_support::{entries, files_ending, ids, log_files, scan_all, scan_ok};

/// Runs the suite with the fixture written through a `FileSink` with these
/// settings, read back by a `FileStore` on the same directory.
async fn conformance_with(configure: impl FnOnce(&std::path::Path) -> FileSink) {
    let dir = tempfile::tempdir().unwrap();
    let sink = configure(dir.path());
    let store = FileStore::open(dir.path()).unwrap();
    conformance::run(&store, |batch| {
        let sink = sink.clone();
        async move {
            sink.write(audit_core::Batch::new(&batch)).await.expect("write");
            // Compressions done, so that purge does not race them.
            sink.flush().await.expect("flush");
        }
    })
    .await;
}

#[tokio::test]
async fn passes_the_conformance_suite_in_one_file() {
    conformance_with(|dir| FileSink::builder(dir).build().unwrap()).await;
}

#[tokio::test]
async fn passes_the_conformance_suite_across_rotated_gzipped_files() {
    // ~1 KiB per entry, 16 per batch: every batch gets its own file.
    conformance_with(|dir| {
        FileSink::builder(dir).max_file_bytes(4 * 1024).gzip_rotated(true).build().unwrap()
    })
    .await;
}

#[tokio::test]
async fn scan_keeps_write_order_across_plain_and_gzipped_files() {
    let dir = tempfile::tempdir().unwrap();
    let sink =
        FileSink::builder(dir.path()).max_file_bytes(2_000).gzip_rotated(true).build().unwrap();
    let written = entries(0, 60);
    for batch in written.chunks(5) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    sink.flush().await.unwrap();
    let gz = files_ending(dir.path(), ".jsonl.gz");
    assert!(gz.len() >= 5, "expected rotated, compressed files: {:?}", log_files(dir.path()));
    assert_eq!(files_ending(dir.path(), ".jsonl").len(), 1, "only the active file stays plain");

    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&written));

    // Newest first, paged, over every file.
    let mut query = Query::new().limit(7);
    let mut paged = Vec::new();
    loop {
        let page = store.query(&query).await.unwrap();
        paged.extend(page.entries);
        match page.next_cursor {
            Some(c) => query = query.cursor(c),
            None => break,
        }
    }
    let mut newest_first = ids(&written);
    newest_first.reverse();
    assert_eq!(ids(&paged), newest_first);
    let oldest = store.query(&Query::new().order(Order::OldestFirst).limit(3)).await.unwrap();
    assert_eq!(ids(&oldest.entries), ids(&written[..3]));
}

#[tokio::test]
async fn scan_reports_corrupt_lines_with_their_location_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).max_file_bytes(3_000).build().unwrap();
    let written = entries(0, 12);
    for batch in written.chunks(4) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    // Damage a rotated file: a line in the middle, and a torn (unterminated) end.
    let files = files_ending(dir.path(), ".jsonl");
    assert!(files.len() >= 2, "{:?}", log_files(dir.path()));
    let first = &files[0];
    let text = std::fs::read_to_string(first).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let kept = lines.len();
    lines.insert(1, "{\"id\": \"not a uuid\"");
    std::fs::write(first, format!("{}\n{{\"torn", lines.join("\n"))).unwrap();

    let store = FileStore::open(dir.path()).unwrap();
    let items = scan_all(&store).await;
    let errors: Vec<String> = items
        .iter()
        .filter_map(|r| match r {
            Err(StoreError::Corrupt { location, .. }) => Some(location.clone()),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => None,
        })
        .collect();
    let name = first.display().to_string();
    assert_eq!(errors, vec![format!("{name}:2"), format!("{name}:{}", kept + 2)]);
    let good: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(ids(&good), ids(&written), "every good entry is still read, in order");

    // A query skips what it cannot read.
    let page = store.query(&Query::new().limit(100)).await.unwrap();
    assert_eq!(page.entries.len(), written.len());
}

#[tokio::test]
async fn the_unterminated_end_of_the_active_file_is_a_write_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).build().unwrap();
    let written = entries(0, 3);
    sink.write(audit_core::Batch::new(&written)).await.unwrap();
    let active = &files_ending(dir.path(), ".jsonl")[0];
    std::fs::OpenOptions::new().append(true).open(active).unwrap().write_all(b"{\"id\":").unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(ids(&scan_ok(&store).await), ids(&written));
}

#[tokio::test]
async fn purge_removes_whole_old_files_but_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let sink =
        FileSink::builder(dir.path()).max_file_bytes(2_500).gzip_rotated(true).build().unwrap();
    let written = entries(0, 20);
    for batch in written.chunks(4) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    sink.flush().await.unwrap();
    let before_files = log_files(dir.path());
    assert!(before_files.len() >= 4, "{before_files:?}");
    let store = sink.store();

    // Cut-off inside the third batch: the first two files go, the third stays.
    let cut = written[9].time;
    let dry = store.purge_files(cut, true).await.unwrap();
    assert!(dry.dry_run);
    assert_eq!(log_files(dir.path()), before_files, "a dry run removes nothing");
    let report = store.purge_files(cut, false).await.unwrap();
    assert_eq!(report.files, dry.files);
    assert!(!report.files.is_empty());
    assert!(report.files.iter().all(|f| f.newest.is_some_and(|t| t < cut)));
    assert!(report.files.iter().all(|f| matches!(f.rule, RetentionRule::Purge(t) if t == cut)));
    // One batch per file: the files of the first two batches are older.
    let removed = report.entries() as usize;
    assert_eq!((report.files.len(), removed), (2, 8), "{report:?}");
    let kept = scan_ok(&store).await;
    assert_eq!(ids(&kept), ids(&written[removed..]));

    // Even a cut-off after everything keeps the active file.
    let all = store.purge(time::OffsetDateTime::now_utc(), false).await.unwrap();
    let left = scan_ok(&store).await;
    assert!(!left.is_empty());
    assert_eq!(all.removed as usize + left.len() + removed, written.len());
    assert_eq!(log_files(dir.path()).len(), 1);
}

#[tokio::test]
async fn opening_a_missing_directory_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let err = FileStore::open(&missing).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }));
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
}
