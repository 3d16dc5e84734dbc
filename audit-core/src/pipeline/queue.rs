//! One sink's bounded queue: entries in memory and ranges in the spool,
//! with its counters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{Notify, oneshot};

use crate::sink::SinkInput;
use crate::{AuditEvent, JsonEntry, Sink};

pub(super) struct Item {
    /// Seq in the current chain (for strict acks); `None` for entries replayed
    /// from an earlier run.
    pub(super) seq: Option<u64>,
    /// Index in the spool, if spooled.
    pub(super) spool_index: Option<u64>,
    pub(super) payload: Payload,
    /// What it counts against `queue_bytes`: an estimate of the memory it
    /// holds.
    pub(super) charge: usize,
}

/// An entry as a sink's queue holds it. The typed entry is boxed: inline,
/// it would make every queued item of a JSON sink as large as an entry's
/// struct (about 750 bytes) for nothing.
pub(super) enum Payload {
    /// The typed entry, with `serde_json::to_vec` of it when the pipeline has
    /// it and the sink wants it (see [`Batch`]).
    Entry { event: Box<AuditEvent>, json: Option<Bytes> },
    /// The JSON alone, for a sink that takes [`SinkInput::Json`].
    Json(JsonEntry),
}

impl Payload {
    /// An estimate of the memory a queued entry holds, from the length of
    /// its canonical JSON: a parsed entry takes several times its JSON in
    /// heap (strings, maps, bodies as `serde_json::Value`s; the factor below
    /// is an upper bound from a counting allocator on a typical entry), plus
    /// the item itself and the JSON, when kept. JSON alone costs its bytes plus
    /// [`Self::JSON_OVERHEAD`].
    pub(super) fn charge(&self, json_len: usize) -> usize {
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
    pub(super) const CHAIN: usize = 512;
}

pub(super) enum Chunk {
    Mem(VecDeque<Item>),
    /// Spool indices `from..to`, not held in memory.
    Spooled {
        from: u64,
        to: u64,
    },
}

pub(super) type Ack = oneshot::Sender<Result<(), String>>;

/// The most items a run of the queue reserves room for at once.
pub(super) const MAX_RUN_CAPACITY: usize = 1024;

/// How long a worker waits, idle, before it frees the written entries it
/// handed back that no recording caller has freed (see
/// [`SinkQueue::hand_back`]).
pub(super) const IDLE_FREE: Duration = Duration::from_millis(100);

#[derive(Default)]
pub(super) struct QueueState {
    pub(super) chunks: VecDeque<Chunk>,
    pub(super) mem: usize,
    /// The sum of the charges of the items in `mem`.
    pub(super) mem_bytes: usize,
    /// The sum of the charges of the batch being written.
    pub(super) flight_bytes: usize,
    pub(super) acks: BTreeMap<u64, Vec<Ack>>,
    pub(super) closing: Option<Instant>,
    /// An emptied batch, given back by the worker, for the next run of
    /// items: a run's buffer goes back and forth between the recording side
    /// and the worker instead of being allocated on one thread and freed on
    /// the other for every batch.
    pub(super) spare: Option<Vec<Item>>,
    /// Entries a typed sink has written, handed back by its worker to be
    /// freed by the recording side (see [`SinkQueue::hand_back`]).
    pub(super) written: Vec<AuditEvent>,
}

impl QueueState {
    /// Queues an item in memory; a new run of items gets room for a batch
    /// (`batch_size`) at once, as a worker takes them, instead of growing
    /// item by item.
    pub(super) fn push_mem(&mut self, item: Item, batch_size: usize) {
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

    pub(super) fn push_spooled(&mut self, index: u64) {
        match self.chunks.back_mut() {
            Some(Chunk::Spooled { to, .. }) if *to == index => *to += 1,
            _ => self.chunks.push_back(Chunk::Spooled { from: index, to: index + 1 }),
        }
    }

    pub(super) fn spool_backlog(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Spooled { from, to } => to - from,
                Chunk::Mem(_) => 0,
            })
            .sum()
    }
}

pub(super) struct SinkQueue {
    pub(super) name: String,
    pub(super) capacity: usize,
    pub(super) max_bytes: usize,
    /// The most entries per batch.
    pub(super) batch_size: usize,
    /// How long a batch may wait to fill (see
    /// `AuditorBuilder::batch_interval`; zero: it does not wait).
    pub(super) linger: Duration,
    /// What the sink takes of each entry.
    pub(super) input: SinkInput,
    pub(super) state: Mutex<QueueState>,
    /// An entry arrived in an empty queue (the worker may be idle).
    pub(super) wake: Notify,
    /// A lingering batch should be written now: it is full, a strict
    /// caller waits for it, or the queue is closing.
    pub(super) urgent: Notify,
    pub(super) space: Notify,
    pub(super) cursor: AtomicU64,
    pub(super) in_flight: AtomicU64,
    pub(super) written: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) failed: AtomicU64,
    pub(super) spooled: AtomicU64,
    pub(super) replayed: AtomicU64,
    pub(super) dropped: AtomicU64,
}

impl SinkQueue {
    pub(super) fn new(
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
            input: sink.input(),
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

    pub(super) fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether another entry fits in memory: fewer than `queue_capacity`
    /// entries and less than `queue_bytes` (an empty queue takes any one
    /// entry, however large).
    pub(super) fn has_room(&self, st: &QueueState) -> bool {
        st.mem == 0 || (st.mem < self.capacity && st.mem_bytes + st.flight_bytes < self.max_bytes)
    }

    /// Whether the worker should write what is queued without lingering.
    pub(super) fn is_urgent(&self, st: &QueueState) -> bool {
        self.linger.is_zero()
            || st.mem >= self.batch_size
            || !st.acks.is_empty()
            || st.closing.is_some()
            || !self.has_room(st)
    }

    /// Tells the worker about a new entry: a wake-up when the queue was
    /// empty (it may be idle), and a nudge when a lingering batch should
    /// go now. Entries that join a lingering batch cost no wake-up.
    pub(super) fn notify(&self, was_empty: bool, urgent: bool) {
        if was_empty || urgent {
            self.wake.notify_one();
        }
        if urgent {
            self.urgent.notify_one();
        }
    }

    /// Hands the entries of a written batch back to the recording side,
    /// which frees a few with every entry it records (see
    /// [`Pipeline::dispatch`]); what does not fit (more than a batch waiting)
    /// is freed here. A typed entry is made on the thread that records it;
    /// freed on the worker's thread instead, its fifty-odd blocks went to
    /// glibc's allocator from another thread, and the recording thread then
    /// waits on the allocator's lock.
    pub(super) fn hand_back(&self, mut entries: Vec<AuditEvent>) {
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
    pub(super) fn recycle(&self, mut batch: Vec<Item>) {
        batch.clear();
        if batch.capacity() == 0 || batch.capacity() > MAX_RUN_CAPACITY {
            return;
        }
        let mut st = self.lock();
        if st.spare.is_none() {
            st.spare = Some(batch);
        }
    }

    pub(super) fn close(&self, deadline: Instant) {
        let mut st = self.lock();
        if st.closing.is_none() {
            st.closing = Some(deadline);
        }
        drop(st);
        self.notify(true, true);
    }

    pub(super) fn resolve_acks(&self, upto: Option<u64>, result: Result<(), String>) {
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
