//! The core of the audit-logging framework: the event model, redaction, the
//! tamper-evident chain, the delivery pipeline ([`Auditor`]), the [`Sink`] and
//! [`AuditStore`] traits, and the per-request [`AuditScope`].
//!
//! ```
//! use audit_core::{Actor, AuditEvent, Auditor, Resource};
//! use audit_core::testing::MemorySink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = MemorySink::new();
//! let auditor = Auditor::builder().service("billing", "1.4.2").sink(sink.clone()).build()?;
//!
//! auditor
//!     .record(
//!         AuditEvent::builder("project.update")
//!             .actor(Actor::user("u_1").email("alice@example.com"))
//!             .resource(Resource::new("project", "p_42")),
//!     )
//!     .await?;
//! auditor.shutdown(std::time::Duration::from_secs(5)).await?;
//!
//! let entries = sink.entries();
//! // genesis, the entry, the closing checkpoint
//! assert_eq!(entries[1].description, "alice@example.com updated project p_42");
//! # Ok(()) }
//! ```
//!
//! `audit-core` depends on no web framework, database or telemetry crate:
//! `audit-tower` captures HTTP and gRPC requests, `audit-sinks` writes to files,
//! Postgres, OTLP and webhooks.
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod canonical;
pub mod diff;
pub mod filter;
pub mod integrity;
pub mod json;
pub mod model;
pub mod query;
pub mod redact;
pub mod sink;
pub mod store;

mod global;
mod pipeline;
mod scope;
mod spool;

#[cfg(feature = "testing")]
pub mod testing;

pub use diff::Change;
pub use global::{SetGlobalAuditorError, global_auditor, set_global_auditor};
pub use integrity::{SigningKey, VerifyingKey};
pub use model::{
    Action, Actor, ActorKind, AsActor, AuditEvent, AuditEventBuilder, Body, ChainLink, GrpcRequest,
    HttpRequest, OmitReason, OmittedBody, Outcome, Request, Resource, Response, SCHEMA_VERSION,
    ServiceInfo, Source,
};
pub use pipeline::{
    Auditor, AuditorBuilder, BuildError, Delivery, Receipt, RecordError, RetryPolicy,
    ShutdownError, SinkStats, Stats,
};
pub use query::Query;
pub use redact::{Redactor, RedactorBuilder, Sensitive};
pub use scope::AuditScope;
pub use sink::{Batch, JsonEntry, Sink, SinkError, SinkErrorKind, SinkInput};
pub use store::AuditStore;

#[doc(hidden)]
pub mod macro_support;
#[cfg(feature = "macros")]
pub use audit_macros::audited;

#[doc(hidden)]
pub mod __private {
    //! Items used by code that `#[audited]` generates. Not public API.
    pub use serde_json;
}
