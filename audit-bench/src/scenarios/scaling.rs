//! Scenario 8, Scaling: per-request cost of the HTTP service, bare and audited,
//! at 1, 16, 64 and 256 connections (0.3 KiB bodies) and with 0.3, 4 and
//! 64 KiB request bodies recorded in the entry (16 connections).

use audit_tower::Level;

use crate::harness::{Bench, BenchResult, interleave};
use crate::loadgen::Plan;
use crate::report::{Row, ScenarioReport, Side, Target};
use crate::scenarios::http::{Trial, TrialOptions, Variant, trial};
use crate::scenarios::summary;
use crate::stats::ratios;

/// (connections, body bytes) points.
const POINTS: [(usize, usize); 6] =
    [(1, 300), (16, 300), (64, 300), (256, 300), (16, 4096), (16, 65536)];

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("scaling", "scaling");
    let plan = Plan::new(bench.settings.warmup / 2, bench.settings.short_duration());
    for (connections, body) in POINTS {
        let options = TrialOptions {
            connections,
            body_bytes: body,
            level: Some(Level::Request),
            max_body_bytes: Some(128 * 1024),
            plan,
            ..TrialOptions::new(bench)
        };
        let variants = [Variant::Bare, Variant::File];
        let results =
            interleave(bench.settings.rounds, 2, |_, v| trial(bench, variants[v], &options))?;
        let us =
            |v: usize| results[v].iter().map(|t| 1e6 / t.load.rps().max(1e-9)).collect::<Vec<_>>();
        let label = format!("{connections} conn, {} KiB body", kib(body));
        report.row(Row::ratio(
            &format!("{label}: audited/bare µs per request"),
            Side::new("audited", summary(&us(1)), "µs"),
            Side::new("bare", summary(&us(0)), "µs"),
            summary(&ratios(&us(1), &us(0))),
            Target::Info,
        ));
        let added: Vec<f64> = us(1).iter().zip(us(0)).map(|(a, b)| a - b).collect();
        report.detail(format!("{label}: added per request"), summary(&added), "µs");
        let p99 = |v: usize| results[v].iter().map(|t| t.load.latency_ms(0.99)).collect::<Vec<_>>();
        report.detail(format!("{label}: bare p99"), summary(&p99(0)), "ms");
        report.detail(format!("{label}: audited p99"), summary(&p99(1)), "ms");
        let entry: Vec<f64> = results[1].iter().map(entry_bytes).collect();
        report.detail(format!("{label}: entry size in the file"), summary(&entry), "B");
        for (v, name) in ["bare", "audited"].iter().enumerate() {
            if let Some(e) = results[v].iter().find_map(|t| t.load.first_error.clone()) {
                report.note(format!("{label}, {name}: first failed request: {e}"));
            }
        }
    }
    report.note(
        "Per-request cost = 1 / throughput with every connection busy (with one server worker \
         it is the server's time per request once it is saturated). The route is audited at \
         `Level::Request`, so the request body is in the entry (capture cap raised to 128 KiB).",
    );
    Ok(report)
}

fn kib(bytes: usize) -> String {
    let k = bytes as f64 / 1024.0;
    if k < 1.0 { format!("{k:.1}") } else { format!("{k:.0}") }
}

fn entry_bytes(t: &Trial) -> f64 {
    t.log_bytes as f64 / t.written.max(1) as f64
}
