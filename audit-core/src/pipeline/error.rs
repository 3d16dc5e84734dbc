//! The errors of recording, building and shutting down an auditor.

use std::path::PathBuf;
use std::time::Duration;

use uuid::Uuid;

use crate::integrity::IntegrityError;

/// Why an entry could not be recorded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// `shutdown` was called.
    #[error("the auditor is shut down and records nothing more; record before calling shutdown")]
    Shutdown,
    /// Strict delivery: a sink could not write the entry.
    #[error(
        "entry {id} was not written durably: sink `{sink}` failed: {message} \
         (the entry stays queued and will be retried)"
    )]
    NotDurable {
        /// The entry.
        id: Uuid,
        /// The sink that failed.
        sink: String,
        /// What the sink said.
        message: String,
    },
    /// Strict delivery: a sink did not confirm in time.
    #[error(
        "entry {id} was not confirmed by sink `{sink}` within {timeout:?} \
         (strict delivery; raise `strict_timeout` if the sink is just slow)"
    )]
    Timeout {
        /// The entry.
        id: Uuid,
        /// The sink that did not answer.
        sink: String,
        /// The strict timeout.
        timeout: Duration,
    },
    /// Strict delivery: the entry was refused before it was recorded,
    /// because a sink is a whole queue behind (down or too slow). Strict
    /// callers are refused at once rather than wait for room.
    #[error(
        "entry {id} was not recorded: sink `{sink}` has a full queue ({capacity} entries wait; \
         it is down or too slow), and strict delivery refuses instead of waiting. See \
         `Auditor::stats` and the sink's errors in the logs"
    )]
    Backlog {
        /// The entry.
        id: Uuid,
        /// The sink whose queue is full.
        sink: String,
        /// Its queue capacity.
        capacity: usize,
    },
    /// Strict delivery: the entry was refused before it was recorded,
    /// because the pipeline stayed busy for the whole strict timeout (other
    /// callers waiting for room in a full queue).
    #[error(
        "entry {id} was not recorded: the pipeline stayed busy for {timeout:?} (callers ahead \
         wait for room in a full sink queue); strict delivery refuses instead of waiting"
    )]
    Busy {
        /// The entry.
        id: Uuid,
        /// The strict timeout.
        timeout: Duration,
    },
    /// The entry could not be hashed.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
}

impl RecordError {
    /// Whether the entry was recorded (sequenced and queued) despite the
    /// error: strict delivery could not confirm it, but it stays queued and
    /// is written when the sink recovers.
    pub fn entry_was_recorded(&self) -> bool {
        matches!(self, Self::NotDurable { .. } | Self::Timeout { .. })
    }
}

/// Why an auditor could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No sink was configured.
    #[error("no sink configured: add at least one with `AuditorBuilder::sink`")]
    NoSinks,
    /// Two sinks share a name.
    #[error(
        "two sinks are named `{0}`: sink names must be unique (they name spool cursors and counters)"
    )]
    DuplicateSinkName(String),
    /// Not inside a Tokio runtime.
    #[error(
        "`AuditorBuilder::build` must be called inside a Tokio runtime: it starts one worker task per sink"
    )]
    NoRuntime,
    /// The spool directory could not be opened.
    #[error("cannot open the spool directory {path}: {source}")]
    Spool {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The genesis entry could not be made.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
}

/// Why `shutdown` did not flush everything.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// Some sinks still had entries when the timeout passed.
    #[error(
        "shutdown timed out with {pending} entries not yet written ({sinks}); \
         with a spool they are replayed at the next start, without one they are lost"
    )]
    Timeout {
        /// Entries not yet written, over all sinks.
        pending: u64,
        /// The sinks that had them.
        sinks: String,
    },
    /// The closing checkpoint could not be made.
    #[error(transparent)]
    Integrity(#[from] IntegrityError),
}
