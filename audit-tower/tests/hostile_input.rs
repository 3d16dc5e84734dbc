//! Hostile requests through a real axum server on loopback, sent as raw
//! HTTP/1.1 bytes (a client library would normalise them): huge and non-UTF-8
//! header values, duplicate and malformed forwarding headers, `..` and
//! percent-encoded bytes in paths, bodies at and beyond the capture cap.
//! Every one is served and audited, or refused by the server, and never
//! panics; the entry records what was sent, lossily decoded where it was
//! not UTF-8.

mod common;

use std::net::SocketAddr;

use audit_core::{Body, OmitReason};
use audit_tower::{AuditLayer, Level, Policy, Rule};
use axum::Router;
use axum::routing::post;
use common::{Trail, http, request_path, serve_axum, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads the whole body (the capture sees what the handler reads).
async fn ok(_body: axum::body::Bytes) -> &'static str {
    "ok"
}

/// Sends one raw HTTP/1.1 POST and returns the response status.
async fn send(addr: SocketAddr, path: &[u8], headers: &[(&[u8], &[u8])], body: &[u8]) -> u16 {
    let mut req = Vec::new();
    req.extend_from_slice(b"POST ");
    req.extend_from_slice(path);
    req.extend_from_slice(b" HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n");
    for (k, v) in headers {
        req.extend_from_slice(k);
        req.extend_from_slice(b": ");
        req.extend_from_slice(v);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    req.extend_from_slice(body);
    within(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The server may answer (431) and close before reading everything.
        let _ = stream.write_all(&req).await;
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response).await;
        let text = String::from_utf8_lossy(&response);
        text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            panic!("no HTTP response: {text:?}");
        })
    })
    .await
}

fn app(layer: AuditLayer) -> Router {
    Router::new().route("/things/{id}", post(ok)).fallback(ok).layer(layer)
}

#[tokio::test]
async fn dot_segments_and_encoded_bytes_in_paths_are_recorded_as_sent() {
    let trail = Trail::new();
    let addr = serve_axum(app(AuditLayer::new(trail.auditor.clone()))).await;
    let paths: [&str; 6] = [
        "/things/../admin",
        "/things/%2e%2e/admin",
        "/things/%2E%2E%2Fadmin",
        "/things/%ff%fe",
        "/things/a%00b",
        "/./things/./x//y",
    ];
    for p in paths {
        assert_eq!(send(addr, p.as_bytes(), &[], b"").await, 200, "{p}");
    }
    let entries = trail.finish().await;
    assert_eq!(entries.len(), paths.len());
    for p in paths {
        // Neither normalised nor decoded: an investigator sees the request.
        let e = entries.iter().find(|e| request_path(e) == Some(p));
        assert!(e.is_some(), "no entry with path {p}: {entries:#?}");
    }
    // The route template is what axum matched, not derived from the path.
    let e = entries.iter().find(|e| request_path(e) == Some("/things/%ff%fe")).unwrap();
    assert_eq!(http(e).route.as_deref(), Some("/things/{id}"));
}

#[tokio::test]
async fn non_utf8_header_bytes_are_decoded_lossily_or_replaced() {
    let trail = Trail::new();
    let addr = serve_axum(app(AuditLayer::new(trail.auditor.clone()))).await;
    let status = send(
        addr,
        b"/things/1",
        &[
            (b"user-agent", b"caf\xe9 \xff\xfe"),
            (b"accept", b"text/\xc3\x28html"),
            (b"x-request-id", b"id-\xff"),
            (b"x-api-key", b"s\xe9cret"),
        ],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    let entries = trail.finish().await;
    let e = &entries[0];
    assert_eq!(e.source.user_agent.as_deref(), Some("caf\u{fffd} \u{fffd}\u{fffd}"));
    assert_eq!(http(e).headers.get("accept").map(String::as_str), Some("text/\u{fffd}(html"));
    // A request id that is not printable ASCII is replaced by a fresh one.
    let id = e.source.request_id.as_deref().unwrap();
    assert_eq!(id.len(), 36, "{id}");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    // A secret header stays redacted whatever its bytes.
    assert_eq!(http(e).headers.get("x-api-key").map(String::as_str), Some("[REDACTED]"));
    let line = serde_json::to_string(e).unwrap();
    assert!(!line.contains('\u{ff}'));
}

#[tokio::test]
async fn header_values_of_100_kb_are_recorded_and_larger_ones_refused_by_the_server() {
    let trail = Trail::new();
    let addr = serve_axum(app(AuditLayer::new(trail.auditor.clone()))).await;
    let big = vec![b'a'; 100 * 1024];
    let status = send(
        addr,
        b"/things/1",
        &[(b"user-agent", &big), (b"referer", &big), (b"x-other", &big)],
        b"",
    )
    .await;
    assert_eq!(status, 200);
    // Beyond hyper's header buffer (about 400 KiB): refused before any
    // service runs, so no entry and no unbounded buffer.
    let huge = vec![b'a'; 1024 * 1024];
    assert_eq!(send(addr, b"/things/2", &[(b"user-agent", &huge)], b"").await, 431);
    // The server is still serving.
    assert_eq!(send(addr, b"/things/3", &[], b"").await, 200);
    let entries = trail.finish().await;
    let paths: Vec<_> = entries.iter().map(|e| request_path(e).unwrap()).collect();
    assert_eq!(paths, ["/things/1", "/things/3"]);
    let e = &entries[0];
    // The layer caps no header value itself: the server's limit bounds them.
    assert_eq!(e.source.user_agent.as_ref().map(String::len), Some(big.len()));
    assert_eq!(http(e).headers.get("referer").map(String::len), Some(big.len()));
    // Headers outside the allow-list are not recorded at all.
    assert!(!http(e).headers.contains_key("x-other"));
}

/// The client IP recorded for a request from loopback with these headers.
async fn client_ip(trusted: bool, headers: &[(&[u8], &[u8])]) -> String {
    let trail = Trail::new();
    let mut layer = AuditLayer::new(trail.auditor.clone());
    if trusted {
        layer = layer.trusted_proxies(["127.0.0.0/8".parse().unwrap()]);
    }
    let addr = serve_axum(app(layer)).await;
    assert_eq!(send(addr, b"/things/1", headers, b"").await, 200);
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1);
    entries[0].source.ip.map(|ip| ip.to_string()).unwrap_or_default()
}

#[tokio::test]
async fn duplicate_forwarding_headers_are_read_as_one_list_right_to_left() {
    let dup: [(&[u8], &[u8]); 2] =
        [(b"x-forwarded-for", b"6.6.6.6"), (b"x-forwarded-for", b"198.51.100.4")];
    // Untrusted peer: ignored.
    assert_eq!(client_ip(false, &dup).await, "127.0.0.1");
    // Trusted loopback proxy: the last one is the hop it added.
    assert_eq!(client_ip(true, &dup).await, "198.51.100.4");
    // Two Forwarded headers: likewise.
    let fwd: [(&[u8], &[u8]); 2] =
        [(b"forwarded", b"for=6.6.6.6"), (b"forwarded", b"for=\"[2001:db8::7]:4711\"")];
    assert_eq!(client_ip(false, &fwd).await, "127.0.0.1");
    assert_eq!(client_ip(true, &fwd).await, "2001:db8::7");
}

#[tokio::test]
async fn malformed_forwarding_headers_fall_back_to_the_peer() {
    let garbage: [&[u8]; 9] = [
        b"for=\"[::1",
        b"for=unknown",
        b"for=_hidden",
        b";;;==,,\"",
        b"for=999.1.1.1",
        b"for=1.2.3.4:99999999999",
        b"for=caf\xe9",
        b"by=1.2.3.4",
        b"",
    ];
    for g in garbage {
        let headers: [(&[u8], &[u8]); 1] = [(b"forwarded", g)];
        for trusted in [false, true] {
            assert_eq!(
                client_ip(trusted, &headers).await,
                "127.0.0.1",
                "{:?} trusted={trusted}",
                String::from_utf8_lossy(g)
            );
        }
    }
    let xff: [&[u8]; 4] = [b",,,", b"not-an-ip", b"1.2.3.4\xff", b" , 300.1.1.1"];
    for g in xff {
        let headers: [(&[u8], &[u8]); 1] = [(b"x-forwarded-for", g)];
        assert_eq!(
            client_ip(true, &headers).await,
            "127.0.0.1",
            "{:?}",
            String::from_utf8_lossy(g)
        );
    }
    // A spoofed leftmost entry behind a garbage hop is never believed.
    let headers: [(&[u8], &[u8]); 1] = [(b"x-forwarded-for", b"1.2.3.4, garbage")];
    assert_eq!(client_ip(true, &headers).await, "127.0.0.1");
}

const CAP: usize = 64;

/// A JSON body of exactly `len` bytes.
fn json_of_len(len: usize) -> Vec<u8> {
    let mut body = b"{\"pad\":\"".to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(b"\"}");
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn a_body_at_the_cap_is_captured_and_one_byte_more_is_truncated() {
    let trail = Trail::new();
    let layer = AuditLayer::new(trail.auditor.clone())
        .policy(Policy::new().rule(Rule::new().level(Level::Request)))
        .max_body_bytes(CAP);
    let addr = serve_axum(app(layer)).await;
    let json: [(&[u8], &[u8]); 1] = [(b"content-type", b"application/json")];
    assert_eq!(send(addr, b"/things/at", &json, &json_of_len(CAP)).await, 200);
    assert_eq!(send(addr, b"/things/over", &json, &json_of_len(CAP + 1)).await, 200);
    // Streamed without a length, one byte over: truncated once it passes the cap.
    let streamed = {
        let body = json_of_len(CAP + 1);
        let mut raw = b"POST /things/streamed HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
            content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
        for chunk in body.chunks(7) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        raw
    };
    within(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(&streamed).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        assert!(response.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&response));
    })
    .await;
    // JSON nested beyond what a parser accepts: a marker, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(CAP / 2), "]".repeat(CAP / 2));
    assert_eq!(send(addr, b"/things/deep", &json, deep.as_bytes()).await, 200);

    let entries = trail.finish().await;
    let body_of = |p: &str| {
        let e = entries.iter().find(|e| request_path(e) == Some(p)).unwrap();
        http(e).body.clone()
    };
    let at = body_of("/things/at");
    assert!(matches!(at, Some(Body::Json(_))), "{at:?}");
    assert_eq!(
        body_of("/things/over"),
        Some(Body::omitted(OmitReason::Truncated, Some(CAP as u64 + 1)))
    );
    let streamed = body_of("/things/streamed");
    assert!(
        matches!(&streamed, Some(Body::Omitted(o)) if o.reason == OmitReason::Truncated),
        "{streamed:?}"
    );
    // 32 levels parse; redaction keeps them (under its 64-level limit).
    assert!(matches!(body_of("/things/deep"), Some(Body::Json(_))));
}

#[tokio::test]
async fn a_body_nested_beyond_the_parser_limit_is_an_invalid_json_marker() {
    let trail = Trail::new();
    let layer = AuditLayer::new(trail.auditor.clone())
        .policy(Policy::new().rule(Rule::new().level(Level::Request)))
        .max_body_bytes(1 << 20);
    let addr = serve_axum(app(layer)).await;
    let json: [(&[u8], &[u8]); 1] = [(b"content-type", b"application/json")];
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_eq!(send(addr, b"/things/deep", &json, deep.as_bytes()).await, 200);
    // 100 levels parse, and redaction cuts them at its depth limit.
    let mid = format!("{}{}", "[".repeat(100), "]".repeat(100));
    assert_eq!(send(addr, b"/things/mid", &json, mid.as_bytes()).await, 200);
    let not_utf8: &[u8] = b"{\"a\":\"\xff\"}";
    assert_eq!(send(addr, b"/things/bytes", &json, not_utf8).await, 200);
    let entries = trail.finish().await;
    let body_of = |p: &str| {
        let e = entries.iter().find(|e| request_path(e) == Some(p)).unwrap();
        http(e).body.clone()
    };
    assert_eq!(
        body_of("/things/deep"),
        Some(Body::omitted(OmitReason::InvalidJson, Some(deep.len() as u64)))
    );
    let Some(Body::Json(mid)) = body_of("/things/mid") else { panic!("kept") };
    assert!(mid.to_string().contains(audit_core::redact::REDACTED_TOO_DEEP));
    assert_eq!(
        body_of("/things/bytes"),
        Some(Body::omitted(OmitReason::InvalidUtf8, Some(not_utf8.len() as u64)))
    );
}
