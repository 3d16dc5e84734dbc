//! Retention: dropping whole old partitions, and the `audit.retention` entry
//! that records it.

use std::fmt;
use std::time::Duration;

use audit_core::json::rfc3339_micros;
use audit_core::{Action, Actor, AuditEvent, AuditEventBuilder, Auditor, Resource};
use serde_json::json;
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::PostgresError;

/// The event name of the entry that records a retention run.
pub const RETENTION_EVENT: &str = "audit.retention";

/// What a retention run (or a purge) dropped, or with `dry_run` would drop.
///
/// Turn it into the `audit.retention` entry with [`event`](Self::event) and
/// record that through the auditor, or let [`RetentionEvents::record_into`]
/// do it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// The database (without password) and table: `postgres://app@db:5432/audit#audit_events`.
    pub table: String,
    /// Whether nothing was dropped because this was a dry run.
    pub dry_run: bool,
    /// The partitions dropped, oldest first.
    pub partitions: Vec<DroppedPartition>,
}

/// One monthly partition dropped by retention or a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DroppedPartition {
    /// The partition, e.g. `audit_events_p2025_01`.
    pub name: String,
    /// The start of its month (inclusive, UTC).
    pub from: OffsetDateTime,
    /// The start of the next month (exclusive).
    pub to: OffsetDateTime,
    /// How many entries it held.
    pub entries: u64,
    /// The time of its oldest entry.
    pub oldest: Option<OffsetDateTime>,
    /// The time of its newest entry.
    pub newest: Option<OffsetDateTime>,
    /// The chain links it held, per chain: what verification will find
    /// missing at the start of those chains.
    pub chains: Vec<ChainSpan>,
    /// Why it was dropped.
    pub rule: RetentionRule,
}

/// The seqs of one chain held by a dropped partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChainSpan {
    /// The chain (`chain.id`).
    pub chain: Uuid,
    /// Its lowest seq in the partition.
    pub first_seq: u64,
    /// Its highest seq in the partition.
    pub last_seq: u64,
}

/// Why a partition was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetentionRule {
    /// Its month ended longer ago than the sink's
    /// [`retention`](super::PostgresSinkBuilder::retention).
    MaxAge(Duration),
    /// Its month ended before the cut-off of
    /// [`PostgresStore::purge_partitions`](super::PostgresStore::purge_partitions).
    Purge(OffsetDateTime),
}

impl fmt::Display for RetentionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxAge(age) => write!(f, "ended more than {}s ago", age.as_secs()),
            Self::Purge(before) => {
                write!(f, "ended before {}", rfc3339_micros::format(*before))
            }
        }
    }
}

impl RetentionReport {
    /// Whether no partition was dropped.
    pub fn is_empty(&self) -> bool {
        self.partitions.is_empty()
    }

    /// How many entries the dropped partitions held.
    pub fn entries(&self) -> u64 {
        self.partitions.iter().map(|p| p.entries).sum()
    }

    /// The `audit.retention` entry that records this run, to be recorded
    /// through the auditor (which gives it its place in the chain).
    ///
    /// Action `delete`, actor `system:audit-retention`, resource
    /// `audit_log:<table>`, and `metadata.retention` with every dropped
    /// partition: name, month, entries, oldest and newest entry time, the
    /// chain seqs it held, and the rule that dropped it. Change the actor with
    /// the builder's `actor` (e.g. the operator who ran a purge).
    pub fn event(&self) -> AuditEventBuilder {
        let partitions: Vec<serde_json::Value> = self
            .partitions
            .iter()
            .map(|p| {
                let rule = match p.rule {
                    RetentionRule::MaxAge(age) => {
                        json!({"rule": "max_age", "max_age_secs": age.as_secs()})
                    }
                    RetentionRule::Purge(before) => {
                        json!({"rule": "purge", "before": rfc3339_micros::format(before)})
                    }
                };
                json!({
                    "name": p.name,
                    "from": rfc3339_micros::format(p.from),
                    "to": rfc3339_micros::format(p.to),
                    "entries": p.entries,
                    "oldest": p.oldest.map(rfc3339_micros::format),
                    "newest": p.newest.map(rfc3339_micros::format),
                    "chains": p.chains.iter().map(|c| json!({
                        "chain": c.chain.to_string(),
                        "first_seq": c.first_seq,
                        "last_seq": c.last_seq,
                    })).collect::<Vec<_>>(),
                    "removed_because": rule,
                })
            })
            .collect();
        let what = if self.dry_run { "would drop" } else { "dropped" };
        let n = self.partitions.len();
        AuditEvent::builder(RETENTION_EVENT)
            .action(Action::Delete)
            .actor(Actor::system("audit-retention"))
            .resource(Resource::new("audit_log", self.table.clone()))
            .description(format!(
                "retention {what} {n} audit partition{} with {} entries from {}",
                if n == 1 { "" } else { "s" },
                self.entries(),
                self.table
            ))
            .metadata(
                "retention",
                json!({
                    "table": self.table,
                    "dry_run": self.dry_run,
                    "partitions": partitions,
                    "entries": self.entries(),
                }),
            )
    }
}

/// Drops (or with `dry_run` describes) the partitions whose month ended at
/// or before `before`, oldest first, through `audit_events_drop_partitions`.
pub(crate) async fn drop_partitions(
    pool: &PgPool,
    target: &str,
    before: OffsetDateTime,
    dry_run: bool,
    rule: RetentionRule,
) -> Result<RetentionReport, PostgresError> {
    let db = |e| PostgresError::database("dropping old audit_events partitions", target, e);
    let rows = sqlx::query(
        "SELECT partition_name, range_start, range_end, entries, oldest, newest, chains::text \
         FROM audit_events_drop_partitions($1, $2)",
    )
    .bind(before)
    .bind(dry_run)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let mut report = RetentionReport {
        table: format!("{target}#audit_events"),
        dry_run,
        partitions: Vec::new(),
    };
    for row in rows {
        let chains: String = row.try_get(6).map_err(db)?;
        let entries: i64 = row.try_get(3).map_err(db)?;
        report.partitions.push(DroppedPartition {
            name: row.try_get(0).map_err(db)?,
            from: row.try_get(1).map_err(db)?,
            to: row.try_get(2).map_err(db)?,
            entries: u64::try_from(entries).unwrap_or(0),
            oldest: row.try_get(4).map_err(db)?,
            newest: row.try_get(5).map_err(db)?,
            chains: parse_chains(&chains),
            rule,
        });
    }
    if !dry_run && !report.is_empty() {
        tracing::info!(
            table = %report.table,
            partitions = ?report.partitions.iter().map(|p| &p.name).collect::<Vec<_>>(),
            entries = report.entries(),
            "retention dropped old audit partitions"
        );
    }
    Ok(report)
}

fn parse_chains(json: &str) -> Vec<ChainSpan> {
    let spans: Vec<serde_json::Value> = serde_json::from_str(json).unwrap_or_default();
    spans
        .iter()
        .filter_map(|s| {
            Some(ChainSpan {
                chain: s.get("chain")?.as_str()?.parse().ok()?,
                first_seq: s.get("first_seq")?.as_u64()?,
                last_seq: s.get("last_seq")?.as_u64()?,
            })
        })
        .collect()
}

/// The receiving end of the retention reports of a
/// [`PostgresSink`](super::PostgresSink): one report for each retention run
/// that dropped partitions.
///
/// The sink cannot record the `audit.retention` entry itself: an entry it
/// wrote on its own would have no place in the hash chain (verification
/// would flag it as inserted), and recording through the auditor from inside
/// the sink could wait on the sink's own queue. So the sink reports here, and
/// a task of the application records each report through the auditor, which
/// chains it like any other entry: spawn [`record_into`](Self::record_into).
///
/// Reports wait here (up to 1024) until they are received; the channel
/// closes when the sink shuts down.
#[derive(Debug)]
pub struct RetentionEvents {
    pub(crate) rx: mpsc::Receiver<RetentionReport>,
}

impl RetentionEvents {
    /// The next report; `None` once the sink is shut down and every report
    /// was received.
    pub async fn recv(&mut self) -> Option<RetentionReport> {
        self.rx.recv().await
    }

    /// A report if one is waiting, without waiting.
    pub fn try_recv(&mut self) -> Option<RetentionReport> {
        self.rx.try_recv().ok()
    }

    /// Records an `audit.retention` entry ([`RetentionReport::event`]) through
    /// `auditor` for every report, until the sink shuts down. Spawn it:
    /// `tokio::spawn(events.record_into(auditor.clone()))`.
    ///
    /// A report that cannot be recorded (the auditor is shutting down) is
    /// logged with `tracing::error!`, with what was dropped.
    pub async fn record_into(mut self, auditor: Auditor) {
        while let Some(report) = self.recv().await {
            if let Err(e) = auditor.record(report.event()).await {
                tracing::error!(
                    table = %report.table,
                    partitions = ?report.partitions.iter().map(|p| &p.name).collect::<Vec<_>>(),
                    entries = report.entries(),
                    error = %e,
                    "retention dropped audit partitions, but the audit.retention entry could not be recorded"
                );
            }
        }
    }
}

/// How many reports wait for a receiver.
pub(crate) const REPORT_CAPACITY: usize = 1024;

/// Queues a report for [`RetentionEvents`] (if it dropped anything).
pub(crate) fn send_report(tx: &mpsc::Sender<RetentionReport>, report: &RetentionReport) {
    if report.is_empty() || report.dry_run {
        return;
    }
    let partitions = report.partitions.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    match tx.try_send(report.clone()) {
        Ok(()) => {}
        Err(mpsc::error::TrySendError::Full(_)) => tracing::error!(
            ?partitions,
            entries = report.entries(),
            "retention dropped audit partitions, but {REPORT_CAPACITY} retention reports are \
             already waiting to be recorded: this one is only logged here"
        ),
        Err(mpsc::error::TrySendError::Closed(_)) => tracing::error!(
            ?partitions,
            entries = report.entries(),
            "retention dropped audit partitions, but the RetentionEvents receiver was dropped: \
             no audit.retention entry is recorded for them"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_spans_are_read_from_the_function_result() {
        let spans = parse_chains(
            r#"[{"chain": "0190a1b2-0000-7000-8000-000000000001", "first_seq": 0, "last_seq": 41}]"#,
        );
        assert_eq!(spans.len(), 1);
        assert_eq!(spans[0].last_seq, 41);
        assert!(parse_chains("[]").is_empty());
    }
}
