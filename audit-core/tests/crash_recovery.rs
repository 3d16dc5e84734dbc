//! A process killed with SIGKILL under load, in `Buffered` mode with a
//! spool, loses nothing that `record` acknowledged: a new auditor on the same
//! spool directory delivers every acknowledged entry.
//!
//! The test binary re-runs itself (`std::env::current_exe()`) with
//! [`CHILD_ENV`] set, so the same `#[test]` acts as the writer in the child
//! process. The child records entries from several tasks to an auditor whose
//! only sink is down (every write fails transiently), so everything stays in
//! the spool, and prints `ACK <id>` for each `record` that returned. The
//! parent kills it with SIGKILL while it is writing, then replays the spool
//! into a working sink.
#![cfg(unix)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use audit_core::integrity::{VerifyOptions, verify};
use audit_core::testing::MemorySink;
use audit_core::{AuditEvent, Auditor, Delivery, RetryPolicy};
use uuid::Uuid;

/// Set in the child process to the spool directory it writes to.
const CHILD_ENV: &str = "AUDIT_CRASH_RECOVERY_CHILD_SPOOL";
const TEST_NAME: &str = "sigkill_under_load_loses_no_acknowledged_entry";
/// The sink's name: spool cursors are per sink name, so the restarted
/// auditor must use the same one.
const SINK: &str = "primary";
/// Writer tasks in the child.
const WRITERS: usize = 4;

fn retry() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(50))
}

/// The child: records until killed (or 30 s, should the parent be gone).
fn run_child(spool: &str) -> ! {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WRITERS)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sink = MemorySink::named(SINK);
        sink.control().set_down(true);
        let auditor = Auditor::builder()
            .service("crash-test", "0.0.0")
            .sink(sink)
            .delivery(Delivery::Buffered)
            .spool_dir(spool)
            // Small, so most entries overflow to the spool's read-back path.
            .queue_capacity(64)
            .checkpoint_every(100)
            .retry_policy(retry())
            .build()
            .expect("auditor");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut tasks = Vec::new();
        for w in 0..WRITERS {
            let auditor = auditor.clone();
            tasks.push(tokio::spawn(async move {
                let mut i = 0u64;
                while Instant::now() < deadline {
                    let receipt = auditor
                        .record(
                            AuditEvent::builder("document.update")
                                .metadata("writer", w)
                                .metadata("i", i)
                                .metadata("padding", "x".repeat(200)),
                        )
                        .await
                        .expect("record");
                    // One write per line, straight to fd 1 (not the test
                    // harness's captured `print!`).
                    let line = format!("ACK {}\n", receipt.id);
                    let mut out = std::io::stdout().lock();
                    out.write_all(line.as_bytes()).expect("stdout");
                    out.flush().expect("stdout");
                    drop(out);
                    i += 1;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    });
    std::process::exit(0)
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_entry() {
    if let Ok(spool) = std::env::var(CHILD_ENV) {
        run_child(&spool);
    }
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_ENV, &spool)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Uuid>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                let _ = tx.send(id.parse().expect("an id"));
            }
        }
    });

    // Let it run under load: at least 0.5 s and 2000 acknowledged entries,
    // so the kill lands in the middle of a busy spool.
    let mut acked = HashSet::new();
    let start = Instant::now();
    let give_up = start + Duration::from_secs(10);
    while start.elapsed() < Duration::from_millis(500) || acked.len() < 2000 {
        assert!(Instant::now() < give_up, "the writer acknowledged only {} entries", acked.len());
        if let Ok(id) = rx.recv_timeout(Duration::from_millis(50)) {
            acked.insert(id);
        }
    }
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().unwrap();
    assert!(!status.success(), "the writer was killed, not finished: {status:?}");
    reader.join().unwrap();
    // Every line the writer printed before it died: each one was acknowledged.
    acked.extend(rx.try_iter());

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let delivered = runtime.block_on(async {
        let sink = MemorySink::named(SINK);
        let auditor = Auditor::builder()
            .service("crash-test", "0.0.0")
            .sink(sink.clone())
            .spool_dir(&spool)
            .retry_policy(retry())
            .build()
            .expect("a new auditor opens the spool of the killed one");
        auditor.shutdown(Duration::from_secs(10)).await.expect("the replay completes");
        sink.entries()
    });

    let delivered_ids: HashSet<Uuid> = delivered.iter().map(|e| e.id).collect();
    let lost: Vec<&Uuid> = acked.iter().filter(|id| !delivered_ids.contains(id)).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged entries were lost, e.g. {:?}",
        lost.len(),
        acked.len(),
        &lost[..lost.len().min(5)]
    );
    // Nothing was delivered twice, and the replayed chain of the killed
    // process is intact (open: it never wrote its closing checkpoint).
    assert_eq!(delivered_ids.len(), delivered.len());
    let report = verify(&delivered, &VerifyOptions::new()).expect("the replayed chains verify");
    assert_eq!(report.chains.len(), 2, "{report}");
}
