//! Retention by count and by age, and the `audit.retention` entry recorded
//! through a real `Auditor`.
#![cfg(feature = "file")]

mod file_support;

use std::time::{Duration, SystemTime};

use audit_core::integrity::{Verifier, VerifyOptions};
use audit_core::{AuditEvent, Auditor, Delivery, Outcome, Sink};
use audit_sinks::file::{
    FileSink, FileStore, RETENTION_EVENT, RetentionEvents, RetentionReport, RetentionRule,
};
use file_support::{files_ending, log_files, scan_ok};

/// An auditor writing to `sink`, each `record` returning once written.
fn auditor(sink: &FileSink) -> Auditor {
    Auditor::builder()
        .service("projects-api", "1.0.0")
        .sink(sink.clone())
        .delivery(Delivery::Strict)
        .build()
        .unwrap()
}

/// Records `count` entries, and after each one the retention reports that
/// arrived meanwhile, as `RetentionEvents::record_into` would.
async fn record(
    auditor: &Auditor,
    events: &mut RetentionEvents,
    reports: &mut Vec<RetentionReport>,
    count: usize,
) {
    for n in 0..count {
        auditor
            .record(AuditEvent::builder("project.update").metadata("n", n).build())
            .await
            .unwrap();
        drain(auditor, events, reports).await;
    }
}

async fn drain(
    auditor: &Auditor,
    events: &mut RetentionEvents,
    reports: &mut Vec<RetentionReport>,
) {
    while let Some(report) = events.try_recv() {
        auditor.record(report.event()).await.unwrap();
        reports.push(report);
    }
}

/// Waits for the queued retention runs and records their reports, until no
/// recording causes another run; then shuts down and returns the reports
/// that came too late to be recorded.
async fn finish(
    sink: &FileSink,
    auditor: &Auditor,
    events: &mut RetentionEvents,
    reports: &mut Vec<RetentionReport>,
) -> Vec<RetentionReport> {
    loop {
        let before = reports.len();
        sink.apply_retention().await.unwrap();
        drain(auditor, events, reports).await;
        if reports.len() == before {
            break;
        }
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let mut late = Vec::new();
    while let Some(report) = events.recv().await {
        late.push(report);
    }
    late
}

/// Checks that the store holds the whole chain but what the reports say was
/// removed, that the `audit.retention` entries describe those files, and that
/// the chain verifies from where retention cut it.
async fn check_log(
    dir: &std::path::Path,
    auditor: &Auditor,
    recorded: &[RetentionReport],
    late: &[RetentionReport],
) {
    let written = auditor.stats().sinks[0].written;
    let store = FileStore::open(dir).unwrap();
    let kept = scan_ok(&store).await;
    let all: Vec<&RetentionReport> = recorded.iter().chain(late).collect();
    let removed: u64 = all.iter().map(|r| r.entries()).sum();
    assert_eq!(kept.len() as u64 + removed, written, "the reports count every removed entry");

    // The audit.retention entries (those not removed since) are in the
    // chain and name the files of their report; the last one is there.
    let entries: Vec<&AuditEvent> = kept.iter().filter(|e| e.event == RETENTION_EVENT).collect();
    assert!(!entries.is_empty(), "no audit.retention entry in the log");
    for entry in &entries {
        assert_eq!(entry.outcome, Outcome::Success);
        assert_eq!(entry.action, audit_core::Action::Delete);
        assert_eq!(entry.actor.to_string(), "system:audit-retention");
        assert!(entry.chain.is_some(), "recorded through the auditor: chained");
        let meta = &entry.metadata["retention"];
        let names: Vec<&str> =
            meta["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        let report = recorded
            .iter()
            .find(|r| r.files.iter().map(|f| f.name.as_str()).eq(names.iter().copied()))
            .unwrap_or_else(|| panic!("no report removed {names:?}"));
        assert_eq!(meta["entries"], report.entries());
        assert_eq!(meta["dir"], dir.display().to_string());
    }
    let last = recorded.last().unwrap();
    let last_names: Vec<&str> = last.files.iter().map(|f| f.name.as_str()).collect();
    assert!(
        entries.iter().any(|e| e.metadata["retention"]["files"][0]["name"] == last_names[0]),
        "the last report's entry is missing"
    );

    // The chain verifies, starting right after the last seq retention removed.
    let mut verifier = Verifier::new(VerifyOptions::new().require_sealed(true));
    for e in &kept {
        verifier.push(e).unwrap();
    }
    let summary = verifier.finish().unwrap();
    let last_removed = all
        .iter()
        .flat_map(|r| &r.files)
        .flat_map(|f| &f.chains)
        .map(|c| c.last_seq)
        .max()
        .unwrap();
    assert_eq!(summary.chains.len(), 1);
    assert_eq!(summary.chains[0].starts_at, Some(last_removed + 1));
}

#[tokio::test]
async fn retention_by_count_is_recorded_as_an_audit_retention_entry() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).max_file_bytes(4_000).max_files(3).build().unwrap();
    let mut events = sink.retention_events().unwrap();
    assert!(sink.retention_events().is_none(), "one receiver per sink");
    let auditor = auditor(&sink);
    let mut reports = Vec::new();
    record(&auditor, &mut events, &mut reports, 80).await;
    let late = finish(&sink, &auditor, &mut events, &mut reports).await;

    assert!(!reports.is_empty());
    assert!(log_files(dir.path()).len() <= 3, "{:?}", log_files(dir.path()));
    for file in reports.iter().flat_map(|r| &r.files) {
        assert_eq!(file.rule, RetentionRule::MaxFiles(3));
        assert!(file.entries > 0 && file.bytes > 0 && file.oldest <= file.newest);
    }
    check_log(dir.path(), &auditor, &reports, &late).await;
}

#[tokio::test]
async fn retention_by_age_removes_the_oldest_files_last_written_long_ago() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path())
        .max_file_bytes(2_000)
        .max_age(Duration::from_secs(3600))
        .gzip_rotated(true)
        .build()
        .unwrap();
    let mut events = sink.retention_events().unwrap();
    let auditor = auditor(&sink);
    let mut reports = Vec::new();
    record(&auditor, &mut events, &mut reports, 30).await;
    Sink::flush(&sink).await.unwrap();
    assert!(reports.is_empty(), "nothing is old yet");
    let files = files_ending(dir.path(), ".jsonl.gz");
    assert!(files.len() >= 4, "{:?}", log_files(dir.path()));

    // The two oldest files were last written two hours ago, and so was the
    // fourth: only the run of oldest files goes, never one in the middle.
    let two_hours_ago = SystemTime::now() - Duration::from_secs(2 * 3600);
    for f in [&files[0], &files[1], &files[3]] {
        std::fs::File::options().write(true).open(f).unwrap().set_modified(two_hours_ago).unwrap();
    }
    let report = sink.apply_retention().await.unwrap();
    let removed: Vec<String> = report.files.iter().map(|f| f.name.clone()).collect();
    let expected: Vec<String> =
        files[..2].iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(removed, expected);
    let max_age = RetentionRule::MaxAge(Duration::from_secs(3600));
    assert!(report.files.iter().all(|f| f.rule == max_age));
    assert!(!files[0].exists() && files[2].exists() && files[3].exists());

    // The same report reaches RetentionEvents, to be recorded.
    let late = finish(&sink, &auditor, &mut events, &mut reports).await;
    assert_eq!(reports[0], report);
    check_log(dir.path(), &auditor, &reports, &late).await;
}

#[tokio::test]
async fn record_into_records_every_report_until_the_sink_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::builder(dir.path()).max_file_bytes(3_000).max_files(2).build().unwrap();
    let events = sink.retention_events().unwrap();
    let auditor = auditor(&sink);
    let task = tokio::spawn(events.record_into(auditor.clone()));
    for n in 0..40 {
        auditor
            .record(AuditEvent::builder("project.update").metadata("n", n).build())
            .await
            .unwrap();
    }
    sink.apply_retention().await.unwrap();

    // The task records in the background: wait (bounded) until it has.
    let store = FileStore::open(dir.path()).unwrap();
    let mut found = false;
    for _ in 0..500 {
        if scan_ok(&store).await.iter().any(|e| e.event == RETENTION_EVENT) {
            found = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(found, "no audit.retention entry was recorded");
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("record_into ends when the sink shuts down")
        .unwrap();
}
