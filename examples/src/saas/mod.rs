//! An example SaaS API whose every mutation is audited: projects, API keys,
//! members and settings of a tenant, over HTTP (axum) and gRPC (tonic).
//!
//! It looks like the products audit logs are written for, and it is what the
//! quickstart, the end-to-end tests and the benchmarks run:
//!
//! ```no_run
//! use examples::saas::{Config, serve};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = serve(Config::new("./audit-log").with_grpc()).await?;
//! println!("listening on {}", server.url());
//! // ... send requests ...
//! server.shutdown().await?; // stops the servers, then flushes the audit trail
//! # Ok(()) }
//! ```
//!
//! The `saas-api` binary is the same with a command line ([`Args`]):
//!
//! ```text
//! cargo run -p examples --bin saas-api -- --addr 127.0.0.1:8080 --audit-dir ./audit-log
//! curl -X POST localhost:8080/projects -H 'authorization: Bearer alice-token' \
//!      -H 'content-type: application/json' -d '{"name": "Apollo"}'
//! cargo run -p audit-cli -- query --store ./audit-log
//! ```
//!
//! # How it is audited
//!
//! - One [`AuditLayer`](audit_tower::AuditLayer) in front of each server,
//!   with one [`policy`]: the mutating routes at `RequestResponse` (bodies
//!   kept, redacted), reads not audited.
//! - Authentication runs inside the layer, so a 401 is audited too (as
//!   `denied`, actor `anonymous`); it puts the caller ([`CurrentUser`], which
//!   implements [`AsActor`](audit_core::AsActor)) and its
//!   [`Actor`](audit_core::Actor) into the request extensions and tells the
//!   request's scope.
//! - Every mutating handler is `#[audited(event = "...")]`; updates add
//!   field-level changes with `AuditScope::record_changes`.
//! - Errors are [`ApiError`]s: their text becomes the entry's `reason`; a 403
//!   is `denied`, a 404, 409 or 422 a `failure`.
//!
//! # Demo identities
//!
//! Tenant `acme`; send `Authorization: Bearer <token>` or `X-Api-Key: <token>`:
//!
//! | token | caller |
//! |---|---|
//! | `alice-token` | user alice@example.com, admin |
//! | `bob-token` | user bob@example.com, member (403 on admin routes) |
//! | `ci-token` | API key `ci-deploy`, member |
//!
//! Keys created with `POST /api-keys` work too, until revoked.

mod auth;
mod error;
pub mod grpc;
pub mod model;
mod routes;
mod server;
mod state;

pub use auth::{CurrentUser, DEMO_TOKENS, Principal, TENANT};
pub use error::ApiError;
pub use routes::{AUDITED_ROUTES, app, audit_layer, policy};
pub use server::{Args, Config, RunningServer, SHUTDOWN_TIMEOUT, ServeError, build_auditor, serve};
pub use state::{AppState, Updated};
