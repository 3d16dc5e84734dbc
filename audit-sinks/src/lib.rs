//! Sinks (where entries are written) and stores (where they are read back)
//! for `audit-core`, one cargo feature each:
//!
//! | feature | sink | store |
//! |---|---|---|
//! | `file` (default) | JSON Lines with rotation, retention and group-commit fsync | yes |
//! | `postgres` | sqlx, batched, partitioned, append-only | yes |
//! | `otlp` | OpenTelemetry log records over gRPC or HTTP | no |
//! | `webhook` | signed JSON batches for SIEMs | no |
//! | `stdout` | JSON Lines on standard output | no |
//!
//! ```no_run
//! # #[cfg(feature = "file")]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! use audit_core::Auditor;
//! use audit_sinks::file::FileSink;
//!
//! let sink = FileSink::builder("./audit-log").max_files(30).build()?;
//! // Retention removes old files; this records an `audit.retention` entry for each removal.
//! let retention = sink.retention_events();
//! let auditor = Auditor::builder().service("projects-api", "1.0.0").sink(sink).build()?;
//! if let Some(retention) = retention {
//!     tokio::spawn(retention.record_into(auditor.clone()));
//! }
//!
//! // ... serve requests ...
//!
//! auditor.shutdown(Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
//!
//! Read the entries back with [`file::FileStore`], or with the `audit` CLI.
//! What the retention of the file and Postgres stores has in common (the
//! `audit.retention` entry, [`retention::RetentionEvents`]) is in [`retention`].
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "file")]
pub mod file;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "postgres")]
pub mod postgres;
#[cfg(any(feature = "file", feature = "postgres"))]
pub mod retention;
#[cfg(feature = "stdout")]
pub mod stdout;
#[cfg(feature = "webhook")]
pub mod webhook;

#[cfg(any(feature = "otlp", feature = "webhook"))]
mod http_util;
