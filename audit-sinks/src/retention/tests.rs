use std::io;
use std::sync::{Arc, Mutex};

use super::*;

/// What the tests' subscriber writes.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap()).matches(needle).count()
    }

    /// Runs `f` with the warnings it logs written here.
    fn capture(&self, f: impl FnOnce()) {
        let writer = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, f);
    }
}

/// Sends `report` through a fresh channel three times with `warn`, the
/// events taken first if `take`; returns the logs and what arrived.
fn send_three<R: Report>(wording: Wording, report: &R, warn: bool, take: bool) -> (Logs, usize) {
    let (mut sender, slot) = channel::<R>(wording);
    let events = take.then(|| slot.take().expect("the events, once"));
    let logs = Logs::default();
    logs.capture(|| {
        for _ in 0..3 {
            sender.send(report.clone(), warn);
        }
    });
    // A receiver that comes late still gets every report.
    let mut events = events.or_else(|| slot.take()).expect("the events");
    let received = std::iter::from_fn(|| events.try_recv()).count();
    (logs, received)
}

const NOBODY: &str = "but nothing receives";

#[cfg(feature = "file")]
#[test]
fn the_file_sink_warns_once_when_nobody_takes_its_reports() {
    use crate::file::{RemovedFile, RetentionReport, RetentionRule};
    let report = RetentionReport {
        dir: "/var/log/audit".into(),
        dry_run: false,
        files: vec![RemovedFile {
            name: "audit-00000001-20250106T070809.123456Z.jsonl".to_owned(),
            bytes: 10,
            entries: 1,
            unreadable_lines: 0,
            oldest: None,
            newest: None,
            chains: Vec::new(),
            rule: RetentionRule::MaxFiles(3),
        }],
    };
    let wording = crate::file::RETENTION_WORDING;
    let (logs, received) = send_three(wording, &report, true, false);
    assert_eq!(logs.count(NOBODY), 1, "once, however many runs");
    assert_eq!(logs.count("FileSink::retention_events()"), 1);
    assert_eq!(received, 3);
    assert_eq!(send_three(wording, &report, true, true).0.count(NOBODY), 0, "taken");
    assert_eq!(send_three(wording, &report, false, false).0.count(NOBODY), 0, "at start-up");
}

#[cfg(feature = "postgres")]
#[test]
fn the_postgres_sink_warns_once_when_nobody_takes_its_reports() {
    use crate::postgres::{DroppedPartition, RetentionReport, RetentionRule};
    let month = time::macros::datetime!(2025-01-01 0:00 UTC);
    let partition = DroppedPartition {
        name: "audit_events_p2025_01".to_owned(),
        from: month,
        to: time::macros::datetime!(2025-02-01 0:00 UTC),
        entries: 7,
        oldest: Some(month),
        newest: Some(month),
        chains: Vec::new(),
        rule: RetentionRule::MaxAge(Duration::from_secs(3600)),
    };
    let report = RetentionReport {
        table: "postgres://app@db:5432/audit#audit_events".to_owned(),
        dry_run: false,
        partitions: vec![partition],
    };
    let wording = crate::postgres::RETENTION_WORDING;
    let (logs, received) = send_three(wording, &report, true, false);
    assert_eq!(logs.count(NOBODY), 1, "once, however many runs");
    assert_eq!(logs.count("PostgresSink::retention_events()"), 1);
    assert_eq!(received, 3);
    assert_eq!(send_three(wording, &report, true, true).0.count(NOBODY), 0, "taken");
    // A dry run removed nothing: no report, no warning.
    let dry = RetentionReport { dry_run: true, ..report };
    let (logs, received) = send_three(wording, &dry, true, false);
    assert_eq!((logs.count(NOBODY), received), (0, 0));
}
