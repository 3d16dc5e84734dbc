//! Body capture through the real `AuditLayer`: arbitrary request bytes, in
//! arbitrary chunks, with an arbitrary content type and cap. The handler
//! always gets every byte; the captured body is either redacted JSON within
//! the cap or an omitted-body marker; nothing panics.
#![no_main]

use std::convert::Infallible;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use audit_core::redact::{HMAC_PREFIX, REDACTED, TOO_DEEP};
use audit_core::{AuditEvent, Auditor, Body, Request, Sink, SinkError};
use audit_tower::{AuditLayer, Level, Policy, RequestBody, Rule};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tower::{Layer, ServiceExt};

/// Entries checked so far (a smoke signal that entries do arrive).
pub static CHECKED: AtomicU64 = AtomicU64::new(0);

/// Checks every captured body and keeps nothing.
#[derive(Debug)]
struct CheckingSink;

/// The largest cap this target sets.
const MAX_CAP: usize = 255 * 4;

fn check_json(root: &Value, max_depth: usize) {
    // Redaction may grow a value (`1` -> `"[REDACTED]"`, `[]` ->
    // `"[REDACTED: too deep]"`), at most about elevenfold.
    assert!(root.to_string().len() <= MAX_CAP * 12 + 64, "a captured body larger than the cap");
    let redactor = audit_core::Redactor::default();
    let mut stack = vec![(root, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Object(map) => {
                assert!(depth < max_depth);
                for (k, child) in map {
                    if redactor.is_sensitive_key(k) {
                        assert!(
                            matches!(child, Value::String(s) if s == REDACTED || s == TOO_DEEP || s.starts_with(HMAC_PREFIX)),
                            "{k:?} kept {child:?}"
                        );
                    } else {
                        stack.push((child, depth + 1));
                    }
                }
            }
            Value::Array(items) => {
                assert!(depth < max_depth);
                stack.extend(items.iter().map(|c| (c, depth + 1)));
            }
            _ => {}
        }
    }
}

#[async_trait]
impl Sink for CheckingSink {
    fn name(&self) -> &str {
        "checking"
    }
    async fn write_batch(&self, batch: &[AuditEvent]) -> Result<(), SinkError> {
        for e in batch {
            let bodies = [
                match &e.request {
                    Some(Request::Http(h)) => h.body.as_ref(),
                    _ => None,
                },
                e.response.as_ref().and_then(|r| r.body.as_ref()),
            ];
            for body in bodies.into_iter().flatten() {
                if let Body::Json(v) = body {
                    check_json(v, audit_core::redact::DEFAULT_MAX_DEPTH);
                }
            }
            CHECKED.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    auditor: Auditor,
}

static HARNESS: LazyLock<Harness> = LazyLock::new(|| {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let auditor = runtime.block_on(async {
        Auditor::builder().service("fuzz", "0").sink(CheckingSink).build().unwrap()
    });
    Harness { runtime, auditor }
});

const CONTENT_TYPES: [Option<&str>; 6] = [
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    Some("application/octet-stream"),
    None,
];

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let content_type = CONTENT_TYPES[data[0] as usize % CONTENT_TYPES.len()];
    let cap = data[1] as usize * 4;
    let chunk = (data[2] as usize).max(1);
    let body = data[3..].to_vec();
    let h = &*HARNESS;
    let layer = AuditLayer::new(h.auditor.clone())
        .policy(Policy::new().rule(Rule::new().level(Level::RequestResponse)))
        .max_body_bytes(cap);
    let content_type_copy = content_type;
    let handler = tower::service_fn(move |req: http::Request<RequestBody<_>>| async move {
        let bytes = req.into_body().collect().await.map(|c| c.to_bytes()).unwrap_or_default();
        let mut res = http::Response::new(http_body_util::Full::new(bytes));
        if let Some(ct) = content_type_copy {
            res.headers_mut().insert("content-type", ct.parse().unwrap());
        }
        Ok::<_, Infallible>(res)
    });
    let service = layer.layer(handler);
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> =
        body.chunks(chunk).map(|c| Ok(http_body::Frame::data(Bytes::copy_from_slice(c)))).collect();
    let mut req = http::Request::builder().method("POST").uri("/things/1?token=secret&cap=1");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let req = req.body(StreamBody::new(futures::stream::iter(chunks))).unwrap();
    h.runtime.block_on(async {
        let res = service.oneshot(req).await.unwrap();
        let echoed = res.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&echoed[..], &body[..], "the handler got every byte, unchanged");
        // Let the workers drain.
        tokio::task::yield_now().await;
    });
});
