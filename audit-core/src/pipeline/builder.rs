//! [`AuditorBuilder`]: the sinks, keys, queues and spool of an auditor.

use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{
    Auditor, delivery::Delivery, delivery::RetryPolicy, dispatch::Pipeline, dispatch::Sealer,
    dispatch::checkpoint_timer, error::BuildError, queue::Chunk, queue::SinkQueue, worker::Worker,
};
use crate::sink::SinkInput;
use crate::{
    Redactor, ServiceInfo, Sink, integrity::CheckpointPolicy, integrity::Sequencer,
    integrity::SigningKey, spool, spool::Spool,
};

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

pub(super) fn default_instance() -> String {
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

    /// The most entries per [`Sink::write`] (default 512).
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
    /// [`Stats::spool_errors`](super::Stats::spool_errors) counts it and the entry is kept in memory
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
        let spool = match &self.spool_dir {
            Some(dir) => Some(Spool::open(dir, self.spool_fsync).map_err(spool_err(dir))?),
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
            if let Some(spool) = &spool {
                let head = spool.head();
                let cursor = spool::load_cursor(spool.dir(), sink.name())
                    .map_err(spool_err(&spool.dir().to_owned()))?;
                let cursor = match cursor {
                    Some(c) if c <= head => c,
                    // A new sink starts at the head; a cursor past the head
                    // belongs to a spool that was reset.
                    _ => {
                        spool::store_cursor(spool.dir(), sink.name(), head)
                            .map_err(spool_err(&spool.dir().to_owned()))?;
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
                    queue.lock().chunks.push_back(Chunk::Spooled { from: cursor, to: head });
                }
            }
            queues.push(Arc::new(queue));
        }
        let mut sequencer =
            Sequencer::new(self.signing_key, self.checkpoints.clone(), self.service.clone());
        let genesis = sequencer.genesis()?;
        let chain_id = sequencer.chain_id();
        // The spool keeps each entry's JSON, as a JSON sink does.
        let spool_needs = self.spool_dir.is_some().then_some(SinkInput::Json);
        let needs = queues
            .iter()
            .map(|q| q.input)
            .chain(spool_needs)
            .reduce(SinkInput::union)
            .unwrap_or_default();
        let sealer =
            Sealer { sequencer, spool, service: self.service.clone(), description: String::new() };
        let pipeline = Arc::new(Pipeline {
            service: self.service,
            redactor: self.redactor,
            delivery: self.delivery,
            strict_timeout: self.strict_timeout,
            sealer: tokio::sync::Mutex::new(sealer),
            queues,
            workers: Mutex::new(Vec::new()),
            recorded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            spool_errors: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            shut_down: AtomicBool::new(false),
            spool_dir: self.spool_dir,
            needs,
        });
        {
            // Nobody else can hold the lock yet.
            let mut sealer = pipeline.sealer.try_lock().expect("fresh mutex");
            pipeline.dispatch_now(&mut sealer, genesis);
        }
        let mut workers = Vec::new();
        for (queue, sink) in pipeline.queues.iter().zip(self.sinks) {
            let worker = Worker {
                queue: queue.clone(),
                sink,
                retry: self.retry.clone(),
                spool_dir: pipeline.spool_dir.clone(),
                chain_id,
            };
            workers.push(runtime.spawn(worker.run()));
        }
        *pipeline.workers.lock().expect("fresh mutex") = workers;
        let weak = Arc::downgrade(&pipeline);
        runtime.spawn(checkpoint_timer(weak, self.checkpoints.every_interval));
        Ok(Auditor { pipeline })
    }
}
