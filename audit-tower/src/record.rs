//! Handing finished entries to the auditor: [`Recorder`] and the
//! [`RecordTask`] of one entry.
//!
//! A record that fails is logged here, and counted when the entry is gone for
//! good ([`AuditLayer::lost_entries`](crate::AuditLayer::lost_entries)). A
//! task dropped before it is done (the client went away) finishes in a
//! spawned task, so an entry is never lost to a dropped request.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use audit_core::{AuditEvent, Auditor, Delivery, Receipt, RecordError};

/// Records the entries of one service through its auditor.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    auditor: Auditor,
    lost: Arc<AtomicU64>,
}

impl Recorder {
    pub(crate) fn new(auditor: Auditor, lost: Arc<AtomicU64>) -> Self {
        Self { auditor, lost }
    }

    /// The auditor's own delivery mode, for requests no rule gives one.
    pub(crate) fn default_delivery(&self) -> Delivery {
        self.auditor.delivery()
    }

    /// Entries that were lost.
    pub(crate) fn lost_entries(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// Starts recording an entry; the returned task is polled by the
    /// response future or body, or finishes in a spawned task when dropped.
    pub(crate) fn record(&self, event: AuditEvent, delivery: Delivery) -> RecordTask {
        let auditor = self.auditor.clone();
        let future = Box::pin(async move { auditor.record_with(event, delivery).await });
        RecordTask { future: Some(future), lost: self.lost.clone() }
    }

    /// Records an entry in a spawned task (for paths that cannot wait).
    pub(crate) fn spawn(&self, event: AuditEvent, delivery: Delivery) {
        // Dropping an unpolled task spawns it.
        drop(self.record(event, delivery));
    }
}

type RecordFuture = Pin<Box<dyn Future<Output = Result<Receipt, RecordError>> + Send>>;

/// An entry being recorded. Dropped before it is done, it finishes in a
/// spawned task.
pub(crate) struct RecordTask {
    future: Option<RecordFuture>,
    lost: Arc<AtomicU64>,
}

impl fmt::Debug for RecordTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordTask").field("done", &self.future.is_none()).finish()
    }
}

impl RecordTask {
    /// Polls the recording; errors are reported (logged and counted) here.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Receipt, ()>> {
        let Some(future) = self.future.as_mut() else { return Poll::Ready(Err(())) };
        let result = match future.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        self.future = None;
        Poll::Ready(result.map_err(|e| report(&self.lost, &e)))
    }
}

impl Drop for RecordTask {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else { return };
        let lost = self.lost.clone();
        spawn_or_lose(&self.lost, async move {
            if let Err(e) = future.await {
                report(&lost, &e);
            }
        });
    }
}

fn spawn_or_lose(lost: &AtomicU64, future: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(future);
        }
        Err(_) => {
            let n = lost.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!(
                "audit-tower: an audit entry was lost: the request ended outside a Tokio runtime, \
                 so there was nowhere to record it ({n} lost so far)"
            );
        }
    }
}

/// Logs a failed `record`; counts entries that are gone for good.
fn report(lost: &AtomicU64, error: &RecordError) {
    match error {
        RecordError::NotDurable { .. } | RecordError::Timeout { .. } => {
            tracing::error!(error = %error, "audit-tower: a strict audit entry was not confirmed");
        }
        // The request is refused, and its `refused` entry recorded instead.
        RecordError::Backlog { .. } | RecordError::Busy { .. } => {
            tracing::error!(error = %error, "audit-tower: a strict audit entry was refused");
        }
        _ => {
            lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %error, "audit-tower: an audit entry could not be recorded");
        }
    }
}
