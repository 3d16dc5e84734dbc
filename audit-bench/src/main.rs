//! `audit-bench`: the benchmark harness of the audit workspace.
//!
//! ```text
//! cargo run --release -p audit-bench -- all            # every scenario (< 10 min on 2 cores)
//! cargo run --release -p audit-bench -- all --quick    # a ~1-minute smoke run
//! cargo run --release -p audit-bench -- http grpc      # some scenarios by name
//! ```
//!
//! Each scenario runs its variants interleaved (A B A B ...) over several
//! rounds and reports medians with min and max. The results are printed as
//! a Markdown table and written to `target/audit-bench/report.json` and
//! `report.md` (`--report PATH` moves both); `--docs docs/performance.md`
//! also writes the run as the workspace's performance page, which is only
//! ever generated this way. Each scenario runs in a child
//! process of its own (this binary again, with `--child-report`), so that
//! one scenario's heap, threads and resident memory do not carry over into
//! the next (the outage scenario measures RSS) and a crash fails one
//! scenario only; `--in-process` runs them here instead. Within a scenario,
//! servers and the load generator share the process, on separate one-worker
//! Tokio runtimes (see `harness.rs`); everything stays on 127.0.0.1.

mod alloc;
mod apps;
mod entry;
mod harness;
mod loadgen;
mod pg;
mod report;
mod scenarios;
mod stats;
mod sysinfo;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::harness::{Bench, Settings};
use crate::report::{Report, RunSettings, ScenarioReport, Status};
use crate::scenarios::Scenario;

/// Benchmarks of the audit workspace: overhead against bare and peer
/// baselines, sinks against raw writes, outage and scaling behaviour.
#[derive(Debug, Parser)]
#[command(name = "audit-bench", version)]
struct Cli {
    /// Scenarios to run: `all`, or one or more names.
    #[arg(value_enum, required = true)]
    scenarios: Vec<Scenario>,
    /// A ~1-minute smoke run: fewer, shorter rounds and a 4 s outage.
    #[arg(long)]
    quick: bool,
    /// Rounds per scenario (variants interleaved within each round).
    #[arg(long)]
    rounds: Option<usize>,
    /// Seconds measured per variant per round (after a warm-up).
    #[arg(long)]
    duration: Option<f64>,
    /// Seconds the sink is down in the outage scenario.
    #[arg(long)]
    outage: Option<f64>,
    /// Where to write the JSON report (the Markdown goes beside it, `.md`).
    /// Default: `<target dir>/audit-bench/report.json`.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write the run as the workspace's performance page, generated,
    /// never edited by hand: `--docs docs/performance.md` with `all`.
    #[arg(long, value_name = "PATH")]
    docs: Option<PathBuf>,
    /// Directory for sink files and spools: the disk being measured.
    /// Default: `<target dir>/audit-bench/work`.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep each trial's scratch directory (sink files, spools, peer logs)
    /// under the work dir instead of removing it.
    #[arg(long)]
    keep: bool,
    /// The Postgres server; each run creates (and drops) a fresh database.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres_url: String,
    /// Run every scenario in this process instead of one child process each.
    #[arg(long)]
    in_process: bool,
    /// (Internal) run the scenarios here and write their reports, as JSON, to this file.
    #[arg(long, hide = true)]
    child_report: Option<PathBuf>,
}

/// Runs one scenario in a child process with the same settings.
fn run_child(s: Scenario, settings: &Settings, dir: &std::path::Path) -> ScenarioReport {
    let out = dir.join(format!("{}.json", s.name()));
    let failed = |why: String| {
        let mut r = ScenarioReport::new(s.name(), s.title());
        r.status = Status::Failed;
        r.note(why);
        r
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return failed(format!("cannot find this executable to run the scenario: {e}")),
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.arg(s.name())
        .arg("--rounds")
        .arg(settings.rounds.to_string())
        .arg("--duration")
        .arg(settings.duration.as_secs_f64().to_string())
        .arg("--outage")
        .arg(settings.outage.as_secs_f64().to_string())
        .arg("--work-dir")
        .arg(&settings.work_dir)
        .arg("--postgres-url")
        .arg(&settings.postgres_url)
        .arg("--child-report")
        .arg(&out);
    if settings.quick {
        cmd.arg("--quick");
    }
    if settings.keep {
        cmd.arg("--keep");
    }
    let status = match cmd.status() {
        Ok(status) => status,
        Err(e) => return failed(format!("cannot start the scenario's process: {e}")),
    };
    let read = std::fs::read(&out)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Vec<ScenarioReport>>(&b).map_err(|e| e.to_string()));
    match read {
        Ok(mut reports) if !reports.is_empty() => reports.remove(0),
        Ok(_) => failed(format!("the scenario's process reported nothing ({status})")),
        Err(e) => failed(format!("the scenario's process ended with {status} and no report: {e}")),
    }
}

/// The child side of [`run_child`]: runs the scenarios, writes their reports.
fn child(scenarios: &[Scenario], settings: Settings, path: &std::path::Path) -> ExitCode {
    let reports: Vec<ScenarioReport> = match Bench::new(settings) {
        Ok(bench) => scenarios.iter().map(|s| s.run(&bench)).collect(),
        Err(e) => {
            eprintln!("audit-bench: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let written = serde_json::to_vec(&reports)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(path, json));
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("audit-bench: cannot write {}: {e}", path.display());
            ExitCode::FAILURE
        }
    }
}

/// `target/` of the workspace this binary was built in (`target/release/audit-bench`).
fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out_dir = target_dir().join("audit-bench");
    let work_dir = cli.work_dir.clone().unwrap_or_else(|| out_dir.join("work"));
    let mut settings = Settings::new(cli.quick, work_dir);
    if let Some(r) = cli.rounds {
        settings.rounds = r.max(1);
    }
    if let Some(d) = cli.duration {
        settings.duration = Duration::from_secs_f64(d.max(0.05));
    }
    if let Some(o) = cli.outage {
        settings.outage = Duration::from_secs_f64(o.max(0.1));
    }
    settings.postgres_url = cli.postgres_url.clone();
    settings.keep = cli.keep;
    if let Some(path) = &cli.child_report {
        return child(&cli.scenarios, settings, path);
    }
    let scenarios: Vec<Scenario> = if cli.scenarios.contains(&Scenario::All) {
        Scenario::EVERY.to_vec()
    } else {
        let mut s = cli.scenarios.clone();
        s.dedup();
        s
    };
    let args = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let command = if cfg!(debug_assertions) {
        format!("cargo run -p audit-bench -- {args}` (a debug build: not for figures")
    } else {
        format!("cargo run --release -p audit-bench -- {args}")
    };
    let run_settings = RunSettings {
        command,
        quick: settings.quick,
        rounds: settings.rounds,
        duration_secs: settings.duration.as_secs_f64(),
        warmup_secs: settings.warmup.as_secs_f64(),
        threads: if cli.in_process {
            "All scenarios in one process; server and load generator each on a one-worker Tokio \
             runtime"
        } else {
            "One process per scenario; in it, server and load generator each on a one-worker \
             Tokio runtime"
        }
        .to_owned(),
    };
    let date = sysinfo::now_rfc3339();
    let machine = sysinfo::Machine::detect();
    let bench = match Bench::new(settings.clone()) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("audit-bench: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let children = match tempfile::Builder::new().prefix("reports-").tempdir_in(&settings.work_dir)
    {
        Ok(d) => d,
        Err(e) => {
            eprintln!(
                "audit-bench: cannot create a directory in {}: {e}",
                settings.work_dir.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    let mut reports = Vec::new();
    for s in scenarios {
        eprintln!("audit-bench: {} ({}) ...", s.name(), s.title());
        let t = Instant::now();
        let mut r =
            if cli.in_process { s.run(&bench) } else { run_child(s, &settings, children.path()) };
        r.seconds = t.elapsed().as_secs_f64();
        eprintln!("audit-bench: {} done in {:.1} s ({:?})", s.name(), r.seconds, r.status);
        reports.push(r);
    }
    let report = Report::new(date, machine, run_settings, reports, started.elapsed().as_secs_f64());
    println!("{}", report.markdown());
    let json_path = cli.report.unwrap_or_else(|| out_dir.join("report.json"));
    match report.write(&json_path) {
        Ok(md) => eprintln!("audit-bench: wrote {} and {}", json_path.display(), md.display()),
        Err(e) => {
            eprintln!("audit-bench: cannot write {}: {e}", json_path.display());
            return ExitCode::FAILURE;
        }
    }
    if let Some(docs) = &cli.docs {
        match report.write_docs(docs) {
            Ok(()) => eprintln!("audit-bench: wrote {}", docs.display()),
            Err(e) => {
                eprintln!("audit-bench: cannot write {}: {e}", docs.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
