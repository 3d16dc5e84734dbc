//! The OTLP sink against real in-process OTLP receivers: a tonic server
//! implementing the `LogsService` of `opentelemetry-proto` (gRPC) and an axum
//! server decoding protobuf bodies (HTTP), both on 127.0.0.1:0.
#![cfg(feature = "otlp")]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::{
    Actor, AuditEvent, Auditor, Body, Change, GrpcRequest, HttpRequest, Outcome, Request, Resource,
    Response, RetryPolicy, Sink, Source,
};
use audit_sinks::otlp::{Compression, OtlpConfig, OtlpSink};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message as _;
use tokio::net::TcpListener;

// ---------------------------------------------------------------- receivers

/// How the receiver answers.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Accept,
    /// Fail this many calls with UNAVAILABLE / 503, then accept.
    FailFirst(u32),
    /// Always reject with INVALID_ARGUMENT / 400.
    Reject,
    /// Accept, but report the first record of every request as rejected.
    PartialReject,
    /// Answer after this long.
    Delay(Duration),
}

/// What one receiver saw.
#[derive(Default)]
struct Seen {
    requests: Mutex<Vec<(HashMap<String, String>, ExportLogsServiceRequest)>>,
    calls: AtomicU32,
    failed_calls: AtomicU32,
    paths: Mutex<Vec<String>>,
}

impl Seen {
    fn records(&self) -> Vec<(BTreeMap<String, String>, LogRecord)> {
        let mut out = Vec::new();
        for (_, req) in self.requests.lock().unwrap().iter() {
            for rl in &req.resource_logs {
                let resource: BTreeMap<String, String> = rl
                    .resource
                    .iter()
                    .flat_map(|r| &r.attributes)
                    .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                    .collect();
                for sl in &rl.scope_logs {
                    assert_eq!(sl.scope.as_ref().unwrap().name, "audit");
                    for r in &sl.log_records {
                        out.push((resource.clone(), r.clone()));
                    }
                }
            }
        }
        out
    }

    fn ids(&self) -> Vec<String> {
        self.records().iter().map(|(_, r)| attr(r, "audit.id").unwrap()).collect()
    }

    fn headers(&self) -> Vec<HashMap<String, String>> {
        self.requests.lock().unwrap().iter().map(|(h, _)| h.clone()).collect()
    }

    /// Decides the answer for one call; `None` accepts.
    fn decide(&self, mode: Mode) -> Option<bool> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match mode {
            Mode::FailFirst(k) if n < k => {
                self.failed_calls.fetch_add(1, Ordering::SeqCst);
                Some(true)
            }
            Mode::Reject => {
                self.failed_calls.fetch_add(1, Ordering::SeqCst);
                Some(false)
            }
            _ => None,
        }
    }

    fn response(&self, mode: Mode, req: &ExportLogsServiceRequest) -> ExportLogsServiceResponse {
        match mode {
            Mode::PartialReject => ExportLogsServiceResponse {
                partial_success: Some(ExportLogsPartialSuccess {
                    rejected_log_records: 1,
                    error_message: "attribute value too long".into(),
                }),
            },
            _ => {
                assert!(!req.resource_logs.is_empty());
                ExportLogsServiceResponse::default()
            }
        }
    }
}

fn text(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

fn attr(r: &LogRecord, key: &str) -> Option<String> {
    r.attributes.iter().find(|kv| kv.key == key).map(|kv| text(kv.value.as_ref()))
}

fn int_attr(r: &LogRecord, key: &str) -> Option<i64> {
    match r.attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()? {
        Value::IntValue(i) => Some(*i),
        _ => None,
    }
}

struct GrpcReceiver {
    seen: Arc<Seen>,
    mode: Mode,
}

#[tonic::async_trait]
impl LogsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        if let Mode::Delay(d) = self.mode {
            tokio::time::sleep(d).await;
        }
        match self.seen.decide(self.mode) {
            Some(true) => return Err(tonic::Status::unavailable("collector is restarting")),
            Some(false) => return Err(tonic::Status::invalid_argument("bad log record")),
            None => {}
        }
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let req = request.into_inner();
        let response = self.seen.response(self.mode, &req);
        self.seen.requests.lock().unwrap().push((headers, req));
        Ok(tonic::Response::new(response))
    }
}

/// Starts a gRPC receiver; returns its `http://` URL.
async fn grpc_receiver(mode: Mode) -> (String, Arc<Seen>) {
    grpc_receiver_with(mode, None).await
}

/// Starts a gRPC receiver, with TLS when given a PEM certificate and key;
/// returns its URL (`https://localhost:<port>` with TLS).
async fn grpc_receiver_with(mode: Mode, tls: Option<(&str, &str)>) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = LogsServiceServer::new(GrpcReceiver { seen: seen.clone(), mode })
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    let mut server = tonic::transport::Server::builder();
    let url = match tls {
        Some((cert, key)) => {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            server = server
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .unwrap();
            format!("https://localhost:{port}")
        }
        None => format!("http://127.0.0.1:{port}"),
    };
    tokio::spawn(
        server
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    (url, seen)
}

/// Starts an OTLP/HTTP receiver (any path); returns its base URL.
async fn http_receiver(mode: Mode) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let state = seen.clone();
    let handler = move |uri: axum::http::Uri, headers: HeaderMap, body: Bytes| {
        let seen = state.clone();
        async move {
            if let Mode::Delay(d) = mode {
                tokio::time::sleep(d).await;
            }
            seen.paths.lock().unwrap().push(uri.path().to_owned());
            match seen.decide(mode) {
                Some(true) => return (StatusCode::SERVICE_UNAVAILABLE, Vec::new()),
                Some(false) => return (StatusCode::BAD_REQUEST, b"bad log record".to_vec()),
                None => {}
            }
            assert_eq!(headers["content-type"], "application/x-protobuf");
            let body = if headers.get("content-encoding").is_some_and(|v| v == "gzip") {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut out).unwrap();
                out
            } else {
                body.to_vec()
            };
            let req = ExportLogsServiceRequest::decode(body.as_slice()).unwrap();
            let headers = headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                .collect();
            let response = seen.response(mode, &req);
            seen.requests.lock().unwrap().push((headers, req));
            (StatusCode::OK, response.encode_to_vec())
        }
    };
    let app = axum::Router::new().fallback(axum::routing::post(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

// ---------------------------------------------------------------- helpers

fn auditor(sink: OtlpSink) -> Auditor {
    Auditor::builder()
        .service("projects-api", "1.4.2")
        .instance("pod-7")
        .retry_policy(RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(50)))
        .sink(sink)
        .build()
        .unwrap()
}

fn full_event() -> AuditEvent {
    AuditEvent::builder("project.update")
        .actor(Actor::user("u_1").email("alice@example.com").name("Alice"))
        .tenant("acme")
        .resource(Resource::new("project", "p_42").name("Apollo"))
        .outcome(Outcome::Denied)
        .reason("not a member")
        .source(
            Source::new()
                .ip("203.0.113.9".parse().unwrap())
                .user_agent("curl/8.5")
                .request_id("req-1"),
        )
        .request(Request::Http({
            let mut r = HttpRequest::new("PATCH", "/projects/p_42");
            r.route = Some("/projects/{id}".into());
            r.query = Some("dry_run=1".into());
            r.body = Some(Body::Json(serde_json::json!({"name": "Apollo 2"})));
            r
        }))
        .response({
            let mut r = Response::default();
            r.status = Some(403);
            r.duration_us = Some(1200);
            r
        })
        .change(Change::new("name", "Apollo", "Apollo 2"))
        .metadata("ticket", "SEC-1")
        .build()
}

async fn record_full_and_grpc_entries(auditor: &Auditor) -> (uuid::Uuid, uuid::Uuid) {
    let full = auditor.record(full_event()).await.unwrap().id;
    let grpc = auditor
        .record(
            AuditEvent::builder("api_key.create")
                .actor(Actor::api_key("k_9").name("ci-deploy"))
                .request(Request::Grpc(GrpcRequest::new("keys.v1.Keys", "CreateKey")))
                .response({
                    let mut r = Response::default();
                    r.grpc_status = Some(0);
                    r
                }),
        )
        .await
        .unwrap()
        .id;
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    (full, grpc)
}

/// Checks every row of the mapping table for the entries of
/// `record_full_and_grpc_entries`.
fn assert_mapping(seen: &Seen, full: uuid::Uuid, grpc: uuid::Uuid) {
    let records = seen.records();
    let find = |id: uuid::Uuid| {
        records
            .iter()
            .find(|(_, r)| attr(r, "audit.id") == Some(id.to_string()))
            .unwrap_or_else(|| panic!("entry {id} not received"))
    };
    let (resource, r) = find(full);
    assert_eq!(resource["service.name"], "projects-api");
    assert_eq!(resource["service.version"], "1.4.2");
    assert_eq!(resource["service.instance.id"], "pod-7");

    assert_eq!(r.event_name, "project.update");
    assert_eq!(r.severity_number, 13);
    assert_eq!(r.severity_text, "WARN");
    assert_eq!(text(r.body.as_ref()), "alice@example.com updated project p_42 (denied)");
    assert!(r.time_unix_nano > 0 && r.time_unix_nano % 1000 == 0, "microsecond entry time");
    assert!(r.observed_time_unix_nano >= r.time_unix_nano);
    let a = |k: &str| attr(r, k).unwrap_or_else(|| panic!("missing attribute {k}"));
    assert_eq!(a("audit.action"), "update");
    assert_eq!(a("audit.outcome"), "denied");
    assert_eq!(a("audit.reason"), "not a member");
    assert_eq!(a("audit.actor.kind"), "user");
    assert_eq!(a("audit.actor.name"), "alice@example.com");
    assert_eq!(a("user.id"), "u_1");
    assert_eq!(a("user.name"), "Alice");
    assert_eq!(a("user.email"), "alice@example.com");
    assert_eq!(a("audit.tenant"), "acme");
    assert_eq!(a("audit.resource.type"), "project");
    assert_eq!(a("audit.resource.id"), "p_42");
    assert_eq!(a("audit.resource.name"), "Apollo");
    assert_eq!(a("client.address"), "203.0.113.9");
    assert_eq!(a("user_agent.original"), "curl/8.5");
    assert_eq!(a("audit.request_id"), "req-1");
    assert_eq!(a("http.request.method"), "PATCH");
    assert_eq!(a("http.route"), "/projects/{id}");
    assert_eq!(a("url.path"), "/projects/p_42");
    assert_eq!(a("url.query"), "dry_run=1");
    assert_eq!(int_attr(r, "http.response.status_code"), Some(403));
    let json = |k: &str| serde_json::from_str::<serde_json::Value>(&a(k)).unwrap();
    assert_eq!(json("audit.request")["body"]["name"], "Apollo 2");
    assert_eq!(json("audit.response")["duration_us"], 1200);
    assert_eq!(json("audit.changes")[0]["after"], "Apollo 2");
    assert_eq!(json("audit.metadata")["ticket"], "SEC-1");
    let seq = int_attr(r, "audit.chain.seq").unwrap();
    assert!(seq >= 1, "after the genesis entry");
    assert_eq!(a("audit.chain.id").len(), 36);
    assert_eq!(a("audit.chain.hash").len(), 64);
    assert_eq!(a("audit.chain.prev").len(), 64);
    assert!(attr(r, "audit.actor.id").is_none(), "users use user.id");

    let (_, g) = find(grpc);
    assert_eq!(g.event_name, "api_key.create");
    assert_eq!(g.severity_number, 9);
    assert_eq!(g.severity_text, "INFO");
    assert_eq!(attr(g, "rpc.system").as_deref(), Some("grpc"));
    assert_eq!(attr(g, "rpc.service").as_deref(), Some("keys.v1.Keys"));
    assert_eq!(attr(g, "rpc.method").as_deref(), Some("CreateKey"));
    assert_eq!(int_attr(g, "rpc.grpc.status_code"), Some(0));
    assert_eq!(attr(g, "audit.actor.kind").as_deref(), Some("api_key"));
    assert_eq!(attr(g, "audit.actor.name").as_deref(), Some("api-key:ci-deploy"));
    assert_eq!(attr(g, "audit.actor.id").as_deref(), Some("k_9"));
    assert!(attr(g, "user.id").is_none());
    assert!(attr(g, "http.request.method").is_none());
    assert_eq!(int_attr(g, "audit.chain.seq"), Some(seq + 1));
}

async fn assert_survives_outage(sink: OtlpSink, seen: &Seen, failures: u32) {
    let auditor = auditor(sink);
    let mut ids = Vec::new();
    for i in 0..40 {
        let e = AuditEvent::builder("project.update")
            .resource(Resource::new("project", format!("p_{i}")));
        ids.push(auditor.record(e).await.unwrap().id.to_string());
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let stats = auditor.stats();
    let sink = &stats.sinks[0];
    assert_eq!(sink.written, stats.recorded, "{stats:?}");
    assert_eq!(sink.failed, 0, "{stats:?}");
    assert_eq!(sink.retried, u64::from(failures), "{stats:?}");
    assert_eq!(seen.failed_calls.load(Ordering::SeqCst), failures);
    let received = seen.ids();
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "no duplicates");
    assert_eq!(received.len() as u64, stats.recorded, "genesis, 40 entries, checkpoint(s)");
    for id in &ids {
        assert!(unique.contains(id), "entry {id} lost");
    }
}

async fn assert_rejected_to_dead_letter(sink: OtlpSink) {
    let dir = tempfile::tempdir().unwrap();
    let auditor = Auditor::builder()
        .retry_policy(RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(50)))
        .spool_dir(dir.path())
        .sink(sink)
        .build()
        .unwrap();
    for _ in 0..5 {
        auditor.record(AuditEvent::builder("project.update")).await.unwrap();
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.sinks[0].failed, stats.recorded, "{stats:?}");
    assert_eq!(stats.sinks[0].retried, 0, "a permanent error is not retried: {stats:?}");
    assert_eq!(stats.sinks[0].written, 0, "{stats:?}");
    let dead = std::fs::read_to_string(dir.path().join("dead-letter/otlp.jsonl")).unwrap();
    assert_eq!(dead.lines().count() as u64, stats.recorded);
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn grpc_every_attribute_of_the_mapping_arrives() {
    let (url, seen) = grpc_receiver(Mode::Accept).await;
    let auditor = auditor(OtlpSink::new(OtlpConfig::grpc(url)).unwrap());
    let (full, grpc) = record_full_and_grpc_entries(&auditor).await;
    assert_mapping(&seen, full, grpc);
    assert_eq!(auditor.stats().sinks[0].written, auditor.stats().recorded);
}

#[tokio::test]
async fn http_every_attribute_of_the_mapping_arrives() {
    let (url, seen) = http_receiver(Mode::Accept).await;
    let auditor = auditor(OtlpSink::new(OtlpConfig::http(url)).unwrap());
    let (full, grpc) = record_full_and_grpc_entries(&auditor).await;
    assert_mapping(&seen, full, grpc);
    assert!(seen.paths.lock().unwrap().iter().all(|p| p == "/v1/logs"));
}

#[tokio::test]
async fn grpc_headers_and_gzip_reach_the_receiver() {
    let (url, seen) = grpc_receiver(Mode::Accept).await;
    let config = OtlpConfig::grpc(url).header("X-Api-Key", "k-123").compression(Compression::Gzip);
    let sink = OtlpSink::new(config).unwrap();
    assert!(!format!("{sink:?}").contains("k-123"), "Debug hides header values");
    sink.write(audit_core::Batch::new(&[AuditEvent::builder("a.update").build()])).await.unwrap();
    let headers = seen.headers();
    assert_eq!(headers[0]["x-api-key"], "k-123");
    assert_eq!(headers[0]["grpc-encoding"], "gzip");
}

#[tokio::test]
async fn grpc_unavailable_then_recovery_loses_and_duplicates_nothing() {
    let (url, seen) = grpc_receiver(Mode::FailFirst(4)).await;
    assert_survives_outage(OtlpSink::new(OtlpConfig::grpc(url)).unwrap(), &seen, 4).await;
}

#[tokio::test]
async fn http_503_then_recovery_loses_and_duplicates_nothing() {
    let (url, seen) = http_receiver(Mode::FailFirst(4)).await;
    assert_survives_outage(OtlpSink::new(OtlpConfig::http(url)).unwrap(), &seen, 4).await;
}

#[tokio::test]
async fn grpc_invalid_argument_is_permanent() {
    let (url, _seen) = grpc_receiver(Mode::Reject).await;
    let sink = OtlpSink::new(OtlpConfig::grpc(url.clone())).unwrap();
    let err = sink
        .write(audit_core::Batch::new(&[AuditEvent::builder("a.update").build()]))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("InvalidArgument"), "{err}");
    assert!(err.to_string().contains("bad log record"), "{err}");
    assert_rejected_to_dead_letter(OtlpSink::new(OtlpConfig::grpc(url)).unwrap()).await;
}

#[tokio::test]
async fn http_400_is_permanent() {
    let (url, _seen) = http_receiver(Mode::Reject).await;
    let sink = OtlpSink::new(OtlpConfig::http(url.clone())).unwrap();
    let err = sink
        .write(audit_core::Batch::new(&[AuditEvent::builder("a.update").build()]))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("400") && err.to_string().contains("bad log record"), "{err}");
    assert_rejected_to_dead_letter(OtlpSink::new(OtlpConfig::http(url)).unwrap()).await;
}

#[tokio::test]
async fn partial_success_with_rejections_is_permanent() {
    let (url, _) = grpc_receiver(Mode::PartialReject).await;
    let sink = OtlpSink::new(OtlpConfig::grpc(url)).unwrap();
    let batch = [AuditEvent::builder("a.update").build(), AuditEvent::builder("b.update").build()];
    let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains("rejected 1 of 2") && msg.contains("attribute value too long"), "{msg}");

    let (url, _) = http_receiver(Mode::PartialReject).await;
    let sink = OtlpSink::new(OtlpConfig::http(url)).unwrap();
    let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
    assert!(!err.is_retryable() && err.to_string().contains("rejected 1 of 2"), "{err}");
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_transient() {
    let batch = [AuditEvent::builder("a.update").build()];
    let (url, _) = grpc_receiver(Mode::Delay(Duration::from_secs(5))).await;
    let sink = OtlpSink::new(OtlpConfig::grpc(url).timeout(Duration::from_millis(200))).unwrap();
    let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");

    let (url, _) = http_receiver(Mode::Delay(Duration::from_secs(5))).await;
    let sink = OtlpSink::new(OtlpConfig::http(url).timeout(Duration::from_millis(200))).unwrap();
    let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("timed out"), "{err}");

    // A port nobody listens on.
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    for config in
        [OtlpConfig::grpc(format!("http://{addr}")), OtlpConfig::http(format!("http://{addr}"))]
    {
        let err =
            OtlpSink::new(config).unwrap().write(audit_core::Batch::new(&batch)).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}

#[tokio::test]
async fn environment_variables_are_honoured_over_http() {
    let (url, seen) = http_receiver(Mode::Accept).await;
    let env = HashMap::from([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        // The generic endpoint is a base URL: `/v1/logs` is appended.
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{url}/otel")),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20t0k,x-team=audit".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "x-team=security".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000".to_owned()),
    ]);
    let config = OtlpConfig::from_env_with(|k| env.get(k)).unwrap();
    assert_eq!(config.export_timeout(), Duration::from_secs(3));
    let sink = OtlpSink::new(config).unwrap();
    sink.write(audit_core::Batch::new(&[AuditEvent::builder("a.update").build()])).await.unwrap();
    assert_eq!(*seen.paths.lock().unwrap(), ["/otel/v1/logs"]);
    let headers = &seen.headers()[0];
    assert_eq!(headers["authorization"], "Bearer t0k");
    assert_eq!(headers["x-team"], "security", "the LOGS_ variable wins");
    assert_eq!(headers["content-encoding"], "gzip");

    // The logs endpoint is used as it is.
    let env = HashMap::from([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("{url}/ignored")),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", format!("{url}/custom/logs")),
    ]);
    let sink = OtlpSink::new(OtlpConfig::from_env_with(|k| env.get(k)).unwrap()).unwrap();
    sink.write(audit_core::Batch::new(&[AuditEvent::builder("a.update").build()])).await.unwrap();
    assert_eq!(seen.paths.lock().unwrap()[1], "/custom/logs");
}

#[tokio::test]
async fn environment_variables_are_honoured_over_grpc() {
    let (url, seen) = grpc_receiver(Mode::Accept).await;
    let env = HashMap::from([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", url),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=a%2Cb".to_owned()),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip".to_owned()),
    ]);
    let sink = OtlpSink::new(OtlpConfig::from_env_with(|k| env.get(k)).unwrap()).unwrap();
    sink.write(audit_core::Batch::new(&[AuditEvent::builder("a.update").build()])).await.unwrap();
    let headers = &seen.headers()[0];
    assert_eq!(headers["x-api-key"], "a,b");
    assert_eq!(headers["grpc-encoding"], "gzip");
    assert_eq!(seen.ids().len(), 1);
}

#[tokio::test]
async fn grpc_over_tls_with_the_ca_from_the_environment() {
    let ca = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let (cert, key) = (ca.cert.pem(), ca.signing_key.serialize_pem());
    let (url, seen) = grpc_receiver_with(Mode::Accept, Some((&cert, &key))).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert).unwrap();
    let batch = [AuditEvent::builder("a.update").build()];

    let env = HashMap::from([
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.clone()),
        ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", ca_file.display().to_string()),
    ]);
    let config = OtlpConfig::from_env_with(|k| env.get(k)).unwrap();
    assert!(config.has_ca_certificate());
    OtlpSink::new(config).unwrap().write(audit_core::Batch::new(&batch)).await.unwrap();
    assert_eq!(seen.ids().len(), 1);

    // Without the CA, the server is not trusted: a transient error that says why.
    let sink = OtlpSink::new(OtlpConfig::grpc(url)).unwrap();
    let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(err.to_string().to_lowercase().contains("certificate"), "{err}");
    assert_eq!(seen.ids().len(), 1);
}

#[tokio::test]
async fn large_batches_are_split_into_several_requests() {
    let (url, seen) = grpc_receiver(Mode::Accept).await;
    let sink = OtlpSink::new(OtlpConfig::grpc(url).max_request_bytes(16 * 1024)).unwrap();
    let batch: Vec<AuditEvent> = (0..60)
        .map(|i| {
            let mut e = AuditEvent::builder("a.update").metadata("pad", "x".repeat(1024)).build();
            e.id = uuid::Uuid::now_v7();
            e.description = format!("entry {i}");
            e
        })
        .collect();
    sink.write(audit_core::Batch::new(&batch)).await.unwrap();
    assert!(seen.requests.lock().unwrap().len() >= 4);
    let bodies: Vec<String> = seen.records().iter().map(|(_, r)| text(r.body.as_ref())).collect();
    let expected: Vec<String> = (0..60).map(|i| format!("entry {i}")).collect();
    assert_eq!(bodies, expected, "all entries, in order");
}

#[test]
fn invalid_configurations_are_errors_that_say_what_is_wrong() {
    let err = OtlpSink::new(OtlpConfig::grpc("collector:4317")).unwrap_err();
    assert!(err.to_string().contains("scheme"), "{err}");
    let err =
        OtlpSink::new(OtlpConfig::http("http://h:4318").header("bad header", "v")).unwrap_err();
    assert!(err.to_string().contains("bad header"), "{err}");
    let err =
        OtlpSink::new(OtlpConfig::http("http://h:4318").header("x", "line\nbreak")).unwrap_err();
    assert!(!err.to_string().contains("line"), "header values are not shown: {err}");
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let err = OtlpSink::new(OtlpConfig::grpc("http://h:4317").ca_certificate_pem(pem)).unwrap_err();
    assert!(err.to_string().contains("https"), "{err}");
    for config in [OtlpConfig::grpc("https://h:4317"), OtlpConfig::http("https://h:4318")] {
        let err = OtlpSink::new(config.ca_certificate_pem("not a certificate")).unwrap_err();
        assert!(err.to_string().contains("not PEM"), "{err}");
    }
}
