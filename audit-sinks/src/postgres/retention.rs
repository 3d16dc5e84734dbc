//! Retention of the Postgres store: dropping whole old partitions, and the
//! report that the `audit.retention` entry is made of.

use std::fmt;
use std::time::Duration;

use audit_core::AuditEventBuilder;
use audit_core::json::rfc3339_micros;
use serde_json::json;
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;

use super::PostgresError;
use crate::retention::{self as shared, ChainSpan, Report, Wording};

/// How the Postgres sink's reports are spoken of in the logs.
pub(crate) const WORDING: Wording = Wording {
    removed: "dropped audit partitions",
    events_method: "PostgresSink::retention_events()",
};

/// The receiving end of the retention reports of a
/// [`PostgresSink`](super::PostgresSink): one report for each retention run
/// that dropped partitions. See
/// [`RetentionEvents`](crate::retention::RetentionEvents).
pub type RetentionEvents = shared::RetentionEvents<RetentionReport>;

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
                    RetentionRule::MaxAge(age) => shared::max_age_json(age),
                    RetentionRule::Purge(before) => shared::purge_json(before),
                };
                json!({
                    "name": p.name,
                    "from": rfc3339_micros::format(p.from),
                    "to": rfc3339_micros::format(p.to),
                    "entries": p.entries,
                    "oldest": p.oldest.map(rfc3339_micros::format),
                    "newest": p.newest.map(rfc3339_micros::format),
                    "chains": shared::chains_json(&p.chains),
                    "removed_because": rule,
                })
            })
            .collect();
        let what = if self.dry_run { "would drop" } else { "dropped" };
        let n = self.partitions.len();
        let description = format!(
            "retention {what} {n} audit partition{} with {} entries from {}",
            if n == 1 { "" } else { "s" },
            self.entries(),
            self.table
        );
        let metadata = json!({
            "table": self.table,
            "dry_run": self.dry_run,
            "partitions": partitions,
            "entries": self.entries(),
        });
        shared::event(&self.table, description, metadata)
    }
}

impl Report for RetentionReport {
    fn event(&self) -> AuditEventBuilder {
        self.event()
    }

    fn is_empty(&self) -> bool {
        self.is_empty()
    }

    fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    fn entries(&self) -> u64 {
        self.entries()
    }

    fn location(&self) -> String {
        self.table.clone()
    }

    fn removed(&self) -> Vec<String> {
        self.partitions.iter().map(|p| p.name.clone()).collect()
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
