//! OTLP: `OtlpSink` behind the audit pipeline against the OpenTelemetry
//! SDK's own `BatchLogProcessor` with opentelemetry-otlp's gRPC exporter,
//! both sending to the same in-process tonic receiver (opentelemetry-proto's
//! `LogsService`) on 127.0.0.1:0.
//!
//! The offered load is a burst of N records produced back to back from one
//! thread (the SDK's `emit`, our `Auditor::record`), a load at which the
//! SDK's processor, with its default queue of 2048, drops records. Delivered
//! = records the receiver got by the time the producer's flush returned;
//! throughput = delivered / (last flush − first record).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use audit_core::{AuditEvent, Auditor, Request};
use audit_sinks::otlp::{OtlpConfig, OtlpSink};
use audit_testkit::sample;
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};

use crate::entry;
use crate::harness::{self, Bench, BenchResult, interleave};
use crate::report::{Row, ScenarioReport, Side, Target};
use crate::scenarios::summary;
use crate::stats::{Summary, ratios};

/// Counts the audit records it receives.
#[derive(Debug, Default, Clone)]
struct Receiver {
    records: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl LogsService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let n = request
            .get_ref()
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .filter(|r| r.event_name == "project.update")
            .count();
        self.records.fetch_add(n as u64, Ordering::SeqCst);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

async fn receiver() -> std::io::Result<(SocketAddr, Receiver)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let receiver = Receiver::default();
    let service = LogsServiceServer::new(receiver.clone()).max_decoding_message_size(64 << 20);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    Ok((addr, receiver))
}

#[derive(Debug, Clone, Copy)]
struct Outcome {
    offered: u64,
    delivered: u64,
    /// Records per second produced (the offered rate).
    offered_rate: f64,
    /// Delivered records per second, until the flush returned.
    throughput: f64,
}

/// The SDK's record for an entry: the same event name, body and the
/// attributes our mapping writes.
fn emit_sdk(logger: &opentelemetry_sdk::logs::SdkLogger, e: &AuditEvent) {
    let mut r = logger.create_log_record();
    r.set_event_name("project.update");
    r.set_severity_number(Severity::Info);
    r.set_severity_text("INFO");
    r.set_timestamp(std::time::SystemTime::now());
    r.set_body(AnyValue::from(e.description.clone()));
    r.add_attribute("audit.id", e.id.to_string());
    r.add_attribute("audit.action", e.action.as_str());
    r.add_attribute("audit.outcome", e.outcome.as_str());
    r.add_attribute("audit.actor.kind", e.actor.kind.as_str());
    r.add_attribute("audit.actor.name", e.actor.to_string());
    if let Some(id) = &e.actor.id {
        r.add_attribute("user.id", id.clone());
    }
    if let Some(email) = &e.actor.email {
        r.add_attribute("user.email", email.clone());
    }
    if let Some(t) = &e.tenant {
        r.add_attribute("audit.tenant", t.clone());
    }
    if let Some(res) = e.resource.first() {
        r.add_attribute("audit.resource.type", res.kind.clone());
        if let Some(id) = &res.id {
            r.add_attribute("audit.resource.id", id.clone());
        }
    }
    if let Some(ip) = e.source.ip {
        r.add_attribute("client.address", ip.to_string());
    }
    if let Some(ua) = &e.source.user_agent {
        r.add_attribute("user_agent.original", ua.clone());
    }
    if let Some(id) = &e.source.request_id {
        r.add_attribute("audit.request_id", id.clone());
    }
    if let Some(Request::Http(h)) = &e.request {
        r.add_attribute("http.request.method", h.method.clone());
        if let Some(route) = &h.route {
            r.add_attribute("http.route", route.clone());
        }
        r.add_attribute("url.path", h.path.clone());
    }
    if let Some(status) = e.response.as_ref().and_then(|r| r.status) {
        r.add_attribute("http.response.status_code", i64::from(status));
    }
    if let Ok(request) = serde_json::to_string(&e.request) {
        r.add_attribute("audit.request", request);
    }
    if let Ok(changes) = serde_json::to_string(&e.changes) {
        r.add_attribute("audit.changes", changes);
    }
    if let Some(c) = &e.chain {
        r.add_attribute("audit.chain.id", c.id.to_string());
        r.add_attribute("audit.chain.seq", c.seq as i64);
        r.add_attribute("audit.chain.prev", c.prev.clone());
        r.add_attribute("audit.chain.hash", c.hash.clone());
    }
    logger.emit(r);
}

fn run_sdk(bench: &Bench, n: u64) -> BenchResult<Outcome> {
    let rt = bench.server_runtime()?;
    let (addr, receiver) = rt.block_on(receiver())?;
    let provider = rt.block_on(async {
        let exporter = opentelemetry_otlp::LogExporter::builder()
            .with_tonic()
            .with_endpoint(format!("http://{addr}"))
            .with_timeout(Duration::from_secs(10))
            .build()?;
        let processor = BatchLogProcessor::builder(exporter).build();
        Ok::<_, crate::harness::BenchError>(
            SdkLoggerProvider::builder().with_log_processor(processor).build(),
        )
    })?;
    let logger = provider.logger("audit");
    let finished = entry::finished(&entry::template(), 1);
    // The producer is this thread: `emit` is synchronous.
    let start = Instant::now();
    for i in 0..n {
        let mut e = finished.clone();
        if let Some(c) = e.chain.as_mut() {
            c.seq = i;
        }
        emit_sdk(&logger, &e);
    }
    let produced = start.elapsed();
    let _ = provider.force_flush();
    let took = start.elapsed();
    let delivered = receiver.records.load(Ordering::SeqCst);
    let _ = provider.shutdown();
    harness::stop(rt);
    Ok(Outcome {
        offered: n,
        delivered,
        offered_rate: n as f64 / produced.as_secs_f64().max(1e-9),
        throughput: delivered as f64 / took.as_secs_f64().max(1e-9),
    })
}

fn run_ours(bench: &Bench, n: u64) -> BenchResult<(Outcome, u64)> {
    let rt = bench.server_runtime()?;
    let (addr, receiver) = rt.block_on(receiver())?;
    let auditor = rt.block_on(async {
        let sink = OtlpSink::new(OtlpConfig::grpc(format!("http://{addr}")))?;
        Ok::<_, crate::harness::BenchError>(
            Auditor::builder().service("bench", "0.1.0").instance("bench-1").sink(sink).build()?,
        )
    })?;
    // The producer is this thread too (`record` is awaited here, the sink's
    // worker runs on the runtime's worker).
    let start = Instant::now();
    rt.block_on(async {
        for _ in 0..n {
            auditor.record(sample::entry()).await?;
        }
        Ok::<_, audit_core::RecordError>(())
    })?;
    let produced = start.elapsed();
    rt.block_on(auditor.shutdown(Duration::from_secs(60)))?;
    let took = start.elapsed();
    let delivered = receiver.records.load(Ordering::SeqCst);
    let stats = auditor.stats();
    harness::stop(rt);
    Ok((
        Outcome {
            offered: n,
            delivered,
            offered_rate: n as f64 / produced.as_secs_f64().max(1e-9),
            throughput: delivered as f64 / took.as_secs_f64().max(1e-9),
        },
        stats.dropped + stats.sinks.iter().map(|s| s.dropped + s.failed).sum::<u64>(),
    ))
}

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("otlp", "OTLP sink");
    let n: u64 = if bench.settings.quick { 20_000 } else { 100_000 };
    let mut ours_dropped_counted = Vec::new();
    let results = interleave(bench.settings.rounds, 2, |_, v| {
        if v == 0 {
            run_sdk(bench, n)
        } else {
            let (o, dropped) = run_ours(bench, n)?;
            ours_dropped_counted.push(dropped as f64);
            Ok(o)
        }
    })?;
    let get = |v: usize, f: fn(&Outcome) -> f64| results[v].iter().map(f).collect::<Vec<_>>();
    let tput = |v: usize| get(v, |o| o.throughput);
    let dropped = |v: usize| get(v, |o| o.offered.saturating_sub(o.delivered) as f64);
    report.row(Row::ratio(
        "ours/SDK delivered records per second",
        Side::new("ours", summary(&tput(1)), "rec/s"),
        Side::new("SDK", summary(&tput(0)), "rec/s"),
        summary(&ratios(&tput(1), &tput(0))),
        Target::AtLeast(1.0),
    ));
    report.row(Row::derived(
        "records dropped by ours",
        Side::new("offered", Summary::single(n as f64), "rec"),
        Side::new("delivered", summary(&get(1, |o| o.delivered as f64)), "rec"),
        summary(&dropped(1)),
        "rec",
        Target::AtMost(0.0),
    ));
    report.row(Row::derived(
        "records dropped by the SDK (must be > 0 for the load to count)",
        Side::new("offered", Summary::single(n as f64), "rec"),
        Side::new("delivered", summary(&get(0, |o| o.delivered as f64)), "rec"),
        summary(&dropped(0)),
        "rec",
        Target::AtLeast(1.0),
    ));
    for (v, l) in ["SDK", "ours"].iter().enumerate() {
        report.detail(format!("{l} offered"), Summary::single(n as f64), "rec");
        report.detail(format!("{l} offered rate"), summary(&get(v, |o| o.offered_rate)), "rec/s");
        report.detail(format!("{l} delivered"), summary(&get(v, |o| o.delivered as f64)), "rec");
        report.detail(format!("{l} dropped"), summary(&dropped(v)), "rec");
    }
    report.detail(
        "ours: dropped or failed per the auditor's counters",
        summary(&ours_dropped_counted),
        "rec",
    );
    report.note(
        "SDK: opentelemetry_sdk 0.33 `BatchLogProcessor` defaults (queue 2048, batch 512, 1 s \
         delay) + opentelemetry-otlp 0.33 gRPC (tonic) exporter, records carrying the same event \
         name, body and attributes as our mapping. Ours: `Auditor` (Buffered, no spool, queue \
         8192, batch 512) + `OtlpSink` gRPC. Each producer emits from the main thread; the \
         exporters' I/O runs on a one-worker runtime; the receiver on the same runtime.",
    );
    Ok(report)
}
