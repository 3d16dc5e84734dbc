//! One file per scenario; each returns a [`ScenarioReport`].

use std::path::Path;
use std::time::{Duration, Instant};

use audit_core::{Auditor, Delivery};
use audit_sinks::file::FileSink;

use crate::harness::{Bench, BenchResult};
use crate::report::{ScenarioReport, Status};
use crate::stats::Summary;

mod file_sink;
mod grpc;
mod http;
mod otlp;
mod outage;
mod per_entry;
mod postgres;
mod scaling;
mod strict;

/// The scenarios, in the order `all` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// Every scenario below.
    All,
    /// 1. HTTP overhead: bare, audited (file; file + Postgres), tower-http TraceLayer peer.
    Http,
    /// 2. gRPC overhead: bare and audited tonic.
    Grpc,
    /// 3. Per-entry cost against `serde_json::to_vec`, and allocations.
    PerEntry,
    /// 4. File sink group commit against raw write + fdatasync loops.
    FileSink,
    /// 5. Postgres sink against raw binary COPY and one INSERT per row.
    Postgres,
    /// 6. Strict delivery's added p99 latency.
    Strict,
    /// 7. A sink down for a while under steady load, with a spool.
    Outage,
    /// 8. Per-request cost by connections and entry size.
    Scaling,
    /// OTLP sink against the OpenTelemetry SDK's BatchLogProcessor.
    Otlp,
}

impl Scenario {
    /// Every runnable scenario, in order.
    pub(crate) const EVERY: [Scenario; 9] = [
        Scenario::Http,
        Scenario::Grpc,
        Scenario::PerEntry,
        Scenario::FileSink,
        Scenario::Postgres,
        Scenario::Strict,
        Scenario::Outage,
        Scenario::Scaling,
        Scenario::Otlp,
    ];

    /// The name on the command line and in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::All => "all",
            Scenario::Http => "http",
            Scenario::Grpc => "grpc",
            Scenario::PerEntry => "per-entry",
            Scenario::FileSink => "file-sink",
            Scenario::Postgres => "postgres",
            Scenario::Strict => "strict",
            Scenario::Outage => "outage",
            Scenario::Scaling => "scaling",
            Scenario::Otlp => "otlp",
        }
    }

    /// A few words for the report.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Scenario::All => "all scenarios",
            Scenario::Http => "HTTP overhead",
            Scenario::Grpc => "gRPC overhead",
            Scenario::PerEntry => "per-entry cost",
            Scenario::FileSink => "file sink",
            Scenario::Postgres => "Postgres sink",
            Scenario::Strict => "strict delivery",
            Scenario::Outage => "sink outage",
            Scenario::Scaling => "scaling",
            Scenario::Otlp => "OTLP sink",
        }
    }

    /// Runs it; an error or a panic becomes a failed scenario in the report.
    pub(crate) fn run(self, bench: &Bench) -> ScenarioReport {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match self {
            Scenario::All => Ok(ScenarioReport::new(self.name(), self.title())),
            Scenario::Http => http::run(bench),
            Scenario::Grpc => grpc::run(bench),
            Scenario::PerEntry => per_entry::run(bench),
            Scenario::FileSink => file_sink::run(bench),
            Scenario::Postgres => postgres::run(bench),
            Scenario::Strict => strict::run(bench),
            Scenario::Outage => outage::run(bench),
            Scenario::Scaling => scaling::run(bench),
            Scenario::Otlp => otlp::run(bench),
        }));
        let mut report = match outcome {
            Ok(Ok(report)) => report,
            Ok(Err(e)) => failed(self, format!("error: {e}")),
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "unknown panic".to_owned());
                failed(self, format!("panicked: {msg}"))
            }
        };
        report.seconds = started.elapsed().as_secs_f64();
        report
    }
}

fn failed(s: Scenario, why: String) -> ScenarioReport {
    let mut r = ScenarioReport::new(s.name(), s.title());
    r.status = Status::Failed;
    r.note(why);
    r
}

/// The summary of some samples (NaN when there are none, which the report shows).
pub(crate) fn summary(samples: &[f64]) -> Summary {
    Summary::of(samples).unwrap_or_else(|| Summary::single(f64::NAN))
}

/// Builds an auditor writing to a file sink in `dir` (group commit, the
/// default `Fsync::Batch`), plus `extra` sinks. Call it on the server runtime.
pub(crate) fn file_auditor(
    dir: &Path,
    delivery: Delivery,
    extra: Vec<std::sync::Arc<dyn audit_core::Sink>>,
) -> BenchResult<Auditor> {
    let sink = FileSink::builder(dir.join("log")).build()?;
    let mut builder = Auditor::builder()
        .service("bench", "0.1.0")
        .instance("bench-1")
        .delivery(delivery)
        .sink(sink);
    for s in extra {
        builder = builder.shared_sink(s);
    }
    Ok(builder.build()?)
}

/// Shuts an auditor down on `rt`; returns the entries its first sink wrote.
pub(crate) fn shutdown(rt: &tokio::runtime::Runtime, auditor: &Auditor) -> BenchResult<u64> {
    rt.block_on(auditor.shutdown(Duration::from_secs(60)))?;
    Ok(auditor.stats().sinks.first().map(|s| s.written).unwrap_or(0))
}

/// The bytes of every file under `dir`.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
