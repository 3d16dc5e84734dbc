//! Fault test (issue #9): the disk holding the file sink and the spool fills
//! up, then space comes back.
//!
//! A small tmpfs is mounted (this test needs root, or `CAP_SYS_ADMIN`, and
//! fails loudly without it) and holds, for two auditors, the file sink's
//! directory and the spool directory. Each auditor serves the example SaaS
//! API on loopback. A filler file is then written until `ENOSPC`, and,
//! through real HTTP requests, the test shows that:
//!
//! 1. **`Strict`** refuses audited requests with 503 without running the
//!    handler (the project does not exist afterwards), and the error says
//!    the disk is full ("no space left on device"), names the file and says
//!    what to do; the counters show nothing written and the spool's failed
//!    appends.
//! 2. **`Buffered`** keeps serving (201) while it holds the entries in
//!    memory: the queue depth grows to `queue_capacity` and nothing is
//!    dropped or written. The request past the bound does not complete (the
//!    caller waits: backpressure, as the rustdoc of `audit_core::Delivery`
//!    says) until space returns.
//! 3. **Recovery**: once the filler is deleted the waiting request
//!    completes, strict requests succeed again, and every entry recorded
//!    during the outage is in the file log exactly once, in chain order,
//!    with no torn line in the log or the spool; the chains verify.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use audit_core::integrity::{VerifyOptions, verify};
use audit_core::{AuditEvent, Auditor, Delivery, RecordError, RetryPolicy, Stats};
use audit_sinks::file::FileSink;
use examples::saas::{AppState, app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tests::read_log;

/// The size of the tmpfs: small, so that filling it is quick.
const FS_SIZE: &str = "4m";
/// The in-memory bound of the buffered auditor.
const CAPACITY: usize = 16;
/// Pads each project so that a few entries outgrow the slack left in the
/// last page of the log and spool files once the disk is full.
const PADDING: usize = 1500;

/// A tmpfs mounted on a temporary directory for the life of the value;
/// unmounted on drop, also when the test panics (lazily if it is busy).
struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(dir.path())
            .output();
        let failure = match output {
            Ok(o) if o.status.success() => return Self { dir },
            Ok(o) => format!("{}: {}", o.status, String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => format!("cannot run `mount`: {e}"),
        };
        panic!(
            "this test needs root (or CAP_SYS_ADMIN) to mount a {size} tmpfs on {} and fill it: \
             `mount -t tmpfs` failed ({failure}). Run it as root, e.g. in the CI container.",
            dir.path().display()
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let path = self.dir.path();
        let unmounted = |args: &[&str]| {
            Command::new("umount").args(args).arg(path).status().is_ok_and(|s| s.success())
        };
        // Busy (an auditor still holds files, e.g. after a panic): detach it.
        if !unmounted(&[]) && !unmounted(&["-l"]) {
            eprintln!("fault_disk_full: could not unmount the tmpfs on {}", path.display());
        }
    }
}

/// Writes `path` until the file system says `ENOSPC`; returns its size.
fn fill(path: &Path) -> u64 {
    let mut file = File::create(path).expect("the filler file");
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => panic!("write returned 0 before the disk was full"),
            Ok(n) => size += n as u64,
            Err(e) if e.kind() == io::ErrorKind::StorageFull => return size,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

/// An auditor with a file sink and a spool under `root`, serving the SaaS
/// API on loopback.
struct Service {
    auditor: Auditor,
    url: String,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    log: PathBuf,
    spool: PathBuf,
}

impl Service {
    async fn start(root: &Path, delivery: Delivery, capacity: usize) -> Self {
        let (log, spool) = (root.join("audit"), root.join("spool"));
        let auditor = Auditor::builder()
            .service("saas-api", "test")
            .sink(FileSink::builder(&log).build().expect("the file sink"))
            .spool_dir(&spool)
            .delivery(delivery)
            .queue_capacity(capacity)
            .batch_size(1)
            .strict_timeout(Duration::from_secs(5))
            .retry_policy(RetryPolicy::new(Duration::from_millis(10), Duration::from_millis(100)))
            .build()
            .expect("the auditor");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service =
            app(AppState::new(auditor.clone())).into_make_service_with_connect_info::<SocketAddr>();
        let server = tokio::spawn(async move {
            axum::serve(listener, service).await.expect("the server runs");
        });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self { auditor, url, client, server, log, spool }
    }

    /// `POST /projects` as alice, with `x-request-id: <request_id>`.
    fn create_project(
        &self,
        name: &str,
        request_id: &str,
    ) -> impl Future<Output = (StatusCode, String)> + Send + 'static {
        let request = self
            .client
            .post(format!("{}/projects", self.url))
            .bearer_auth("alice-token")
            .header("x-request-id", request_id)
            .json(&json!({"name": name, "description": "x".repeat(PADDING)}));
        async move {
            let response = request.send().await.expect("an answer");
            let status = response.status();
            (status, response.text().await.expect("a body"))
        }
    }

    async fn project_names(&self) -> Vec<String> {
        let response = self
            .client
            .get(format!("{}/projects", self.url))
            .bearer_auth("alice-token")
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::OK);
        let projects: Vec<Value> = response.json().await.expect("JSON");
        projects.iter().map(|p| p["name"].as_str().expect("a name").to_owned()).collect()
    }

    /// Shuts the auditor down (everything written) and stops the server;
    /// returns the counters as they were before the closing checkpoint.
    async fn finish(self) -> (Stats, PathBuf, PathBuf) {
        let stats = self.auditor.stats();
        self.auditor.shutdown(Duration::from_secs(10)).await.expect("a clean shutdown");
        self.server.abort();
        (stats, self.log, self.spool)
    }
}

/// The entries of the log whose request id is `request_id`.
fn by_request_id<'a>(log: &'a [AuditEvent], request_id: &str) -> Vec<&'a AuditEvent> {
    log.iter().filter(|e| e.source.request_id.as_deref() == Some(request_id)).collect()
}

fn stage(e: &AuditEvent) -> Option<&str> {
    e.metadata.get("stage").and_then(Value::as_str)
}

/// Checks a log after recovery, given the counters before the shutdown: it
/// verifies (sealed), holds every recorded entry once (distinct ids), in
/// chain order, and the spool holds only whole entries, all in the log, in
/// the same order: every entry but those counted as failed spool writes.
fn check_log_and_spool(name: &str, log: &[AuditEvent], spool: &Path, stats: &Stats) {
    // The closing checkpoint is the one entry more.
    let recorded = stats.recorded + 1;
    let report = verify(log, &VerifyOptions::new().require_sealed(true))
        .unwrap_or_else(|p| panic!("{name}: the chain does not verify after the outage: {p}"));
    assert_eq!(report.chains.len(), 1, "{name}: {report}");
    assert_eq!(log.len() as u64, recorded, "{name}: every recorded entry is in the log, once");
    let seqs: Vec<u64> = log.iter().map(|e| e.chain.as_ref().expect("chained").seq).collect();
    assert_eq!(seqs, (0..recorded).collect::<Vec<_>>(), "{name}: the log is in chain order");
    let position: HashMap<_, _> = log.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    assert_eq!(position.len(), log.len(), "{name}: no entry is in the log twice");

    // The spool: whole lines only (a write cut short by ENOSPC was taken
    // back), each an entry of the log, in log order.
    let mut segments: Vec<PathBuf> = std::fs::read_dir(spool.join("wal"))
        .expect("the spool's segments")
        .map(|e| e.expect("an entry").path())
        .collect();
    segments.sort();
    let mut last = None;
    let mut spooled = 0;
    for segment in segments {
        let bytes = std::fs::read(&segment).expect("a readable segment");
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\n"),
            "{name}: {} ends with a torn line",
            segment.display()
        );
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let entry: AuditEvent = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!("{name}: a torn or corrupt line in {}: {e}", segment.display())
            });
            let at = position[&entry.id];
            assert!(last < Some(at), "{name}: the spool is in chain order");
            last = Some(at);
            spooled += 1;
        }
    }
    // Each entry is in the spool, or counted as a failed spool write.
    assert_eq!(spooled + stats.spool_errors, recorded, "{name}: {stats:?}");
}

/// Waits until the auditor's sink has written every entry recorded so far.
async fn written_out(auditor: &Auditor) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = auditor.stats();
        if stats.sinks[0].written == stats.recorded {
            return;
        }
        assert!(Instant::now() < deadline, "not written: {stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Records strict entries straight through the auditor until its sink
/// reports the full disk: the last, partly used page of a file on a tmpfs
/// still takes an entry or two after the filler hit `ENOSPC`. Returns the
/// ids of these entries (each a real one, due in the log after recovery)
/// and the error.
async fn until_refused(auditor: &Auditor) -> (Vec<String>, RecordError) {
    let mut ids = Vec::new();
    loop {
        assert!(ids.len() < 16, "the sink kept writing on a full disk");
        let event = AuditEvent::builder("disk.probe").metadata("pad", "x".repeat(PADDING));
        match auditor.record_with(event, Delivery::Strict).await {
            Ok(receipt) => ids.push(receipt.id.to_string()),
            Err(error) => {
                let RecordError::NotDurable { id, .. } = &error else {
                    panic!("a strict record on a full disk: {error:?}");
                };
                ids.push(id.to_string());
                return (ids, error);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_strict_requests_holds_buffered_entries_and_recovers() {
    let started = Instant::now();
    let fs = Tmpfs::mount(FS_SIZE);
    let strict = Service::start(&fs.path().join("strict"), Delivery::Strict, 8192).await;
    let buffered = Service::start(&fs.path().join("buffered"), Delivery::Buffered, CAPACITY).await;

    // Before the outage both write.
    let (status, _) = strict.create_project("before-strict", "strict-before").await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = buffered.create_project("before-buffered", "buffered-before").await;
    assert_eq!(status, StatusCode::CREATED);

    // (A buffered call returns before its entry is written: wait for it.)
    for service in [&strict, &buffered] {
        written_out(&service.auditor).await;
    }

    // The disk fills up.
    let filler = fs.path().join("filler");
    let filled = fill(&filler);
    assert!(filled > 1 << 20, "the filler took the free space ({filled} bytes)");
    let new_file = File::create(fs.path().join("canary")).and_then(|mut f| f.write_all(b"x"));
    let full = new_file.expect_err("the file system is full");
    assert_eq!(full.kind(), io::ErrorKind::StorageFull, "{full}");
    let (strict_probes, error) = until_refused(&strict.auditor).await;
    let (buffered_probes, _) = until_refused(&buffered.auditor).await;

    // 1. Strict. The error is what `record` returns, and what the layer logs
    // with "audit-tower: a strict audit entry was not confirmed".
    let text = error.to_string();
    assert!(text.contains("no space left on device"), "says the disk is full: {text}");
    let log_dir = strict.log.display().to_string();
    assert!(text.contains(&log_dir), "names the file: {text}");
    assert!(text.contains("free space"), "says what to do: {text}");
    assert!(text.contains("retried"), "says the entry is kept: {text}");
    let written_at_refusal = strict.auditor.stats().sinks[0].written;

    let mut refused = Vec::new();
    for i in 0..4 {
        let request_id = format!("strict-outage-{i}");
        let (status, body) =
            strict.create_project(&format!("outage-strict-{i}"), &request_id).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "refused on a full disk: {body}");
        assert!(body.contains("could not be audited"), "{body}");
        refused.push(request_id);
    }
    let names = strict.project_names().await;
    assert!(names.contains(&"before-strict".to_owned()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("outage-strict")),
        "no refused handler ran: {names:?}"
    );
    let stats = strict.auditor.stats();
    let sink = &stats.sinks[0];
    assert_eq!(sink.written, written_at_refusal, "nothing written: {stats:?}");
    assert!(sink.retried > 0, "{stats:?}");
    assert_eq!((stats.dropped, sink.dropped, sink.failed), (0, 0, 0), "{stats:?}");
    assert!(stats.spool_errors > 0, "the spool's appends fail too: {stats:?}");

    // 2. Buffered: requests are served while the entries wait in memory, up
    // to the bound; the request past it waits for space. The sink's worker
    // retries one entry (batches of one), the last probe.
    let written_at_refusal = buffered.auditor.stats().sinks[0].written;
    let mut served = Vec::new();
    let mut depths = Vec::new();
    let mut waiting = None;
    for i in 0..CAPACITY + 40 {
        let request_id = format!("buffered-outage-{i}");
        let mut call = tokio::spawn(buffered.create_project(&format!("outage-{i}"), &request_id));
        let mut waited = Duration::ZERO;
        let answer = loop {
            let step = Duration::from_millis(500);
            match tokio::time::timeout(step, &mut call).await {
                Ok(answer) => break Some(answer.expect("the request task")),
                // Waiting, with the bound reached: backpressure.
                Err(_) if buffered.auditor.stats().sinks[0].queue_depth == CAPACITY as u64 => {
                    break None;
                }
                // Just slow (a busy machine).
                Err(_) => {
                    waited += step;
                    assert!(waited < Duration::from_secs(10), "{request_id} hangs below the bound");
                }
            }
        };
        match answer {
            Some((status, body)) => {
                assert_eq!(status, StatusCode::CREATED, "served on a full disk: {body}");
                served.push(request_id);
                depths.push(buffered.auditor.stats().sinks[0].queue_depth);
            }
            None => {
                waiting = Some((request_id, call));
                break;
            }
        }
    }
    let (waiting_id, mut waiting) = waiting.unwrap_or_else(|| {
        panic!("{} requests were served past a bound of {CAPACITY}: {depths:?}", served.len())
    });
    assert!(depths.windows(2).all(|w| w[0] <= w[1]), "the queue only grows: {depths:?}");
    let stats = buffered.auditor.stats();
    let sink = &stats.sinks[0];
    assert_eq!(sink.queue_depth, CAPACITY as u64, "held in memory up to the bound: {stats:?}");
    // Each served request's entry is in memory, or in the spool when its
    // last page still had room for it once memory was full: none elsewhere.
    assert_eq!(served.len() as u64, sink.queue_depth + sink.backlog, "{stats:?}");
    assert_eq!(sink.written, written_at_refusal, "nothing written: {stats:?}");
    assert_eq!((stats.dropped, sink.dropped, sink.failed), (0, 0, 0), "{stats:?}");
    assert!(stats.spool_errors > 0, "{stats:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the request past the bound waits while the disk is full");
    assert_eq!(buffered.auditor.stats().sinks[0].queue_depth, CAPACITY as u64);

    // Strict is still refused meanwhile.
    let (status, _) = strict.create_project("outage-strict-late", "strict-outage-late").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    refused.push("strict-outage-late".to_owned());

    // 3. Space returns.
    std::fs::remove_file(&filler).expect("the filler is removed");
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), &mut waiting)
        .await
        .expect("the waiting request completes once there is space")
        .expect("the request task");
    assert_eq!(status, StatusCode::CREATED, "{body}");
    served.push(waiting_id);
    let (status, body) = strict.create_project("after-strict", "strict-after").await;
    assert_eq!(status, StatusCode::CREATED, "strict requests succeed again: {body}");
    let (status, body) = buffered.create_project("after-buffered", "buffered-after").await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let names = strict.project_names().await;
    assert!(names.contains(&"after-strict".to_owned()), "{names:?}");

    let (strict_stats, strict_log, strict_spool) = strict.finish().await;
    let (buffered_stats, buffered_log, buffered_spool) = buffered.finish().await;

    // Every entry, once, in order.
    let log = read_log(&strict_log).await;
    check_log_and_spool("strict", &log, &strict_spool, &strict_stats);
    for id in &strict_probes {
        let copies = log.iter().filter(|e| e.id.to_string() == *id).count();
        assert_eq!(copies, 1, "probe {id} is in the log once");
    }
    for request_id in &refused {
        let entries = by_request_id(&log, request_id);
        let stages: Vec<_> = entries.iter().map(|e| stage(e)).collect();
        assert_eq!(stages, [Some("received"), Some("refused")], "{request_id}");
    }
    for request_id in ["strict-before", "strict-after"] {
        let stages: Vec<_> = by_request_id(&log, request_id).iter().map(|e| stage(e)).collect();
        assert_eq!(stages, [Some("received"), Some("completed")], "{request_id}");
    }

    let log = read_log(&buffered_log).await;
    check_log_and_spool("buffered", &log, &buffered_spool, &buffered_stats);
    for id in &buffered_probes {
        let copies = log.iter().filter(|e| e.id.to_string() == *id).count();
        assert_eq!(copies, 1, "probe {id} is in the log once");
    }
    for request_id in served.iter().map(String::as_str).chain(["buffered-before", "buffered-after"])
    {
        let entries = by_request_id(&log, request_id);
        assert_eq!(entries.len(), 1, "{request_id} is in the log once");
        assert_eq!(entries[0].event, "project.create");
    }
    assert_eq!(
        log.iter().filter(|e| e.event == "project.create").count(),
        served.len() + 2,
        "no other request entry"
    );

    drop(fs);
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(60), "took {elapsed:?}");
}
