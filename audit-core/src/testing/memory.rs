use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use crate::model::AuditEvent;
use crate::sink::{Batch, Sink, SinkError};

/// A sink that keeps entries in memory, with switches to make it fail.
///
/// Clones share the same entries. Writes are idempotent by id, like every
/// real sink. It also implements [`AuditStore`](crate::AuditStore).
///
/// ```
/// use audit_core::testing::MemorySink;
/// let sink = MemorySink::new();
/// sink.control().fail_every_nth_batch(3);
/// assert!(sink.entries().is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct MemorySink {
    pub(crate) state: Arc<MemoryState>,
}

#[derive(Debug, Default)]
pub(crate) struct MemoryState {
    pub(crate) entries: Mutex<Vec<AuditEvent>>,
    pub(crate) ids: Mutex<std::collections::HashSet<uuid::Uuid>>,
    name: String,
    control: MemorySinkControl,
}

/// Fault injection for a [`MemorySink`].
#[derive(Debug, Default)]
pub struct MemorySinkControl {
    down: AtomicBool,
    permanent: AtomicBool,
    fail_every: AtomicU64,
    batches: AtomicU64,
    attempts: AtomicU64,
    duplicates: AtomicU64,
    delay_ms: AtomicU64,
}

impl MemorySinkControl {
    /// While down, every write fails with a transient error.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// While set, every write fails with a permanent error.
    pub fn set_permanent_failure(&self, on: bool) {
        self.permanent.store(on, Ordering::SeqCst);
    }

    /// Fails every n-th write attempt with a transient error (0 turns it off).
    pub fn fail_every_nth_batch(&self, n: u64) {
        self.fail_every.store(n, Ordering::SeqCst);
    }

    /// Sleeps this long in every write.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// How many writes were attempted.
    pub fn attempts(&self) -> u64 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// How many entries arrived again after they were already stored.
    pub fn duplicates(&self) -> u64 {
        self.duplicates.load(Ordering::SeqCst)
    }
}

impl Default for MemorySink {
    fn default() -> Self {
        Self::new()
    }
}

impl MemorySink {
    /// An empty sink named `memory`.
    pub fn new() -> Self {
        Self::named("memory")
    }

    /// An empty sink with another name (two memory sinks in one auditor need
    /// different names).
    pub fn named(name: impl Into<String>) -> Self {
        Self { state: Arc::new(MemoryState { name: name.into(), ..MemoryState::default() }) }
    }

    /// The fault-injection switches.
    pub fn control(&self) -> &MemorySinkControl {
        &self.state.control
    }

    /// A copy of every entry stored so far, in write order.
    pub fn entries(&self) -> Vec<AuditEvent> {
        self.state.entries.lock().expect("lock").clone()
    }

    /// How many entries are stored.
    pub fn len(&self) -> usize {
        self.state.entries.lock().expect("lock").len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stores entries directly, bypassing the pipeline (for store tests).
    pub fn load(&self, entries: impl IntoIterator<Item = AuditEvent>) {
        let mut stored = self.state.entries.lock().expect("lock");
        let mut ids = self.state.ids.lock().expect("lock");
        for e in entries {
            if ids.insert(e.id) {
                stored.push(e);
            }
        }
    }
}

#[async_trait]
impl Sink for MemorySink {
    fn name(&self) -> &str {
        &self.state.name
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let batch = batch.decode()?;
        let c = &self.state.control;
        let attempt = c.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let delay = c.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if c.permanent.load(Ordering::SeqCst) {
            return Err(SinkError::permanent("memory sink rejects every batch (test switch)"));
        }
        if c.down.load(Ordering::SeqCst) {
            return Err(SinkError::transient("memory sink is down (test switch)"));
        }
        let every = c.fail_every.load(Ordering::SeqCst);
        if every > 0 && attempt.is_multiple_of(every) {
            return Err(SinkError::transient(format!(
                "memory sink failed attempt {attempt} (test switch)"
            )));
        }
        c.batches.fetch_add(1, Ordering::SeqCst);
        let mut stored = self.state.entries.lock().expect("lock");
        let mut ids = self.state.ids.lock().expect("lock");
        for e in batch.iter() {
            if ids.insert(e.id) {
                stored.push(e.clone());
            } else {
                c.duplicates.fetch_add(1, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}
