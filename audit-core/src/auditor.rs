//! The delivery pipeline.
//!
//! ```text
//! record(event) ─▶ enrich (id, time, service, description) ─▶ redact ─▶ sequence (chain seq + hash)
//!    ─▶ spool (write-ahead, if configured) ─▶ per-sink queue ─▶ worker: batch ─▶ Sink::write_batch
//!                                                                  └─▶ retry with backoff and jitter
//! ```
//!
//! [`Auditor::record`] does the CPU work (redaction, canonical JSON, SHA-256)
//! on the caller's task and hands the sealed entry to one bounded queue per
//! sink; each sink has its own worker, so a slow sink never holds back a fast
//! one. When to return, and what to do when a queue is full or a sink fails,
//! is the [`Delivery`] mode's choice, and no mode loses an entry without
//! counting it in [`Auditor::stats`].
//!
//! With a spool directory ([`AuditorBuilder::spool_dir`]) every entry is
//! appended to an on-disk write-ahead log before `record` returns; a sink whose
//! queue is full or that is failing reads its backlog back from disk, in
//! order, when it catches up, and after a restart each sink resumes from its
//! own cursor. Sinks must therefore be idempotent by entry id.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::integrity::{CheckpointPolicy, IntegrityError, Sequencer, SigningKey};
use crate::json::rfc3339_micros;
use crate::spool::{self, Wal, WalLine, WalReader};
use crate::{AuditEvent, AuditEventBuilder, EncodedBatch, JsonEntry, Redactor, ServiceInfo, Sink};

/// When `record` returns, and what happens when a sink cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Delivery {
    /// `record` returns once the entry is queued (and in the spool, when one is
    /// configured). A full queue spills to the spool, or makes the caller wait
    /// when there is none. A failing sink is retried with backoff until it
    /// recovers. Never drops.
    #[default]
    Buffered,
    /// `record` returns once every sink has written the entry, and returns an
    /// error when one cannot (down, rejecting, or not within the strict
    /// timeout). Fail-closed: the caller should refuse the operation. The entry
    /// is still retried and delivered later, like a buffered one. A strict
    /// caller never waits for room: when a sink's queue is full, or the
    /// pipeline stays busy for the strict timeout, the entry is refused
    /// before it is recorded ([`RecordError::Backlog`], [`RecordError::Busy`]).
    Strict,
    /// Like `Buffered`, but a full queue drops the entry for that sink instead
    /// of spilling or waiting. Every drop is counted.
    BestEffort,
}

impl std::str::FromStr for Delivery {
    type Err = crate::model::ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "buffered" => Ok(Self::Buffered),
            "strict" => Ok(Self::Strict),
            "besteffort" => Ok(Self::BestEffort),
            _ => Err(crate::model::ParseEnumError::new(
                "delivery mode",
                s,
                "buffered, strict, best_effort",
            )),
        }
    }
}

/// Exponential backoff with jitter for failed writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The first wait (default 50 ms).
    pub initial_backoff: Duration,
    /// The longest wait (default 10 s).
    pub max_backoff: Duration,
    /// Growth per attempt (default 2).
    pub multiplier: f64,
    /// Random spread, as a fraction of the wait (default 0.2: ±20 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// A policy with these bounds and the default multiplier and jitter.
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self { initial_backoff, max_backoff, ..Self::default() }
    }

    /// The wait before retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.initial_backoff.as_secs_f64()
            * self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let base = base.min(self.max_backoff.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * base;
        let jittered = base - spread + 2.0 * spread * random_unit();
        Duration::from_secs_f64(jittered.clamp(0.0, self.max_backoff.as_secs_f64()))
    }
}

fn random_unit() -> f64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    STATE.with(|s| {
        // SplitMix64: plenty for spreading retries.
        let mut z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// What `record` accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The entry's id.
    pub id: Uuid,
    /// Its chain.
    pub chain: Uuid,
    /// Its position in the chain.
    pub seq: u64,
    /// Sinks that dropped it (best-effort delivery with a full queue).
    pub dropped_by: Vec<String>,
}

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
    /// [`AuditorBuilder::queue_bytes`]).
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

/// Builder for [`Auditor`].
#[must_use = "an AuditorBuilder does nothing until `build` is called"]
pub struct AuditorBuilder {
    service: ServiceInfo,
    sinks: Vec<Arc<dyn Sink>>,
    redactor: Redactor,
    signing_key: Option<SigningKey>,
    checkpoints: CheckpointPolicy,
    delivery: Delivery,
    queue_capacity: usize,
    queue_bytes: usize,
    batch_size: usize,
    batch_interval: Duration,
    retry: RetryPolicy,
    spool_dir: Option<PathBuf>,
    spool_fsync: bool,
    strict_timeout: Duration,
}

impl fmt::Debug for AuditorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditorBuilder")
            .field("service", &self.service)
            .field("sinks", &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>())
            .field("delivery", &self.delivery)
            .field("queue_capacity", &self.queue_capacity)
            .field("queue_bytes", &self.queue_bytes)
            .field("batch_size", &self.batch_size)
            .field("spool_dir", &self.spool_dir)
            .finish_non_exhaustive()
    }
}

impl Default for AuditorBuilder {
    fn default() -> Self {
        Self {
            service: ServiceInfo {
                name: String::new(),
                version: None,
                instance: Some(default_instance()),
            },
            sinks: Vec::new(),
            redactor: Redactor::default(),
            signing_key: None,
            checkpoints: CheckpointPolicy::default(),
            delivery: Delivery::Buffered,
            queue_capacity: 8192,
            queue_bytes: 64 << 20,
            batch_size: 512,
            batch_interval: Duration::from_millis(1),
            retry: RetryPolicy::default(),
            spool_dir: None,
            spool_fsync: false,
            strict_timeout: Duration::from_secs(5),
        }
    }
}

fn default_instance() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("pid-{}", std::process::id()))
}

impl AuditorBuilder {
    /// Names the service and its version, recorded in every entry.
    pub fn service(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.service.name = name.into();
        self.service.version = Some(version.into());
        self
    }

    /// Names the instance (default: `$HOSTNAME`, else `pid-<pid>`).
    pub fn instance(mut self, instance: impl Into<String>) -> Self {
        self.service.instance = Some(instance.into());
        self
    }

    /// Adds a sink. Each sink gets its own queue and worker.
    pub fn sink(mut self, sink: impl Sink) -> Self {
        self.sinks.push(Arc::new(sink));
        self
    }

    /// Adds a sink that is already shared.
    pub fn shared_sink(mut self, sink: Arc<dyn Sink>) -> Self {
        self.sinks.push(sink);
        self
    }

    /// Replaces the default redaction rules.
    pub fn redactor(mut self, redactor: Redactor) -> Self {
        self.redactor = redactor;
        self
    }

    /// Signs checkpoints with this key (keep it out of the store).
    pub fn signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }

    /// Writes a checkpoint every `n` entries (default 1000).
    pub fn checkpoint_every(mut self, n: u64) -> Self {
        self.checkpoints.every_entries = n.max(1);
        self
    }

    /// ... or every `interval` when there were new entries (default 60 s).
    pub fn checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoints.every_interval = interval.max(Duration::from_millis(10));
        self
    }

    /// The default delivery mode (default `Buffered`).
    pub fn delivery(mut self, delivery: Delivery) -> Self {
        self.delivery = delivery;
        self
    }

    /// Entries each sink may hold in memory (default 8192).
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.queue_capacity = capacity.max(1);
        self
    }

    /// Memory each sink's queue may hold, in bytes (default 64 MiB): a queue
    /// is full when it holds `queue_capacity` entries or this many bytes,
    /// whichever comes first, so entries with large bodies cannot take
    /// `queue_capacity` times their size. What an entry counts is an estimate
    /// of the memory it holds (about five times its JSON); `stats()` reports
    /// it per sink as `queue_bytes`. A full queue spills to the spool, or
    /// makes buffered callers wait when there is none.
    pub fn queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes.max(1);
        self
    }

    /// The most entries per `write_batch` (default 512).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.batch_size = size.max(1);
        self
    }

    /// How long a batch may wait to fill once its first entry is queued
    /// (default 1 ms), as Kafka's `linger.ms`: the sink's worker then writes
    /// what has arrived, or sooner when [`batch_size`](Self::batch_size)
    /// entries are there, a strict caller waits, or the auditor shuts down.
    ///
    /// While a batch lingers, recording an entry does not wake the worker,
    /// so under load a worker wakes once per batch instead of once per
    /// entry (a wake-up of a worker on another thread costs a system call),
    /// and a file sink syncs once per batch. `Duration::ZERO` writes each
    /// entry as soon as the worker is free.
    pub fn batch_interval(mut self, interval: Duration) -> Self {
        self.batch_interval = interval;
        self
    }

    /// The retry policy for failed writes.
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Spools every entry to this directory before `record` returns, so a
    /// failing or slow sink costs disk, not memory, and a crash loses nothing
    /// that `record` acknowledged.
    ///
    /// When an append fails (a full disk: the error, logged with `tracing`,
    /// reads "no space left on device (the disk is full) appending to the
    /// audit spool file `<file>`: ..."), nothing of it stays in the spool,
    /// [`Stats::spool_errors`] counts it and the entry is kept in memory
    /// instead, up to [`queue_capacity`](Self::queue_capacity) per sink;
    /// beyond that callers wait. Appends resume by themselves once there is
    /// space.
    pub fn spool_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.spool_dir = Some(dir.into());
        self
    }

    /// Also `fsync`s the spool after every entry (default off: the spool then
    /// survives the process being killed, not the machine losing power).
    pub fn spool_fsync(mut self, fsync: bool) -> Self {
        self.spool_fsync = fsync;
        self
    }

    /// How long a strict `record` waits for every sink (default 5 s).
    pub fn strict_timeout(mut self, timeout: Duration) -> Self {
        self.strict_timeout = timeout;
        self
    }

    /// Starts the pipeline: opens the spool, writes the chain's genesis entry
    /// and starts one worker per sink. Must be called inside a Tokio runtime.
    pub fn build(self) -> Result<Auditor, BuildError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| BuildError::NoRuntime)?;
        if self.sinks.is_empty() {
            return Err(BuildError::NoSinks);
        }
        let mut names = HashSet::new();
        for s in &self.sinks {
            if !names.insert(s.name().to_owned()) {
                return Err(BuildError::DuplicateSinkName(s.name().to_owned()));
            }
        }
        let spool_err = |path: &PathBuf| {
            let path = path.clone();
            move |source| BuildError::Spool { path, source }
        };
        let wal = match &self.spool_dir {
            Some(dir) => Some(Wal::open(dir, self.spool_fsync).map_err(spool_err(dir))?),
            None => None,
        };
        let mut queues = Vec::with_capacity(self.sinks.len());
        for sink in &self.sinks {
            let queue = SinkQueue::new(
                sink.as_ref(),
                self.queue_capacity,
                self.queue_bytes,
                self.batch_size,
                self.batch_interval,
            );
            if let Some(wal) = &wal {
                let head = wal.head();
                let cursor = spool::load_cursor(wal.dir(), sink.name())
                    .map_err(spool_err(&wal.dir().to_owned()))?;
                let cursor = match cursor {
                    Some(c) if c <= head => c,
                    // A new sink starts at the head; a cursor past the head
                    // belongs to a spool that was reset.
                    _ => {
                        spool::store_cursor(wal.dir(), sink.name(), head)
                            .map_err(spool_err(&wal.dir().to_owned()))?;
                        head
                    }
                };
                queue.cursor.store(cursor, Ordering::SeqCst);
                if cursor < head {
                    tracing::info!(
                        sink = sink.name(),
                        entries = head - cursor,
                        "audit: replaying entries from the spool that were not written before the last stop"
                    );
                    queue.lock().chunks.push_back(Chunk::Wal { from: cursor, to: head });
                }
            }
            queues.push(Arc::new(queue));
        }
        let mut sequencer =
            Sequencer::new(self.signing_key, self.checkpoints.clone(), self.service.clone());
        let genesis = sequencer.genesis()?;
        let chain_id = sequencer.chain_id();
        let json = self.spool_dir.is_some() || self.sinks.iter().any(|s| s.wants_json());
        let lend = json && queues.iter().all(|q| q.json_only);
        let core =
            Core { sequencer, wal, service: self.service.clone(), description: String::new() };
        let inner = Arc::new(Inner {
            service: self.service,
            redactor: self.redactor,
            delivery: self.delivery,
            strict_timeout: self.strict_timeout,
            core: tokio::sync::Mutex::new(core),
            queues,
            workers: Mutex::new(Vec::new()),
            recorded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            spool_errors: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            spool_dir: self.spool_dir,
            json,
            lend,
        });
        {
            // Nobody else can hold the lock yet.
            let mut core = inner.core.try_lock().expect("fresh mutex");
            inner.dispatch_now(&mut core, genesis);
        }
        let mut workers = Vec::new();
        for (queue, sink) in inner.queues.iter().zip(self.sinks) {
            let worker = Worker {
                queue: queue.clone(),
                sink,
                retry: self.retry.clone(),
                spool_dir: inner.spool_dir.clone(),
                chain_id,
            };
            workers.push(runtime.spawn(worker.run()));
        }
        *inner.workers.lock().expect("fresh mutex") = workers;
        let weak = Arc::downgrade(&inner);
        runtime.spawn(checkpoint_timer(weak, self.checkpoints.every_interval));
        Ok(Auditor { inner })
    }
}

/// The audit pipeline: records entries and delivers them to every sink.
///
/// Cheap to clone; clones share one pipeline and one chain. Call
/// [`shutdown`](Self::shutdown) before the process exits: it writes the
/// closing checkpoint and flushes every sink. Dropping the last clone without
/// it prints a warning on stderr.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("service", &self.inner.service)
            .field("delivery", &self.inner.delivery)
            .field("sinks", &self.inner.queues.iter().map(|q| &q.name).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Auditor {
    /// Starts configuring an auditor.
    pub fn builder() -> AuditorBuilder {
        AuditorBuilder::default()
    }

    /// The default delivery mode.
    pub fn delivery(&self) -> Delivery {
        self.inner.delivery
    }

    /// The service identity recorded in every entry.
    pub fn service(&self) -> &ServiceInfo {
        &self.inner.service
    }

    /// The redaction rules (the layer uses them for headers and query strings).
    pub fn redactor(&self) -> &Redactor {
        &self.inner.redactor
    }

    /// Records an entry with the default delivery mode.
    pub async fn record(&self, event: impl Into<AuditEvent>) -> Result<Receipt, RecordError> {
        self.record_with(event, self.inner.delivery).await
    }

    /// Records an entry with a given delivery mode.
    pub async fn record_with(
        &self,
        event: impl Into<AuditEvent>,
        delivery: Delivery,
    ) -> Result<Receipt, RecordError> {
        let inner = &self.inner;
        if inner.closed.load(Ordering::SeqCst) {
            return Err(RecordError::Shutdown);
        }
        let mut event = event.into();
        inner.enrich(&mut event);
        inner.redactor.redact_event(&mut event);

        // Strict callers never wait for room: not behind the lock (held by a
        // caller waiting for room), not in a full queue.
        let strict = delivery == Delivery::Strict;
        // Only a strict caller has a deadline (and reads the clock for it).
        let deadline = strict.then(|| tokio::time::Instant::now() + inner.strict_timeout);
        let mut core = if let Some(deadline) = deadline {
            tokio::time::timeout_at(deadline, inner.core.lock())
                .await
                .map_err(|_| RecordError::Busy { id: event.id, timeout: inner.strict_timeout })?
        } else {
            inner.core.lock().await
        };
        if inner.closed.load(Ordering::SeqCst) {
            return Err(RecordError::Shutdown);
        }
        if strict {
            // With the lock held, nobody else fills the queues.
            if let Some(q) = inner.queues.iter().find(|q| !q.has_room(&q.lock())) {
                return Err(RecordError::Backlog {
                    id: event.id,
                    sink: q.name.clone(),
                    capacity: q.capacity,
                });
            }
        }
        // The JSON made while hashing, for the sinks that write JSON.
        let (json, json_len) = core.seal(&mut event, inner.json, inner.lend)?;
        let seq = core.sequencer.next_seq() - 1;
        let id = event.id;
        let chain = core.sequencer.chain_id();
        let acks = (delivery == Delivery::Strict).then(|| {
            inner
                .queues
                .iter()
                .map(|q| {
                    let (tx, rx) = oneshot::channel();
                    q.lock().acks.entry(seq).or_default().push(tx);
                    (q.name.clone(), rx)
                })
                .collect::<Vec<_>>()
        });
        let (sealed, json) = match json {
            Some(json) if inner.lend => {
                // Only the JSON goes on; the entry is freed here, before
                // anything moves it.
                drop(event);
                (Sealed::Json { id, seq, json }, None)
            }
            json => (Sealed::Entry(Box::new(event)), json),
        };
        let dropped_by = inner.dispatch(&mut core, sealed, json, json_len, delivery).await;
        if core.sequencer.checkpoint_due(Instant::now()) {
            let checkpoint = Sealed::Entry(Box::new(core.sequencer.checkpoint(false)?));
            inner.dispatch(&mut core, checkpoint, None, Item::CHAIN, Delivery::Buffered).await;
        }
        drop(core);

        if let (Some(acks), Some(deadline)) = (acks, deadline) {
            for (sink, rx) in acks {
                match tokio::time::timeout_at(deadline, rx).await {
                    Ok(Ok(Ok(()))) => {}
                    Ok(Ok(Err(message))) => {
                        return Err(RecordError::NotDurable { id, sink, message });
                    }
                    Ok(Err(_)) => {
                        return Err(RecordError::NotDurable {
                            id,
                            sink,
                            message: "the sink's worker stopped before writing it".into(),
                        });
                    }
                    Err(_) => {
                        return Err(RecordError::Timeout {
                            id,
                            sink,
                            timeout: inner.strict_timeout,
                        });
                    }
                }
            }
        }
        Ok(Receipt { id, chain, seq, dropped_by })
    }

    /// A snapshot of the pipeline's counters.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let sinks = inner
            .queues
            .iter()
            .map(|q| {
                let (depth, bytes, backlog) = {
                    let st = q.lock();
                    (st.mem as u64, (st.mem_bytes + st.flight_bytes) as u64, st.wal_backlog())
                };
                SinkStats {
                    name: q.name.clone(),
                    written: q.written.load(Ordering::Relaxed),
                    retried: q.retried.load(Ordering::Relaxed),
                    failed: q.failed.load(Ordering::Relaxed),
                    spooled: q.spooled.load(Ordering::Relaxed),
                    replayed: q.replayed.load(Ordering::Relaxed),
                    dropped: q.dropped.load(Ordering::Relaxed),
                    queue_depth: depth,
                    queue_bytes: bytes,
                    backlog,
                }
            })
            .collect();
        Stats {
            recorded: inner.recorded.load(Ordering::Relaxed),
            dropped: inner.dropped.load(Ordering::Relaxed),
            spool_errors: inner.spool_errors.load(Ordering::Relaxed),
            sinks,
        }
    }

    /// Writes the closing checkpoint, then waits until every sink has written
    /// everything and has been flushed and shut down, or until `timeout`.
    ///
    /// After it, `record` returns [`RecordError::Shutdown`]. Calling it again
    /// returns at once.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let inner = &self.inner;
        let deadline = tokio::time::Instant::now() + timeout;
        {
            let mut core = inner.core.lock().await;
            if inner.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            let closing = core.sequencer.checkpoint(true)?;
            let _ = tokio::time::timeout_at(
                deadline,
                inner.dispatch(
                    &mut core,
                    Sealed::Entry(Box::new(closing)),
                    None,
                    Item::CHAIN,
                    Delivery::Buffered,
                ),
            )
            .await;
        }
        for q in &inner.queues {
            q.close(deadline.into_std());
        }
        let workers = std::mem::take(&mut *inner.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = tokio::time::timeout_at(deadline, w).await;
        }
        inner.shut_down.store(true, Ordering::SeqCst);
        let mut pending = 0;
        let mut sinks = Vec::new();
        for q in &inner.queues {
            let st = q.lock();
            let n = st.mem as u64 + st.wal_backlog() + q.in_flight.load(Ordering::SeqCst);
            if n > 0 {
                pending += n;
                sinks.push(format!("{}: {n}", q.name));
            }
        }
        if pending > 0 {
            return Err(ShutdownError::Timeout { pending, sinks: sinks.join(", ") });
        }
        Ok(())
    }
}

impl From<AuditEventBuilder> for AuditEvent {
    fn from(builder: AuditEventBuilder) -> Self {
        builder.build()
    }
}

/// The state that recording serializes on.
///
/// `service` and `description` are lent to entries bound only for sinks
/// that take their JSON ([`Inner::lend`]): moved into the entry for its
/// serialization and taken back, with the sequencer's `chain` strings,
/// instead of a copy being made for every entry and freed right after.
struct Core {
    sequencer: Sequencer,
    wal: Option<Wal>,
    service: ServiceInfo,
    description: String,
}

impl Core {
    /// Seals `event` (see [`Sequencer::seal_encoded`]), lending it the
    /// service and its default description when it lacks them and `lend`
    /// is set; they are taken back when its JSON was made, and copied into
    /// it otherwise (the entry then goes on as it is).
    fn seal(
        &mut self,
        event: &mut AuditEvent,
        want_json: bool,
        lend: bool,
    ) -> Result<(Option<Bytes>, usize), IntegrityError> {
        let lent_service = lend && event.service.is_empty();
        if lent_service {
            std::mem::swap(&mut event.service, &mut self.service);
        }
        let lent_description = lend && event.description.is_empty();
        if lent_description {
            self.description.clear();
            event.write_default_description(&mut self.description);
            std::mem::swap(&mut event.description, &mut self.description);
        }
        let sealed = self.sequencer.seal_encoded(event, want_json, lend);
        let kept = !matches!(sealed, Ok((Some(_), _)));
        if lent_service {
            std::mem::swap(&mut event.service, &mut self.service);
            if kept {
                event.service.clone_from(&self.service);
            }
        }
        if lent_description {
            std::mem::swap(&mut event.description, &mut self.description);
            if kept {
                event.description.clone_from(&self.description);
            }
        }
        sealed
    }
}

struct Inner {
    service: ServiceInfo,
    redactor: Redactor,
    delivery: Delivery,
    strict_timeout: Duration,
    core: tokio::sync::Mutex<Core>,
    queues: Vec<Arc<SinkQueue>>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    recorded: AtomicU64,
    dropped: AtomicU64,
    spool_errors: AtomicU64,
    closed: AtomicBool,
    shut_down: AtomicBool,
    spool_dir: Option<PathBuf>,
    /// Whether the spool or a sink uses the entries' JSON (kept from hashing).
    json: bool,
    /// Whether every sink takes the JSON alone, so that an entry whose JSON
    /// is made while hashing is only serialized, then freed: the fields the
    /// pipeline adds are then lent to it (see [`Core`]).
    lend: bool,
}

impl Inner {
    /// Gives an entry its id and time, and unless [`Inner::lend`] is set
    /// (they are then lent to it while sealing, see [`Core::seal`]) the
    /// service and its default description.
    fn enrich(&self, event: &mut AuditEvent) {
        if event.id.is_nil() {
            event.id = Uuid::now_v7();
        }
        if event.time == OffsetDateTime::UNIX_EPOCH {
            event.time = OffsetDateTime::now_utc();
        }
        event.time = rfc3339_micros::truncate(event.time);
        if !self.lend {
            if event.service.is_empty() {
                event.service = self.service.clone();
            }
            if event.description.is_empty() {
                event.description = event.default_description();
            }
        }
        // The chain is the sequencer's to set.
        event.chain = None;
    }

    /// Spools the entry and hands it to every sink's queue; returns the sinks
    /// that dropped it. Waits for queue space when the mode says so.
    /// `json_len` is the length of the entry's canonical JSON (for the
    /// memory estimate).
    async fn dispatch(
        &self,
        core: &mut Core,
        sealed: Sealed,
        json: Option<Bytes>,
        json_len: usize,
        delivery: Delivery,
    ) -> Vec<String> {
        let (wal_index, seq) = self.spool_sealed(core, &sealed, json.as_deref());
        self.recorded.fetch_add(1, Ordering::Relaxed);
        metrics_counter("audit_recorded_total", None, 1);
        let mut dropped_by = Vec::new();
        for (q, payload) in self.queues.iter().zip(self.payloads(sealed, json)) {
            let Some(payload) = payload else { continue };
            let charge = payload.charge(json_len);
            let mut item = Some(Item { seq, wal: wal_index, payload, charge });
            loop {
                let notified = q.space.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                // Written entries handed back by a typed sink's worker, freed
                // after the lock, two for each entry recorded so that they do
                // not pile up (see `SinkQueue::hand_back`).
                let written: [Option<AuditEvent>; 2];
                {
                    let mut st = q.lock();
                    written = [st.written.pop(), st.written.pop()];
                    if q.has_room(&st) {
                        let was_empty = st.chunks.is_empty();
                        st.push_mem(item.take().expect("item present"), q.batch_size);
                        let urgent = q.is_urgent(&st);
                        drop(st);
                        drop(written);
                        q.notify(was_empty, urgent);
                        break;
                    }
                    if let Some(index) = wal_index {
                        st.push_wal(index);
                        drop(st);
                        q.spooled.fetch_add(1, Ordering::Relaxed);
                        metrics_counter("audit_spooled_total", Some(&q.name), 1);
                        q.notify(true, true);
                        break;
                    }
                    if delivery == Delivery::BestEffort {
                        drop(st);
                        q.dropped.fetch_add(1, Ordering::Relaxed);
                        metrics_counter("audit_dropped_total", Some(&q.name), 1);
                        dropped_by.push(q.name.clone());
                        break;
                    }
                }
                // Buffered or strict without a spool: wait for room.
                notified.await;
            }
        }
        if !dropped_by.is_empty() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        dropped_by
    }

    /// What each sink's queue gets of an entry, in the order of the queues:
    /// the JSON alone for sinks that need no typed entries (the pipeline's
    /// bytes, else serialized now: chain entries), the entry for the others
    /// (moved into the last of them, cloned for the rest). When no sink
    /// takes the entry, it is freed here, on the recording thread, instead
    /// of on a sink's worker.
    fn payloads(
        &self,
        sealed: Sealed,
        json: Option<Bytes>,
    ) -> impl Iterator<Item = Option<Payload>> + Send + '_ {
        let queues = &self.queues;
        let typed_want_json = queues.iter().any(|q| !q.json_only && q.wants_json);
        let mut json = json;
        let (event, mut json_alone) = match sealed {
            Sealed::Json { id, json, .. } => {
                debug_assert!(
                    queues.iter().all(|q| q.json_only),
                    "only JSON sinks get the JSON alone"
                );
                (None, Some(JsonEntry { id, json }))
            }
            Sealed::Entry(event) => {
                let json_alone = if queues.iter().any(|q| q.json_only) {
                    match json.take_if(|_| !typed_want_json) {
                        // Moved when no typed sink wants it too: each handle
                        // made and dropped is an atomic operation on the
                        // arena the JSON shares with the entries around it.
                        Some(bytes) => Some(JsonEntry { id: event.id, json: bytes }),
                        None => match &json {
                            Some(bytes) => Some(JsonEntry { id: event.id, json: bytes.clone() }),
                            None => JsonEntry::encode(&event).ok(),
                        },
                    }
                } else {
                    None
                };
                (Some(event), json_alone)
            }
        };
        let no_json_alone = json_alone.is_none();
        let typed = move |q: &SinkQueue| !q.json_only || no_json_alone;
        let last_typed = queues.iter().rposition(|q| typed(q));
        let last_json_alone = queues.iter().rposition(|q| !typed(q));
        let last_typed_json = queues.iter().rposition(|q| typed(q) && q.wants_json);
        // Freed now when no sink takes it (not only when the caller is done).
        let mut event = last_typed.and(event);
        // The last of each kind of sink takes what it gets, the others a copy.
        fn take_last<T: Clone>(slot: &mut Option<T>, last: bool) -> Option<T> {
            if last { slot.take() } else { slot.clone() }
        }
        queues.iter().enumerate().map(move |(i, q)| {
            if !typed(q) {
                return take_last(&mut json_alone, Some(i) == last_json_alone).map(Payload::Json);
            }
            let event = take_last(&mut event, Some(i) == last_typed)?;
            let json =
                if q.wants_json { take_last(&mut json, Some(i) == last_typed_json) } else { None };
            Some(Payload::Entry { event, json })
        })
    }

    /// Dispatch for when queues are known to have room (genesis at build).
    fn dispatch_now(&self, core: &mut Core, event: AuditEvent) {
        let sealed = Sealed::Entry(Box::new(event));
        let (wal_index, seq) = self.spool_sealed(core, &sealed, None);
        self.recorded.fetch_add(1, Ordering::Relaxed);
        metrics_counter("audit_recorded_total", None, 1);
        for (q, payload) in self.queues.iter().zip(self.payloads(sealed, None)) {
            let Some(payload) = payload else { continue };
            let charge = payload.charge(Item::CHAIN);
            q.lock().push_mem(Item { seq, wal: wal_index, payload, charge }, q.batch_size);
            q.notify(true, true);
        }
    }

    /// Spools a sealed entry (when there is a spool), and returns its index
    /// in the spool and its seq.
    fn spool_sealed(
        &self,
        core: &mut Core,
        sealed: &Sealed,
        json: Option<&[u8]>,
    ) -> (Option<u64>, Option<u64>) {
        match sealed {
            Sealed::Json { seq, json, .. } => (self.spool(core, WalLine::Json(json)), Some(*seq)),
            Sealed::Entry(event) => {
                let line = json.map_or(WalLine::Entry(event), WalLine::Json);
                (self.spool(core, line), event.chain.as_ref().map(|c| c.seq))
            }
        }
    }

    fn spool(&self, core: &mut Core, line: WalLine<'_>) -> Option<u64> {
        let wal = core.wal.as_mut()?;
        match wal.append(line) {
            Ok(index) => {
                if index % 4096 == 0 {
                    let min = self.queues.iter().map(|q| q.cursor.load(Ordering::SeqCst)).min();
                    if let Err(e) = wal.collect_garbage(min.unwrap_or(0)) {
                        tracing::warn!(error = %e, "audit spool: could not delete delivered segments");
                    }
                }
                Some(index)
            }
            Err(e) => {
                let n = self.spool_errors.fetch_add(1, Ordering::Relaxed);
                if n == 0 || n.is_power_of_two() {
                    tracing::error!(
                        error = %e,
                        failures = n + 1,
                        "audit spool: cannot write to the spool; entries are kept in memory up to the queue \
                         capacity (callers wait beyond it) until the spool is writable again"
                    );
                }
                None
            }
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::SeqCst) {
            let pending: u64 = self
                .queues
                .iter()
                .map(|q| {
                    let st = q.lock();
                    st.mem as u64 + st.wal_backlog()
                })
                .sum();
            eprintln!(
                "audit: the Auditor was dropped without `shutdown()`: the chain has no closing \
                 checkpoint and {pending} queued entries are written only if the runtime keeps \
                 running{}. Call `auditor.shutdown(timeout).await` before exiting.",
                if self.spool_dir.is_some() {
                    " (the spool replays them at the next start)"
                } else {
                    ""
                }
            );
        }
        for q in &self.queues {
            q.close(Instant::now() + Duration::from_secs(5));
        }
    }
}

async fn checkpoint_timer(inner: Weak<Inner>, interval: Duration) {
    let tick = (interval / 2).max(Duration::from_millis(5));
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = inner.upgrade() else { return };
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        let mut core = inner.core.lock().await;
        if inner.closed.load(Ordering::SeqCst) {
            return;
        }
        if core.sequencer.checkpoint_due(Instant::now()) {
            match core.sequencer.checkpoint(false) {
                Ok(cp) => {
                    let cp = Sealed::Entry(Box::new(cp));
                    inner.dispatch(&mut core, cp, None, Item::CHAIN, Delivery::Buffered).await;
                }
                Err(e) => tracing::error!(error = %e, "audit: could not write a checkpoint"),
            }
        }
    }
}

#[cfg(feature = "metrics")]
fn metrics_counter(name: &'static str, sink: Option<&str>, n: u64) {
    match sink {
        Some(sink) => metrics::counter!(name, "sink" => sink.to_owned()).increment(n),
        None => metrics::counter!(name).increment(n),
    }
}

#[cfg(not(feature = "metrics"))]
fn metrics_counter(_name: &'static str, _sink: Option<&str>, _n: u64) {}

/// A sealed entry on its way to the queues.
enum Sealed {
    /// The entry, boxed once: a typed sink's queue takes the box.
    Entry(Box<AuditEvent>),
    /// Its JSON alone, when every sink takes the JSON alone and the entry
    /// was freed after sealing (see [`Inner::lend`]).
    Json { id: Uuid, seq: u64, json: Bytes },
}

struct Item {
    /// Seq in the current chain (for strict acks); `None` for entries replayed
    /// from an earlier run.
    seq: Option<u64>,
    /// Index in the spool, if spooled.
    wal: Option<u64>,
    payload: Payload,
    /// What it counts against `queue_bytes`: an estimate of the memory it
    /// holds.
    charge: usize,
}

/// An entry as a sink's queue holds it. The typed entry is boxed: inline,
/// it would make every queued item of a JSON sink as large as an entry's
/// struct (about 750 bytes) for nothing.
enum Payload {
    /// The typed entry, with `serde_json::to_vec` of it when the pipeline has
    /// it and the sink wants it (see [`EncodedBatch`]).
    Entry { event: Box<AuditEvent>, json: Option<Bytes> },
    /// The JSON alone, for a sink whose `wants_entries()` is `false`.
    Json(JsonEntry),
}

impl Payload {
    /// An estimate of the memory a queued entry holds, from the length of
    /// its canonical JSON: a parsed entry takes four to five times its JSON
    /// in heap (strings, maps, bodies as `serde_json::Value`s; measured with
    /// a counting allocator on the benchmark's 1.5 KB entry), plus the item
    /// itself and the JSON, when kept. JSON alone costs its bytes plus
    /// [`Self::JSON_OVERHEAD`].
    fn charge(&self, json_len: usize) -> usize {
        size_of::<Item>()
            + match self {
                Payload::Entry { json, .. } => 5 * json_len + json.as_ref().map_or(0, Bytes::len),
                Payload::Json(entry) => entry.json.len() + Self::JSON_OVERHEAD,
            }
    }

    /// What queued bytes hold beyond their length: the allocator's headers
    /// of the buffer and of the shared handle `Bytes` allocates once the
    /// bytes go to more than one place, and the item's share of its queue's
    /// spare capacity (a `VecDeque` grows by doubling).
    const JSON_OVERHEAD: usize = 64 + size_of::<Item>() / 2;
}

impl Item {
    /// The JSON length a chain entry (genesis, checkpoint) is charged for.
    const CHAIN: usize = 512;
}

enum Chunk {
    Mem(VecDeque<Item>),
    /// Spool indices `from..to`, not held in memory.
    Wal {
        from: u64,
        to: u64,
    },
}

type Ack = oneshot::Sender<Result<(), String>>;

/// The most items a run of the queue reserves room for at once.
const MAX_RUN_CAPACITY: usize = 1024;

/// How long a worker waits, idle, before it frees the written entries it
/// handed back that no recording caller has freed (see
/// [`SinkQueue::hand_back`]).
const IDLE_FREE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct QueueState {
    chunks: VecDeque<Chunk>,
    mem: usize,
    /// The sum of the charges of the items in `mem`.
    mem_bytes: usize,
    /// The sum of the charges of the batch being written.
    flight_bytes: usize,
    acks: BTreeMap<u64, Vec<Ack>>,
    closing: Option<Instant>,
    /// An emptied batch, given back by the worker, for the next run of
    /// items: a run's buffer goes back and forth between the recording side
    /// and the worker instead of being allocated on one thread and freed on
    /// the other for every batch.
    spare: Option<Vec<Item>>,
    /// Entries a typed sink has written, handed back by its worker to be
    /// freed by the recording side (see [`SinkQueue::hand_back`]).
    written: Vec<AuditEvent>,
}

impl QueueState {
    /// Queues an item in memory; a new run of items gets room for a batch
    /// (`batch_size`) at once, as a worker takes them, instead of growing
    /// item by item.
    fn push_mem(&mut self, item: Item, batch_size: usize) {
        self.mem += 1;
        self.mem_bytes += item.charge;
        if let Some(Chunk::Mem(items)) = self.chunks.back_mut() {
            items.push_back(item);
        } else {
            let mut items = match self.spare.take() {
                // Without a copy: the batch's buffer becomes the run's.
                Some(spare) => VecDeque::from(spare),
                None => VecDeque::with_capacity(batch_size.clamp(1, MAX_RUN_CAPACITY)),
            };
            items.push_back(item);
            self.chunks.push_back(Chunk::Mem(items));
        }
    }

    fn push_wal(&mut self, index: u64) {
        match self.chunks.back_mut() {
            Some(Chunk::Wal { to, .. }) if *to == index => *to += 1,
            _ => self.chunks.push_back(Chunk::Wal { from: index, to: index + 1 }),
        }
    }

    fn wal_backlog(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Wal { from, to } => to - from,
                Chunk::Mem(_) => 0,
            })
            .sum()
    }
}

struct SinkQueue {
    name: String,
    capacity: usize,
    max_bytes: usize,
    /// The most entries per batch.
    batch_size: usize,
    /// How long a batch may wait to fill (see
    /// `AuditorBuilder::batch_interval`; zero: it does not wait).
    linger: Duration,
    /// The sink uses the pipeline's JSON.
    wants_json: bool,
    /// The sink uses the JSON alone (no typed entries).
    json_only: bool,
    state: Mutex<QueueState>,
    /// An entry arrived in an empty queue (the worker may be idle).
    wake: Notify,
    /// A lingering batch should be written now: it is full, a strict
    /// caller waits for it, or the queue is closing.
    urgent: Notify,
    space: Notify,
    cursor: AtomicU64,
    in_flight: AtomicU64,
    written: AtomicU64,
    retried: AtomicU64,
    failed: AtomicU64,
    spooled: AtomicU64,
    replayed: AtomicU64,
    dropped: AtomicU64,
}

impl SinkQueue {
    fn new(
        sink: &dyn Sink,
        capacity: usize,
        max_bytes: usize,
        batch_size: usize,
        linger: Duration,
    ) -> Self {
        Self {
            name: sink.name().to_owned(),
            capacity,
            max_bytes,
            batch_size,
            linger,
            wants_json: sink.wants_json(),
            json_only: sink.wants_json() && !sink.wants_entries(),
            state: Mutex::new(QueueState::default()),
            wake: Notify::new(),
            urgent: Notify::new(),
            space: Notify::new(),
            cursor: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            written: AtomicU64::new(0),
            retried: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            spooled: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether another entry fits in memory: fewer than `queue_capacity`
    /// entries and less than `queue_bytes` (an empty queue takes any one
    /// entry, however large).
    fn has_room(&self, st: &QueueState) -> bool {
        st.mem == 0 || (st.mem < self.capacity && st.mem_bytes + st.flight_bytes < self.max_bytes)
    }

    /// Whether the worker should write what is queued without lingering.
    fn is_urgent(&self, st: &QueueState) -> bool {
        self.linger.is_zero()
            || st.mem >= self.batch_size
            || !st.acks.is_empty()
            || st.closing.is_some()
            || !self.has_room(st)
    }

    /// Tells the worker about a new entry: a wake-up when the queue was
    /// empty (it may be idle), and a nudge when a lingering batch should
    /// go now. Entries that join a lingering batch cost no wake-up.
    fn notify(&self, was_empty: bool, urgent: bool) {
        if was_empty || urgent {
            self.wake.notify_one();
        }
        if urgent {
            self.urgent.notify_one();
        }
    }

    /// Hands the entries of a written batch back to the recording side,
    /// which frees a few with every entry it records (see
    /// [`Inner::dispatch`]); what does not fit (more than a batch waiting)
    /// is freed here. A typed entry is made on the thread that records it;
    /// freed on the worker's thread instead, its fifty-odd blocks went to
    /// glibc's allocator from another thread, and the recording thread then
    /// waited on the allocator's lock: criterion's `record` with a typed sink
    /// took 2.4 times as long as with a JSON sink.
    fn hand_back(&self, mut entries: Vec<AuditEvent>) {
        let cap = self.batch_size.max(1);
        let mut st = self.lock();
        if st.written.is_empty() {
            // The common case, without moving the entries.
            std::mem::swap(&mut st.written, &mut entries);
        } else {
            let keep = cap.saturating_sub(st.written.len()).min(entries.len());
            st.written.extend(entries.drain(..keep));
        }
        let over = if st.written.len() > cap { st.written.split_off(cap) } else { Vec::new() };
        drop(st);
        drop(entries);
        drop(over);
    }

    /// Keeps a written batch's buffer (emptied) for the next run of items.
    fn recycle(&self, mut batch: Vec<Item>) {
        batch.clear();
        if batch.capacity() == 0 || batch.capacity() > MAX_RUN_CAPACITY {
            return;
        }
        let mut st = self.lock();
        if st.spare.is_none() {
            st.spare = Some(batch);
        }
    }

    fn close(&self, deadline: Instant) {
        let mut st = self.lock();
        if st.closing.is_none() {
            st.closing = Some(deadline);
        }
        drop(st);
        self.notify(true, true);
    }

    fn resolve_acks(&self, upto: Option<u64>, result: Result<(), String>) {
        let Some(upto) = upto else { return };
        let mut st = self.lock();
        let rest = st.acks.split_off(&upto.saturating_add(1));
        let done = std::mem::replace(&mut st.acks, rest);
        drop(st);
        for tx in done.into_values().flatten() {
            let _ = tx.send(result.clone());
        }
    }
}

enum Taken {
    Mem(Vec<Item>),
    Wal { from: u64, to: u64 },
    Closed,
}

struct Worker {
    queue: Arc<SinkQueue>,
    sink: Arc<dyn Sink>,
    retry: RetryPolicy,
    spool_dir: Option<PathBuf>,
    chain_id: Uuid,
}

impl Worker {
    async fn take(&self) -> Taken {
        let mut lingered = false;
        loop {
            let notified = self.queue.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let linger = {
                let mut guard = self.queue.lock();
                let st = &mut *guard;
                let closing = st.closing.is_some();
                let urgent = self.queue.is_urgent(st);
                match st.chunks.front_mut() {
                    Some(Chunk::Mem(_)) if !lingered && !urgent => true,
                    Some(Chunk::Mem(items)) => {
                        let n = items.len().min(self.queue.batch_size);
                        let batch: Vec<Item> = if n == items.len() {
                            // The whole run is the batch: take its buffer.
                            let items = std::mem::take(items);
                            st.chunks.pop_front();
                            Vec::from(items)
                        } else {
                            items.drain(..n).collect()
                        };
                        st.mem -= n;
                        // The batch holds its memory until it is written.
                        let charge = batch.iter().map(|i| i.charge).sum::<usize>();
                        st.mem_bytes -= charge;
                        st.flight_bytes = charge;
                        self.queue.in_flight.store(n as u64, Ordering::SeqCst);
                        drop(guard);
                        self.queue.space.notify_waiters();
                        return Taken::Mem(batch);
                    }
                    Some(Chunk::Wal { from, to }) => {
                        let start = *from;
                        let end = (*to).min(start + self.queue.batch_size as u64);
                        *from = end;
                        if *from == *to {
                            st.chunks.pop_front();
                        }
                        self.queue.in_flight.store(end - start, Ordering::SeqCst);
                        return Taken::Wal { from: start, to: end };
                    }
                    None if closing => return Taken::Closed,
                    None => false,
                }
            };
            if linger {
                // Let the batch fill: entries recorded meanwhile join it
                // without waking this worker.
                lingered = true;
                let _ = tokio::time::timeout(self.queue.linger, self.queue.urgent.notified()).await;
                continue;
            }
            if self.queue.lock().written.is_empty() {
                notified.await;
            } else if tokio::time::timeout(IDLE_FREE, notified.as_mut()).await.is_err() {
                // Nobody has recorded for a while: free what was handed back
                // here rather than hold it.
                let written = std::mem::take(&mut self.queue.lock().written);
                drop(written);
            }
        }
    }

    async fn run(self) {
        let mut reader = self.spool_dir.as_deref().map(WalReader::new);
        loop {
            // The end of a spool range whose cursor must pass skipped lines.
            let mut pass_to = None;
            let (mut items, from_spool) = match self.take().await {
                Taken::Closed => break,
                Taken::Mem(items) => (items, false),
                Taken::Wal { from, to } => {
                    let read = match reader.as_mut() {
                        Some(r) => r.read(from, to, (to - from) as usize),
                        None => Err(std::io::Error::other("no spool configured")),
                    };
                    let skipped = reader.as_mut().map_or(0, WalReader::take_skipped);
                    if skipped > 0 {
                        // Corrupt lines cost only themselves.
                        self.queue.failed.fetch_add(skipped, Ordering::Relaxed);
                        metrics_counter("audit_failed_total", Some(&self.queue.name), skipped);
                        pass_to = Some(to);
                    }
                    match read {
                        Ok(entries) => {
                            let items = entries
                                .into_iter()
                                .map(|(index, event)| Item {
                                    seq: event
                                        .chain
                                        .as_ref()
                                        .filter(|c| c.id == self.chain_id)
                                        .map(|c| c.seq),
                                    wal: Some(index),
                                    payload: Payload::Entry { event: Box::new(event), json: None },
                                    // Not queued: read back for this batch only.
                                    charge: 0,
                                })
                                .collect();
                            (items, true)
                        }
                        Err(e) => {
                            let n = to - from;
                            self.queue.failed.fetch_add(n, Ordering::Relaxed);
                            tracing::error!(
                                sink = %self.queue.name, error = %e, entries = n,
                                "audit: cannot read entries back from the spool; they are counted as failed"
                            );
                            self.advance_cursor(Some(to - 1));
                            self.queue.in_flight.store(0, Ordering::SeqCst);
                            continue;
                        }
                    }
                }
            };
            if !items.is_empty() && !self.deliver(&mut items, from_spool).await {
                return;
            }
            self.queue.recycle(items);
            if let Some(to) = pass_to {
                self.advance_cursor(Some(to - 1));
            }
            self.queue.in_flight.store(0, Ordering::SeqCst);
            let freed = std::mem::take(&mut self.queue.lock().flight_bytes);
            if freed > 0 {
                self.queue.space.notify_waiters();
            }
        }
        if let Err(e) = self.sink.flush().await {
            tracing::error!(sink = %self.queue.name, error = %e, "audit: sink flush failed at shutdown");
        }
        if let Err(e) = self.sink.shutdown().await {
            tracing::error!(sink = %self.queue.name, error = %e, "audit: sink shutdown failed");
        }
    }

    fn advance_cursor(&self, last_wal: Option<u64>) {
        let (Some(last), Some(dir)) = (last_wal, self.spool_dir.as_deref()) else { return };
        self.queue.cursor.store(last + 1, Ordering::SeqCst);
        if let Err(e) = spool::store_cursor(dir, &self.queue.name, last + 1) {
            tracing::warn!(
                sink = %self.queue.name, error = %e,
                "audit spool: cannot save the delivery cursor; entries may be written again after a restart"
            );
        }
    }

    /// Writes a batch, retrying transient failures; `false` when it gave up
    /// because the shutdown deadline passed (the batch stays counted as in flight).
    async fn deliver(&self, items: &mut Vec<Item>, from_spool: bool) -> bool {
        let max_seq = items.iter().filter_map(|i| i.seq).max();
        let last_wal = items.iter().rev().find_map(|i| i.wal);
        let (batch, unreadable) = OwnedBatch::new(items, self.queue.json_only);
        let n = batch.as_encoded().len() as u64;
        if unreadable > 0 {
            self.queue.failed.fetch_add(unreadable, Ordering::Relaxed);
            metrics_counter("audit_failed_total", Some(&self.queue.name), unreadable);
            tracing::error!(
                sink = %self.queue.name, entries = unreadable,
                "audit: entries could not be put in the form the sink takes (JSON that does not \
                 parse back, or an entry that does not serialize); they are counted as failed"
            );
        }
        let mut attempt = 0u32;
        loop {
            match self.sink.write_encoded(batch.as_encoded()).await {
                Ok(()) => {
                    self.queue.written.fetch_add(n, Ordering::Relaxed);
                    metrics_counter("audit_written_total", Some(&self.queue.name), n);
                    if from_spool {
                        self.queue.replayed.fetch_add(n, Ordering::Relaxed);
                    }
                    self.queue.resolve_acks(max_seq, Ok(()));
                    self.advance_cursor(last_wal);
                    self.free(batch, from_spool);
                    return true;
                }
                Err(e) if e.is_retryable() => {
                    self.queue.retried.fetch_add(1, Ordering::Relaxed);
                    metrics_counter("audit_retried_total", Some(&self.queue.name), 1);
                    if attempt == 0 || attempt.is_power_of_two() {
                        tracing::warn!(
                            sink = %self.queue.name, error = %e, attempt = attempt + 1, entries = n,
                            "audit: sink write failed; retrying with backoff"
                        );
                    }
                    // Strict callers learn now, including those whose entries
                    // wait behind this batch; the batch keeps being retried.
                    self.queue.resolve_acks(Some(u64::MAX), Err(e.to_string()));
                    let closing = self.queue.lock().closing;
                    if closing.is_some_and(|deadline| Instant::now() >= deadline) {
                        tracing::error!(
                            sink = %self.queue.name, entries = n,
                            "audit: shutdown deadline passed while the sink was failing; {}",
                            if self.spool_dir.is_some() {
                                "the entries stay in the spool and are replayed at the next start"
                            } else {
                                "the entries are lost (configure a spool to keep them)"
                            }
                        );
                        return false;
                    }
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
                Err(e) => {
                    self.queue.failed.fetch_add(n, Ordering::Relaxed);
                    metrics_counter("audit_failed_total", Some(&self.queue.name), n);
                    let kept = self
                        .spool_dir
                        .as_deref()
                        .map(|dir| spool::dead_letter(dir, &self.queue.name, batch.as_encoded()));
                    match kept {
                        Some(Ok(path)) => tracing::error!(
                            sink = %self.queue.name, error = %e, entries = n, dead_letter = %path.display(),
                            "audit: sink rejected a batch permanently; it was moved to the dead-letter file"
                        ),
                        Some(Err(io)) => tracing::error!(
                            sink = %self.queue.name, error = %e, spool_error = %io, entries = n,
                            "audit: sink rejected a batch permanently and the dead-letter file could not be written; the entries are lost"
                        ),
                        None => tracing::error!(
                            sink = %self.queue.name, error = %e, entries = n,
                            "audit: sink rejected a batch permanently and there is no spool to keep it; the entries are lost"
                        ),
                    }
                    self.queue.resolve_acks(max_seq, Err(e.to_string()));
                    self.advance_cursor(last_wal);
                    self.free(batch, from_spool);
                    return true;
                }
            }
        }
    }

    /// Frees a batch that is done with: typed entries recorded in this
    /// process go back to the recording side (see [`SinkQueue::hand_back`]);
    /// entries read back from the spool were made on this thread, and JSON
    /// is a few large blocks: those are freed here.
    fn free(&self, batch: OwnedBatch, from_spool: bool) {
        if let OwnedBatch::Entries(entries, _) = batch
            && !from_spool
        {
            self.queue.hand_back(entries);
        }
    }
}

/// A batch as the worker hands it to its sink.
enum OwnedBatch {
    Entries(Vec<AuditEvent>, Vec<Option<Bytes>>),
    Json(Vec<JsonEntry>),
}

impl OwnedBatch {
    /// Puts the items in the form the sink takes: JSON alone for a
    /// `json_only` sink (serializing entries replayed from the spool), typed
    /// entries with their JSON otherwise. Returns the batch and how many
    /// items could not be put in that form (none in practice: the pipeline's
    /// JSON parses back and entries serialize).
    fn new(items: &mut Vec<Item>, json_only: bool) -> (Self, u64) {
        let mut unreadable = 0;
        if json_only {
            let entries = items
                .drain(..)
                .filter_map(|i| match i.payload {
                    Payload::Json(entry) => Some(entry),
                    Payload::Entry { event, json: Some(json) } => {
                        Some(JsonEntry { id: event.id, json })
                    }
                    Payload::Entry { event, json: None } => {
                        let encoded = JsonEntry::encode(&event).ok();
                        unreadable += u64::from(encoded.is_none());
                        encoded
                    }
                })
                .collect();
            return (Self::Json(entries), unreadable);
        }
        let mut events = Vec::with_capacity(items.len());
        let mut json = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            match item.payload {
                Payload::Entry { event, json: bytes } => {
                    events.push(*event);
                    json.push(bytes);
                }
                Payload::Json(entry) => match serde_json::from_slice(&entry.json) {
                    Ok(event) => {
                        events.push(event);
                        json.push(Some(entry.json));
                    }
                    Err(_) => unreadable += 1,
                },
            }
        }
        (Self::Entries(events, json), unreadable)
    }

    fn as_encoded(&self) -> EncodedBatch<'_> {
        match self {
            Self::Entries(events, json) => EncodedBatch::with_json(events, json),
            Self::Json(entries) => EncodedBatch::from_json(entries),
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::SinkError;

    /// A sink that takes typed entries and keeps none.
    #[derive(Debug)]
    struct Typed;

    #[async_trait]
    impl Sink for Typed {
        fn name(&self) -> &str {
            "typed"
        }
        async fn write_batch(&self, _: &[AuditEvent]) -> Result<(), SinkError> {
            Ok(())
        }
    }

    fn handed_back(auditor: &Auditor) -> usize {
        auditor.inner.queues[0].lock().written.len()
    }

    #[tokio::test]
    async fn written_entries_are_handed_back_and_freed_by_recording_or_idleness() {
        let auditor = Auditor::builder().sink(Typed).batch_size(64).build().expect("auditor");
        for _ in 0..64 {
            auditor.record(AuditEvent::builder("project.update")).await.expect("record");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while handed_back(&auditor) == 0 {
            assert!(Instant::now() < deadline, "the worker never handed entries back");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let held = handed_back(&auditor);
        assert!(held <= 64, "at most a batch is held: {held}");

        // Each entry recorded frees two (the worker may hand that one back).
        auditor.record(AuditEvent::builder("project.update")).await.expect("record");
        assert!(handed_back(&auditor) < held, "{} of {held}", handed_back(&auditor));

        // An idle worker frees the rest.
        tokio::time::sleep(IDLE_FREE * 3).await;
        assert_eq!(handed_back(&auditor), 0);
        assert_eq!(auditor.stats().sinks[0].written, 66, "genesis and 65 entries");
        auditor.shutdown(Duration::from_secs(5)).await.expect("shutdown");
    }
}
