//! The recording side: sealing an entry and handing it to every sink's
//! queue (and the spool), and the checkpoint timer.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{
    delivery::Delivery, queue::Item, queue::Payload, queue::SinkQueue, stats::metrics_counter,
};
use crate::sink::SinkInput;
use crate::{
    AuditEvent, JsonEntry, Redactor, ServiceInfo, integrity::IntegrityError, integrity::Sequencer,
    json::rfc3339_micros, spool::Spool, spool::SpoolLine,
};

/// The state that recording serializes on.
///
/// `service` and `description` are lent to entries bound only for sinks
/// that take their JSON ([`Pipeline::lend`]): moved into the entry for its
/// serialization and taken back, with the sequencer's `chain` strings,
/// instead of a copy being made for every entry and freed right after.
pub(super) struct Sealer {
    pub(super) sequencer: Sequencer,
    pub(super) spool: Option<Spool>,
    pub(super) service: ServiceInfo,
    pub(super) description: String,
}

impl Sealer {
    /// Seals `event` (see [`Sequencer::seal_encoded`]), lending it the
    /// service and its default description when it lacks them and only its
    /// JSON is needed ([`SinkInput::Json`]); they are taken back when its
    /// JSON was made, and copied into
    /// it otherwise (the entry then goes on as it is).
    pub(super) fn seal(
        &mut self,
        event: &mut AuditEvent,
        needs: SinkInput,
    ) -> Result<(Option<Bytes>, usize), IntegrityError> {
        let lend = needs == SinkInput::Json;
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
        let sealed = self.sequencer.seal_encoded(event, needs);
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

pub(super) struct Pipeline {
    pub(super) service: ServiceInfo,
    pub(super) redactor: Redactor,
    pub(super) delivery: Delivery,
    pub(super) strict_timeout: Duration,
    pub(super) sealer: tokio::sync::Mutex<Sealer>,
    pub(super) queues: Vec<Arc<SinkQueue>>,
    pub(super) workers: Mutex<Vec<JoinHandle<()>>>,
    pub(super) recorded: AtomicU64,
    pub(super) dropped: AtomicU64,
    pub(super) spool_errors: AtomicU64,
    pub(super) closed: AtomicBool,
    pub(super) shut_down: AtomicBool,
    pub(super) spool_dir: Option<PathBuf>,
    /// What the sinks and the spool together take of an entry: its JSON is
    /// kept from hashing when any of them uses it; when all take the JSON
    /// alone ([`SinkInput::Json`]), an entry whose JSON is made while
    /// hashing is only serialized, then freed, and the fields the pipeline
    /// adds are lent to it (see [`Sealer`]).
    pub(super) needs: SinkInput,
}

impl Pipeline {
    /// Gives an entry its id and time, and unless [`Pipeline::lend`] is set
    /// (they are then lent to it while sealing, see [`Sealer::seal`]) the
    /// service and its default description.
    pub(super) fn enrich(&self, event: &mut AuditEvent) {
        if event.id.is_nil() {
            event.id = Uuid::now_v7();
        }
        if event.time == OffsetDateTime::UNIX_EPOCH {
            event.time = OffsetDateTime::now_utc();
        }
        event.time = rfc3339_micros::truncate(event.time);
        if self.needs != SinkInput::Json {
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
    pub(super) async fn dispatch(
        &self,
        sealer: &mut Sealer,
        sealed: Sealed,
        json: Option<Bytes>,
        json_len: usize,
        delivery: Delivery,
    ) -> Vec<String> {
        let (spool_index, seq) = self.spool_sealed(sealer, &sealed, json.as_deref());
        self.recorded.fetch_add(1, Ordering::Relaxed);
        metrics_counter("audit_recorded_total", None, 1);
        let mut dropped_by = Vec::new();
        for (q, payload) in self.queues.iter().zip(self.payloads(sealed, json)) {
            let Some(payload) = payload else { continue };
            let charge = payload.charge(json_len);
            let mut item = Some(Item { seq, spool_index, payload, charge });
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
                    if let Some(index) = spool_index {
                        st.push_spooled(index);
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
    pub(super) fn payloads(
        &self,
        sealed: Sealed,
        json: Option<Bytes>,
    ) -> impl Iterator<Item = Option<Payload>> + Send + '_ {
        let queues = &self.queues;
        let typed_want_json = queues.iter().any(|q| q.input == SinkInput::EntriesAndJson);
        let mut json = json;
        let (event, mut json_alone) = match sealed {
            Sealed::Json { id, json, .. } => {
                debug_assert!(
                    queues.iter().all(|q| q.input == SinkInput::Json),
                    "only JSON sinks get the JSON alone"
                );
                (None, Some(JsonEntry { id, json }))
            }
            Sealed::Entry(event) => {
                let json_alone = if queues.iter().any(|q| q.input == SinkInput::Json) {
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
        let typed = move |q: &SinkQueue| q.input != SinkInput::Json || no_json_alone;
        let last_typed = queues.iter().rposition(|q| typed(q));
        let last_json_alone = queues.iter().rposition(|q| !typed(q));
        let last_typed_json = queues.iter().rposition(|q| typed(q) && q.input.wants_json());
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
            let json = if q.input.wants_json() {
                take_last(&mut json, Some(i) == last_typed_json)
            } else {
                None
            };
            Some(Payload::Entry { event, json })
        })
    }

    /// Dispatch for when queues are known to have room (genesis at build).
    pub(super) fn dispatch_now(&self, sealer: &mut Sealer, event: AuditEvent) {
        let sealed = Sealed::Entry(Box::new(event));
        let (spool_index, seq) = self.spool_sealed(sealer, &sealed, None);
        self.recorded.fetch_add(1, Ordering::Relaxed);
        metrics_counter("audit_recorded_total", None, 1);
        for (q, payload) in self.queues.iter().zip(self.payloads(sealed, None)) {
            let Some(payload) = payload else { continue };
            let charge = payload.charge(Item::CHAIN);
            q.lock().push_mem(Item { seq, spool_index, payload, charge }, q.batch_size);
            q.notify(true, true);
        }
    }

    /// Spools a sealed entry (when there is a spool), and returns its index
    /// in the spool and its seq.
    pub(super) fn spool_sealed(
        &self,
        sealer: &mut Sealer,
        sealed: &Sealed,
        json: Option<&[u8]>,
    ) -> (Option<u64>, Option<u64>) {
        match sealed {
            Sealed::Json { seq, json, .. } => {
                (self.spool(sealer, SpoolLine::Json(json)), Some(*seq))
            }
            Sealed::Entry(event) => {
                let line = json.map_or(SpoolLine::Entry(event), SpoolLine::Json);
                (self.spool(sealer, line), event.chain.as_ref().map(|c| c.seq))
            }
        }
    }

    pub(super) fn spool(&self, sealer: &mut Sealer, line: SpoolLine<'_>) -> Option<u64> {
        let spool = sealer.spool.as_mut()?;
        match spool.append(line) {
            Ok(index) => {
                if index % 4096 == 0 {
                    let min = self.queues.iter().map(|q| q.cursor.load(Ordering::SeqCst)).min();
                    if let Err(e) = spool.collect_garbage(min.unwrap_or(0)) {
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

impl Drop for Pipeline {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::SeqCst) {
            let pending: u64 = self
                .queues
                .iter()
                .map(|q| {
                    let st = q.lock();
                    st.mem as u64 + st.spool_backlog()
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

pub(super) async fn checkpoint_timer(pipeline: Weak<Pipeline>, interval: Duration) {
    let tick = (interval / 2).max(Duration::from_millis(5));
    loop {
        tokio::time::sleep(tick).await;
        let Some(pipeline) = pipeline.upgrade() else { return };
        if pipeline.closed.load(Ordering::SeqCst) {
            return;
        }
        let mut sealer = pipeline.sealer.lock().await;
        if pipeline.closed.load(Ordering::SeqCst) {
            return;
        }
        if sealer.sequencer.checkpoint_due(Instant::now()) {
            match sealer.sequencer.checkpoint(false) {
                Ok(cp) => {
                    let cp = Sealed::Entry(Box::new(cp));
                    pipeline.dispatch(&mut sealer, cp, None, Item::CHAIN, Delivery::Buffered).await;
                }
                Err(e) => tracing::error!(error = %e, "audit: could not write a checkpoint"),
            }
        }
    }
}

/// A sealed entry on its way to the queues.
pub(super) enum Sealed {
    /// The entry, boxed once: a typed sink's queue takes the box.
    Entry(Box<AuditEvent>),
    /// Its JSON alone, when every sink takes the JSON alone and the entry
    /// was freed after sealing (see [`Pipeline::lend`]).
    Json { id: Uuid, seq: u64, json: Bytes },
}
