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

/// Starts a server on a listener, sharing `Shared` with its handlers.
type Serve = Box<dyn Fn(TcpListener, Shared) -> Running + Send + Sync>;

/// What both receivers share: an address that survives restarts, what was
/// received, and the running server.
struct Endpoint {
    addr: SocketAddr,
    shared: Shared,
    running: Option<Running>,
    serve: Serve,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Endpoint {
    async fn start(serve: Serve) -> Self {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await;
        let addr = listener.local_addr().unwrap();
        let shared = Shared::default();
        let running = Some(serve(listener, shared.clone()));
        Self { addr, shared, running, serve }
    }

    async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    async fn restart(&mut self) {
        assert!(self.running.is_none(), "the receiver is running");
        let listener = bind(self.addr).await;
        self.running = Some((self.serve)(listener, self.shared.clone()));
    }

    fn set_delay(&self, delay: Duration) {
        self.shared.behaviour.lock().unwrap().delay = delay;
    }

    fn entries(&self) -> Vec<Value> {
        self.shared.received.lock().unwrap().items.clone()
    }

    fn raw_bytes(&self) -> Vec<u8> {
        self.shared.received.lock().unwrap().raw.concat()
    }
}

/// Runs `server` until `stop` is sent.
fn spawn_until_stopped(server: impl FnOnce(oneshot::Receiver<()>) -> JoinHandle<()>) -> Running {
    let (stop, stopped) = oneshot::channel();
    Running { stop, task: server(stopped) }
}

/// A webhook endpoint at `POST /audit` that checks the
/// `X-Audit-Signature` of every batch with its secret (401 when it does not
/// verify) and keeps each accepted batch. Its items are the batches' entries
/// (JSON objects), in arrival order.
#[derive(Debug)]
pub struct WebhookReceiver(Endpoint);

impl WebhookReceiver {
    /// Starts a receiver on a free port of 127.0.0.1.
    pub async fn start(secret: &str) -> Self {
        let secret: Arc<str> = secret.into();
        Self(
            Endpoint::start(Box::new(move |listener, shared| {
                serve_webhook(listener, shared, secret.clone())
            }))
            .await,
        )
    }

    /// The URL to give the webhook sink.
    pub fn url(&self) -> String {
        format!("http://{}/audit", self.0.addr)
    }

    /// Takes the receiver down: the port is closed until [`Self::restart`].
    pub async fn stop(&mut self) {
        self.0.stop().await;
    }

    /// Brings a stopped receiver back on the same port.
    pub async fn restart(&mut self) {
        self.0.restart().await;
    }

    /// Makes every request wait `delay` before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.0.set_delay(delay);
    }

    /// Every entry received so far, in arrival order.
    pub fn entries(&self) -> Vec<Value> {
        self.0.entries()
    }

    /// The number of batches (requests) accepted so far.
    pub fn batches(&self) -> usize {
        self.0.shared.received.lock().unwrap().raw.len()
    }

    /// Every byte of every accepted request body, concatenated.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.0.raw_bytes()
    }
}

fn serve_webhook(listener: TcpListener, shared: Shared, secret: Arc<str>) -> Running {
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
    let app = axum::Router::new()
        .route("/audit", axum::routing::post(receive))
        .with_state((shared, secret));
    spawn_until_stopped(|stopped| {
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        })
    })
}

/// An OTLP/gRPC logs collector (`LogsService/Export`). Its items are the
/// log records' `{"event": event_name, "id": audit.id attribute}`, in
/// arrival order; its raw bytes are the export requests re-encoded as
/// protobuf (what went over the wire, field for field).
#[derive(Debug)]
pub struct OtlpReceiver(Endpoint);

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
        Self(Endpoint::start(Box::new(serve_otlp)).await)
    }

    /// The endpoint to give the OTLP sink.
    pub fn url(&self) -> String {
        format!("http://{}", self.0.addr)
    }

    /// Takes the collector down: the port is closed until [`Self::restart`].
    pub async fn stop(&mut self) {
        self.0.stop().await;
    }

    /// Brings a stopped collector back on the same port.
    pub async fn restart(&mut self) {
        self.0.restart().await;
    }

    /// Makes every export wait `delay` before it is answered.
    pub fn set_delay(&self, delay: Duration) {
        self.0.set_delay(delay);
    }

    /// `{"event", "id"}` of every log record received so far, in arrival
    /// order.
    pub fn entries(&self) -> Vec<Value> {
        self.0.entries()
    }

    /// Every accepted export request, protobuf-encoded, concatenated.
    pub fn raw_bytes(&self) -> Vec<u8> {
        self.0.raw_bytes()
    }
}

fn serve_otlp(listener: TcpListener, shared: Shared) -> Running {
    spawn_until_stopped(|stopped| {
        let server = tonic::transport::Server::builder()
            .add_service(LogsServiceServer::new(Collector(shared)))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                async move {
                    let _ = stopped.await;
                },
            );
        tokio::spawn(async move {
            let _ = server.await;
        })
    })
}
