//! Scenario 1, HTTP overhead: `PATCH /projects/{id}` bare, audited (file sink;
//! file + Postgres sinks), and the tower-http `TraceLayer` peer.

use std::sync::Arc;

use audit_core::{Auditor, Delivery};

use crate::apps::http::{self as app, AuditOptions, Mode};
use crate::apps::{peer, saas};
use crate::harness::{self, Bench, BenchResult, interleave};
use crate::loadgen::{HttpCaller, LoadResult, Plan};
use crate::report::{Row, ScenarioReport, Side, Status, Target};
use crate::scenarios::{dir_bytes, file_auditor, shutdown, summary};
use crate::stats::ratios;

/// Connections the load generator keeps busy.
pub(crate) const CONNECTIONS: usize = 16;

/// A variant of the HTTP service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Variant {
    Bare,
    /// `AuditLayer` + `#[audited]`, file sink.
    File,
    /// The same + the Postgres sink.
    FilePostgres,
    /// `TraceLayer` + JSON logs.
    Peer,
    /// The example SaaS API as shipped (always audited).
    Saas,
}

impl Variant {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Variant::Bare => "bare",
            Variant::File => "audited",
            Variant::FilePostgres => "audited+pg",
            Variant::Peer => "peer",
            Variant::Saas => "saas-api",
        }
    }
}

/// What one trial measured.
#[derive(Debug)]
pub(crate) struct Trial {
    pub(crate) load: LoadResult,
    /// Entries the first sink wrote (0 without auditing).
    pub(crate) written: u64,
    /// Bytes of audit log (or peer log) written over the whole trial.
    pub(crate) log_bytes: u64,
    /// Lines of the peer's log.
    pub(crate) log_lines: u64,
}

/// How a trial is set up beyond its variant.
#[derive(Debug, Clone)]
pub(crate) struct TrialOptions {
    pub(crate) connections: usize,
    pub(crate) body_bytes: usize,
    pub(crate) delivery: Delivery,
    pub(crate) level: Option<audit_tower::Level>,
    pub(crate) max_body_bytes: Option<usize>,
    pub(crate) postgres_url: Option<String>,
    pub(crate) plan: Plan,
}

impl TrialOptions {
    pub(crate) fn new(bench: &Bench) -> Self {
        Self {
            connections: CONNECTIONS,
            body_bytes: 0,
            delivery: Delivery::Buffered,
            // As the SaaS API audits its mutating routes.
            level: Some(audit_tower::Level::RequestResponse),
            max_body_bytes: None,
            postgres_url: None,
            plan: bench.plan(),
        }
    }
}

/// Serves the variant on a fresh server runtime, loads it, and tears it down.
pub(crate) fn trial(bench: &Bench, variant: Variant, o: &TrialOptions) -> BenchResult<Trial> {
    let dir = bench.tempdir("http-")?;
    if variant == Variant::Saas {
        let rt = bench.named_server_runtime(variant.label())?;
        let path = dir.path().to_owned();
        let api = rt.block_on(async move { saas::start(&path, false).await })?;
        let auditor = api.auditor();
        let target = saas::target(&api.project_ids);
        let load = bench.load(HttpCaller::many(api.addr(), target, o.connections), o.plan);
        rt.block_on(api.server.shutdown())?;
        let written = auditor.stats().sinks.first().map(|s| s.written).unwrap_or(0);
        harness::stop(rt);
        let log_bytes = dir_bytes(dir.path());
        return Ok(Trial { load: load?, written, log_bytes, log_lines: 0 });
    }
    let (rt, peer_log) = match variant {
        Variant::Peer => {
            let (rt, log) = peer::runtime(dir.path())?;
            (rt, Some(log))
        }
        _ => (bench.named_server_runtime(variant.label())?, None),
    };
    let auditor: Option<Auditor> = match variant {
        Variant::Bare | Variant::Peer | Variant::Saas => None,
        Variant::File | Variant::FilePostgres => {
            let pg_url = o.postgres_url.clone();
            let delivery = o.delivery;
            let path = dir.path().to_owned();
            Some(rt.block_on(async move {
                let mut extra: Vec<Arc<dyn audit_core::Sink>> = Vec::new();
                if variant == Variant::FilePostgres {
                    extra.push(postgres_sink(pg_url.as_deref()).await?);
                }
                file_auditor(&path, delivery, extra)
            })?)
        }
    };
    let mode = match &auditor {
        None if variant == Variant::Peer => Mode::Peer,
        None => Mode::Bare,
        Some(a) => Mode::Audited(AuditOptions {
            auditor: a.clone(),
            level: o.level,
            max_body_bytes: o.max_body_bytes,
        }),
    };
    let addr = rt.block_on(app::serve(app::router(&mode)))?;
    let load = bench.load(HttpCaller::many(addr, app::target(o.body_bytes), o.connections), o.plan);
    let written = match &auditor {
        Some(a) => shutdown(&rt, a)?,
        None => 0,
    };
    harness::stop(rt);
    let mut log_lines = 0;
    if let Some(log) = peer_log {
        let path = log.path().to_owned();
        log.finish();
        log_lines = std::fs::read(&path)?.iter().filter(|b| **b == b'\n').count() as u64;
    }
    let log_bytes = dir_bytes(dir.path());
    Ok(Trial { load: load?, written, log_bytes, log_lines })
}

async fn postgres_sink(url: Option<&str>) -> BenchResult<Arc<dyn audit_core::Sink>> {
    let url = url.ok_or_else(|| crate::harness::error("no Postgres database for this variant"))?;
    crate::pg::sink(url).await
}

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("http", "HTTP overhead");
    report.status = Status::Fallback;
    report.note(
        "The ratios use an equivalent axum app (apps/http.rs): the example SaaS API \
         (`examples::saas`) is always audited (its router has the layer built in and its \
         handlers are `#[audited]`), so it has no bare form to compare with. The stand-in has the \
         same route, a ~300-byte JSON body, bearer-token auth middleware inside the layer, an \
         in-memory project store, field-level changes and the SaaS API's policy \
         (`RequestResponse` on the route). The SaaS API itself runs as `saas-api` (file sink, as \
         shipped), reported against the stand-in's bare variant for reference.",
    );
    let mut options = TrialOptions::new(bench);
    let mut variants = vec![Variant::Bare, Variant::File, Variant::Peer, Variant::Saas];
    let db = postgres_db(bench, &mut report);
    if let Some(db) = &db {
        options.postgres_url = Some(db.url().to_owned());
        variants.insert(2, Variant::FilePostgres);
    }
    let results = interleave(bench.settings.rounds, variants.len(), |_, v| {
        trial(bench, variants[v], &options)
    });
    if let Some(db) = db {
        crate::pg::drop_now(bench, db)?;
    }
    let results = results?;
    let paced = paced_latency(bench, &variants, &results, &options)?;
    let idx = |v: Variant| variants.iter().position(|x| *x == v);
    let rps = |v: usize| results[v].iter().map(|t| t.load.rps()).collect::<Vec<_>>();
    let p99 = |v: usize| results[v].iter().map(|t| t.load.latency_ms(0.99)).collect::<Vec<_>>();
    let bare = idx(Variant::Bare).expect("bare runs");
    let file = idx(Variant::File).expect("audited runs");
    let peer = idx(Variant::Peer).expect("peer runs");

    let side_rps = |v: usize| Side::new(variants[v].label(), summary(&rps(v)), "req/s");
    let side_p99 = |v: usize| Side::new(variants[v].label(), summary(&p99(v)), "ms");
    report.row(
        Row::ratio(
            "audited/bare req/s",
            side_rps(file),
            side_rps(bare),
            summary(&ratios(&rps(file), &rps(bare))),
            Target::AtLeast(0.90),
        )
        .aim(0.97),
    );
    report.row(Row::ratio(
        "audited/bare p99 latency (flat out)",
        side_p99(file),
        side_p99(bare),
        summary(&ratios(&p99(file), &p99(bare))),
        Target::AtMost(1.2),
    ));
    paced.report(&mut report);
    if let Some(pg) = idx(Variant::FilePostgres) {
        report.row(
            Row::ratio(
                "audited+pg/bare req/s",
                side_rps(pg),
                side_rps(bare),
                summary(&ratios(&rps(pg), &rps(bare))),
                Target::AtLeast(0.90),
            )
            .aim(0.97),
        );
        report.row(Row::ratio(
            "audited+pg/bare p99 latency",
            side_p99(pg),
            side_p99(bare),
            summary(&ratios(&p99(pg), &p99(bare))),
            Target::AtMost(1.2),
        ));
    }
    report.row(Row::ratio(
        "audited/peer req/s",
        side_rps(file),
        side_rps(peer),
        summary(&ratios(&rps(file), &rps(peer))),
        Target::AtLeast(1.0),
    ));
    if let Some(api) = idx(Variant::Saas) {
        report.row(Row::ratio(
            "saas-api (as shipped) / stand-in bare req/s",
            side_rps(api),
            side_rps(bare),
            summary(&ratios(&rps(api), &rps(bare))),
            Target::Info,
        ));
        report.row(Row::ratio(
            "saas-api (as shipped) / stand-in audited req/s",
            side_rps(api),
            side_rps(file),
            summary(&ratios(&rps(api), &rps(file))),
            Target::Info,
        ));
    }

    for (v, variant) in variants.iter().enumerate() {
        let l = variant.label();
        let rs = &results[v];
        report.detail(format!("{l} throughput"), summary(&rps(v)), "req/s");
        let p50: Vec<f64> = rs.iter().map(|t| t.load.latency_ms(0.5)).collect();
        report.detail(format!("{l} p50 latency"), summary(&p50), "ms");
        report.detail(format!("{l} p99 latency"), summary(&p99(v)), "ms");
        let allocs: Vec<f64> = rs.iter().map(|t| t.load.allocations_per_request()).collect();
        report.detail(format!("{l} allocations per request (process-wide)"), summary(&allocs), "");
        let errors: Vec<f64> = rs.iter().map(|t| t.load.errors as f64).collect();
        if errors.iter().any(|e| *e > 0.0) {
            report.detail(format!("{l} failed requests"), summary(&errors), "");
            if let Some(e) = rs.iter().find_map(|t| t.load.first_error.clone()) {
                report.note(format!("{l}: first failed request: {e}"));
            }
        }
        if *variant != Variant::Bare {
            let per_req: Vec<f64> = rs
                .iter()
                .map(|t| t.log_bytes as f64 / t.written.max(t.log_lines).max(1) as f64)
                .collect();
            report.detail(format!("{l} log bytes per entry"), summary(&per_req), "B");
        }
    }
    let added: Vec<f64> = results[file]
        .iter()
        .zip(&results[bare])
        .map(|(a, b)| a.load.allocations_per_request() - b.load.allocations_per_request())
        .collect();
    report.detail("allocations added per audited request", summary(&added), "");
    report.note(format!(
        "{CONNECTIONS} keep-alive HTTP/1.1 connections; server and load generator on separate \
         one-worker Tokio runtimes in one process. `audited` = `AuditLayer` (`RequestResponse` on the route) + \
         `#[audited]` + file sink (`Fsync::Batch` group commit), Buffered, no spool. `peer` = \
         tower-http `TraceLayer` with a span carrying the entry's fields + tracing-subscriber JSON \
         through tracing-appender non-blocking, `lossy(false)`, to a file (no fsync)."
    ));
    Ok(report)
}

/// Bare and audited, interleaved again at one fixed request rate: half the
/// audited variant's median throughput in the closed-loop rounds, which both
/// serve with room to spare.
struct Paced {
    /// Requests per second offered to both.
    rate: f64,
    /// Bare's trials, then audited's.
    results: Vec<Vec<Trial>>,
}

fn paced_latency(
    bench: &Bench,
    variants: &[Variant],
    closed: &[Vec<Trial>],
    options: &TrialOptions,
) -> BenchResult<Paced> {
    let file = variants.iter().position(|v| *v == Variant::File).expect("audited runs");
    let rps: Vec<f64> = closed[file].iter().map(|t| t.load.rps()).collect();
    let rate = (summary(&rps).median / 2.0).max(100.0);
    let options = TrialOptions { plan: options.plan.paced(rate), ..options.clone() };
    let pair = [Variant::Bare, Variant::File];
    let results =
        interleave(bench.settings.rounds, pair.len(), |_, v| trial(bench, pair[v], &options))?;
    Ok(Paced { rate, results })
}

impl Paced {
    fn report(self, report: &mut ScenarioReport) {
        let (bare, audited) = (&self.results[0], &self.results[1]);
        let at = |ts: &[Trial], q: f64| ts.iter().map(|t| t.load.latency_ms(q)).collect::<Vec<_>>();
        let side = |label: &str, v: Vec<f64>| Side::new(label, summary(&v), "ms");
        report.row(Row::ratio(
            "audited/bare p99 latency at equal load",
            side("audited", at(audited, 0.99)),
            side("bare", at(bare, 0.99)),
            summary(&ratios(&at(audited, 0.99), &at(bare, 0.99))),
            Target::AtMost(1.2),
        ));
        for (name, q) in [("p99", 0.99), ("p50", 0.5)] {
            let added: Vec<f64> =
                at(audited, q).iter().zip(at(bare, q)).map(|(a, b)| (a - b) * 1000.0).collect();
            report.detail(
                format!("audited {name} latency added at equal load"),
                summary(&added),
                "µs",
            );
        }
        for (label, ts) in [("bare", bare), ("audited", audited)] {
            let achieved: Vec<f64> = ts.iter().map(|t| t.load.rps()).collect();
            report.detail(
                format!("{label} at equal load: p50 latency"),
                summary(&at(ts, 0.5)),
                "ms",
            );
            report.detail(
                format!("{label} at equal load: p99.9 latency"),
                summary(&at(ts, 0.999)),
                "ms",
            );
            report.detail(format!("{label} at equal load: served"), summary(&achieved), "req/s");
            if achieved.iter().any(|a| *a < self.rate * 0.95) {
                report.note(format!(
                    "{label} served less than 95% of the paced rate ({:.0} req/s) in some round: \
                     it fell behind, and its latency counts the wait (see loadgen.rs)",
                    self.rate
                ));
            }
        }
        report.note(format!(
            "Latency at equal load: bare and audited again, interleaved, each offered {:.0} \
             requests/s (half the audited median above) over the same {CONNECTIONS} connections, \
             evenly spaced (open loop, see loadgen.rs). In the closed-loop rows the server runs \
             flat out, so their p99 is mostly queueing behind the other connections and moves with \
             throughput; at equal load it is what a request costs. A request due while the one \
             before it on its connection is in flight is timed from when it was due.",
            self.rate
        ));
    }
}

fn postgres_db(bench: &Bench, report: &mut ScenarioReport) -> Option<crate::pg::FreshDb> {
    match crate::pg::create(bench, "http") {
        Ok(db) => Some(db),
        Err(e) => {
            report.note(format!("audited+pg skipped: {e}"));
            None
        }
    }
}
