//! End-to-end tests that cross crates: real servers on loopback, real
//! Postgres, a real OTLP receiver. The tests live in `tests/tests/`; this
//! library holds what they share: starting the example SaaS API in-process
//! ([`Api`]), reading back what the file sink wrote ([`read_log`]), and
//! reading every byte under a directory ([`every_file`]), and real
//! receivers for the network sinks ([`receivers`]). A fresh Postgres
//! database per test is `audit_testkit::pg::FreshDb`.

pub mod receivers;

use std::io::Read as _;
use std::path::{Path, PathBuf};

use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::{AuditEvent, Body, Request};
use audit_sinks::file::FileStore;
use examples::saas::{Config, RunningServer, serve};
use futures::TryStreamExt as _;
use reqwest::{Method, RequestBuilder};
use serde_json::Value;
use tempfile::TempDir;

/// The example SaaS API, running in this process on 127.0.0.1 with a file
/// sink in a temporary directory, and an HTTP client for it.
#[derive(Debug)]
pub struct Api {
    /// The running server.
    pub server: RunningServer,
    /// A client without proxies.
    pub client: reqwest::Client,
    /// Holds `audit/` (the file sink) and anything else a test puts there.
    pub dir: TempDir,
}

impl Api {
    /// Starts the API (HTTP and gRPC) with the default configuration.
    pub async fn start() -> Self {
        Self::start_with(|c| c).await
    }

    /// Starts the API with a configuration changed by `configure` (given
    /// one with the file sink in `<tempdir>/audit` and gRPC on).
    pub async fn start_with(configure: impl FnOnce(Config) -> Config) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = configure(Config::new(dir.path().join("audit")).with_grpc());
        let server = serve(config).await.expect("the API starts");
        let client = reqwest::Client::builder().no_proxy().build().expect("client");
        Self { server, client, dir }
    }

    /// The file sink's directory.
    pub fn audit_dir(&self) -> PathBuf {
        self.dir.path().join("audit")
    }

    /// A request to `path`, authenticated with `token` as a bearer token
    /// when given.
    pub fn request(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let request = self.client.request(method, format!("{}{path}", self.server.url()));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Sends a request with an optional JSON body; returns the status and
    /// the JSON answer (`Null` when there is none).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.request(method, path, token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request is answered");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Shuts the server and its auditor down (every entry flushed) and
    /// returns the entries of the log without the chain's own `audit.*`
    /// entries, with the directory (kept alive for more checks).
    pub async fn finish(self) -> (Vec<AuditEvent>, TempDir) {
        self.server.shutdown().await.expect("clean shutdown");
        let entries = read_log(&self.dir.path().join("audit")).await;
        (without_chain_entries(entries), self.dir)
    }
}

/// Every entry of a file sink's directory, in write order.
pub async fn read_log(dir: &Path) -> Vec<AuditEvent> {
    let store = FileStore::open(dir).expect("a log directory");
    store.scan(&Query::new()).try_collect().await.expect("a readable log")
}

/// The entries without the chain's genesis, checkpoint and retention entries.
pub fn without_chain_entries(entries: Vec<AuditEvent>) -> Vec<AuditEvent> {
    entries.into_iter().filter(|e| !e.event.starts_with("audit.")).collect()
}

/// Every file under `dir` (recursively) and its bytes; `.gz` files are
/// decompressed.
pub fn every_file(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let raw = std::fs::read(&path).expect("readable file");
            let bytes = if path.extension().is_some_and(|e| e == "gz") {
                let mut plain = Vec::new();
                flate2::read::MultiGzDecoder::new(raw.as_slice())
                    .read_to_end(&mut plain)
                    .expect("valid gzip");
                plain
            } else {
                raw
            };
            files.push((path, bytes));
        }
    }
    files
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// An entry's captured HTTP request (or gRPC call) as JSON.
pub fn request_json(e: &AuditEvent) -> Value {
    serde_json::to_value(&e.request).expect("serializable")
}

/// An entry's captured request body (or gRPC message).
pub fn request_body(e: &AuditEvent) -> Value {
    match &e.request {
        Some(Request::Http(h)) => h.body.as_ref().and_then(Body::as_json).cloned(),
        Some(Request::Grpc(g)) => g.message.as_ref().and_then(Body::as_json).cloned(),
        _ => None,
    }
    .unwrap_or(Value::Null)
}

/// An entry's captured response body.
pub fn response_body(e: &AuditEvent) -> Value {
    e.response
        .as_ref()
        .and_then(|r| r.body.as_ref())
        .and_then(Body::as_json)
        .cloned()
        .unwrap_or(Value::Null)
}

/// An entry's HTTP status.
pub fn status(e: &AuditEvent) -> Option<u16> {
    e.response.as_ref().and_then(|r| r.status)
}
