//! The delivery pipeline.
//!
//! ```text
//! record(event) ─▶ enrich (id, time, service, description) ─▶ redact ─▶ sequence (chain seq + hash)
//!    ─▶ spool (write-ahead, if configured) ─▶ per-sink queue ─▶ worker: batch ─▶ Sink::write
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
//!
//! The files follow an entry's way: [`Delivery`] and [`RetryPolicy`] say
//! what is promised, `builder` sets the pipeline up, `dispatch` seals an
//! entry and hands it to every sink's `queue`, and each sink's `worker`
//! writes batches from its queue; `stats` counts all of it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::model::{AuditEvent, AuditEventBuilder, ServiceInfo};
use crate::redact::Redactor;
use crate::sink::SinkInput;

mod builder;
mod delivery;
mod dispatch;
mod error;
mod queue;
mod stats;
mod worker;

pub use builder::AuditorBuilder;
pub use delivery::{Delivery, Receipt, RetryPolicy};
use dispatch::{Pipeline, Sealed};
pub use error::{BuildError, RecordError, ShutdownError};
use queue::Item;
pub use stats::{SinkStats, Stats};

#[cfg(test)]
mod tests;

/// The audit pipeline: records entries and delivers them to every sink.
///
/// Cheap to clone; clones share one pipeline and one chain. Call
/// [`shutdown`](Self::shutdown) before the process exits: it writes the
/// closing checkpoint and flushes every sink. Dropping the last clone without
/// it prints a warning on stderr.
#[derive(Clone)]
pub struct Auditor {
    pipeline: Arc<Pipeline>,
}

impl fmt::Debug for Auditor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auditor")
            .field("service", &self.pipeline.service)
            .field("delivery", &self.pipeline.delivery)
            .field("sinks", &self.pipeline.queues.iter().map(|q| &q.name).collect::<Vec<_>>())
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
        self.pipeline.delivery
    }

    /// The service identity recorded in every entry.
    pub fn service(&self) -> &ServiceInfo {
        &self.pipeline.service
    }

    /// The redaction rules (the layer uses them for headers and query strings).
    pub fn redactor(&self) -> &Redactor {
        &self.pipeline.redactor
    }

    /// Records an entry with the default delivery mode.
    pub async fn record(&self, event: impl Into<AuditEvent>) -> Result<Receipt, RecordError> {
        self.record_with(event, self.pipeline.delivery).await
    }

    /// Records an entry with a given delivery mode.
    pub async fn record_with(
        &self,
        event: impl Into<AuditEvent>,
        delivery: Delivery,
    ) -> Result<Receipt, RecordError> {
        let pipeline = &self.pipeline;
        if pipeline.closed.load(Ordering::SeqCst) {
            return Err(RecordError::Shutdown);
        }
        let mut event = event.into();
        pipeline.enrich(&mut event);
        pipeline.redactor.redact_event(&mut event);

        // Strict callers never wait for room: not behind the lock (held by a
        // caller waiting for room), not in a full queue.
        let strict = delivery == Delivery::Strict;
        // Only a strict caller has a deadline (and reads the clock for it).
        let deadline = strict.then(|| tokio::time::Instant::now() + pipeline.strict_timeout);
        let mut sealer = if let Some(deadline) = deadline {
            tokio::time::timeout_at(deadline, pipeline.sealer.lock())
                .await
                .map_err(|_| RecordError::Busy { id: event.id, timeout: pipeline.strict_timeout })?
        } else {
            pipeline.sealer.lock().await
        };
        if pipeline.closed.load(Ordering::SeqCst) {
            return Err(RecordError::Shutdown);
        }
        if strict {
            // With the lock held, nobody else fills the queues.
            if let Some(q) = pipeline.queues.iter().find(|q| !q.has_room(&q.lock())) {
                return Err(RecordError::Backlog {
                    id: event.id,
                    sink: q.name.clone(),
                    capacity: q.capacity,
                });
            }
        }
        // The JSON made while hashing, for the sinks that write JSON.
        let (json, json_len) = sealer.seal(&mut event, pipeline.needs)?;
        let seq = sealer.sequencer.next_seq() - 1;
        let id = event.id;
        let chain = sealer.sequencer.chain_id();
        let acks = (delivery == Delivery::Strict).then(|| {
            pipeline
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
            Some(json) if pipeline.needs == SinkInput::Json => {
                // Only the JSON goes on; the entry is freed here, before
                // anything moves it.
                drop(event);
                (Sealed::Json { id, seq, json }, None)
            }
            json => (Sealed::Entry(Box::new(event)), json),
        };
        let dropped_by = pipeline.dispatch(&mut sealer, sealed, json, json_len, delivery).await;
        if sealer.sequencer.checkpoint_due(Instant::now()) {
            let checkpoint = Sealed::Entry(Box::new(sealer.sequencer.checkpoint(false)?));
            pipeline.dispatch(&mut sealer, checkpoint, None, Item::CHAIN, Delivery::Buffered).await;
        }
        drop(sealer);

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
                            timeout: pipeline.strict_timeout,
                        });
                    }
                }
            }
        }
        Ok(Receipt { id, chain, seq, dropped_by })
    }

    /// A snapshot of the pipeline's counters.
    pub fn stats(&self) -> Stats {
        let pipeline = &self.pipeline;
        let sinks = pipeline
            .queues
            .iter()
            .map(|q| {
                let (depth, bytes, backlog) = {
                    let st = q.lock();
                    (st.mem as u64, (st.mem_bytes + st.flight_bytes) as u64, st.spool_backlog())
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
            recorded: pipeline.recorded.load(Ordering::Relaxed),
            dropped: pipeline.dropped.load(Ordering::Relaxed),
            spool_errors: pipeline.spool_errors.load(Ordering::Relaxed),
            sinks,
        }
    }

    /// Writes the closing checkpoint, then waits until every sink has written
    /// everything and has been flushed and shut down, or until `timeout`.
    ///
    /// After it, `record` returns [`RecordError::Shutdown`]. Calling it again
    /// returns at once.
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let pipeline = &self.pipeline;
        let deadline = tokio::time::Instant::now() + timeout;
        {
            let mut sealer = pipeline.sealer.lock().await;
            if pipeline.closed.swap(true, Ordering::SeqCst) {
                return Ok(());
            }
            let closing = sealer.sequencer.checkpoint(true)?;
            let _ = tokio::time::timeout_at(
                deadline,
                pipeline.dispatch(
                    &mut sealer,
                    Sealed::Entry(Box::new(closing)),
                    None,
                    Item::CHAIN,
                    Delivery::Buffered,
                ),
            )
            .await;
        }
        for q in &pipeline.queues {
            q.close(deadline.into_std());
        }
        let workers =
            std::mem::take(&mut *pipeline.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            let _ = tokio::time::timeout_at(deadline, w).await;
        }
        pipeline.shut_down.store(true, Ordering::SeqCst);
        let mut pending = 0;
        let mut sinks = Vec::new();
        for q in &pipeline.queues {
            let st = q.lock();
            let n = st.mem as u64 + st.spool_backlog() + q.in_flight.load(Ordering::SeqCst);
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
