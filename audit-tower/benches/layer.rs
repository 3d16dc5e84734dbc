//! What `AuditLayer` costs per request, in process: no sockets, no load
//! generator, so the kernel's networking and its wake-ups (most of what the
//! `audit-bench http` scenario's bare server spends) are left out and the
//! layer's own work is what differs.
//!
//! ```text
//! cargo bench -p audit-tower --bench layer
//! ```
//!
//! - `layer/bare`: a `PATCH /projects/p_42` with a ~300-byte JSON body (the
//!   sample entry's, `audit_testkit::sample::request_body`) through a
//!   handler that reads the body and answers with a small JSON document;
//! - `layer/metadata`: the same behind `AuditLayer` at the default level
//!   for a mutation (`Level::Metadata`: who, what, where, outcome);
//! - `layer/request_response`: the same with both bodies captured
//!   (`Level::RequestResponse`, as the SaaS example audits its mutations).
//!
//! The auditor writes to a sink that discards the entries' JSON, as a
//! JSON sink (the file sink) takes it, on the same one-thread runtime as the
//! requests; each iteration yields once so that the sink's worker runs in
//! turn, as it does in a service (bare yields too). The difference between
//! `bare` and an audited variant is the layer's cost per request: capture,
//! redaction, canonical JSON, SHA-256 and queueing. The `parts` group times
//! steps the layer takes on every request: the default event name, and the
//! client address through a trusted proxy's `X-Forwarded-For`.

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::LazyLock;

use audit_core::Auditor;
use audit_core::testing::DiscardSink;
use audit_testkit::sample;
use audit_tower::{
    AuditLayer, ForwardedHeader, IpNet, Level, Policy, RequestBody, Rule, event_name_for_grpc,
    event_name_for_route, resolve_client_ip,
};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Method, Request, Response, header};
use http_body_util::{BodyExt as _, Full};
use tower::{Layer as _, Service, ServiceExt as _};

/// The request body of the sample entry (`audit_testkit::sample`).
static REQUEST_BODY: LazyLock<Bytes> =
    LazyLock::new(|| Bytes::from(serde_json::to_vec(&sample::request_body()).expect("JSON")));
const RESPONSE_BODY: &str = r#"{"id":"p_42","name":"Apollo guidance computer","description":"Flight software for the command and lunar modules, revision 2","visibility":"private"}"#;

/// The load balancer in front of the service.
const PROXY: &str = "10.0.0.0/8";

fn request() -> Request<Full<Bytes>> {
    Request::builder()
        .method(Method::PATCH)
        .uri("/projects/p_42?expand=members")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, sample::BEARER_TOKEN)
        .header(header::USER_AGENT, "Mozilla/5.0 (X11; Linux x86_64)")
        .header("x-forwarded-for", "203.0.113.7, 10.1.2.3")
        .body(Full::new(REQUEST_BODY.clone()))
        .expect("request")
}

/// The address the connection came from: the proxy.
fn peer(_: &Parts) -> Option<IpAddr> {
    Some(IpAddr::from([10, 1, 2, 4]))
}

async fn handler<B>(request: Request<B>) -> Result<Response<Full<Bytes>>, Infallible>
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let body = request.into_body().collect().await.expect("request body").to_bytes();
    std::hint::black_box(body);
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(RESPONSE_BODY.as_bytes())))
        .expect("response"))
}

fn layer(auditor: &Auditor, level: Level) -> AuditLayer {
    AuditLayer::new(auditor.clone())
        .policy(Policy::new().rule(Rule::new().level(level)))
        .peer_addr(peer)
        .trusted_proxies([PROXY.parse::<IpNet>().expect("network")])
}

/// Times one request through `service`, its response body read to the end.
fn bench_service<S, B>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    service: S,
) where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone,
    S::Error: std::fmt::Debug,
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    c.bench_function(name, |b| {
        b.to_async(rt).iter(|| {
            let service = service.clone();
            async move {
                let response = service.oneshot(request()).await.expect("answered");
                let body = response.into_body().collect().await.expect("body").to_bytes();
                // The sink's worker gets its turn, as in a service.
                tokio::task::yield_now().await;
                body
            }
        });
    });
}

fn requests(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let auditor = rt
        .block_on(async {
            Auditor::builder().service("bench", "1.0.0").sink(DiscardSink::json()).build()
        })
        .expect("auditor");
    let bare = tower::service_fn(handler::<Full<Bytes>>);
    // Behind the layer the handler reads the layer's capturing body.
    let inner = tower::service_fn(handler::<RequestBody<Full<Bytes>>>);
    let mut g = c.benchmark_group("layer");
    bench_service(&mut g, &rt, "bare", bare);
    bench_service(&mut g, &rt, "metadata", layer(&auditor, Level::Metadata).layer(inner));
    bench_service(
        &mut g,
        &rt,
        "request_response",
        layer(&auditor, Level::RequestResponse).layer(inner),
    );
    g.finish();
    let stats = auditor.stats();
    assert_eq!(stats.dropped, 0, "the benchmark's entries were all queued");
    assert!(stats.recorded > 0, "the audited variants recorded entries");
    rt.block_on(auditor.shutdown(std::time::Duration::from_secs(10))).expect("shutdown");
}

fn parts(c: &mut Criterion) {
    let mut g = c.benchmark_group("parts");
    g.bench_function("event_name_for_route", |b| {
        b.iter(|| {
            event_name_for_route(&Method::PATCH, std::hint::black_box("/projects/{id}"), true)
        })
    });
    g.bench_function("event_name_for_grpc", |b| {
        b.iter(|| {
            event_name_for_grpc("projects.v1.Projects", std::hint::black_box("UpdateProject"))
        })
    });
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.7, 10.1.2.3"));
    let trusted = [PROXY.parse::<IpNet>().expect("network")];
    let proxy = Some(IpAddr::from([10, 1, 2, 4]));
    assert_eq!(
        resolve_client_ip(proxy, &headers, &trusted, &ForwardedHeader::DEFAULT),
        Some(IpAddr::from([203, 0, 113, 7]))
    );
    g.bench_function("client_ip_through_a_proxy", |b| {
        b.iter(|| {
            resolve_client_ip(
                std::hint::black_box(proxy),
                &headers,
                &trusted,
                &ForwardedHeader::DEFAULT,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, requests, parts);
criterion_main!(benches);
