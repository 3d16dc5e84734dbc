//! Body capture: capped, streamed through untouched, markers for what cannot
//! be kept, redaction applied.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use audit_core::{Body, OmitReason};
use audit_tower::{AuditLayer, Level, Policy, Rule};
use axum::Router;
use axum::routing::post;
use common::{Trail, client, entry_for, http, serve_axum, within};
use futures::StreamExt;
use serde_json::json;

fn request_level() -> Policy {
    Policy::new().rule(Rule::new().level(Level::RequestResponse))
}

async fn echo(body: axum::body::Bytes) -> axum::body::Bytes {
    body
}

#[tokio::test]
async fn a_10_mib_streamed_body_passes_through_with_a_truncated_capture() {
    const TOTAL: usize = 10 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let received = Arc::new(AtomicUsize::new(0));
    let seen = received.clone();
    let count = move |body: axum::body::Body| {
        let seen = seen.clone();
        async move {
            let mut stream = body.into_data_stream();
            while let Some(chunk) = stream.next().await {
                seen.fetch_add(chunk.unwrap().len(), Ordering::SeqCst);
            }
            "done"
        }
    };
    let trail = Trail::new();
    let app = Router::new()
        .route("/upload", post(count))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(AuditLayer::new(trail.auditor.clone()).policy(request_level()));
    let addr = serve_axum(app).await;

    // Streamed (chunked, no content-length), and valid JSON all the way.
    let chunks = futures::stream::iter((0..TOTAL / CHUNK).map(|i| {
        let mut chunk = vec![b' '; CHUNK];
        if i == 0 {
            chunk[0] = b'[';
        }
        if i == TOTAL / CHUNK - 1 {
            chunk[CHUNK - 1] = b']';
        }
        Ok::<_, std::io::Error>(chunk)
    }));
    let res = within(
        client()
            .post(format!("http://{addr}/upload"))
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(chunks))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(received.load(Ordering::SeqCst), TOTAL, "the handler got every byte");

    let entries = trail.finish().await;
    assert_eq!(
        http(&entries[0]).body,
        Some(Body::omitted(OmitReason::Truncated, Some(TOTAL as u64))),
        "the capture stops at the cap and keeps only the size"
    );
}

#[tokio::test]
async fn large_bodies_with_a_length_are_marked_without_copying_and_large_responses_too() {
    let trail = Trail::new();
    let big_json = || async { axum::Json((0..2000).collect::<Vec<u32>>()) };
    let app = Router::new()
        .route("/echo", post(echo))
        .route("/json", post(big_json))
        .layer(AuditLayer::new(trail.auditor.clone()).policy(request_level()).max_body_bytes(1024));
    let addr = serve_axum(app).await;
    let big = format!("[{}1]", "1,".repeat(1000));
    let res = within(
        client()
            .post(format!("http://{addr}/echo"))
            .header("content-type", "application/json")
            .body(big.clone())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.text().await.unwrap(), big, "the response passes through whole");
    let json = within(client().post(format!("http://{addr}/json")).send()).await.unwrap();
    let json_len = json.bytes().await.unwrap().len() as u64;
    let entries = trail.finish().await;
    let echo = entry_for(&entries, "/echo");
    let size = Some(big.len() as u64);
    assert_eq!(http(echo).body, Some(Body::omitted(OmitReason::Truncated, size)));
    // The echoed response has no JSON content type: not captured.
    assert_eq!(
        echo.response.as_ref().unwrap().body,
        Some(Body::omitted(OmitReason::UnsupportedContentType, size))
    );
    assert_eq!(
        entry_for(&entries, "/json").response.as_ref().unwrap().body,
        Some(Body::omitted(OmitReason::Truncated, Some(json_len)))
    );
}

#[tokio::test]
async fn malformed_json_non_utf8_forms_and_other_types() {
    let trail = Trail::new();
    let app = Router::new()
        .route("/{case}", post(echo))
        .layer(AuditLayer::new(trail.auditor.clone()).policy(request_level()));
    let addr = serve_axum(app).await;
    let c = client();
    let cases: [(&str, &str, Vec<u8>); 6] = [
        ("/malformed", "application/json", b"{\"a\": ".to_vec()),
        ("/latin1", "application/json; charset=utf-8", b"{\"name\": \"caf\xe9\"}".to_vec()),
        (
            "/form",
            "application/x-www-form-urlencoded",
            b"name=Apollo+11&password=hunter2&tag=a&tag=b".to_vec(),
        ),
        ("/merge", "application/merge-patch+json", br#"{"client_secret":"x","n":1}"#.to_vec()),
        ("/binary", "application/octet-stream", vec![0, 159, 146, 150]),
        ("/none", "application/json", Vec::new()),
    ];
    for (path, ct, body) in cases {
        let res = within(
            c.post(format!("http://{addr}{path}")).header("content-type", ct).body(body).send(),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
    let entries = trail.finish().await;
    let body = |path: &str| http(entry_for(&entries, path)).body.clone();
    assert_eq!(body("/malformed"), Some(Body::omitted(OmitReason::InvalidJson, Some(6))));
    assert_eq!(body("/latin1"), Some(Body::omitted(OmitReason::InvalidUtf8, Some(16))));
    assert_eq!(
        body("/form"),
        Some(Body::Json(json!({"name": "Apollo 11", "password": "[REDACTED]", "tag": ["a", "b"]})))
    );
    assert_eq!(body("/merge"), Some(Body::Json(json!({"client_secret": "[REDACTED]", "n": 1}))));
    assert_eq!(body("/binary"), Some(Body::omitted(OmitReason::UnsupportedContentType, Some(4))));
    assert_eq!(body("/none"), None);
}

#[tokio::test]
async fn a_handler_that_stops_reading_early() {
    async fn reject(_: axum::body::Body) -> http::StatusCode {
        http::StatusCode::UNPROCESSABLE_ENTITY
    }
    let trail = Trail::new();
    let app = Router::new()
        .route("/reject", post(reject))
        .layer(AuditLayer::new(trail.auditor.clone()).policy(request_level()));
    let addr = serve_axum(app).await;
    let res = within(
        client()
            .post(format!("http://{addr}/reject"))
            .header("content-type", "application/json")
            .body(r#"{"never":"read"}"#)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 422);
    let entries = trail.finish().await;
    // Unread: nothing captured, nothing invented.
    assert_eq!(http(&entries[0]).body, None);
}
