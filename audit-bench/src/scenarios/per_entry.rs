//! Scenario 3, per-entry cost: capture (building the entry from the
//! request's parts) and `Auditor::record` (enrich, redact, canonical JSON and
//! SHA-256, enqueue), against `serde_json::to_vec` of the same finished
//! entry, measured in pairs entry by entry (as audit-core's `record`
//! benchmark measures its ratio);
//! allocations per entry from the counting allocator.
//!
//! `record` is measured with each kind of sink: one that takes the entries'
//! JSON alone, as the default file sink (and the webhook and stdout sinks)
//! do, which is the headline, and one that takes typed entries, as the
//! OTLP sink does (the entry then goes to the sink's worker instead of being
//! freed by the caller; the Postgres sink takes both).

use std::time::{Duration, Instant};

use audit_core::Auditor;
use audit_core::testing::DiscardSink;
use audit_testkit::sample;

use crate::alloc;
use crate::entry;
use crate::harness::{self, Bench, BenchResult, interleave};
use crate::report::{Row, ScenarioReport, Side, Target};
use crate::scenarios::summary;
use crate::stats::ratios;

#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    /// Microseconds per entry.
    us: f64,
    capture_us: f64,
    allocations: f64,
    bytes: f64,
}

/// One round of the paired measure: `to_vec` of one finished entry, then
/// capture and `record` of another, entry by entry, so that both sides see
/// the same machine (a virtual machine's speed changes from one minute to
/// the next).
#[derive(Debug, Clone, Copy, Default)]
struct Pairs {
    to_vec_us: f64,
    capture_us: f64,
    record_us: f64,
    /// Allocations per entry of capture + record (the sink's worker's, which
    /// runs alongside, included).
    allocations: f64,
}

impl Pairs {
    fn total_us(&self) -> f64 {
        self.capture_us + self.record_us
    }
}

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("per-entry", "per-entry cost");
    let n: usize = if bench.settings.quick { 5_000 } else { 30_000 };
    let (pair_rounds, pairs_per_round) =
        if bench.settings.quick { (5, 1_000) } else { (15, 2_000) };
    let rt = bench.server_runtime()?;
    let build = |sink: Box<dyn audit_core::Sink>| {
        rt.block_on(async {
            Auditor::builder()
                .service("bench", "0.1.0")
                .instance("bench-1")
                .sink(sink)
                .queue_capacity(1 << 16)
                .build()
        })
    };
    // Variant 1: the JSON sink (the headline); variant 2: the typed one.
    let auditors = [build(Box::new(DiscardSink::json()))?, build(Box::new(DiscardSink::typed()))?];
    // What a sink gets: enriched, redacted and chained.
    let finished = entry::finished(&entry::template(), 1);
    let json_bytes = serde_json::to_vec(&finished)?.len();
    let clock = clock_cost();

    // Warm up both paths (allocator, caches, lazy statics).
    let warm = n / 10;
    for _ in 0..warm {
        std::hint::black_box(serde_json::to_vec(&finished)?);
        for auditor in &auditors {
            rt.block_on(auditor.record(sample::entry()))?;
        }
    }

    // The judged measure: pairs, on the runtime's worker thread, which
    // the sink's worker task shares as in a one-thread service. The queue
    // is drained every `DRAIN_EVERY` pairs, outside the timings, so that
    // memory is reused as in a service, where the worker drains as it goes.
    let paired = interleave(pair_rounds, 2, |_, v| {
        let auditor = auditors[v].clone();
        let finished = finished.clone();
        rt.block_on(rt.spawn(async move {
            let mut p = Pairs::default();
            let mut allocations = 0;
            for i in 0..pairs_per_round {
                if i % DRAIN_EVERY == 0 {
                    drain(&auditor).await;
                }
                let e = finished.clone();
                let t = Instant::now();
                std::hint::black_box(serde_json::to_vec(&e)?);
                p.to_vec_us += us(t.elapsed().saturating_sub(clock));
                // `record` consumes (and frees) its entry; `to_vec` does
                // not, so it is freed outside the timing.
                drop(e);
                let before = alloc::counts();
                let t = Instant::now();
                let event = sample::entry();
                let captured = t.elapsed();
                auditor.record(event).await?;
                let recorded = t.elapsed();
                allocations += alloc::counts().since(before).allocations;
                p.capture_us += us(captured.saturating_sub(clock));
                p.record_us += us((recorded - captured).saturating_sub(clock));
            }
            let per = pairs_per_round as f64;
            Ok::<_, crate::harness::BenchError>(Pairs {
                to_vec_us: p.to_vec_us / per,
                capture_us: p.capture_us / per,
                record_us: p.record_us / per,
                allocations: allocations as f64 / per,
            })
        }))?
    })?;

    // The previous measure, reported beside it: each side in a block of
    // `n`, the sink's worker sharing the recording thread, so the queue
    // holds the whole round until the block ends.
    let results = interleave(bench.settings.rounds.max(3), 2, |_, v| {
        if v == 0 {
            let events: Vec<_> = (0..n).map(|_| finished.clone()).collect();
            let before = alloc::counts();
            let t = Instant::now();
            for e in &events {
                std::hint::black_box(serde_json::to_vec(e)?);
            }
            let took = t.elapsed();
            let a = alloc::counts().since(before);
            Ok(Sample {
                us: per(took, n),
                capture_us: 0.0,
                allocations: a.allocations as f64 / n as f64,
                bytes: a.bytes as f64 / n as f64,
            })
        } else {
            // Capture alone, to split the cost.
            let t = Instant::now();
            for _ in 0..n {
                std::hint::black_box(sample::entry());
            }
            let capture = t.elapsed();
            let recorder = auditors[0].clone();
            let (took, a) = rt.block_on(rt.spawn(async move {
                let before = alloc::counts();
                let t = Instant::now();
                for _ in 0..n {
                    recorder.record(sample::entry()).await?;
                }
                Ok::<_, audit_core::RecordError>((t.elapsed(), alloc::counts().since(before)))
            }))??;
            Ok(Sample {
                us: per(took, n),
                capture_us: per(capture, n),
                allocations: a.allocations as f64 / n as f64,
                bytes: a.bytes as f64 / n as f64,
            })
        }
    })?;
    for auditor in &auditors {
        rt.block_on(auditor.shutdown(Duration::from_secs(30)))?;
    }
    harness::stop(rt);

    let field = |v: usize, f: fn(&Pairs) -> f64| paired[v].iter().map(f).collect::<Vec<_>>();
    let pair_ratios = |v: usize, f: fn(&Pairs) -> f64| {
        paired[v].iter().map(|p| f(p) / p.to_vec_us).collect::<Vec<_>>()
    };
    report.row(Row::ratio(
        "capture+redact+hash+enqueue / serde_json::to_vec, paired entry by entry (JSON sink, as the file sink)",
        Side::new("record", summary(&field(0, Pairs::total_us)), "µs"),
        Side::new("to_vec", summary(&field(0, |p| p.to_vec_us)), "µs"),
        summary(&pair_ratios(0, Pairs::total_us)),
        Target::AtMost(3.0),
    ));
    report.row(Row::ratio(
        "without capture: redact+hash+enqueue / serde_json::to_vec, paired (JSON sink)",
        Side::new("record", summary(&field(0, |p| p.record_us)), "µs"),
        Side::new("to_vec", summary(&field(0, |p| p.to_vec_us)), "µs"),
        summary(&pair_ratios(0, |p| p.record_us)),
        Target::Info,
    ));
    report.row(Row::ratio(
        "capture alone / serde_json::to_vec, paired (JSON sink)",
        Side::new("capture", summary(&field(0, |p| p.capture_us)), "µs"),
        Side::new("to_vec", summary(&field(0, |p| p.to_vec_us)), "µs"),
        summary(&pair_ratios(0, |p| p.capture_us)),
        Target::Info,
    ));
    report.row(Row::ratio(
        "capture+redact+hash+enqueue / serde_json::to_vec, paired (typed sink, as OTLP)",
        Side::new("record", summary(&field(1, Pairs::total_us)), "µs"),
        Side::new("to_vec", summary(&field(1, |p| p.to_vec_us)), "µs"),
        summary(&pair_ratios(1, Pairs::total_us)),
        Target::Info,
    ));
    let us_of = |v: usize| results[v].iter().map(|s| s.us).collect::<Vec<_>>();
    report.row(Row::ratio(
        &format!(
            "capture+redact+hash+enqueue / serde_json::to_vec, in blocks of {n} with the queue holding the block (JSON sink)"
        ),
        Side::new("record", summary(&us_of(1)), "µs"),
        Side::new("to_vec", summary(&us_of(0)), "µs"),
        summary(&ratios(&us_of(1), &us_of(0))),
        Target::Info,
    ));
    for (v, sink) in [(0, "JSON sink"), (1, "typed sink")] {
        report.row(Row::value(
            &format!("allocations per entry (capture + record, {sink})"),
            summary(&field(v, |p| p.allocations)),
            "",
            Target::Info,
        ));
    }
    report.detail("entry size (JSON)", crate::stats::Summary::single(json_bytes as f64), "B");
    report.detail(
        "clock read subtracted from each timing",
        crate::stats::Summary::single(us(clock)),
        "µs",
    );
    report.detail(
        "capture alone, in blocks",
        summary(&results[1].iter().map(|s| s.capture_us).collect::<Vec<_>>()),
        "µs",
    );
    report.detail(
        "allocations per entry (capture + record, JSON sink), in blocks",
        summary(&results[1].iter().map(|s| s.allocations).collect::<Vec<_>>()),
        "",
    );
    report.detail(
        "bytes allocated per entry (capture + record, JSON sink), in blocks",
        summary(&results[1].iter().map(|s| s.bytes).collect::<Vec<_>>()),
        "B",
    );
    report.detail(
        "allocations per serde_json::to_vec",
        summary(&results[0].iter().map(|s| s.allocations).collect::<Vec<_>>()),
        "",
    );
    report.note(format!(
        "Judged on pairs: {pair_rounds} rounds of {pairs_per_round} pairs per sink, each pair \
         `serde_json::to_vec` of a clone of the finished entry, then capture (building the entry \
         from the request's parts) and `record` of a new one, each timed alone (a clock read \
         subtracted); the figure is the median of the rounds' ratios, as in `cargo bench -p \
         audit-core --bench record`. Both run on the runtime's one worker thread, which the \
         sink's worker task shares; it empties the queue every {DRAIN_EVERY} pairs, outside \
         the timings, so memory is reused as in a service. \
         The headline sink takes the entries' JSON alone, as the default file sink does; the \
         typed one takes the entries, as the OTLP sink does (Postgres takes both). The block \
         row is the \
         previous measure: {n} of each side in a row, the worker sharing the recording \
         thread, so the queue holds the block (about {} MB of JSON) until it ends. \
         Per-request allocations of the whole HTTP stack are in the http scenario.",
        n * json_bytes / 1_000_000
    ));
    Ok(report)
}

/// Pairs between two drains of the queue in the paired measure: the
/// pipeline's default batch size.
const DRAIN_EVERY: usize = 512;

/// Lets the sink's worker task, which shares this thread, empty the queue.
async fn drain(auditor: &Auditor) {
    for _ in 0..10_000 {
        if auditor.stats().sinks.iter().all(|s| s.queue_depth == 0) {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// What reading the clock around a timing costs: the median of 21 rounds
/// of 1 000 empty timings.
fn clock_cost() -> Duration {
    let mut rounds: Vec<Duration> = (0..21)
        .map(|_| {
            let mut sum = Duration::ZERO;
            for _ in 0..1_000 {
                let t = Instant::now();
                std::hint::black_box(());
                sum += t.elapsed();
            }
            sum / 1_000
        })
        .collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}
