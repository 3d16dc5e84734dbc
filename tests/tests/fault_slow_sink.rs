//! Fault test of issue #9: a slow sink (10 s per batch) holds back neither
//! the other sinks nor the requests, in `Buffered` mode, and loses nothing.
//!
//! The SaaS API (`examples::saas::app`) is served on loopback with a real
//! auditor: a file sink, a write-ahead spool, and a webhook sink POSTing to
//! the real `WebhookReceiver`, which answers every batch only after 10 s.
//! The webhook sink's request timeout is raised from its default 10 s (which
//! would make every batch time out and be retried: a *failing* sink) to
//! 30 s, so the sink is slow, not failing.
//!
//! No wall-clock performance threshold is used; what is shown is causal:
//!
//! - **other sinks keep their pace**: after each round of requests, the file
//!   sink has written (and the log on disk holds) every entry recorded so
//!   far while the webhook receiver has not yet answered its *first* batch
//!   (the genesis entry alone) and the webhook holds everything else,
//!   its in-memory queue full and the rest spilled to the spool;
//! - **request latency is unaffected**: every request completed while that
//!   first batch was still unanswered, so none of them waited for the slow
//!   sink. Latencies with and without the slow sink are measured side by
//!   side; the only bound is structural (the slowest request with the slow
//!   sink is far below the 10 s a batch takes);
//! - **nothing is lost**: at shutdown (with a timeout long enough for the
//!   slow sink to catch up: three 10 s batches) the receiver has every entry
//!   of the file log, exactly once and in the same order, and no write was
//!   retried or failed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use audit_core::{Auditor, Delivery, SinkStats, Stats};
use audit_sinks::file::FileSink;
use audit_sinks::webhook::WebhookSink;
use examples::saas::{AppState, app};
use serde_json::json;
use tempfile::TempDir;
use tests::receivers::WebhookReceiver;
use tests::{read_log, without_chain_entries};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

const SECRET: &str = "whsec_fault_slow_sink_7b2e";
/// How long the receiver takes to answer each batch.
const BATCH_DELAY: Duration = Duration::from_secs(10);
/// The webhook sink's request timeout: above [`BATCH_DELAY`] so that the
/// sink is slow, not failing (its default, [`audit_sinks::webhook::DEFAULT_TIMEOUT`], is
/// not above it).
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);
/// Entries each sink holds in memory: fewer than one run records, so the
/// slow sink's queue fills and the rest spills to the spool.
const QUEUE_CAPACITY: usize = 256;
/// Large enough that the slow sink catches up in few batches: the genesis
/// entry, then its in-memory queue, then its spool backlog (which stays
/// below the receiver's 2 MB body limit).
const BATCH_SIZE: usize = 4096;
/// Concurrent HTTP clients.
const CLIENTS: usize = 8;
/// Rounds of requests; the sinks are checked after each.
const ROUNDS: usize = 3;
/// `POST /projects` + `PATCH /projects/{id}` pairs per client and round.
const PAIRS: usize = 25;
/// Audited requests per run.
const REQUESTS: usize = CLIENTS * ROUNDS * PAIRS * 2;
/// Time allowed to shut down: the slow sink still has to catch up.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(50);

/// The SaaS API on loopback with its own auditor.
struct Service {
    auditor: Auditor,
    url: String,
    client: reqwest::Client,
    stop: oneshot::Sender<()>,
    server: JoinHandle<()>,
    dir: TempDir,
}

impl Service {
    /// Starts the API with a file sink and a spool, plus a webhook sink to
    /// `webhook` when given; delivery is `Buffered`.
    async fn start(webhook: Option<&WebhookReceiver>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = FileSink::builder(dir.path().join("audit")).build().unwrap();
        let mut builder = Auditor::builder()
            .service("saas-api", "test")
            .delivery(Delivery::Buffered)
            .queue_capacity(QUEUE_CAPACITY)
            .batch_size(BATCH_SIZE)
            .spool_dir(dir.path().join("spool"))
            .sink(file);
        if let Some(receiver) = webhook {
            let sink = WebhookSink::builder(receiver.url(), SECRET)
                .timeout(WEBHOOK_TIMEOUT)
                .build()
                .unwrap();
            builder = builder.sink(sink);
        }
        let auditor = builder.build().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let service =
            app(AppState::new(auditor.clone())).into_make_service_with_connect_info::<SocketAddr>();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        Self { auditor, url, client, stop, server, dir }
    }

    fn log_dir(&self) -> PathBuf {
        self.dir.path().join("audit")
    }

    /// One round: every client creates and renames [`PAIRS`] projects, one
    /// request at a time; returns each request's latency.
    async fn round(&self, round: usize) -> Vec<Duration> {
        let mut clients = JoinSet::new();
        for c in 0..CLIENTS {
            let (client, url) = (self.client.clone(), self.url.clone());
            clients.spawn(async move {
                let mut latencies = Vec::with_capacity(2 * PAIRS);
                for i in 0..PAIRS {
                    let name = format!("project-{round}-{c}-{i}");
                    let start = Instant::now();
                    let response = client
                        .post(format!("{url}/projects"))
                        .bearer_auth("alice-token")
                        .json(&json!({"name": name}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 201);
                    let project: serde_json::Value = response.json().await.unwrap();
                    latencies.push(start.elapsed());
                    let id = project["id"].as_str().unwrap();

                    let start = Instant::now();
                    let response = client
                        .patch(format!("{url}/projects/{id}"))
                        .bearer_auth("alice-token")
                        .json(&json!({"name": format!("{name} (renamed)")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 200);
                    response.bytes().await.unwrap();
                    latencies.push(start.elapsed());
                }
                latencies
            });
        }
        clients.join_all().await.into_iter().flatten().collect()
    }

    /// Stops the HTTP server (no request is in flight), then the auditor.
    async fn stop(self, timeout: Duration) -> (Stats, TempDir) {
        let _ = self.stop.send(());
        self.server.await.unwrap();
        self.auditor.shutdown(timeout).await.expect("every sink flushed before the timeout");
        (self.auditor.stats(), self.dir)
    }
}

fn sink<'a>(stats: &'a Stats, name: &str) -> &'a SinkStats {
    stats.sinks.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no sink {name}"))
}

/// Median, 99th percentile and maximum.
fn summary(latencies: &mut [Duration]) -> (Duration, Duration, Duration) {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99), at(1.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_sink_holds_back_neither_the_other_sinks_nor_the_requests() {
    // Baseline: the same service without the slow sink.
    let baseline = Service::start(None).await;
    let mut fast = Vec::new();
    for round in 0..ROUNDS {
        fast.extend(baseline.round(round).await);
    }
    let (stats, _dir) = baseline.stop(Duration::from_secs(10)).await;
    assert_eq!(sink(&stats, "file").written, stats.recorded);
    assert_eq!(fast.len(), REQUESTS);

    // With the slow sink.
    let receiver = WebhookReceiver::start(SECRET).await;
    receiver.set_delay(BATCH_DELAY);
    let started = Instant::now();
    let service = Service::start(Some(&receiver)).await;
    let mut slow = Vec::new();
    for round in 0..ROUNDS {
        slow.extend(service.round(round).await);

        // No request is in flight: `recorded` is final for this round.
        let recorded = service.auditor.stats().recorded;
        // Wait for the file sink to have written all of it, or for the slow
        // sink to answer its first batch (which would defeat the check).
        let stats = loop {
            let stats = service.auditor.stats();
            if sink(&stats, "file").written >= recorded || receiver.batches() > 0 {
                break stats;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(
            receiver.batches(),
            0,
            "round {round}: the slow sink answered its first batch before the file sink caught \
             up (or before the requests were done) after {:?}",
            started.elapsed()
        );
        let (file, hook) = (sink(&stats, "file"), sink(&stats, "webhook"));
        assert_eq!(stats.recorded, recorded, "round {round}");
        assert_eq!(file.written, recorded, "round {round}: the file sink kept pace: {stats:?}");
        assert_eq!(
            (file.queue_depth, file.backlog),
            (0, 0),
            "round {round}: nothing waits for the file sink: {stats:?}"
        );
        assert_eq!(hook.written, 0, "round {round}: the slow sink is in its first batch");
        assert_eq!(
            hook.queue_depth + hook.backlog,
            recorded - 1,
            "round {round}: the slow sink holds every entry but the genesis in flight: {stats:?}"
        );
        assert_eq!(
            read_log(&service.log_dir()).await.len() as u64,
            recorded,
            "round {round}: the log on disk has every entry recorded so far"
        );
    }
    let requests_done = started.elapsed();
    assert_eq!(slow.len(), REQUESTS);
    let stats = service.auditor.stats();
    let hook = sink(&stats, "webhook");
    assert_eq!(
        hook.queue_depth, QUEUE_CAPACITY as u64,
        "the slow sink's in-memory queue is full: {stats:?}"
    );
    assert!(hook.spooled > 0 && hook.backlog > 0, "the rest spilled to the spool: {stats:?}");
    assert_eq!(
        receiver.batches(),
        0,
        "every request completed before the first batch was answered"
    );

    // Latency, side by side: with the slow sink, no request waited for it.
    let (fast_p50, fast_p99, fast_max) = summary(&mut fast);
    let (slow_p50, slow_p99, slow_max) = summary(&mut slow);
    println!(
        "{REQUESTS} requests per run; latency without the slow sink: p50 {fast_p50:?}, p99 \
         {fast_p99:?}, max {fast_max:?}; with it: p50 {slow_p50:?}, p99 {slow_p99:?}, max \
         {slow_max:?}; all done {requests_done:?} after the auditor started"
    );
    assert!(
        slow_max < BATCH_DELAY / 2,
        "a request took {slow_max:?} with the slow sink: it waited for it"
    );

    // Shutdown waits for the slow sink to catch up.
    let (stats, dir) = service.stop(SHUTDOWN_TIMEOUT).await;
    let caught_up = started.elapsed();
    let (file, hook) = (sink(&stats, "file"), sink(&stats, "webhook"));
    println!(
        "the slow sink caught up {:?} after the requests were done ({caught_up:?} after the \
         auditor started), in {} batches ({} bytes); {} entries recorded, {} spilled to the spool: \
         {stats:?}",
        caught_up - requests_done,
        receiver.batches(),
        receiver.raw_bytes().len(),
        stats.recorded,
        hook.spooled,
    );
    assert_eq!(file.written, stats.recorded, "{stats:?}");
    assert_eq!(hook.written, stats.recorded, "{stats:?}");
    assert_eq!(hook.replayed, hook.spooled, "the spilled entries came back from the spool");
    for s in [file, hook] {
        assert_eq!((s.retried, s.failed, s.dropped), (0, 0, 0), "slow, not failing: {s:?}");
    }

    // Nothing lost: the receiver has the file log, entry for entry, in order.
    let in_file = read_log(&dir.path().join("audit")).await;
    assert_eq!(in_file.len() as u64, stats.recorded);
    let requests = without_chain_entries(in_file.clone());
    assert_eq!(requests.len(), REQUESTS, "one entry per request");
    assert!(
        requests.iter().all(|e| ["project.create", "project.update"].contains(&e.event.as_str())),
        "only the driven requests"
    );
    let expected: Vec<(String, String)> =
        in_file.iter().map(|e| (e.id.to_string(), e.event.clone())).collect();
    let received: Vec<(String, String)> = receiver
        .entries()
        .iter()
        .map(|e| (e["id"].as_str().unwrap().to_owned(), e["event"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(received.len(), expected.len(), "every entry arrived exactly once");
    assert!(received == expected, "the receiver has the file log's entries in its order");
    // The genesis entry alone, the full in-memory queue, then the spool's
    // backlog with the closing checkpoint: three 10 s batches.
    assert_eq!(receiver.batches(), 3);
}
