//! Issue #9: the OTLP receiver and the webhook receiver go down for a while
//! under load, and come back on the same port: nothing is lost, nothing is
//! duplicated, and the order of the chain is kept.
//!
//! The example SaaS API runs in this process with its file sink (the
//! reference), an OTLP/gRPC sink and a webhook sink pointed at real receivers
//! on 127.0.0.1 (`tests::receivers`). A fixed number of clients sends audited
//! requests (`POST /projects`, `PATCH /projects/{id}`) without pause. While
//! they do, both receivers are stopped, for at least [`OUTAGE`] and until the
//! outage has really bitten (see below), then restarted on the same port and
//! the requests go on. Once the auditor's stats show every sink caught up,
//! the server is shut down (a closing checkpoint, every sink flushed) and
//! every entry of the file sink's log, the chain's own `audit.*` entries
//! included, must have reached each receiver exactly once, in the log's
//! order; the webhook's entries must be the file's, field for field.
//!
//! A sink's in-memory queue holds 8192 entries, more than a debug build
//! serves over HTTP during a few seconds' outage on a busy machine; so while
//! the receivers are down, a background job of the service also records
//! entries through the same auditor (the same chain, the same sinks), until
//! the queues overflow. Two variants, since a full queue is handled
//! differently:
//!
//! - with a spool: the receivers stay down until both sinks' queues have
//!   spilled a good part of the backlog into the spool (`spooled`), which
//!   they read back from disk (`replayed`) when the receivers return;
//! - without a spool: the receivers stay down until a queue is full, and
//!   then every caller must wait (`Buffered` callers wait for room rather
//!   than drop), the HTTP requests included, until the receivers return.
//!
//! In both, the sinks' failed writes must have been retried (`retried > 0`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audit_core::{AuditEvent, Auditor, SinkStats, Stats};
use clap::Parser as _;
use examples::saas::{Args, Config};
use serde_json::{Value, json};
use tests::receivers::{OtlpReceiver, WebhookReceiver};
use tests::{Api, read_log};
use tokio::task::JoinSet;

const WEBHOOK_SECRET: &str = "whsec_fault_9_b71e0c";
const TOKEN: &str = "alice-token";

/// Clients sending requests at the same time.
const CONCURRENCY: usize = 16;
/// Requests sent before the receivers go down.
const BEFORE: u64 = 300;
/// Requests sent after they are back.
const AFTER: u64 = 300;
/// The shortest outage: long enough for the retries to back off a few times
/// (50 ms, 100 ms, ... 1.6 s, 3.2 s).
const OUTAGE: Duration = Duration::from_secs(5);
/// The auditor's in-memory queue per sink (`AuditorBuilder`'s default, which
/// the example keeps).
const QUEUE_CAPACITY: u64 = 8_192;
/// With a spool, how many entries each sink must have spilled into it before
/// the receivers come back: a few batches' worth.
const SPILL: u64 = 600;
/// How long a step may take before the test gives up (debug build, two
/// cores shared with other work).
const PATIENCE: Duration = Duration::from_secs(40);

/// The variants share the machine's two cores: run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_spool_both_receivers_down_under_load_lose_nothing_and_keep_the_order() {
    let _serial = SERIAL.lock().await;
    run(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_spool_callers_wait_and_both_receivers_down_under_load_lose_nothing() {
    let _serial = SERIAL.lock().await;
    run(false).await;
}

/// The requests the load sent, and whether every one was answered as
/// expected.
#[derive(Debug)]
struct Load {
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    tasks: JoinSet<Result<(), String>>,
}

impl Load {
    /// `CONCURRENCY` clients, each creating a project and renaming it, again
    /// and again, until [`Self::finish`].
    fn start(api: &Api) -> Self {
        let sent = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = JoinSet::new();
        for client_no in 0..CONCURRENCY {
            let (client, base) = (api.client.clone(), api.server.url());
            let (sent, stop) = (sent.clone(), stop.clone());
            tasks.spawn(async move {
                let mut round = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    round += 1;
                    let name = format!("load-{client_no}-{round}");
                    let created = client
                        .post(format!("{base}/projects"))
                        .bearer_auth(TOKEN)
                        .json(&json!({"name": name}))
                        .send()
                        .await
                        .map_err(|e| format!("POST /projects: {e}"))?;
                    let status = created.status().as_u16();
                    let project: Value = created.json().await.map_err(|e| e.to_string())?;
                    sent.fetch_add(1, Ordering::SeqCst);
                    if status != 201 {
                        return Err(format!("POST /projects answered {status}: {project}"));
                    }
                    let id = project["id"].as_str().ok_or("a project id")?.to_owned();
                    let patched = client
                        .patch(format!("{base}/projects/{id}"))
                        .bearer_auth(TOKEN)
                        .json(&json!({"name": format!("{name}-renamed"), "visibility": "public"}))
                        .send()
                        .await
                        .map_err(|e| format!("PATCH /projects/{id}: {e}"))?;
                    let status = patched.status().as_u16();
                    let _ = patched.bytes().await.map_err(|e| e.to_string())?;
                    sent.fetch_add(1, Ordering::SeqCst);
                    if status != 200 {
                        return Err(format!("PATCH /projects/{id} answered {status}"));
                    }
                }
                Ok(())
            });
        }
        Self { sent, stop, tasks }
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests were answered.
    async fn until_sent(&self, n: u64) {
        let deadline = Instant::now() + PATIENCE;
        while self.sent() < n {
            assert!(
                Instant::now() < deadline,
                "the load is stuck at {} of {n} requests",
                self.sent()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the clients after their current round; the number of requests
    /// answered.
    async fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        while let Some(joined) = self.tasks.join_next().await {
            joined.expect("a client task").expect("every request is answered as expected");
        }
        self.sent()
    }
}

/// A background job recording entries through the auditor as fast as it
/// can, until told to stop; yields how many it recorded.
fn record_backlog(auditor: Auditor, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut n = 0u64;
        while !stop.load(Ordering::SeqCst) {
            let entry = AuditEvent::builder("project.export").tenant("acme").metadata("n", n);
            auditor.record(entry).await.expect("recorded");
            n += 1;
        }
        n
    })
}

/// The counters of one sink.
fn sink<'a>(stats: &'a Stats, name: &str) -> &'a SinkStats {
    stats.sinks.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no `{name}` sink"))
}

/// Polls the auditor's stats every 20 ms until `done` holds; panics with
/// the last stats after [`PATIENCE`].
async fn wait_for(api: &Api, what: &str, done: impl Fn(&Stats) -> bool) -> Stats {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let stats = api.server.auditor().stats();
        if done(&stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}: {stats:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const NETWORK_SINKS: [&str; 2] = ["otlp", "webhook"];

async fn run(spool: bool) {
    let started = Instant::now();
    let variant = if spool { "with a spool" } else { "without a spool" };
    let mut webhook = WebhookReceiver::start(WEBHOOK_SECRET).await;
    let mut otlp = OtlpReceiver::start().await;
    let (webhook_url, otlp_url) = (webhook.url(), otlp.url());
    let args = Args::try_parse_from([
        "saas-api",
        "--otlp",
        &otlp_url,
        "--webhook",
        &webhook_url,
        "--webhook-secret",
        WEBHOOK_SECRET,
    ])
    .unwrap();
    let flags = Config::from(args);
    let api = Api::start_with(|mut config| {
        config.otlp = flags.otlp;
        config.webhook = flags.webhook;
        config.spool_dir = spool.then(|| config.audit_dir.with_file_name("spool"));
        config
    })
    .await;

    // Up: the receivers get entries.
    let load = Load::start(&api);
    load.until_sent(BEFORE).await;
    wait_for(&api, "both network sinks have written entries", |stats| {
        NETWORK_SINKS.iter().all(|name| sink(stats, name).written > 0)
    })
    .await;
    assert!(!webhook.entries().is_empty() && !otlp.entries().is_empty(), "both receivers got them");

    // Down, under load, until the outage has bitten.
    tokio::join!(webhook.stop(), otlp.stop());
    let down = Instant::now();
    let sent_at_down = load.sent();
    let received_before = (webhook.entries().len(), otlp.entries().len());
    let stop_backlog = Arc::new(AtomicBool::new(false));
    let backlog = record_backlog(api.server.auditor().clone(), stop_backlog.clone());
    let bitten = |stats: &Stats| {
        let mut network = NETWORK_SINKS.iter().map(|name| sink(stats, name));
        if spool {
            network.all(|s| s.spooled >= SPILL)
        } else {
            network.any(|s| s.queue_depth >= QUEUE_CAPACITY)
        }
    };
    let what = if spool { "both sinks spill into the spool" } else { "a queue is full" };
    let outage_stats = wait_for(&api, what, bitten).await;
    let bitten_after = down.elapsed();
    // Without a spool the job is now waiting for room, and stops once it
    // has it.
    stop_backlog.store(true, Ordering::SeqCst);
    if !spool {
        // A full queue makes `Buffered` callers wait, with the core's lock:
        // at most the entry that found it full is recorded after it, and at
        // most the answers already on their way (one per client) arrive.
        let stalled_at = load.sent();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let recorded = api.server.auditor().stats().recorded - outage_stats.recorded;
        assert!(recorded <= 1, "record waits for room, yet {recorded} more were recorded");
        let answered = load.sent() - stalled_at;
        assert!(answered <= CONCURRENCY as u64, "requests wait, yet {answered} were answered");
    }
    if let Some(rest) = OUTAGE.checked_sub(down.elapsed()) {
        tokio::time::sleep(rest).await;
    }
    let sent_at_up = load.sent();
    let stats_at_up = api.server.auditor().stats();
    tokio::join!(webhook.restart(), otlp.restart());
    let up = Instant::now();
    let outage = up - down;

    // Up again, under load.
    load.until_sent(sent_at_up + AFTER).await;
    let sent = load.finish().await;
    let backlogged = backlog.await.expect("the background job");
    let caught_up = wait_for(&api, "every sink has written every entry", |stats| {
        stats
            .sinks
            .iter()
            .all(|s| s.written == stats.recorded && s.queue_depth == 0 && s.backlog == 0)
    })
    .await;
    let catch_up = up.elapsed();
    let (_, dir) = api.finish().await;

    // The reference: the file sink's log, the chain's own entries included.
    let log = read_log(&dir.path().join("audit")).await;
    let expected: Vec<String> = log.iter().map(|e| e.id.to_string()).collect();
    let calls = log.iter().filter(|e| !e.event.starts_with("audit.")).count() as u64;
    assert_eq!(calls, sent + backlogged, "the file sink has one entry per request and job entry");
    let distinct: HashSet<&String> = expected.iter().collect();
    assert_eq!(distinct.len(), expected.len(), "the file log has no repeated id");

    let webhook_entries = webhook.entries();
    let hooked: Vec<String> = webhook_entries.iter().map(id_of).collect();
    let otlp_entries = otlp.entries();
    let exported: Vec<String> = otlp_entries.iter().map(id_of).collect();

    let stats_of = |s: &Stats| {
        NETWORK_SINKS
            .iter()
            .map(|name| {
                let s = sink(s, name);
                format!(
                    "{name}: written {}, retried {}, spooled {}, replayed {}, failed {}, dropped {}",
                    s.written, s.retried, s.spooled, s.replayed, s.failed, s.dropped
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    println!(
        "{variant}: {} entries in the log ({sent} requests, {backlogged} job entries); down \
         after {sent_at_down} requests, receivers had {received_before:?} entries; outage {outage:.1?} ({what} after \
         {bitten_after:.1?}: {}), {} requests during it; at restart: queue {:?}, backlog {:?}; \
         caught up {catch_up:.1?} after the restart; final: {}; webhook {} batches; test took \
         {:.1?}",
        expected.len(),
        stats_of(&outage_stats),
        sent_at_up - sent_at_down,
        NETWORK_SINKS.map(|n| sink(&stats_at_up, n).queue_depth),
        NETWORK_SINKS.map(|n| sink(&stats_at_up, n).backlog),
        stats_of(&caught_up),
        webhook.batches(),
        started.elapsed(),
    );

    assert_exactly_once_in_order("webhook", &expected, &hooked);
    assert_exactly_once_in_order("otlp", &expected, &exported);
    // The OTLP records carry the entries' event names ...
    let otlp_events = otlp_entries.iter().map(|e| e["event"].as_str().unwrap_or_default());
    let mismatch = otlp_events.zip(&log).position(|(sent, written)| sent != written.event);
    assert_eq!(mismatch, None, "the OTLP record's event name is the entry's");
    // ... and the webhook carries whole entries: the file's, field for field.
    for (sent, written) in webhook_entries.iter().zip(&log) {
        assert_eq!(
            sent,
            &serde_json::to_value(written).unwrap(),
            "the webhook entry is the file's"
        );
    }

    // The outage was real: failed writes were retried, and with a spool the
    // queues overflowed into it and were read back from it.
    for name in NETWORK_SINKS {
        let s = sink(&caught_up, name);
        assert!(s.retried > 0, "{name} retried failed writes: {s:?}");
        assert_eq!((s.failed, s.dropped), (0, 0), "{name} neither rejected nor dropped: {s:?}");
        if spool {
            assert!(s.spooled > 0 && s.replayed > 0, "{name} spooled and replayed: {s:?}");
        } else {
            assert_eq!((s.spooled, s.replayed), (0, 0), "no spool: {s:?}");
        }
    }
    assert!(sent_at_up > sent_at_down, "the load went on while the receivers were down");
    assert!(outage >= OUTAGE, "the receivers were down for {outage:?}");

    if spool {
        // Every entry went through the spool, and every sink's cursor is at
        // its end: a restart would replay (repeat) nothing.
        let spool = dir.path().join("spool");
        let head = spool_head(&spool);
        assert_eq!(head, expected.len() as u64, "every entry was spooled");
        for name in ["file", "otlp", "webhook"] {
            let cursor =
                std::fs::read_to_string(spool.join("cursors").join(format!("{name}.cursor")))
                    .expect("a cursor file");
            assert_eq!(cursor.trim(), head.to_string(), "the {name} sink's cursor is at the end");
        }
    }
}

/// The index the next entry appended to the spool would get: its last
/// segment's first index (the file name) plus the segment's lines.
fn spool_head(spool: &std::path::Path) -> u64 {
    let segments = std::fs::read_dir(spool.join("wal")).expect("the spool's segments");
    segments
        .map(|segment| {
            let path = segment.expect("a segment").path();
            let first: u64 =
                path.file_stem().and_then(|s| s.to_str()?.parse().ok()).expect("a segment name");
            let lines =
                std::fs::read(&path).expect("a segment").iter().filter(|b| **b == b'\n').count();
            first + lines as u64
        })
        .max()
        .expect("a segment")
}

fn id_of(item: &Value) -> String {
    item["id"].as_str().expect("an entry id").to_owned()
}

/// Every id of `expected` occurs once in `received`, nothing else does, and
/// the order is the same; on failure, says what was missing, repeated or
/// out of place.
#[track_caller]
fn assert_exactly_once_in_order(receiver: &str, expected: &[String], received: &[String]) {
    if received == expected {
        return;
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in received {
        *counts.entry(id).or_default() += 1;
    }
    let known: HashSet<&str> = expected.iter().map(String::as_str).collect();
    let missing: Vec<&String> =
        expected.iter().filter(|id| !counts.contains_key(id.as_str())).collect();
    let mut duplicated: Vec<(&str, usize)> =
        counts.iter().filter(|(_, n)| **n > 1).map(|(id, n)| (*id, *n)).collect();
    duplicated.sort_unstable();
    let unknown: Vec<&&str> = counts.keys().filter(|id| !known.contains(*id)).collect();
    let first_occurrences: Vec<&str> = {
        let mut seen = HashSet::new();
        received.iter().map(String::as_str).filter(|id| seen.insert(*id)).collect()
    };
    let in_order = first_occurrences.iter().copied().eq(expected.iter().map(String::as_str));
    let first_difference = expected
        .iter()
        .zip(received)
        .position(|(a, b)| a != b)
        .unwrap_or(expected.len().min(received.len()));
    panic!(
        "the {receiver} receiver did not get every entry exactly once in chain order: {} expected, \
         {} received; {} missing (first: {:?}); {} duplicated (id, times; first: {:?}); {} unknown; \
         first occurrences in chain order: {in_order}; first difference at position {first_difference}",
        expected.len(),
        received.len(),
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        duplicated.len(),
        duplicated.iter().take(5).collect::<Vec<_>>(),
        unknown.len(),
    );
}
