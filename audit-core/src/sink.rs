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
use bytes::Bytes;

use crate::AuditEvent;

/// A batch as the pipeline hands it to a sink, in chain order: for each
/// entry its id, the JSON the pipeline made of it when it hashed it (when
/// it did), and the typed entry (unless the sink said it does not need it).
///
/// That JSON is `serde_json::to_vec` of the entry, byte for byte, so a sink
/// that writes JSON (a file, a webhook, stdout) can copy it instead of
/// serializing the entry a second time. It is missing for entries replayed
/// from the spool and for the rare entry whose canonical form differs from
/// serde_json's (floats, astral-plane keys); [`EncodedBatch::write_json`]
/// serializes those.
///
/// A sink whose [`Sink::wants_entries`] is `false` gets batches of JSON
/// alone ([`EncodedBatch::entries`] is `None`): the pipeline then frees each
/// entry on the thread that recorded it and queues only its bytes.
#[derive(Debug, Clone, Copy)]
pub struct EncodedBatch<'a> {
    repr: Repr<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Repr<'a> {
    Entries { entries: &'a [AuditEvent], json: &'a [Option<Bytes>] },
    Json(&'a [JsonEntry]),
}

/// An entry as JSON: its id and `serde_json::to_vec` of it, as the pipeline
/// queues it for a sink that needs no typed entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonEntry {
    /// The entry's [`AuditEvent::id`].
    pub id: uuid::Uuid,
    /// `serde_json::to_vec` of the entry.
    pub json: Bytes,
}

impl JsonEntry {
    /// Serializes an entry.
    pub fn encode(entry: &AuditEvent) -> Result<Self, serde_json::Error> {
        Ok(Self { id: entry.id, json: Bytes::from(serde_json::to_vec(entry)?) })
    }
}

impl<'a> EncodedBatch<'a> {
    /// A batch without JSON: every entry is serialized when asked for.
    pub fn new(entries: &'a [AuditEvent]) -> Self {
        Self { repr: Repr::Entries { entries, json: &[] } }
    }

    /// A batch whose `json[i]`, when present, is `serde_json::to_vec` of
    /// `entries[i]`. Entries past the end of `json` have none.
    pub fn with_json(entries: &'a [AuditEvent], json: &'a [Option<Bytes>]) -> Self {
        Self { repr: Repr::Entries { entries, json } }
    }

    /// A batch of JSON alone, as sinks whose [`Sink::wants_entries`] is
    /// `false` get it.
    pub fn from_json(entries: &'a [JsonEntry]) -> Self {
        Self { repr: Repr::Json(entries) }
    }

    /// The typed entries, in chain order; `None` for a batch of JSON alone
    /// (see [`decode`](Self::decode)).
    pub fn entries(&self) -> Option<&'a [AuditEvent]> {
        match self.repr {
            Repr::Entries { entries, .. } => Some(entries),
            Repr::Json(_) => None,
        }
    }

    /// The typed entries, parsed from the JSON when the batch has no others.
    pub fn decode(&self) -> Result<std::borrow::Cow<'a, [AuditEvent]>, serde_json::Error> {
        match self.repr {
            Repr::Entries { entries, .. } => Ok(std::borrow::Cow::Borrowed(entries)),
            Repr::Json(items) => items
                .iter()
                .map(|e| serde_json::from_slice(&e.json))
                .collect::<Result<Vec<_>, _>>()
                .map(std::borrow::Cow::Owned),
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Entries { entries, .. } => entries.len(),
            Repr::Json(items) => items.len(),
        }
    }

    /// Whether the batch has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of entry `i`.
    ///
    /// # Panics
    ///
    /// When `i` is out of bounds.
    pub fn id(&self, i: usize) -> uuid::Uuid {
        match self.repr {
            Repr::Entries { entries, .. } => entries[i].id,
            Repr::Json(items) => items[i].id,
        }
    }

    /// The pipeline's JSON of entry `i`, if it has it.
    pub fn json(&self, i: usize) -> Option<&'a Bytes> {
        match self.repr {
            Repr::Entries { json, .. } => json.get(i).and_then(Option::as_ref),
            Repr::Json(items) => items.get(i).map(|e| &e.json),
        }
    }

    /// Appends the JSON of entry `i` to `out`: the pipeline's bytes when it
    /// has them, else `serde_json`'s serialization of the entry (the same
    /// bytes either way).
    ///
    /// # Panics
    ///
    /// When `i` is out of bounds.
    pub fn write_json(&self, i: usize, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        match (self.json(i), self.repr) {
            (Some(json), _) => {
                out.extend_from_slice(json);
                Ok(())
            }
            (None, Repr::Entries { entries, .. }) => serde_json::to_writer(out, &entries[i]),
            // `json(i)` is `None` here only out of bounds: indexing panics.
            (None, Repr::Json(items)) => {
                out.extend_from_slice(&items[i].json);
                Ok(())
            }
        }
    }
}

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

    /// Writes a batch that comes with the pipeline's JSON of its entries.
    /// The pipeline calls this; the default forwards to
    /// [`Sink::write_batch`] (parsing the entries from the JSON when the
    /// batch has no others). Sinks that write entries as JSON override it
    /// (and [`Sink::wants_json`]) to copy those bytes instead of serializing
    /// every entry again.
    async fn write_encoded(&self, batch: EncodedBatch<'_>) -> Result<(), SinkError> {
        match batch.decode() {
            Ok(entries) => self.write_batch(&entries).await,
            Err(e) => Err(SinkError::permanent(format!(
                "the pipeline's JSON of a batch cannot be read back as entries: {e}"
            ))
            .with_source(e)),
        }
    }

    /// Whether [`Sink::write_encoded`] uses the entries' JSON. When no sink
    /// of an auditor does, the pipeline does not keep it (default `false`).
    fn wants_json(&self) -> bool {
        false
    }

    /// Whether [`Sink::write_encoded`] reads the typed entries (default
    /// `true`). A sink that writes only each entry's JSON and id returns
    /// `false` (with [`Sink::wants_json`] `true`): the pipeline then queues
    /// only the JSON for it, so an entry's memory is freed on the thread that
    /// recorded it instead of on the sink's worker, and less memory waits in
    /// its queue. Its batches come as [`EncodedBatch::from_json`].
    fn wants_entries(&self) -> bool {
        true
    }

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
    async fn write_encoded(&self, batch: EncodedBatch<'_>) -> Result<(), SinkError> {
        (**self).write_encoded(batch).await
    }
    fn wants_json(&self) -> bool {
        (**self).wants_json()
    }
    fn wants_entries(&self) -> bool {
        (**self).wants_entries()
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
    async fn write_encoded(&self, batch: EncodedBatch<'_>) -> Result<(), SinkError> {
        (**self).write_encoded(batch).await
    }
    fn wants_json(&self) -> bool {
        (**self).wants_json()
    }
    fn wants_entries(&self) -> bool {
        (**self).wants_entries()
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
