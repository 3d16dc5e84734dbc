//! Retention as the file and Postgres stores share it: the name of the
//! `audit.retention` entry, the chain links a removal takes away, and the
//! channel that carries each store's reports to the application.
//!
//! Each store has its own report, since what it removes differs (whole files
//! of a directory, or monthly partitions of a table):
//! [`file::RetentionReport`](crate::file::RetentionReport) and
//! [`postgres::RetentionReport`](crate::postgres::RetentionReport). Both
//! implement [`Report`], through which [`RetentionEvents`] records either.
//!
//! **Why the sink does not record the entry itself.** An entry that a sink
//! wrote on its own would have no place in the hash chain (verification
//! would flag it as inserted), and recording through the auditor from inside
//! the sink would wait on the sink's own queue (a deadlock with strict
//! delivery or a full queue). So the sink reports on a channel, and a task of
//! the application records each report through the auditor, which chains and
//! signs it like any other entry: spawn [`RetentionEvents::record_into`].

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use audit_core::json::rfc3339_micros;
use audit_core::{Action, Actor, AuditEvent, AuditEventBuilder, Auditor, Resource};
use serde_json::json;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

/// The event name of the entry that records a retention run.
pub const RETENTION_EVENT: &str = "audit.retention";

/// How many reports wait for a receiver.
const REPORT_CAPACITY: usize = 1024;

/// The seqs of one chain held by a removed file or a dropped partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainSpan {
    /// The chain (`chain.id`).
    pub chain: Uuid,
    /// Its lowest seq in what was removed.
    pub first_seq: u64,
    /// Its highest seq in what was removed.
    pub last_seq: u64,
}

impl ChainSpan {
    /// Widens the span of `chain` in `spans` to take in `seq`, or adds one.
    #[cfg(feature = "file")]
    pub(crate) fn add(spans: &mut Vec<Self>, chain: Uuid, seq: u64) {
        match spans.iter_mut().find(|s| s.chain == chain) {
            Some(span) => {
                span.first_seq = span.first_seq.min(seq);
                span.last_seq = span.last_seq.max(seq);
            }
            None => spans.push(Self { chain, first_seq: seq, last_seq: seq }),
        }
    }
}

/// What a retention run (or a purge) of a store removed: the file store's or
/// the Postgres store's [`RetentionReport`](crate::file::RetentionReport).
/// [`RetentionEvents`] records a report through it.
pub trait Report: fmt::Debug + Clone + Send + 'static {
    /// The `audit.retention` entry that records the run, to be recorded
    /// through the auditor (which gives it its place in the chain).
    fn event(&self) -> AuditEventBuilder;

    /// Whether nothing was removed.
    fn is_empty(&self) -> bool;

    /// Whether nothing was removed because this was a dry run.
    fn is_dry_run(&self) -> bool;

    /// How many entries were removed.
    fn entries(&self) -> u64;

    /// Where they were: the log directory, or the database and table.
    fn location(&self) -> String;

    /// The names of what was removed: files, or partitions.
    fn removed(&self) -> Vec<String>;
}

/// How a store's reports are spoken of in the logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wording {
    /// What a run did, e.g. `removed audit log files`.
    pub(crate) removed: &'static str,
    /// The method that hands out the reports, e.g. `FileSink::retention_events()`.
    pub(crate) events_method: &'static str,
}

/// The receiving end of a sink's retention reports: one report for each
/// retention run that removed something. See the [module docs](self) for why
/// the sink does not record the `audit.retention` entry itself.
///
/// Reports wait here (up to 1024) until they are received; the channel
/// closes when the sink shuts down.
#[derive(Debug)]
pub struct RetentionEvents<R> {
    rx: mpsc::Receiver<R>,
    wording: Wording,
}

impl<R: Report> RetentionEvents<R> {
    /// The next report; `None` once the sink is shut down and every report
    /// was received.
    pub async fn recv(&mut self) -> Option<R> {
        self.rx.recv().await
    }

    /// A report if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<R> {
        self.rx.try_recv().ok()
    }

    /// Records an `audit.retention` entry ([`Report::event`]) through
    /// `auditor` for every report, until the sink shuts down. Spawn it:
    /// `tokio::spawn(events.record_into(auditor.clone()))`.
    ///
    /// A report that cannot be recorded (the auditor is shutting down) is
    /// logged with `tracing::error!`, with what was removed.
    pub async fn record_into(mut self, auditor: Auditor) {
        while let Some(report) = self.recv().await {
            if let Err(e) = auditor.record(report.event()).await {
                tracing::error!(
                    store = %report.location(),
                    removed = ?report.removed(),
                    entries = report.entries(),
                    error = %e,
                    "retention {}, but the audit.retention entry could not be recorded",
                    self.wording.removed,
                );
            }
        }
    }
}

/// A sink's [`RetentionEvents`] until the application takes them.
#[derive(Debug)]
pub(crate) struct EventsSlot<R> {
    events: Mutex<Option<RetentionEvents<R>>>,
    taken: Arc<AtomicBool>,
}

impl<R> EventsSlot<R> {
    /// The events, the first time; `None` after.
    pub(crate) fn take(&self) -> Option<RetentionEvents<R>> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner).take();
        if events.is_some() {
            self.taken.store(true, Ordering::SeqCst);
        }
        events
    }
}

/// The sending end of a sink's retention reports. Dropping it closes
/// [`RetentionEvents`] once its reports are received.
#[derive(Debug)]
pub(crate) struct ReportSender<R> {
    tx: mpsc::Sender<R>,
    /// Whether the [`EventsSlot`] was taken.
    taken: Arc<AtomicBool>,
    warned: bool,
    wording: Wording,
}

/// A channel for a sink's retention reports.
pub(crate) fn channel<R>(wording: Wording) -> (ReportSender<R>, EventsSlot<R>) {
    let (tx, rx) = mpsc::channel(REPORT_CAPACITY);
    let taken = Arc::new(AtomicBool::new(false));
    let sender = ReportSender { tx, taken: taken.clone(), warned: false, wording };
    let slot = EventsSlot { events: Mutex::new(Some(RetentionEvents { rx, wording })), taken };
    (sender, slot)
}

impl<R: Report> ReportSender<R> {
    /// Queues a report for [`RetentionEvents`], if it removed anything;
    /// `warn` whether to say so (once) when nobody has taken the events yet
    /// (not at start-up: the application takes them after the sink is
    /// built, and the reports wait for it).
    pub(crate) fn send(&mut self, report: R, warn: bool) {
        if report.is_empty() || report.is_dry_run() {
            return;
        }
        let Wording { removed, events_method } = self.wording;
        if warn && !self.taken.load(Ordering::SeqCst) && !self.warned {
            self.warned = true;
            tracing::warn!(
                store = %report.location(),
                "retention {removed}, but nothing receives {events_method}: no audit.retention \
                 entry is recorded until a task does (see RetentionEvents::record_into)"
            );
        }
        let (names, entries) = (report.removed(), report.entries());
        match self.tx.try_send(report) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => tracing::error!(
                removed = ?names,
                entries,
                "retention {removed}, but {REPORT_CAPACITY} retention reports are already \
                 waiting to be recorded: this one is only logged here"
            ),
            Err(mpsc::error::TrySendError::Closed(_)) => tracing::error!(
                removed = ?names,
                entries,
                "retention {removed}, but the RetentionEvents receiver was dropped: no \
                 audit.retention entry is recorded for them"
            ),
        }
    }
}

/// The `audit.retention` entry of a run over `location`: action `delete`,
/// actor `system:audit-retention`, resource `audit_log:<location>`, and
/// `metadata.retention`.
pub(crate) fn event(
    location: &str,
    description: String,
    metadata: serde_json::Value,
) -> AuditEventBuilder {
    AuditEvent::builder(RETENTION_EVENT)
        .action(Action::Delete)
        .actor(Actor::system("audit-retention"))
        .resource(Resource::new("audit_log", location))
        .description(description)
        .metadata("retention", metadata)
}

/// The chain spans of a removed file or partition, as the entry's metadata
/// lists them.
pub(crate) fn chains_json(chains: &[ChainSpan]) -> serde_json::Value {
    chains
        .iter()
        .map(|c| {
            json!({
                "chain": c.chain.to_string(),
                "first_seq": c.first_seq,
                "last_seq": c.last_seq,
            })
        })
        .collect()
}

/// The `removed_because` of a removal by age.
pub(crate) fn max_age_json(age: Duration) -> serde_json::Value {
    json!({"rule": "max_age", "max_age_secs": age.as_secs()})
}

/// The `removed_because` of a purge.
pub(crate) fn purge_json(before: OffsetDateTime) -> serde_json::Value {
    json!({"rule": "purge", "before": rfc3339_micros::format(before)})
}

#[cfg(test)]
mod tests;
