//! Scenario 6, Strict delivery: the p99 latency it adds over Buffered (the HTTP
//! scenario's audited service, file sink with group commit), in
//! milliseconds and in fsyncs of the same disk.

use audit_core::Delivery;

use crate::harness::{Bench, BenchResult, interleave};
use crate::report::{Row, ScenarioReport, Side, Target};
use crate::scenarios::file_sink::fsync_ms;
use crate::scenarios::http::{TrialOptions, Variant, trial};
use crate::scenarios::summary;
use crate::stats::{Summary, ratios};

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("strict", "strict delivery");
    let buffered = TrialOptions::new(bench);
    let strict = TrialOptions { delivery: Delivery::Strict, ..TrialOptions::new(bench) };
    let results = interleave(bench.settings.rounds, 2, |_, v| {
        trial(bench, Variant::File, if v == 0 { &buffered } else { &strict })
    })?;
    let fsync = {
        let dir = bench.tempdir("fsync-")?;
        fsync_ms(dir.path(), if bench.settings.quick { 50 } else { 300 })?
    };
    let p99 = |v: usize| results[v].iter().map(|t| t.load.latency_ms(0.99)).collect::<Vec<_>>();
    let p50 = |v: usize| results[v].iter().map(|t| t.load.latency_ms(0.5)).collect::<Vec<_>>();
    let rps = |v: usize| results[v].iter().map(|t| t.load.rps()).collect::<Vec<_>>();
    let added: Vec<f64> = p99(1).iter().zip(p99(0)).map(|(s, b)| s - b).collect();
    report.row(Row::derived(
        "added p99 latency, Strict − Buffered",
        Side::new("strict", summary(&p99(1)), "ms"),
        Side::new("buffered", summary(&p99(0)), "ms"),
        summary(&added),
        "ms",
        Target::Info,
    ));
    let in_fsyncs: Vec<f64> = added.iter().map(|a| a / fsync).collect();
    report.row(Row::derived(
        "added p99 latency / one fsync",
        Side::new("added", summary(&added), "ms"),
        Side::new("fsync", Summary::single(fsync), "ms"),
        summary(&in_fsyncs),
        "x",
        Target::Info,
    ));
    report.row(Row::ratio(
        "strict/buffered req/s",
        Side::new("strict", summary(&rps(1)), "req/s"),
        Side::new("buffered", summary(&rps(0)), "req/s"),
        summary(&ratios(&rps(1), &rps(0))),
        Target::Info,
    ));
    report.detail("buffered p50 latency", summary(&p50(0)), "ms");
    report.detail("strict p50 latency", summary(&p50(1)), "ms");
    report.detail("one write + fdatasync of one entry (this disk)", Summary::single(fsync), "ms");
    for (v, l) in ["buffered", "strict"].iter().enumerate() {
        if let Some(e) = results[v].iter().find_map(|t| t.load.first_error.clone()) {
            report.note(format!("{l}: first failed request: {e}"));
        }
    }
    report.note(format!(
        "{} connections. Strict confirms a `received` entry before the handler runs and the \
         `completed` entry before the response is sent: two durable writes per request, shared \
         with concurrent requests by group commit.",
        crate::scenarios::http::CONNECTIONS
    ));
    Ok(report)
}
