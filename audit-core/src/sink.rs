//! The write side: where entries go.
//!
//! A [`Sink`] receives batches of finished entries (enriched, redacted and
//! chained) from its own worker in the [`Auditor`](crate::Auditor) pipeline.
//! It is the exporter half of the split that opentelemetry-rust makes between
//! a processor and an exporter: the pipeline owns queueing, batching, retries
//! and the spool, so a sink only has to write a batch and say whether a failure
//! is worth retrying.
//!
//! Sinks must be idempotent by [`AuditEvent::id`]: after a crash or a retry the
//! pipeline may hand the same entry to a sink more than once.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use crate::AuditEvent;

/// A destination for audit entries.
///
/// `write_batch` is called by one worker at a time, with entries in chain
/// order; it returns once the batch is written as durably as the sink
/// promises (e.g. fsynced, committed, acknowledged by the receiver).
#[async_trait]
pub trait Sink: Send + Sync + fmt::Debug + 'static {
    /// A short, stable name for logs, counters and the spool (`file`, `postgres`).
    fn name(&self) -> &str;

    /// Writes a batch of entries, in order.
    async fn write_batch(&self, batch: &[AuditEvent]) -> Result<(), SinkError>;

    /// Makes everything written so far durable. Called before shutdown.
    async fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Releases resources. Called once, after the last `flush`.
    async fn shutdown(&self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Arc<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn write_batch(&self, batch: &[AuditEvent]) -> Result<(), SinkError> {
        (**self).write_batch(batch).await
    }
    async fn flush(&self) -> Result<(), SinkError> {
        (**self).flush().await
    }
    async fn shutdown(&self) -> Result<(), SinkError> {
        (**self).shutdown().await
    }
}

#[async_trait]
impl<S: Sink + ?Sized> Sink for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn write_batch(&self, batch: &[AuditEvent]) -> Result<(), SinkError> {
        (**self).write_batch(batch).await
    }
    async fn flush(&self) -> Result<(), SinkError> {
        (**self).flush().await
    }
    async fn shutdown(&self) -> Result<(), SinkError> {
        (**self).shutdown().await
    }
}

/// Why a sink could not write a batch, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SinkError {
    kind: SinkErrorKind,
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// Whether a [`SinkError`] is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkErrorKind {
    /// Passing: a lost connection, a timeout, a 5xx, a full disk. The pipeline
    /// retries with backoff and spools meanwhile.
    Transient,
    /// Retrying the same batch will fail the same way: a 4xx, a constraint
    /// violation, a batch the receiver rejects. The pipeline moves the batch to
    /// the spool's dead-letter file (or reports it as lost when there is no
    /// spool) and goes on.
    Permanent,
}

impl SinkError {
    /// A failure that may pass; the batch will be retried.
    pub fn transient(message: impl Into<String>) -> Self {
        Self { kind: SinkErrorKind::Transient, message: message.into(), source: None }
    }

    /// A failure that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self { kind: SinkErrorKind::Permanent, message: message.into(), source: None }
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Whether retrying can help.
    pub fn is_retryable(&self) -> bool {
        self.kind == SinkErrorKind::Transient
    }

    /// The kind of failure.
    pub fn kind(&self) -> SinkErrorKind {
        self.kind
    }
}

impl From<std::io::Error> for SinkError {
    fn from(e: std::io::Error) -> Self {
        use std::io::ErrorKind::*;
        let kind = match e.kind() {
            InvalidInput | InvalidData | PermissionDenied | Unsupported => SinkErrorKind::Permanent,
            _ => SinkErrorKind::Transient,
        };
        Self { kind, message: format!("I/O error: {e}"), source: Some(Box::new(e)) }
    }
}
