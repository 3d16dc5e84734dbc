//! Scenario 3, per-entry cost: capture (building the entry from the
//! request's parts) and `Auditor::record` (enrich, redact, canonical JSON and
//! SHA-256, enqueue), against `serde_json::to_vec` of the same finished
//! entry; allocations per entry from the counting allocator.
//!
//! `record` is measured with each kind of sink: one that takes the entries'
//! JSON alone, as the default file sink (and the webhook and stdout sinks)
//! do, which is the headline, and one that takes typed entries, as the
//! Postgres and OTLP sinks do (the entry then goes to the sink's worker
//! instead of being freed by the caller).

use std::time::{Duration, Instant};

use audit_core::Auditor;

use crate::alloc;
use crate::entry::{self, Discard, DiscardJson};
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

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("per-entry", "per-entry cost");
    let n: usize = if bench.settings.quick { 5_000 } else { 30_000 };
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
    let auditors = [build(Box::new(DiscardJson))?, build(Box::new(Discard))?];
    // What a sink gets: enriched, redacted and chained.
    let finished = entry::finished(&entry::template(), 1);
    let json_bytes = serde_json::to_vec(&finished)?.len();

    // Warm up both paths (allocator, caches, lazy statics).
    let warm = n / 10;
    for _ in 0..warm {
        std::hint::black_box(serde_json::to_vec(&finished)?);
        for auditor in &auditors {
            rt.block_on(auditor.record(entry::capture("")))?;
        }
    }

    let results = interleave(bench.settings.rounds.max(3), 3, |_, v| {
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
                std::hint::black_box(entry::capture(""));
            }
            let capture = t.elapsed();
            // On the runtime's worker, as in a server: the sink's worker
            // task shares the thread and drains between rounds (the queue
            // holds a whole round), so this is the request path's cost.
            let recorder = auditors[v - 1].clone();
            let (took, a) = rt.block_on(rt.spawn(async move {
                let before = alloc::counts();
                let t = Instant::now();
                for _ in 0..n {
                    recorder.record(entry::capture("")).await?;
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

    let us = |v: usize| results[v].iter().map(|s| s.us).collect::<Vec<_>>();
    let record_only = |v: usize| results[v].iter().map(|s| s.us - s.capture_us).collect::<Vec<_>>();
    report.row(Row::ratio(
        "capture+redact+hash+enqueue / serde_json::to_vec (JSON sink, as the file sink)",
        Side::new("record", summary(&us(1)), "µs"),
        Side::new("to_vec", summary(&us(0)), "µs"),
        summary(&ratios(&us(1), &us(0))),
        Target::AtMost(3.0),
    ));
    report.row(Row::ratio(
        "without capture: redact+hash+enqueue / serde_json::to_vec (JSON sink)",
        Side::new("record", summary(&record_only(1)), "µs"),
        Side::new("to_vec", summary(&us(0)), "µs"),
        summary(&ratios(&record_only(1), &us(0))),
        Target::Info,
    ));
    report.row(Row::ratio(
        "capture+redact+hash+enqueue / serde_json::to_vec (typed sink, as Postgres and OTLP)",
        Side::new("record", summary(&us(2)), "µs"),
        Side::new("to_vec", summary(&us(0)), "µs"),
        summary(&ratios(&us(2), &us(0))),
        Target::Info,
    ));
    for (v, sink) in [(1, "JSON sink"), (2, "typed sink")] {
        let allocs: Vec<f64> = results[v].iter().map(|s| s.allocations).collect();
        report.row(Row::value(
            &format!("allocations per entry (capture + record, {sink})"),
            summary(&allocs),
            "",
            Target::Info,
        ));
    }
    report.detail("entry size (JSON)", crate::stats::Summary::single(json_bytes as f64), "B");
    report.detail(
        "capture alone",
        summary(&results[1].iter().map(|s| s.capture_us).collect::<Vec<_>>()),
        "µs",
    );
    report.detail(
        "bytes allocated per entry (capture + record, JSON sink)",
        summary(&results[1].iter().map(|s| s.bytes).collect::<Vec<_>>()),
        "B",
    );
    report.detail(
        "allocations per serde_json::to_vec",
        summary(&results[0].iter().map(|s| s.allocations).collect::<Vec<_>>()),
        "",
    );
    report.note(format!(
        "{n} entries per round; `record` runs on a one-worker runtime's thread, with a discarding \
         sink whose worker task drains the queue between rounds (the queue holds a round), so \
         the figure is the request path's cost. The headline sink takes the entries' JSON \
         alone, as the default file sink does; the typed one takes the entries, as the \
         Postgres and OTLP sinks do. Per-request allocations of the whole HTTP stack are in \
         the http scenario."
    ));
    Ok(report)
}

fn per(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}
