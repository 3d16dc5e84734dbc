//! Shared test helpers: an auditor over a memory sink, real servers on
//! loopback, and bounded waits for entries.
#![allow(dead_code, unreachable_pub, missing_docs)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use audit_core::testing::MemorySink;
use audit_core::{AuditEvent, Auditor, Delivery};

/// An auditor writing to a memory sink.
pub struct Trail {
    pub auditor: Auditor,
    pub sink: MemorySink,
}

impl Trail {
    pub fn new() -> Self {
        Self::with_delivery(Delivery::Buffered)
    }

    pub fn with_delivery(delivery: Delivery) -> Self {
        let sink = MemorySink::new();
        let auditor = Auditor::builder()
            .service("audit-tower-tests", "0.0.0")
            .sink(sink.clone())
            .delivery(delivery)
            .strict_timeout(Duration::from_secs(2))
            .retry_policy(audit_core::RetryPolicy::new(
                Duration::from_millis(5),
                Duration::from_millis(20),
            ))
            .build()
            .expect("auditor");
        Self { auditor, sink }
    }

    /// Waits until the chain's genesis entry is written, so that a sink
    /// switched off afterwards fails on application entries only.
    pub async fn written_genesis(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.sink.is_empty() {
            assert!(Instant::now() < deadline, "the genesis entry was never written");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The application entries so far (no genesis, no checkpoints).
    pub fn entries(&self) -> Vec<AuditEvent> {
        self.sink.entries().into_iter().filter(|e| !e.event.starts_with("audit.")).collect()
    }

    /// Flushes the pipeline and returns every application entry.
    pub async fn finish(&self) -> Vec<AuditEvent> {
        self.auditor.shutdown(Duration::from_secs(5)).await.expect("shutdown flushes");
        self.entries()
    }

    /// Waits (bounded) until `n` application entries have been written.
    pub async fn wait_for(&self, n: usize) -> Vec<AuditEvent> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let entries = self.entries();
            if entries.len() >= n {
                return entries;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {n} entries; have {entries:#?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Serves an axum router on 127.0.0.1 with the peer address as connect info.
pub async fn serve_axum(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .expect("server");
    });
    addr
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

/// The one entry whose request path is `path`.
pub fn entry_for<'a>(entries: &'a [AuditEvent], path: &str) -> &'a AuditEvent {
    let found: Vec<&AuditEvent> =
        entries.iter().filter(|e| request_path(e) == Some(path)).collect();
    assert_eq!(found.len(), 1, "expected exactly one entry for {path}, got {entries:#?}");
    found[0]
}

pub fn request_path(e: &AuditEvent) -> Option<&str> {
    match e.request.as_ref()? {
        audit_core::Request::Http(h) => Some(h.path.as_str()),
        _ => None,
    }
}

pub fn http(e: &AuditEvent) -> &audit_core::HttpRequest {
    match e.request.as_ref().expect("request") {
        audit_core::Request::Http(h) => h,
        other => panic!("not HTTP: {other:?}"),
    }
}

/// Runs a future with a time limit, so a hang fails the test instead.
pub async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f).await.expect("timed out")
}
