//! Real receivers for the network sinks, on 127.0.0.1: a webhook endpoint
//! (axum) and an OTLP/gRPC logs collector (tonic with the
//! `opentelemetry-proto` service). Both keep every byte they accepted, can
//! be taken down and brought back on the same port, and can be made slow.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_sinks::webhook::{SIGNATURE_HEADER, verify_signature};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// What a receiver accepted, shared with its handlers.
#[derive(Debug, Default)]
struct Received {
    /// Each accepted request's raw body, in arrival order.
    raw: Vec<Vec<u8>>,
    /// What the request carried, in arrival order (see the receivers).
    items: Vec<Value>,
}

/// Settings a test may change while a receiver runs.
#[derive(Debug, Default)]
struct Behaviour {
    /// How long each request waits before it is answered.
    delay: Duration,
}

#[derive(Debug, Clone, Default)]
struct Shared {
    received: Arc<Mutex<Received>>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Shared {
    fn delay(&self) -> Duration {
        self.behaviour.lock().unwrap().delay
    }
}

/// A running server task and the way to stop it.
#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        // Graceful: in-flight requests are answered, idle connections closed.
        let _ = self.task.await;
    }
}

/// Binds `addr`, retrying for a few seconds while the port is still held
/// by the previous incarnation's sockets.
async fn bind(addr: SocketAddr) -> TcpListener {
    let mut last = None;
    for _ in 0..100 {
        match TcpListener::bind(addr).await {
            Ok(listener) => return listener,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot bind the receiver to {addr}: {last:?}")
}

/// A webhook endpoint at `POST /audit` that checks the
/// `X-Audit-Signature` of every batch with its secret (401 when it does not
/// verify) and keeps each accepted batch. Its items are the batches' entries
/// (JSON objects), in arrival order.
#[derive(Debug)]
pub struct WebhookReceiver {
    addr: SocketAddr,
    secret: String,
    shared: Shared,
    running: Option<Running>,
}

impl WebhookReceiver {
    /// Starts a receiver on a free port of 127.0.0.1.
    pub async fn start(secret: &str) -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let mut receiver = Self {
            addr: listener.local_addr().unwrap(),
            secret: secret.to_owned(),
            shared: Shared::default(),
            running: None,
        };
        receiver.serve(listener);
        receiver
    }

    /// The URL to give the webhook sink.
    pub fn url(&self) -> String {
        format!("http://{}/audit", self.addr)
    }

    /// Takes the receiver down: the port is closed until [`Self::restart`].
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Brings a stopped receiver back on the same port.
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "the receiver is running");
        let listener = bind(self.addr).await;
        self.serve(listener);
    }

    /// Makes every request wait `delay` before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    /// Every entry received so far, in arrival order.
    pub fn entries(&self) -> Vec<Value> {
        self.shared.received.lock().unwrap().items.clone()
    }

    /// The number of batches (requests) accepted so far.
    pub fn batches(&self) -> usize {
        self.shared.received.lock().unwrap().raw.len()
    }

    /// Every byte of every accepted request body, concatenated.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.shared.received.lock().unwrap().raw.concat()
    }

    fn serve(&mut self, listener: TcpListener) {
        async fn receive(
            State((shared, secret)): State<(Shared, Arc<str>)>,
            headers: HeaderMap,
            body: Bytes,
        ) -> StatusCode {
            let delay = shared.delay();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
            let signed = signature.is_some_and(|sig| {
                verify_signature(secret.as_bytes(), sig, &body, Duration::from_secs(300)).is_ok()
            });
            if !signed {
                return StatusCode::UNAUTHORIZED;
            }
            let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(&body) else {
                return StatusCode::BAD_REQUEST;
            };
            let mut received = shared.received.lock().unwrap();
            received.raw.push(body.to_vec());
            received.items.extend(entries);
            StatusCode::OK
        }
        let secret: Arc<str> = self.secret.as_str().into();
        let app = axum::Router::new()
            .route("/audit", axum::routing::post(receive))
            .with_state((self.shared.clone(), secret));
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        self.running = Some(Running { stop, task });
    }
}

/// An OTLP/gRPC logs collector (`LogsService/Export`). Its items are the
/// log records' `{"event": event_name, "id": audit.id attribute}`, in
/// arrival order; its raw bytes are the export requests re-encoded as
/// protobuf (what went over the wire, field for field).
#[derive(Debug)]
pub struct OtlpReceiver {
    addr: SocketAddr,
    shared: Shared,
    running: Option<Running>,
}

#[derive(Debug, Clone)]
struct Collector(Shared);

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let delay = self.0.delay();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let request = request.into_inner();
        let mut items = Vec::new();
        for resource in &request.resource_logs {
            for scope in &resource.scope_logs {
                for record in &scope.log_records {
                    let id = record.attributes.iter().find(|kv| kv.key == "audit.id");
                    let id = match id.and_then(|kv| kv.value.as_ref()?.value.as_ref()) {
                        Some(AnyValue::StringValue(id)) => id.clone(),
                        _ => String::new(),
                    };
                    items.push(serde_json::json!({"event": record.event_name, "id": id}));
                }
            }
        }
        let mut received = self.0.received.lock().unwrap();
        received.raw.push(request.encode_to_vec());
        received.items.extend(items);
        Ok(tonic::Response::new(ExportLogsServiceResponse { partial_success: None }))
    }
}

impl OtlpReceiver {
    /// Starts a collector on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let mut receiver =
            Self { addr: listener.local_addr().unwrap(), shared: Shared::default(), running: None };
        receiver.serve(listener);
        receiver
    }

    /// The endpoint to give the OTLP sink.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Takes the collector down: the port is closed until [`Self::restart`].
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Brings a stopped collector back on the same port.
    pub async fn restart(&mut self) {
        assert!(self.running.is_none(), "the collector is running");
        let listener = bind(self.addr).await;
        self.serve(listener);
    }

    /// Makes every export wait `delay` before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    /// `{"event", "id"}` of every log record received so far, in arrival
    /// order.
    pub fn entries(&self) -> Vec<Value> {
        self.shared.received.lock().unwrap().items.clone()
    }

    /// Every accepted export request, protobuf-encoded, concatenated.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.shared.received.lock().unwrap().raw.concat()
    }

    fn serve(&mut self, listener: TcpListener) {
        let (stop, stopped) = oneshot::channel();
        let server = tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(Collector(self.shared.clone())))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    let _ = stopped.await;
                },
            );
        let task = tokio::spawn(async move {
            let _ = server.await;
        });
        self.running = Some(Running { stop, task });
    }
}
