//! Outcomes: status classes, the handler's explicit outcome, the inner
//! service's error, a panic, and a client that goes away.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use audit_core::{AuditScope, Outcome};
use audit_tower::{AuditLayer, ResponseInfo};
use axum::Router;
use axum::routing::post;
use common::{Trail, client, entry_for, serve_axum, within};
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn status_classes() {
    let trail = Trail::new();
    let app = Router::new()
        .route(
            "/status/{code}",
            post(|axum::extract::Path(code): axum::extract::Path<u16>| async move {
                StatusCode::from_u16(code).unwrap()
            }),
        )
        .layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;
    let c = client();
    for code in [200, 201, 302, 400, 401, 403, 404, 409, 500, 503] {
        within(c.post(format!("http://{addr}/status/{code}")).send()).await.unwrap();
    }
    // No route at all: the fallback's 404 is audited too (raw path, no template).
    let res = within(c.post(format!("http://{addr}/nowhere")).send()).await.unwrap();
    assert_eq!(res.status(), 404);

    let entries = trail.finish().await;
    assert_eq!(entries.len(), 11);
    let outcome = |path: &str| {
        let e = entry_for(&entries, path);
        (e.outcome, e.reason.clone())
    };
    for code in [200, 201, 302] {
        assert_eq!(outcome(&format!("/status/{code}")), (Outcome::Success, None), "{code}");
    }
    assert_eq!(outcome("/status/401"), (Outcome::Denied, Some("HTTP 401 Unauthorized".into())));
    assert_eq!(outcome("/status/403"), (Outcome::Denied, Some("HTTP 403 Forbidden".into())));
    for code in [400, 404, 409, 503] {
        assert_eq!(outcome(&format!("/status/{code}")).0, Outcome::Failure, "{code}");
    }
    assert_eq!(
        outcome("/status/500"),
        (Outcome::Failure, Some("HTTP 500 Internal Server Error".into()))
    );
    let nowhere = entry_for(&entries, "/nowhere");
    assert_eq!((nowhere.outcome, nowhere.event.as_str()), (Outcome::Failure, "nowhere.create"));
    assert_eq!(nowhere.response.as_ref().unwrap().status, Some(404));
}

#[tokio::test]
async fn explicit_outcomes_and_custom_classifiers() {
    async fn soft_failure() -> &'static str {
        AuditScope::current().unwrap().fail("quota exceeded");
        "accepted, but nothing done"
    }
    async fn claims_success() -> StatusCode {
        AuditScope::current().unwrap().set_outcome(Outcome::Success);
        StatusCode::FORBIDDEN
    }
    async fn conflict() -> StatusCode {
        AuditScope::current().unwrap().set_reason("name taken");
        StatusCode::CONFLICT
    }
    let trail = Trail::new();
    let app = Router::new()
        .route("/soft", post(soft_failure))
        .route("/claims", post(claims_success))
        .route("/conflict", post(conflict))
        .layer(AuditLayer::new(trail.auditor.clone()));
    // A classifier for which a 404 on DELETE-like routes is fine.
    let lenient = Router::new().route("/gone", post(|| async { StatusCode::NOT_FOUND })).layer(
        AuditLayer::new(trail.auditor.clone()).classify(|r: &ResponseInfo<'_>| {
            if r.status.is_server_error() { Outcome::Failure } else { Outcome::Success }
        }),
    );
    let addr = serve_axum(app.merge(lenient)).await;
    let c = client();
    for path in ["/soft", "/claims", "/conflict", "/gone"] {
        within(c.post(format!("http://{addr}{path}")).send()).await.unwrap();
    }
    let entries = trail.finish().await;
    let soft = entry_for(&entries, "/soft");
    assert_eq!((soft.outcome, soft.reason.as_deref()), (Outcome::Failure, Some("quota exceeded")));
    // A denied response stays denied whatever the handler said.
    assert_eq!(entry_for(&entries, "/claims").outcome, Outcome::Denied);
    let conflict = entry_for(&entries, "/conflict");
    assert_eq!(
        (conflict.outcome, conflict.reason.as_deref()),
        (Outcome::Failure, Some("name taken"))
    );
    assert_eq!(entry_for(&entries, "/gone").outcome, Outcome::Success);
}

#[tokio::test]
async fn a_panicking_handler_gives_a_500_and_a_failure_entry() {
    async fn boom() -> &'static str {
        panic!("the database handle was poisoned")
    }
    let trail = Trail::new();
    let app =
        Router::new().route("/boom", post(boom)).layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;
    let res = within(client().post(format!("http://{addr}/boom")).send()).await.unwrap();
    assert_eq!(res.status(), 500);
    assert!(res.headers().contains_key("x-request-id"));
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, Outcome::Failure);
    // A fixed reason: the panic's message goes to the logs, not the entry.
    assert_eq!(entries[0].reason.as_deref(), Some("the handler panicked"));
    assert_eq!(entries[0].response.as_ref().unwrap().status, Some(500));
}

/// A panic message may carry a secret (`panic!("bad token {token}")`), and
/// an entry's `reason` is not redacted: no byte of a random canary in a
/// panic's message reaches the entry, with buffered or strict delivery.
#[tokio::test]
async fn a_secret_in_a_panic_message_never_reaches_the_entry() {
    use std::hash::{BuildHasher as _, RandomState};

    async fn login(axum::extract::State(token): axum::extract::State<String>) -> &'static str {
        panic!("bad token {token} for tenant acme")
    }
    for delivery in [audit_core::Delivery::Buffered, audit_core::Delivery::Strict] {
        // 128 random bits (`RandomState` is keyed from the OS's random source).
        let [a, b] = [0u8, 1].map(|i| RandomState::new().hash_one(i));
        let canary = format!("canary{a:016x}{b:016x}");
        let trail = Trail::with_delivery(delivery);
        let app = Router::new()
            .route("/login", post(login))
            .with_state(canary.clone())
            .layer(AuditLayer::new(trail.auditor.clone()));
        let addr = serve_axum(app).await;
        let res = within(client().post(format!("http://{addr}/login")).send()).await.unwrap();
        assert_eq!(res.status(), 500, "{delivery:?}");
        let text = within(res.text()).await.unwrap();
        assert!(!text.contains(&canary), "{delivery:?}: the client's answer: {text}");

        trail.auditor.shutdown(Duration::from_secs(5)).await.unwrap();
        // Every entry the sink got (genesis and checkpoints included), as JSON.
        let all = trail.sink.entries();
        let strict = delivery == audit_core::Delivery::Strict;
        let requests: Vec<_> = all.iter().filter(|e| !e.event.starts_with("audit.")).collect();
        // Strict delivery records a `received` entry first.
        assert_eq!(requests.len(), if strict { 2 } else { 1 }, "{delivery:?}: {all:#?}");
        let failed = requests.last().unwrap();
        assert_eq!(failed.outcome, Outcome::Failure, "{delivery:?}");
        assert_eq!(failed.reason.as_deref(), Some("the handler panicked"), "{delivery:?}");
        assert_eq!(failed.response.as_ref().unwrap().status, Some(500), "{delivery:?}");
        for entry in &all {
            let json = serde_json::to_string(entry).unwrap();
            assert!(!json.contains(&canary), "{delivery:?}: the canary is in {json}");
        }
    }
}

#[tokio::test]
async fn a_client_that_goes_away_leaves_a_cancelled_entry() {
    let started = Arc::new(tokio::sync::Notify::new());
    let notify = started.clone();
    let slow = move || {
        let notify = notify.clone();
        async move {
            AuditScope::current().unwrap().add_resource(audit_core::Resource::new("import", "i_1"));
            notify.notify_one();
            tokio::time::sleep(Duration::from_secs(60)).await;
            "never"
        }
    };
    let trail = Trail::new();
    let app =
        Router::new().route("/imports", post(slow)).layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /imports HTTP/1.1\r\nhost: test\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    within(started.notified()).await;
    drop(stream);

    let entries = trail.wait_for(1).await;
    assert_eq!(entries[0].outcome, Outcome::Cancelled);
    assert_eq!(entries[0].event, "import.create");
    assert_eq!(entries[0].resource[0].id.as_deref(), Some("i_1"));
    assert_eq!(entries[0].response.as_ref().unwrap().status, None);
    assert!(trail.finish().await.len() == 1, "exactly one entry");
}

#[tokio::test]
async fn an_inner_service_error_is_a_failure() {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    use tower::ServiceBuilder;

    let trail = Trail::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let layer = AuditLayer::new(trail.auditor.clone());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let svc = ServiceBuilder::new().layer(layer).service_fn(|_req: http::Request<_>| async {
            Err::<http::Response<Full<Bytes>>, _>(std::io::Error::other(
                "upstream refused the connection",
            ))
        });
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc))
            .await;
    });
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"DELETE /sessions/s_1 HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    // hyper closes the connection on a service error.
    let mut buf = Vec::new();
    let _ = within(stream.read_to_end(&mut buf)).await;
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event, "session.delete");
    assert_eq!(entries[0].outcome, Outcome::Failure);
    assert_eq!(
        entries[0].reason.as_deref(),
        Some("the service failed: upstream refused the connection")
    );
}
