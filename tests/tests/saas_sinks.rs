//! The `--otlp URL` and `--webhook URL --webhook-secret S` flags wire real
//! sinks: with a real OTLP/gRPC receiver (tonic, `LogsService`) and a real
//! webhook receiver (axum) on 127.0.0.1:0, every entry the file sink has
//! also reaches both, the webhook batches signed with the secret.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_sinks::webhook::{SIGNATURE_HEADER, verify_signature};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clap::Parser as _;
use examples::saas::{Args, Config};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use reqwest::Method;
use serde_json::{Value, json};
use tests::{Api, read_log};
use tokio::net::TcpListener;

const WEBHOOK_SECRET: &str = "whsec_e2e_4c1d9a";

/// The bodies of the webhook POSTs (after checking their signatures).
type Batches = Arc<Mutex<Vec<Value>>>;

async fn webhook_receiver() -> (SocketAddr, Batches) {
    async fn receive(
        State(batches): State<Batches>,
        headers: HeaderMap,
        body: Bytes,
    ) -> StatusCode {
        let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
        let signed = signature.is_some_and(|sig| {
            verify_signature(WEBHOOK_SECRET.as_bytes(), sig, &body, Duration::from_secs(300))
                .is_ok()
        });
        if !signed {
            return StatusCode::UNAUTHORIZED;
        }
        batches.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        StatusCode::OK
    }
    let batches = Batches::default();
    let app = axum::Router::new()
        .route("/audit", axum::routing::post(receive))
        .with_state(batches.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, batches)
}

/// The log records an OTLP receiver got: `(event_name, audit.id)`.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<(String, String)>>>);

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let mut seen = self.0.lock().unwrap();
        for resource in &request.get_ref().resource_logs {
            for scope in &resource.scope_logs {
                for record in &scope.log_records {
                    let id = record.attributes.iter().find(|kv| kv.key == "audit.id");
                    let id = match id.and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
                        Some(AnyValue::StringValue(id)) => id.clone(),
                        _ => String::new(),
                    };
                    seen.push((record.event_name.clone(), id));
                }
            }
        }
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None }))
    }
}

async fn otlp_receiver() -> (SocketAddr, Collector) {
    let collector = Collector::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tonic::transport::Server::builder()
        .add_service(LogsServiceServer::new(collector.clone()))
        .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener));
    tokio::spawn(server);
    (addr, collector)
}

#[tokio::test]
async fn the_otlp_and_webhook_flags_deliver_every_entry() {
    let (webhook, batches) = webhook_receiver().await;
    let (otlp, collector) = otlp_receiver().await;
    let webhook_url = format!("http://{webhook}/audit");
    let otlp_url = format!("http://{otlp}");
    let args = Args::try_parse_from([
        "saas-api",
        "--otlp",
        &otlp_url,
        "--webhook",
        &webhook_url,
        "--webhook-secret",
        WEBHOOK_SECRET,
    ])
    .unwrap();
    let flags = Config::from(args);
    let api = Api::start_with(|mut config| {
        config.otlp = flags.otlp;
        config.webhook = flags.webhook;
        config
    })
    .await;

    let alice = Some("alice-token");
    let (status, project) =
        api.call(Method::POST, "/projects", alice, Some(json!({"name": "Apollo"}))).await;
    assert_eq!(status, 201);
    let path = format!("/projects/{}", project["id"].as_str().unwrap());
    assert_eq!(api.call(Method::DELETE, &path, None, None).await.0, 401);
    assert_eq!(api.call(Method::DELETE, &path, alice, None).await.0, 204);
    // Shutting down flushes every sink before it returns.
    let (_, dir) = api.finish().await;

    let in_file = read_log(&dir.path().join("audit")).await;
    let expected: Vec<(String, String)> =
        in_file.iter().map(|e| (e.event.clone(), e.id.to_string())).collect();
    assert_eq!(expected.len(), 5, "genesis, 3 calls, closing checkpoint: {expected:?}");

    let hooked: Vec<(String, String)> = batches
        .lock()
        .unwrap()
        .iter()
        .flat_map(|batch| batch.as_array().cloned().unwrap_or_default())
        .map(|e| (e["event"].as_str().unwrap().to_owned(), e["id"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(hooked, expected, "the webhook got every entry, signed, in order");

    let exported = collector.0.lock().unwrap().clone();
    assert_eq!(exported, expected, "the OTLP receiver got every entry, in order");
}

#[test]
fn the_webhook_flags_go_together() {
    assert!(Args::try_parse_from(["saas-api", "--webhook", "http://127.0.0.1:1/x"]).is_err());
    assert!(Args::try_parse_from(["saas-api", "--webhook-secret", "s"]).is_err());
    let args = Args::try_parse_from(["saas-api", "--otlp", "http://127.0.0.1:4318/v1/logs"]);
    assert_eq!(Config::from(args.unwrap()).otlp.as_deref(), Some("http://127.0.0.1:4318/v1/logs"));
}
