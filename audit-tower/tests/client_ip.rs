//! The client IP through a real server: the socket peer, and forwarding
//! headers only from trusted proxies, read right to left.

mod common;

use audit_tower::{AuditLayer, ForwardedHeader};
use axum::Router;
use axum::routing::post;
use common::{Trail, client, serve_axum, within};

async fn ok() -> &'static str {
    "ok"
}

async fn client_ip_of(
    layer: impl FnOnce(AuditLayer) -> AuditLayer,
    headers: &[(&str, &str)],
) -> Option<String> {
    let trail = Trail::new();
    let app = Router::new()
        .route("/things", post(ok))
        .layer(layer(AuditLayer::new(trail.auditor.clone())));
    let addr = serve_axum(app).await;
    let mut req = client().post(format!("http://{addr}/things"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    assert_eq!(within(req.send()).await.unwrap().status(), 200);
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1);
    entries[0].source.ip.map(|ip| ip.to_string())
}

#[tokio::test]
async fn the_peer_without_trusted_proxies() {
    assert_eq!(client_ip_of(|l| l, &[]).await.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn spoofed_headers_are_ignored_without_trusted_proxies() {
    let spoofed = [
        ("x-forwarded-for", "203.0.113.9"),
        ("forwarded", "for=203.0.113.10"),
        ("x-real-ip", "203.0.113.11"),
    ];
    assert_eq!(client_ip_of(|l| l, &spoofed).await.as_deref(), Some("127.0.0.1"));
    // Trusting someone else does not make the loopback peer a proxy either.
    let other = |l: AuditLayer| l.trusted_proxies(["10.0.0.0/8".parse().unwrap()]);
    assert_eq!(client_ip_of(other, &spoofed).await.as_deref(), Some("127.0.0.1"));
}

#[tokio::test]
async fn x_forwarded_for_is_read_right_to_left_past_trusted_hops() {
    let trusted = |l: AuditLayer| {
        l.trusted_proxies(["127.0.0.0/8".parse().unwrap(), "10.0.0.0/8".parse().unwrap()])
    };
    // The client forged the leftmost entry; 198.51.100.4 reached the first proxy.
    let chain = [("x-forwarded-for", "1.2.3.4, 198.51.100.4, 10.0.0.3")];
    assert_eq!(client_ip_of(trusted, &chain).await.as_deref(), Some("198.51.100.4"));
}

#[tokio::test]
async fn forwarded_and_x_real_ip_from_a_trusted_proxy() {
    let trusted = |l: AuditLayer| l.trusted_proxies(["127.0.0.1/32".parse().unwrap()]);
    let fwd = [("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#)];
    assert_eq!(client_ip_of(trusted, &fwd).await.as_deref(), Some("2001:db8:cafe::17"));
    let real = [("x-real-ip", "192.0.2.44")];
    assert_eq!(client_ip_of(trusted, &real).await.as_deref(), Some("192.0.2.44"));
    // Only the header the proxy sets is believed.
    let only_xff = |l: AuditLayer| {
        l.trusted_proxies(["127.0.0.1/32".parse().unwrap()])
            .forwarded_headers([ForwardedHeader::XForwardedFor])
    };
    let both = [("forwarded", "for=6.6.6.6"), ("x-forwarded-for", "192.0.2.45")];
    assert_eq!(client_ip_of(only_xff, &both).await.as_deref(), Some("192.0.2.45"));
    // Garbage falls back to the peer.
    let garbage = [("x-forwarded-for", "definitely-not-an-ip")];
    assert_eq!(client_ip_of(trusted, &garbage).await.as_deref(), Some("127.0.0.1"));
}
