//! Scenario 7, Outage: the file sink is switched off for a while (30 s; shorter with
//! `--quick`) under a steady offered load, with a spool. Measured: resident
//! memory growth against the configured queue size in bytes, whether every
//! recorded entry reached the file after recovery, and the drain rate
//! against the offered rate.

use std::collections::HashSet;
use std::io::BufRead as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use audit_core::{Auditor, Batch, Sink, SinkError, SinkInput};
use audit_sinks::file::FileSink;
use audit_testkit::sample;
use uuid::Uuid;

use crate::harness::{self, Bench, BenchResult, error};
use crate::report::{Row, ScenarioReport, Side, Target};
use crate::stats::Summary;
use crate::{alloc, entry, sysinfo};

/// Memory the sink's queue may hold (the auditor's `queue_bytes`); its
/// `queue_capacity` is set high, so that this is the bound that holds.
const QUEUE_BYTES: usize = 16 << 20;
/// Entries offered per second.
const OFFERED_PER_SEC: f64 = 2000.0;

/// A sink wrapper with an on/off switch: off, every write fails transiently.
#[derive(Debug)]
struct Switch {
    inner: FileSink,
    up: AtomicBool,
    /// Entries written through it.
    delivered: AtomicU64,
    /// When the first write after the switch came back on started, and how
    /// many entries had been delivered before it.
    first_ok: Mutex<Option<(Instant, u64)>>,
    /// When the switch came back on.
    up_since: Mutex<Option<Instant>>,
}

#[async_trait]
impl Sink for Switch {
    fn name(&self) -> &str {
        "file"
    }

    fn input(&self) -> SinkInput {
        self.inner.input()
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(SinkError::transient("switched off (simulated outage)"));
        }
        let started = Instant::now();
        let before = self.delivered.load(Ordering::SeqCst);
        self.inner.write(batch).await?;
        self.delivered.fetch_add(batch.len() as u64, Ordering::SeqCst);
        let up_since = *self.up_since.lock().unwrap_or_else(|e| e.into_inner());
        if up_since.is_some_and(|up| started >= up) {
            let mut first = self.first_ok.lock().unwrap_or_else(|e| e.into_inner());
            first.get_or_insert((started, before));
        }
        Ok(())
    }

    async fn flush(&self) -> Result<(), SinkError> {
        self.inner.flush().await
    }

    async fn shutdown(&self) -> Result<(), SinkError> {
        self.inner.shutdown().await
    }
}

/// Records at a fixed rate until `stop`; returns the ids of what was recorded.
async fn offer(
    auditor: Auditor,
    rate: f64,
    stop: Arc<AtomicBool>,
    mut ids: Vec<Uuid>,
) -> BenchResult<Vec<Uuid>> {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::SeqCst) {
        tick.tick().await;
        let due = (start.elapsed().as_secs_f64() * rate) as usize;
        while ids.len() < due {
            ids.push(auditor.record(sample::entry()).await?.id);
        }
    }
    Ok(ids)
}

/// Samples RSS every 20 ms until stopped.
fn sampler(stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<(Instant, u64, i64)>> {
    std::thread::spawn(move || {
        let mut out = Vec::with_capacity(1 << 14);
        while !stop.load(Ordering::SeqCst) {
            out.push((Instant::now(), sysinfo::rss_bytes(), alloc::live_bytes()));
            std::thread::sleep(Duration::from_millis(20));
        }
        out
    })
}

/// The ids of every entry in the JSON Lines files under `dir`.
fn ids_in(dir: &Path) -> BenchResult<HashSet<Uuid>> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Uuid,
    }
    let mut ids = HashSet::new();
    for f in std::fs::read_dir(dir)? {
        let path = f?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            for line in std::io::BufReader::new(std::fs::File::open(&path)?).lines() {
                if let Ok(id) = serde_json::from_str::<Id>(&line?) {
                    ids.insert(id.id);
                }
            }
        }
    }
    Ok(ids)
}

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("outage", "sink outage");
    let quick = bench.settings.quick;
    let before_outage = if quick { Duration::from_secs(2) } else { Duration::from_secs(5) };
    let outage = bench.settings.outage;
    let drain_limit = Duration::from_secs(if quick { 60 } else { 180 });

    let dir = bench.tempdir("outage-")?;
    let log_dir = dir.path().join("log");
    let rt = bench.server_runtime()?;
    let switch = Arc::new(Switch {
        inner: FileSink::builder(&log_dir).build()?,
        up: AtomicBool::new(true),
        delivered: AtomicU64::new(0),
        first_ok: Mutex::new(None),
        up_since: Mutex::new(None),
    });
    let spool = dir.path().join("spool");
    let auditor = rt.block_on(async {
        Auditor::builder()
            .service("bench", "0.1.0")
            .instance("bench-1")
            .shared_sink(switch.clone())
            .spool_dir(&spool)
            .queue_capacity(1 << 20)
            .queue_bytes(QUEUE_BYTES)
            .build()
    })?;
    let entry_bytes = serde_json::to_vec(&entry::finished(&entry::template(), 1))?.len() as f64;
    let queue_bytes = QUEUE_BYTES as f64;

    let total = before_outage + outage + drain_limit + Duration::from_secs(5);
    let capacity = (total.as_secs_f64() * OFFERED_PER_SEC) as usize + 1024;
    let stop_load = Arc::new(AtomicBool::new(false));
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let samples = sampler(stop_sampler.clone());
    let load = rt.spawn(offer(
        auditor.clone(),
        OFFERED_PER_SEC,
        stop_load.clone(),
        Vec::with_capacity(capacity),
    ));

    std::thread::sleep(before_outage);
    let down_at = Instant::now();
    switch.up.store(false, Ordering::SeqCst);
    std::thread::sleep(outage);
    let stats_at_recovery = auditor.stats();
    let held = auditor.stats().sinks[0].clone();
    let up_at = Instant::now();
    *switch.up_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(up_at);
    switch.up.store(true, Ordering::SeqCst);

    // Drained: nothing queued or spooled for the sink.
    let drained_at = loop {
        let s = auditor.stats();
        let sink = &s.sinks[0];
        if sink.backlog == 0
            && sink.queue_depth <= 16
            && switch.first_ok.lock().map(|f| f.is_some()).unwrap_or(false)
        {
            break Some(Instant::now());
        }
        if up_at.elapsed() > drain_limit {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let delivered_at_drain = switch.delivered.load(Ordering::SeqCst);
    stop_load.store(true, Ordering::SeqCst);
    let ids = rt.block_on(load)??;
    rt.block_on(auditor.shutdown(Duration::from_secs(60)))?;
    stop_sampler.store(true, Ordering::SeqCst);
    let samples = samples.join().map_err(|_| error("the RSS sampler panicked"))?;
    let stats = auditor.stats();
    harness::stop(rt);

    let written = ids_in(&log_dir)?;
    let lost = ids.iter().filter(|id| !written.contains(id)).count();

    // Memory: baseline over the second half of the time before the outage,
    // peak while the sink was down.
    let base_from = down_at - before_outage / 2;
    let in_window =
        |from: Instant, to: Instant| samples.iter().filter(move |(t, _, _)| *t >= from && *t < to);
    let base_rss: Vec<f64> = in_window(base_from, down_at).map(|s| s.1 as f64).collect();
    let base_heap: Vec<f64> = in_window(base_from, down_at).map(|s| s.2 as f64).collect();
    let base_rss = crate::stats::median(&base_rss).unwrap_or(f64::NAN);
    let base_heap = crate::stats::median(&base_heap).unwrap_or(f64::NAN);
    let peak_rss = in_window(down_at, up_at).map(|s| s.1).max().unwrap_or(0) as f64;
    let peak_heap = in_window(down_at, up_at).map(|s| s.2).max().unwrap_or(0) as f64;
    let drain_end = drained_at.unwrap_or_else(Instant::now);
    let peak_rss_drain = in_window(up_at, drain_end).map(|s| s.1).max().unwrap_or(0) as f64;
    let rss_growth = (peak_rss - base_rss).max(0.0);

    report.row(Row::derived(
        "RSS growth while down / configured queue bytes",
        Side::new("RSS growth", Summary::single(rss_growth / 1e6), "MB"),
        Side::new("queue", Summary::single(queue_bytes / 1e6), "MB"),
        Summary::single(rss_growth / queue_bytes),
        "x",
        Target::AtMost(1.1),
    ));
    report.row(Row::derived(
        "entries not delivered after recovery",
        Side::new("recorded", Summary::single(ids.len() as f64), "entries"),
        Side::new("in the files", Summary::single(written.len() as f64), "entries"),
        Summary::single(lost as f64),
        "entries",
        Target::AtMost(0.0),
    ));
    let first_ok = *switch.first_ok.lock().unwrap_or_else(|e| e.into_inner());
    match (drained_at, first_ok) {
        (Some(end), Some((start, delivered_before))) => {
            let drained = delivered_at_drain.saturating_sub(delivered_before) as f64;
            let secs = (end - start).as_secs_f64().max(1e-6);
            let rate = drained / secs;
            report.row(Row::derived(
                "drain rate / offered rate",
                Side::new("drain", Summary::single(rate), "entries/s"),
                Side::new("offered", Summary::single(OFFERED_PER_SEC), "entries/s"),
                Summary::single(rate / OFFERED_PER_SEC),
                "x",
                Target::AtLeast(2.0),
            ));
            report.detail(
                "drain time (first write after recovery → backlog empty)",
                Summary::single(secs),
                "s",
            );
            report.detail("entries drained", Summary::single(drained), "");
            report.detail(
                "recovery delay (switch on → first write; retry backoff)",
                Summary::single((start - up_at).as_secs_f64()),
                "s",
            );
        }
        _ => {
            report.row(Row::value(
                "drain rate / offered rate (did not drain)",
                Summary::single(0.0),
                "x",
                Target::AtLeast(2.0),
            ));
            report.note(format!("the backlog did not drain within {drain_limit:?} of recovery"));
        }
    }
    let sink = &stats_at_recovery.sinks[0];
    report.detail(
        "backlog at recovery (queue + spool)",
        Summary::single((sink.queue_depth + sink.backlog) as f64),
        "entries",
    );
    report.detail(
        "spooled (overflowed the queue)",
        Summary::single(stats.sinks[0].spooled as f64),
        "entries",
    );
    report.detail(
        "replayed from the spool",
        Summary::single(stats.sinks[0].replayed as f64),
        "entries",
    );
    report.detail("heap growth while down", Summary::single((peak_heap - base_heap) / 1e6), "MB");
    report.detail(
        "heap growth while down / the queue's estimate of what it holds (stats().queue_bytes)",
        Summary::single((peak_heap - base_heap) / (held.queue_bytes.max(1) as f64)),
        "x",
    );
    report.detail(
        "queue at the end of the outage (entries; estimated bytes)",
        Summary::single(held.queue_depth as f64),
        &format!("entries; {:.1} MB", held.queue_bytes as f64 / 1e6),
    );
    report.detail("RSS baseline", Summary::single(base_rss / 1e6), "MB");
    report.detail(
        "RSS peak while draining − baseline",
        Summary::single((peak_rss_drain - base_rss).max(0.0) / 1e6),
        "MB",
    );
    report.note(format!(
        "One run: {OFFERED_PER_SEC} entries/s offered (open loop, 1 ms ticks) for {:?} before, \
         {:?} during and until the backlog drained after the outage; file sink behind an on/off \
         switch, spool on, queue_bytes {QUEUE_BYTES} (the bound that holds; queue_capacity \
         2^20 entries), entries of {entry_bytes} B of JSON. RSS from /proc/self/statm every \
         20 ms; heap from \
         the counting allocator. Delivery is checked by reading every id back from the files.",
        before_outage, outage
    ));
    Ok(report)
}
