//! The write side: where entries go.
//!
//! A [`Sink`] receives [`Batch`]es of finished entries (enriched, redacted and
//! chained) from its own worker in the [`Auditor`](crate::Auditor) pipeline.
//! It is the exporter half of the split that opentelemetry-rust makes between
//! a processor and an exporter: the pipeline owns queueing, batching, retries
//! and the spool, so a sink only has to write a batch and say whether a failure
//! is worth retrying.
//!
//! Sinks must be idempotent by [`AuditEvent::id`]: after a crash or a retry the
//! pipeline may hand the same entry to a sink more than once.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

use crate::model::AuditEvent;

/// What a sink takes of each entry; a sink declares it once, with
/// [`Sink::input`].
///
/// The pipeline serializes every entry once, while hashing it. A sink that
/// writes JSON (a file, a webhook, stdout) takes those bytes instead of
/// serializing the entry again; a sink that maps entries to something else
/// (OTLP log records) takes the typed entries; a sink that needs both
/// (Postgres: typed columns, and the bytes for its `entry` column) says so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SinkInput {
    /// The typed entries ([`Batch::entries`] is always `Some`).
    #[default]
    Entries,
    /// Each entry's JSON and id alone ([`Batch::entries`] is `None`): the
    /// pipeline frees each typed entry on the thread that recorded it and
    /// queues only its bytes, so less memory waits in the sink's queue.
    Json,
    /// The typed entries, with the pipeline's JSON of each where it has it.
    EntriesAndJson,
}

impl SinkInput {
    /// Whether the sink reads typed entries.
    pub fn wants_entries(self) -> bool {
        matches!(self, Self::Entries | Self::EntriesAndJson)
    }

    /// Whether the sink uses the pipeline's JSON of each entry.
    pub fn wants_json(self) -> bool {
        matches!(self, Self::Json | Self::EntriesAndJson)
    }

    /// What serves both `self` and `other`: the pipeline keeps an entry's
    /// JSON when any of its sinks (or its spool) uses it, and the typed
    /// entry when any sink reads it.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        match (
            self.wants_entries() || other.wants_entries(),
            self.wants_json() || other.wants_json(),
        ) {
            (true, false) => Self::Entries,
            (false, _) => Self::Json,
            (true, true) => Self::EntriesAndJson,
        }
    }
}

/// A batch as the pipeline hands it to [`Sink::write`], in chain order:
/// for each entry its id, the JSON the pipeline made of it when it hashed it
/// (when it did and the sink's [`SinkInput`] wants it), and the typed entry
/// (unless the sink takes [`SinkInput::Json`]).
///
/// That JSON is `serde_json::to_vec` of the entry, byte for byte, so a sink
/// that writes JSON can copy it instead of serializing the entry a second
/// time. It is missing for entries replayed from the spool and for the rare
/// entry whose canonical form differs from serde_json's (floats,
/// astral-plane keys); [`Batch::write_json`] serializes those.
///
/// Tests and tools that write entries to a sink directly make a batch of
/// typed entries with [`Batch::new`] (or `From<&[AuditEvent]>`).
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    repr: Repr<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Repr<'a> {
    Entries { entries: &'a [AuditEvent], json: &'a [Option<Bytes>] },
    Json(&'a [JsonEntry]),
}

/// An entry as JSON: its id and `serde_json::to_vec` of it, as the pipeline
/// queues it for a sink that takes [`SinkInput::Json`].
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

impl<'a> From<&'a [AuditEvent]> for Batch<'a> {
    fn from(entries: &'a [AuditEvent]) -> Self {
        Self::new(entries)
    }
}

impl<'a> From<&'a Vec<AuditEvent>> for Batch<'a> {
    fn from(entries: &'a Vec<AuditEvent>) -> Self {
        Self::new(entries)
    }
}

impl<'a> Batch<'a> {
    /// A batch of typed entries without JSON: each is serialized when its
    /// JSON is asked for.
    pub fn new(entries: &'a [AuditEvent]) -> Self {
        Self { repr: Repr::Entries { entries, json: &[] } }
    }

    /// A batch whose `json[i]`, when present, is `serde_json::to_vec` of
    /// `entries[i]`. Entries past the end of `json` have none.
    pub fn with_json(entries: &'a [AuditEvent], json: &'a [Option<Bytes>]) -> Self {
        Self { repr: Repr::Entries { entries, json } }
    }

    /// A batch of JSON alone, as sinks that take [`SinkInput::Json`] get it.
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
    ///
    /// Fails with a [permanent](SinkErrorKind::Permanent) error when the
    /// JSON does not parse back (the pipeline's JSON always does).
    pub fn decode(&self) -> Result<Cow<'a, [AuditEvent]>, SinkError> {
        match self.repr {
            Repr::Entries { entries, .. } => Ok(Cow::Borrowed(entries)),
            Repr::Json(items) => items
                .iter()
                .map(|e| serde_json::from_slice(&e.json))
                .collect::<Result<Vec<_>, _>>()
                .map(Cow::Owned)
                .map_err(|e| {
                    SinkError::permanent(format!(
                        "the JSON of a batch cannot be read back as entries: {e}"
                    ))
                    .with_source(e)
                }),
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
/// [`write`](Sink::write) is called by one worker at a time, with entries
/// in chain order; it returns once the batch is written as durably as the
/// sink promises (e.g. fsynced, committed, acknowledged by the receiver).
/// What the batch holds of each entry is the sink's [`input`](Sink::input).
///
/// ```
/// use async_trait::async_trait;
/// use audit_core::{Batch, Sink, SinkError, SinkInput};
///
/// /// Writes each entry's JSON to standard error.
/// #[derive(Debug)]
/// struct Stderr;
///
/// #[async_trait]
/// impl Sink for Stderr {
///     fn name(&self) -> &str {
///         "stderr"
///     }
///     fn input(&self) -> SinkInput {
///         SinkInput::Json
///     }
///     async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
///         let mut out = Vec::new();
///         for i in 0..batch.len() {
///             batch.write_json(i, &mut out).map_err(|e| SinkError::permanent(e.to_string()))?;
///             out.push(b'\n');
///         }
///         std::io::Write::write_all(&mut std::io::stderr(), &out)?;
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait Sink: Send + Sync + fmt::Debug + 'static {
    /// A short, stable name for logs, counters and the spool (`file`, `postgres`).
    fn name(&self) -> &str;

    /// What the sink takes of each entry (default [`SinkInput::Entries`]).
    /// Read once, when the auditor is built.
    fn input(&self) -> SinkInput {
        SinkInput::Entries
    }

    /// Writes a batch of entries, in order.
    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError>;

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
    fn input(&self) -> SinkInput {
        (**self).input()
    }
    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        (**self).write(batch).await
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
    fn input(&self) -> SinkInput {
        (**self).input()
    }
    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        (**self).write(batch).await
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
