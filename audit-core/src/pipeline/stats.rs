//! The pipeline's counters, and their export through the `metrics` facade.

/// Counters of one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Entries written.
    pub written: u64,
    /// Failed write attempts that were retried.
    pub retried: u64,
    /// Entries rejected permanently (moved to the dead-letter file when there
    /// is a spool).
    pub failed: u64,
    /// Entries that overflowed the in-memory queue into the spool.
    pub spooled: u64,
    /// Entries written from the spool (overflow and restarts).
    pub replayed: u64,
    /// Entries dropped (best-effort delivery only).
    pub dropped: u64,
    /// Entries waiting in memory.
    pub queue_depth: u64,
    /// The estimated memory they hold, with the batch being written (see
    /// [`AuditorBuilder::queue_bytes`](super::AuditorBuilder::queue_bytes)).
    pub queue_bytes: u64,
    /// Entries waiting in the spool.
    pub backlog: u64,
}

/// A snapshot of the pipeline's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Entries accepted by `record` (including genesis and checkpoints).
    pub recorded: u64,
    /// Entries dropped by at least one sink.
    pub dropped: u64,
    /// Spool writes that failed (the entry was kept in memory instead).
    pub spool_errors: u64,
    /// Per-sink counters.
    pub sinks: Vec<SinkStats>,
}

#[cfg(feature = "metrics")]
pub(super) fn metrics_counter(name: &'static str, sink: Option<&str>, n: u64) {
    match sink {
        Some(sink) => metrics::counter!(name, "sink" => sink.to_owned()).increment(n),
        None => metrics::counter!(name).increment(n),
    }
}

#[cfg(not(feature = "metrics"))]
pub(super) fn metrics_counter(_name: &'static str, _sink: Option<&str>, _n: u64) {}
