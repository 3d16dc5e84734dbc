//! [`PostgresSink`]: the write side.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use async_trait::async_trait;
use audit_core::{AuditEvent, Batch, Sink, SinkError};
use bytes::Bytes;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::error::sink_error;
use super::migrate::check_schema;
use super::partition::{Month, Partitions, is_missing_partition};
use super::retention::{self, RetentionEvents, RetentionReport, RetentionRule, WORDING};
use super::row::{Columns, CopyRows, is_duplicate};
use super::target::describe;
use super::{PostgresError, PostgresSinkBuilder, PostgresStore};
use crate::retention::{EventsSlot, ReportSender};
use audit_core::SinkInput;

/// A sink that writes entries to the `audit_events` table; see the
/// [module docs](super) for the schema, idempotency, errors and retention.
///
/// Cheap to clone: clones share one pool, so keep a clone to call
/// [`apply_retention`](Self::apply_retention) or [`store`](Self::store) after
/// handing the sink to the auditor.
#[derive(Clone)]
pub struct PostgresSink {
    shared: Arc<PostgresSinkState>,
}

/// The state of a sink, shared by its clones.
struct PostgresSinkState {
    config: PostgresSinkBuilder,
    pool: PgPool,
    /// Whether the sink opened the pool (and so closes it at shutdown).
    owns_pool: bool,
    target: String,
    partitions: Partitions,
    /// Where retention reports go; taken at shutdown, which closes
    /// [`RetentionEvents`].
    reports: Mutex<Option<ReportSender<RetentionReport>>>,
    /// The retention reports, until [`PostgresSink::retention_events`] takes them.
    events: EventsSlot<RetentionReport>,
    stop: Arc<Notify>,
    closed: AtomicBool,
    /// Set when a batch held entries already stored (a replay): batches go
    /// through the `ON CONFLICT` insert until one stores every entry, instead
    /// of failing a `COPY` first.
    replaying: AtomicBool,
}

impl fmt::Debug for PostgresSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.shared.config;
        f.debug_struct("PostgresSink")
            .field("name", &c.name)
            .field("target", &self.shared.target)
            .field("partitions_ahead", &c.partitions_ahead)
            .field("retention", &c.retention)
            .field("maintenance_interval", &c.maintenance_interval)
            .field("write_timeout", &c.write_timeout)
            .field("detail_columns", &c.detail_columns)
            .field("owns_pool", &self.shared.owns_pool)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PostgresSink {
    /// Starts configuring a Postgres sink.
    pub fn builder() -> PostgresSinkBuilder {
        PostgresSinkBuilder::default()
    }

    /// A sink with default settings over the database at `url`; see
    /// [`PostgresSinkBuilder::connect`].
    pub async fn connect(url: &str) -> Result<Self, PostgresError> {
        Self::builder().connect(url).await
    }

    /// A sink with default settings over the application's own pool; see
    /// [`PostgresSinkBuilder::from_pool`].
    pub async fn from_pool(pool: PgPool) -> Result<Self, PostgresError> {
        Self::builder().from_pool(pool).await
    }

    pub(crate) async fn start(
        config: PostgresSinkBuilder,
        pool: PgPool,
        owns_pool: bool,
    ) -> Result<Self, PostgresError> {
        let target = describe(&pool.connect_options());
        check_schema(&pool, &target).await?;
        let (reports, events) = crate::retention::channel(WORDING);
        let sink = Self {
            shared: Arc::new(PostgresSinkState {
                config,
                pool,
                owns_pool,
                target,
                partitions: Partitions::default(),
                reports: Mutex::new(Some(reports)),
                events,
                stop: Arc::new(Notify::new()),
                closed: AtomicBool::new(false),
                replaying: AtomicBool::new(false),
            }),
        };
        sink.ensure_ahead().await.map_err(|e| {
            PostgresError::database("creating audit_events partitions", &sink.shared.target, e)
        })?;
        // Retention that came due while the service was down, before any write.
        sink.shared.retain(false).await;
        tokio::spawn(maintenance(
            Arc::downgrade(&sink.shared),
            sink.shared.stop.clone(),
            sink.shared.config.maintenance_interval,
        ));
        Ok(sink)
    }

    /// The pool the sink writes through.
    pub fn pool(&self) -> &PgPool {
        &self.shared.pool
    }

    /// A store reading what this sink writes, over the same pool.
    pub fn store(&self) -> PostgresStore {
        PostgresStore::from_pool(self.shared.pool.clone())
    }

    /// The retention reports, to record as `audit.retention` entries; see
    /// [`RetentionEvents`]. `None` if they were taken before: there is one
    /// receiver per sink (and its clones), so that each entry is recorded
    /// once.
    ///
    /// Take them before handing the sink to the auditor, and spawn
    /// [`RetentionEvents::record_into`] once the auditor is built.
    pub fn retention_events(&self) -> Option<RetentionEvents> {
        self.shared.events.take()
    }

    /// Applies the [retention](PostgresSinkBuilder::retention) policy now:
    /// drops the partitions whose month ended longer ago than the policy's
    /// age, and returns what they held. The report is also sent to
    /// [`RetentionEvents`] (so do not record it a second time when a task
    /// records those).
    ///
    /// Fails with [`PostgresError::NoRetentionPolicy`] when none is set.
    pub async fn apply_retention(&self) -> Result<RetentionReport, PostgresError> {
        self.shared.apply_retention(false).await
    }

    /// Creates the partitions of the current month and the configured
    /// months ahead, if missing.
    async fn ensure_ahead(&self) -> Result<(), sqlx::Error> {
        self.shared.ensure_ahead().await
    }
}

impl PostgresSinkState {
    fn ahead(&self) -> impl Iterator<Item = Month> {
        Month::of(OffsetDateTime::now_utc()).with_next(self.config.partitions_ahead)
    }

    async fn ensure_ahead(&self) -> Result<(), sqlx::Error> {
        let missing = self.partitions.missing(self.ahead());
        self.partitions.ensure(&self.pool, &missing).await.map(drop)
    }

    async fn apply_retention(&self, warn: bool) -> Result<RetentionReport, PostgresError> {
        let max_age = self.config.retention.ok_or(PostgresError::NoRetentionPolicy)?;
        let age = time::Duration::try_from(max_age).unwrap_or(time::Duration::MAX);
        let before = OffsetDateTime::now_utc().saturating_sub(age);
        let report = retention::drop_partitions(
            &self.pool,
            &self.target,
            before,
            false,
            RetentionRule::MaxAge(max_age),
        )
        .await?;
        if !report.is_empty() {
            // Recreated on demand, should an entry still need one.
            self.partitions.forget();
        }
        if let Some(reports) = &mut *lock(&self.reports) {
            reports.send(report.clone(), warn);
        }
        Ok(report)
    }

    /// One attempt at a batch on one connection: creates missing
    /// partitions, then copies the rows in; a batch holding an entry already
    /// stored goes again through the `ON CONFLICT` insert.
    async fn write(
        &self,
        conn: &mut PgConnection,
        batch: &[AuditEvent],
        mut rows: Rows,
    ) -> Result<(), SinkError> {
        let n = batch.len();
        let months: BTreeSet<Month> = batch.iter().map(|e| Month::of(e.time)).collect();
        let mut attempt = 0;
        loop {
            let missing = self.partitions.missing(months.iter().copied().chain(self.ahead()));
            self.partitions
                .ensure(&mut *conn, &missing)
                .await
                .map_err(|e| sink_error(&self.target, n, e))?;
            let done = match &rows {
                Rows::Copy(copy) => copy.copy(&mut *conn).await.map(|_| 0),
                Rows::Insert(columns) => columns
                    .insert(&mut *conn)
                    .await
                    .map(|done| n as u64 - done.rows_affected().min(n as u64)),
            };
            match done {
                Ok(skipped) => {
                    if skipped > 0 {
                        tracing::debug!(
                            sink = %self.config.name, skipped,
                            "audit entries already stored were skipped"
                        );
                    } else if matches!(rows, Rows::Insert(_)) {
                        self.replaying.store(false, Ordering::Relaxed);
                    }
                    return Ok(());
                }
                // Nothing of the COPY was stored: insert the batch again,
                // skipping the entries already there.
                Err(e) if is_duplicate(&e) && matches!(rows, Rows::Copy(_)) => {
                    tracing::debug!(
                        sink = %self.config.name,
                        "a batch holds audit entries already stored; inserting it with ON CONFLICT"
                    );
                    self.replaying.store(true, Ordering::Relaxed);
                    rows = Rows::Insert(Columns::encode(batch, self.config.detail_columns)?);
                }
                // A partition was dropped behind our back: create it, try again.
                Err(e) if is_missing_partition(&e) && attempt < 2 => {
                    attempt += 1;
                    self.partitions.forget();
                }
                Err(e) => return Err(sink_error(&self.target, n, e)),
            }
        }
    }

    async fn maintain(&self) {
        if let Err(e) = self.ensure_ahead().await {
            tracing::error!(
                target_db = %self.target, error = %e,
                "cannot create audit_events partitions ahead of time; they are created when needed"
            );
        }
        self.retain(true).await;
    }

    /// Applies the retention policy, if any, logging failures; `warn`
    /// whether to say so when nobody has taken the reports yet (not at
    /// start-up: the application takes them after the sink is built, and
    /// they wait for it).
    async fn retain(&self, warn: bool) {
        if self.config.retention.is_none() {
            return;
        }
        if let Err(e) = self.apply_retention(warn).await {
            tracing::error!(target_db = %self.target, error = %e, "audit retention failed");
        }
    }
}

/// A batch, encoded for one of the two ways of writing it.
enum Rows {
    /// A binary `COPY`: the normal path.
    Copy(CopyRows),
    /// The `ON CONFLICT` insert: for batches holding entries already stored.
    Insert(Columns),
}

/// Creates partitions ahead and applies retention every `interval` (the
/// sink did both once when it started), until the sink shuts down or is
/// dropped. Holds the sink only while it works, so that dropping every clone
/// ends it.
async fn maintenance(shared: Weak<PostgresSinkState>, stop: Arc<Notify>, interval: Duration) {
    loop {
        tokio::select! {
            () = stop.notified() => return,
            () = tokio::time::sleep(interval) => {}
        }
        match shared.upgrade() {
            Some(s) if !s.closed.load(Ordering::SeqCst) => s.maintain().await,
            _ => return,
        }
    }
}

#[async_trait]
impl Sink for PostgresSink {
    fn name(&self) -> &str {
        &self.shared.config.name
    }

    fn input(&self) -> SinkInput {
        SinkInput::EntriesAndJson
    }

    /// Writes the typed columns from each entry and the `entry` column from
    /// the pipeline's JSON of it when the batch has it, instead of
    /// serializing the entry again: the same bytes.
    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let s = &self.shared;
        if s.closed.load(Ordering::SeqCst) {
            return Err(SinkError::permanent("the PostgreSQL sink was shut down"));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let Some(entries) = batch.entries() else {
            // JSON alone (only when called so directly): read the entries
            // back, keeping their JSON.
            let entries = batch.decode()?;
            let json: Vec<Option<Bytes>> =
                (0..batch.len()).map(|i| batch.json(i).cloned()).collect();
            return self.write(Batch::with_json(&entries, &json)).await;
        };
        let details = s.config.detail_columns;
        let rows = if s.replaying.load(Ordering::Relaxed) {
            Rows::Insert(Columns::encode(entries, details)?)
        } else {
            Rows::Copy(CopyRows::encode(batch, details)?)
        };
        let n = entries.len();
        let mut conn = s.pool.acquire().await.map_err(|e| sink_error(&s.target, n, e))?;
        let timeout = s.config.write_timeout;
        match tokio::time::timeout(timeout, s.write(&mut conn, entries, rows)).await {
            Ok(done) => done,
            Err(_elapsed) => {
                // Cancelled mid-statement, the connection is in an unknown
                // state: close it rather than give it back to the pool.
                drop(conn.detach());
                Err(SinkError::transient(format!(
                    "writing {n} audit entries to PostgreSQL at {} did not finish within \
                     {timeout:?} (the sink's write_timeout); the connection was closed and the \
                     batch is retried (entries the abandoned write stored are skipped)",
                    s.target
                )))
            }
        }
    }

    /// Stops the maintenance task and, if the sink opened the pool, closes
    /// it. [`RetentionEvents`] closes once its reports are received.
    async fn shutdown(&self) -> Result<(), SinkError> {
        let s = &self.shared;
        if s.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        s.stop.notify_one();
        drop(lock(&s.reports).take());
        if s.owns_pool {
            s.pool.close().await;
        }
        Ok(())
    }
}
