//! Scenario 2, gRPC overhead: tonic `UpdateProject`, bare and audited.

use audit_core::Delivery;

use crate::apps::grpc::{self as app, GrpcCaller};
use crate::apps::saas::{self, SaasGrpcCaller};
use crate::harness::{self, Bench, BenchResult, interleave};
use crate::loadgen::LoadResult;
use crate::report::{Row, ScenarioReport, Side, Status, Target};
use crate::scenarios::{file_auditor, shutdown, summary};
use crate::stats::ratios;

const CONNECTIONS: usize = 16;

/// The example SaaS API's gRPC server, as shipped (always audited).
fn saas_trial(bench: &Bench) -> BenchResult<LoadResult> {
    let dir = bench.tempdir("grpc-saas-")?;
    let rt = bench.named_server_runtime("grpc-saas")?;
    let path = dir.path().to_owned();
    let api = rt.block_on(async move { saas::start(&path, true).await })?;
    let addr = api.grpc_addr().ok_or_else(|| crate::harness::error("no gRPC address"))?;
    let ids = api.project_ids.clone();
    let callers =
        bench.on_load(async move { SaasGrpcCaller::many(addr, &ids, CONNECTIONS).await })??;
    let load = bench.load(callers, bench.plan());
    rt.block_on(api.server.shutdown())?;
    harness::stop(rt);
    load
}

fn trial(bench: &Bench, audited: bool) -> BenchResult<LoadResult> {
    let dir = bench.tempdir("grpc-")?;
    // Named for profiles (`perf report --comm srv-grpc-audit`).
    let rt = bench.named_server_runtime(if audited { "grpc-audit" } else { "grpc-bare" })?;
    let auditor = if audited {
        let path = dir.path().to_owned();
        Some(rt.block_on(async move { file_auditor(&path, Delivery::Buffered, Vec::new()) })?)
    } else {
        None
    };
    let addr = rt.block_on(app::serve(auditor.clone()))?;
    let callers = bench.on_load(GrpcCaller::many(addr, CONNECTIONS))??;
    let load = bench.load(callers, bench.plan());
    if let Some(a) = &auditor {
        shutdown(&rt, a)?;
    }
    harness::stop(rt);
    load
}

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("grpc", "gRPC overhead");
    report.status = Status::Fallback;
    report.note(
        "The ratios use a minimal tonic service (apps/grpc.rs, on the projects.v1 test proto \
         of audit-testkit): the example SaaS API's gRPC server is always audited, so it \
         has no bare form. Stand-in: token check from metadata, an in-memory store update; \
         `audited` = `AuditLayer` + `#[audited]` on the method + file sink. The SaaS API's own \
         `saas.v1.Projects/UpdateProject` runs as `saas-api`, for reference.",
    );
    let labels = ["bare", "audited", "saas-api"];
    let results = interleave(bench.settings.rounds, 3, |_, v| match v {
        2 => saas_trial(bench),
        _ => trial(bench, v == 1),
    })?;
    let rps = |v: usize| results[v].iter().map(LoadResult::rps).collect::<Vec<_>>();
    let p99 = |v: usize| results[v].iter().map(|r| r.latency_ms(0.99)).collect::<Vec<_>>();
    report.row(Row::ratio(
        "audited/bare req/s",
        Side::new("audited", summary(&rps(1)), "req/s"),
        Side::new("bare", summary(&rps(0)), "req/s"),
        summary(&ratios(&rps(1), &rps(0))),
        Target::AtLeast(0.90),
    ));
    report.row(Row::ratio(
        "audited/bare p99 latency",
        Side::new("audited", summary(&p99(1)), "ms"),
        Side::new("bare", summary(&p99(0)), "ms"),
        summary(&ratios(&p99(1), &p99(0))),
        Target::Info,
    ));
    report.row(Row::ratio(
        "saas-api (as shipped) / stand-in bare req/s",
        Side::new("saas-api", summary(&rps(2)), "req/s"),
        Side::new("bare", summary(&rps(0)), "req/s"),
        summary(&ratios(&rps(2), &rps(0))),
        Target::Info,
    ));
    for (v, l) in labels.iter().enumerate() {
        let p50: Vec<f64> = results[v].iter().map(|r| r.latency_ms(0.5)).collect();
        report.detail(format!("{l} throughput"), summary(&rps(v)), "req/s");
        report.detail(format!("{l} p50 latency"), summary(&p50), "ms");
        report.detail(format!("{l} p99 latency"), summary(&p99(v)), "ms");
        let allocs: Vec<f64> = results[v].iter().map(LoadResult::allocations_per_request).collect();
        report.detail(format!("{l} allocations per request (process-wide)"), summary(&allocs), "");
        if let Some(e) = results[v].iter().find_map(|r| r.first_error.clone()) {
            report.note(format!("{l}: first failed call: {e}"));
        }
    }
    report.note(format!("{CONNECTIONS} HTTP/2 connections, one call in flight on each."));
    Ok(report)
}
