//! `AuditLayer`: a tower layer that turns every audited HTTP or gRPC request
//! into exactly one audit entry, for axum routers, tonic servers and plain
//! hyper services.
//!
//! ```
//! use audit_core::{Actor, Auditor, testing::MemorySink};
//! use audit_tower::AuditLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = MemorySink::new();
//! let auditor = Auditor::builder().service("projects", "1.0.0").sink(sink.clone()).build()?;
//!
//! let service = ServiceBuilder::new()
//!     .layer(AuditLayer::new(auditor.clone()))
//!     .service(service_fn(|_req: Request<_>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(String::from("created")))
//!     }));
//!
//! let mut request = Request::post("/projects").body(String::new())?;
//! // What authentication middleware outside the layer would do:
//! request.extensions_mut().insert(Actor::user("u_1").email("alice@example.com"));
//! let response = service.oneshot(request).await?;
//! assert!(response.headers().contains_key("x-request-id"));
//!
//! auditor.shutdown(std::time::Duration::from_secs(5)).await?;
//! let entry = &sink.entries()[1]; // after the chain's genesis entry
//! assert_eq!(entry.event, "project.create");
//! assert_eq!(entry.description, "alice@example.com created project");
//! # Ok(()) }
//! ```
//!
//! With axum, add it with `Router::layer` (so the route template is known)
//! and serve with connect info (so the peer address is):
//!
//! ```no_run
//! use std::net::SocketAddr;
//!
//! use audit_core::{AuditScope, Auditor, Resource, testing::MemorySink};
//! use audit_tower::AuditLayer;
//! use axum::{Router, extract::Path, routing::patch};
//!
//! // `#[audited(event = "project.update")]` does this, and more.
//! async fn update(Path(id): Path<String>) -> &'static str {
//!     if let Some(scope) = AuditScope::current() {
//!         scope.set_event("project.update");
//!         scope.add_resource(Resource::new("project", id));
//!     }
//!     "ok"
//! }
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let auditor = Auditor::builder().service("projects", "1.0.0").sink(MemorySink::new()).build()?;
//! let app = Router::new()
//!     .route("/projects/{id}", patch(update))
//!     .layer(AuditLayer::new(auditor.clone()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! auditor.shutdown(std::time::Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! # What is recorded
//!
//! For every request the layer opens an [`AuditScope`](audit_core::AuditScope),
//! puts it in the request extensions and makes it the current scope of the
//! request's task, pre-filled with the client IP ([`resolve_client_ip`]), the
//! user agent, the request id (`x-request-id` when sane, else a new UUIDv7;
//! echoed in the response), the actor ([`MakeActor`]), and the request:
//! method, route template (axum's `MatchedPath`; for gRPC the path
//! `/package.Service/Method`), raw path, query and allow-listed headers
//! ([`default_header_allowlist`]). The handler, the `Audit` extractor
//! (feature `axum`) or `#[audited]` add to it.
//!
//! When the request ends, the layer adds the response status, the gRPC status,
//! the duration and the outcome ([`ClassifyOutcome`]) and records **exactly one
//! entry**, whichever way it ends: a response, an error from the inner service
//! (`failure`), a panic (`failure` with the reason `the handler panicked`; the
//! client gets a 500, or gRPC `INTERNAL`, as with tower-http's `CatchPanic`;
//! the panic's message, which may carry a secret, goes to `tracing` at error
//! level, not into the entry), or the request future being dropped
//! because the client went away (`cancelled`; the mutation may have happened).
//!
//! Secrets in the query, headers and bodies are redacted by the
//! [`Auditor`](audit_core::Auditor), before the entry is hashed or leaves the
//! process; the layer hands it the raw values (redacting twice would digest a
//! digest in HMAC mode).
//!
//! # Which requests, how much
//!
//! The [`Policy`] decides per request: rules match method, route, path,
//! protocol and action, and set a [`Level`], an event name and a delivery mode.
//! The default audits `POST`, `PUT`, `PATCH` and `DELETE` at
//! [`Level::Metadata`] (and gRPC calls whose name is not a read: `GetX` and
//! `ListX` are skipped), naming the event after the route
//! ([`event_name_for_route`], [`event_name_for_grpc`]). A handler marked
//! `#[audited]` is audited whatever the policy says; bodies follow the policy
//! level only.
//!
//! Bodies are captured at [`Level::Request`] and [`Level::RequestResponse`]
//! for JSON and forms, up to [`AuditLayer::max_body_bytes`] (64 KiB), while
//! they stream through: nothing is buffered beyond the cap and a larger body is
//! recorded as a `truncated` marker with its size. Non-UTF-8 and invalid JSON
//! are markers too, other content types an `unsupported_content_type` marker.
//! gRPC messages are not decoded by the layer; `#[audited]` records them.
//!
//! # Delivery
//!
//! - `Buffered` (the default): the layer awaits [`Auditor::record`], which
//!   does CPU work and an in-memory enqueue (plus one spool append when a
//!   spool is configured): no network or sink I/O on the request path. It is
//!   awaited rather than spawned so that an entry is in the pipeline before
//!   the client has its response (a graceful shutdown followed by
//!   `Auditor::shutdown` then loses nothing) and so that a full queue slows
//!   requests down instead of piling up tasks. Entries that need the end of
//!   the response body (gRPC trailers, captured response bodies) are recorded
//!   before the body yields its last frame. Only a request dropped mid-way
//!   (the client went away) is recorded from a spawned task.
//! - `Strict` (per auditor, per [`Rule::delivery`], or per handler): before
//!   the inner service is called, an entry with `metadata.stage = "received"`
//!   is recorded and confirmed by every sink; when that fails, the request is
//!   answered with 503 (gRPC `UNAVAILABLE`) without running the handler, and a
//!   `stage = "refused"` entry is queued. The final entry
//!   (`stage = "completed"`) is confirmed before the response is returned;
//!   it is written from the response head, so it carries no response body,
//!   and a gRPC status that only arrives in the trailers of a streaming call
//!   is not in it. If it cannot be confirmed the response is sent anyway (the
//!   operation has happened) and the failure is logged.
//!
//! [`Auditor::record`]: audit_core::Auditor::record
//!
//! # Features
//!
//! - `axum`: the `Audit` extractor, the route template from `MatchedPath`
//!   and the peer from `ConnectInfo<SocketAddr>`.
//! - `tonic`: the peer from tonic's `TcpConnectInfo`.
//!
//! Without them, the peer is read from a `SocketAddr` in the request
//! extensions, or found by [`AuditLayer::peer_addr`].
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

// The modules, bottom up: what a request is matched and named by (`policy`,
// `event_name`, `client_ip`), the two extension points (`make_actor`,
// `classify`, with the gRPC status parsing), body capture (`capture`); the
// settings a service reads (`config`) and the recording of entries
// (`record`); the in-flight entry of one request (`entry`) and the mapping
// from a request to it (`make_entry`); the tower types on top (`body`,
// `future`, `service`, `layer`) and the axum extractor (`extract`).

mod body;
mod capture;
mod classify;
mod client_ip;
mod config;
mod entry;
mod event_name;
#[cfg(feature = "axum")]
mod extract;
mod future;
mod layer;
mod make_actor;
mod make_entry;
mod policy;
mod record;
mod service;

pub use body::ResponseBody;
pub use capture::RequestBody;
pub use classify::{Classification, ClassifyOutcome, DefaultClassifier, ResponseInfo};
pub use client_ip::{ForwardedHeader, resolve_client_ip};
pub use event_name::{event_name_for_grpc, event_name_for_route};
#[cfg(feature = "axum")]
pub use extract::{Audit, MissingAuditLayer};
pub use future::ResponseFuture;
pub use ipnet::IpNet;
pub use layer::{AuditLayer, DEFAULT_MAX_BODY_BYTES, PeerAddrFn, default_header_allowlist};
pub use make_actor::{DefaultMakeActor, ExtensionActor, MakeActor};
pub use policy::{Level, Policy, Protocol, Rule};
pub use service::AuditService;
