//! The webhook sink against a real axum receiver on 127.0.0.1:0.
#![cfg(feature = "webhook")]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::{AuditEvent, Auditor, Resource, RetryPolicy, Sink};
use audit_sinks::webhook::{SignatureError, WebhookSink, verify_signature};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use tokio::net::TcpListener;

const SECRET: &[u8] = b"whsec_0123456789abcdef";

#[derive(Clone, Copy)]
enum Mode {
    /// Answer 503 this many times, then 200.
    FailFirst(u32),
    /// Always 400.
    Reject,
    /// Answer after this long.
    Delay(Duration),
}

/// One request as the receiver saw it.
struct Received {
    headers: HeaderMap,
    body: Bytes,
    signature: Result<(), SignatureError>,
}

#[derive(Default)]
struct Receiver {
    accepted: Mutex<Vec<Received>>,
    calls: AtomicU32,
    refused: AtomicU32,
}

impl Receiver {
    fn ids(&self) -> Vec<String> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| serde_json::from_slice::<Vec<AuditEvent>>(&r.body).unwrap())
            .map(|e| e.id.to_string())
            .collect()
    }
}

async fn receiver(mode: Mode) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver::default());
    let seen = state.clone();
    let handler = move |headers: HeaderMap, body: Bytes| {
        let seen = seen.clone();
        async move {
            if let Mode::Delay(d) = mode {
                tokio::time::sleep(d).await;
            }
            let n = seen.calls.fetch_add(1, Ordering::SeqCst);
            let refuse = match mode {
                Mode::FailFirst(k) => (n < k).then_some(StatusCode::SERVICE_UNAVAILABLE),
                Mode::Reject => Some(StatusCode::BAD_REQUEST),
                Mode::Delay(_) => None,
            };
            if let Some(status) = refuse {
                seen.refused.fetch_add(1, Ordering::SeqCst);
                return (status, "no thanks");
            }
            let signature = headers
                .get("x-audit-signature")
                .and_then(|v| v.to_str().ok())
                .map_or(Err(SignatureError::Malformed("missing")), |h| {
                    verify_signature(SECRET, h, &body, Duration::from_secs(300))
                });
            seen.accepted.lock().unwrap().push(Received { headers, body, signature });
            (StatusCode::OK, "ok")
        }
    };
    let app = axum::Router::new().route("/hooks/audit", axum::routing::post(handler));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hooks/audit"), state)
}

fn fast_retries() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(50))
}

async fn record_n(auditor: &Auditor, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 0..n {
        let e = AuditEvent::builder("project.update")
            .resource(Resource::new("project", format!("p_{i}")))
            .description(format!("line one\nline two of {i}"));
        ids.push(auditor.record(e).await.unwrap().id.to_string());
    }
    ids
}

#[tokio::test]
async fn batches_are_signed_json_arrays_with_the_configured_headers() {
    let (url, receiver) = receiver(Mode::FailFirst(0)).await;
    let sink = WebhookSink::builder(url, SECRET)
        .header("Authorization", "Splunk hec-token-1")
        .build()
        .unwrap();
    assert!(!format!("{sink:?}").contains("hec-token-1"));
    let auditor = Auditor::builder().retry_policy(fast_retries()).sink(sink).build().unwrap();
    let ids = record_n(&auditor, 5).await;
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();

    let accepted = receiver.accepted.lock().unwrap();
    assert!(!accepted.is_empty());
    for r in accepted.iter() {
        assert_eq!(r.signature, Ok(()), "the signature verifies");
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["authorization"], "Splunk hec-token-1");
        let entries: Vec<AuditEvent> = serde_json::from_slice(&r.body).unwrap();
        let key = r.headers["idempotency-key"].to_str().unwrap();
        assert_eq!(key, format!("{}:{}", entries[0].id, entries.len()));
        // A tampered body or another secret does not verify.
        let header = r.headers["x-audit-signature"].to_str().unwrap();
        let mut tampered = r.body.to_vec();
        tampered[1] ^= 1;
        let tol = Duration::from_secs(300);
        assert_eq!(verify_signature(SECRET, header, &tampered, tol), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"other", header, &r.body, tol), Err(SignatureError::Mismatch));
    }
    drop(accepted);
    let received: HashSet<String> = receiver.ids().into_iter().collect();
    assert!(ids.iter().all(|id| received.contains(id)));
    let stats = auditor.stats();
    assert_eq!(stats.sinks[0].written, stats.recorded, "{stats:?}");
}

#[tokio::test]
async fn a_receiver_that_fails_three_times_then_recovers_gets_every_entry() {
    let (url, receiver) = receiver(Mode::FailFirst(3)).await;
    let sink = WebhookSink::builder(url, SECRET).build().unwrap();
    let auditor = Auditor::builder().retry_policy(fast_retries()).sink(sink).build().unwrap();
    let ids = record_n(&auditor, 20).await;
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();

    let stats = auditor.stats();
    assert_eq!(receiver.refused.load(Ordering::SeqCst), 3);
    assert_eq!(stats.sinks[0].retried, 3, "{stats:?}");
    assert_eq!(stats.sinks[0].failed, 0, "{stats:?}");
    assert_eq!(stats.sinks[0].written, stats.recorded, "{stats:?}");
    let received = receiver.ids();
    let unique: HashSet<&String> = received.iter().collect();
    assert_eq!(unique.len(), received.len(), "nothing twice");
    assert_eq!(received.len() as u64, stats.recorded);
    assert!(ids.iter().all(|id| unique.contains(id)), "every entry arrived");
}

#[tokio::test]
async fn a_400_is_not_retried_and_the_batch_is_dead_lettered() {
    let (url, receiver) = receiver(Mode::Reject).await;
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::builder(url, SECRET).build().unwrap();
    let auditor = Auditor::builder()
        .retry_policy(fast_retries())
        .spool_dir(dir.path())
        .sink(sink)
        .build()
        .unwrap();
    record_n(&auditor, 5).await;
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();

    let stats = auditor.stats();
    assert_eq!(stats.sinks[0].failed, stats.recorded, "{stats:?}");
    assert_eq!(stats.sinks[0].retried, 0, "{stats:?}");
    assert_eq!(stats.sinks[0].written, 0, "{stats:?}");
    let dead = std::fs::read_to_string(dir.path().join("dead-letter/webhook.jsonl")).unwrap();
    assert_eq!(dead.lines().count() as u64, stats.recorded);
    // Each batch was sent once: no more requests than entries.
    assert!(u64::from(receiver.calls.load(Ordering::SeqCst)) <= stats.recorded);
}

#[tokio::test]
async fn errors_say_what_happened_and_whether_to_retry() {
    let batch = [AuditEvent::builder("a.update").build()];
    let (url, _) = receiver(Mode::Reject).await;
    let err = WebhookSink::builder(url, SECRET)
        .build()
        .unwrap()
        .write(audit_core::Batch::new(&batch))
        .await
        .unwrap_err();
    assert!(!err.is_retryable());
    let msg = err.to_string();
    assert!(msg.contains("400") && msg.contains("no thanks"), "{msg}");

    let (url, _) = receiver(Mode::FailFirst(1)).await;
    let err = WebhookSink::builder(url, SECRET)
        .build()
        .unwrap()
        .write(audit_core::Batch::new(&batch))
        .await
        .unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("503"), "{err}");

    let (url, _) = receiver(Mode::Delay(Duration::from_secs(5))).await;
    let sink =
        WebhookSink::builder(url, SECRET).timeout(Duration::from_millis(200)).build().unwrap();
    let err = sink.write(audit_core::Batch::new(&batch)).await.unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("timed out"), "{err}");

    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{addr}/secret-token-path");
    let err = WebhookSink::builder(url, SECRET)
        .build()
        .unwrap()
        .write(audit_core::Batch::new(&batch))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(!err.to_string().contains("secret-token-path"), "the URL is not in messages: {err}");
}
