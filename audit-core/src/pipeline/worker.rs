//! One sink's worker: takes batches from its queue, writes them with
//! retries, and moves what the sink rejects to the dead-letter file.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::{
    delivery::RetryPolicy, queue::Chunk, queue::IDLE_FREE, queue::Item, queue::Payload,
    queue::SinkQueue, stats::metrics_counter,
};
use crate::sink::SinkInput;
use crate::{AuditEvent, Batch, JsonEntry, Sink, spool, spool::SpoolReader};

pub(super) enum Taken {
    Mem(Vec<Item>),
    Spooled { from: u64, to: u64 },
    Closed,
}

pub(super) struct Worker {
    pub(super) queue: Arc<SinkQueue>,
    pub(super) sink: Arc<dyn Sink>,
    pub(super) retry: RetryPolicy,
    pub(super) spool_dir: Option<PathBuf>,
    pub(super) chain_id: Uuid,
}

impl Worker {
    pub(super) async fn take(&self) -> Taken {
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
                    Some(Chunk::Spooled { from, to }) => {
                        let start = *from;
                        let end = (*to).min(start + self.queue.batch_size as u64);
                        *from = end;
                        if *from == *to {
                            st.chunks.pop_front();
                        }
                        self.queue.in_flight.store(end - start, Ordering::SeqCst);
                        return Taken::Spooled { from: start, to: end };
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

    pub(super) async fn run(self) {
        let mut reader = self.spool_dir.as_deref().map(SpoolReader::new);
        loop {
            // The end of a spool range whose cursor must pass skipped lines.
            let mut pass_to = None;
            let (mut items, from_spool) = match self.take().await {
                Taken::Closed => break,
                Taken::Mem(items) => (items, false),
                Taken::Spooled { from, to } => {
                    let read = match reader.as_mut() {
                        Some(r) => r.read(from, to, (to - from) as usize),
                        None => Err(std::io::Error::other("no spool configured")),
                    };
                    let skipped = reader.as_mut().map_or(0, SpoolReader::take_skipped);
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
                                    spool_index: Some(index),
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

    pub(super) fn advance_cursor(&self, last_spooled: Option<u64>) {
        let (Some(last), Some(dir)) = (last_spooled, self.spool_dir.as_deref()) else { return };
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
    pub(super) async fn deliver(&self, items: &mut Vec<Item>, from_spool: bool) -> bool {
        let max_seq = items.iter().filter_map(|i| i.seq).max();
        let last_spooled = items.iter().rev().find_map(|i| i.spool_index);
        let (batch, unreadable) = OwnedBatch::new(items, self.queue.input);
        let n = batch.as_batch().len() as u64;
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
            match self.sink.write(batch.as_batch()).await {
                Ok(()) => {
                    self.queue.written.fetch_add(n, Ordering::Relaxed);
                    metrics_counter("audit_written_total", Some(&self.queue.name), n);
                    if from_spool {
                        self.queue.replayed.fetch_add(n, Ordering::Relaxed);
                    }
                    self.queue.resolve_acks(max_seq, Ok(()));
                    self.advance_cursor(last_spooled);
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
                        .map(|dir| spool::dead_letter(dir, &self.queue.name, batch.as_batch()));
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
                    self.advance_cursor(last_spooled);
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
    pub(super) fn free(&self, batch: OwnedBatch, from_spool: bool) {
        if let OwnedBatch::Entries(entries, _) = batch
            && !from_spool
        {
            self.queue.hand_back(entries);
        }
    }
}

/// A batch as the worker hands it to its sink.
pub(super) enum OwnedBatch {
    Entries(Vec<AuditEvent>, Vec<Option<Bytes>>),
    Json(Vec<JsonEntry>),
}

impl OwnedBatch {
    /// Puts the items in the form the sink takes: JSON alone for a
    /// sink that takes [`SinkInput::Json`] (serializing entries replayed from the spool), typed
    /// entries with their JSON otherwise. Returns the batch and how many
    /// items could not be put in that form (none in practice: the pipeline's
    /// JSON parses back and entries serialize).
    pub(super) fn new(items: &mut Vec<Item>, input: SinkInput) -> (Self, u64) {
        let mut unreadable = 0;
        if input == SinkInput::Json {
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

    pub(super) fn as_batch(&self) -> Batch<'_> {
        match self {
            Self::Entries(events, json) => Batch::with_json(events, json),
            Self::Json(entries) => Batch::from_json(entries),
        }
    }
}
