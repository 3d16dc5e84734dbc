//! [`PostgresSinkBuilder`]: the settings of a Postgres sink.

use std::time::Duration;

use sqlx::PgPool;

use super::migrate::connect_pool;
use super::{PostgresError, PostgresSink};

/// Settings of a [`PostgresSink`]; start with [`PostgresSink::builder`].
///
/// ```no_run
/// # async fn run() -> Result<(), audit_sinks::postgres::PostgresError> {
/// use std::time::Duration;
/// use audit_sinks::postgres::PostgresSink;
///
/// let sink = PostgresSink::builder()
///     .partitions_ahead(3)
///     .retention(Duration::from_secs(400 * 24 * 3600))
///     .connect("postgres://audit_app@db.internal/app")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` or `from_pool` is called"]
pub struct PostgresSinkBuilder {
    pub(crate) name: String,
    pub(crate) partitions_ahead: u32,
    pub(crate) retention: Option<Duration>,
    pub(crate) maintenance_interval: Duration,
    pub(crate) max_connections: u32,
    pub(crate) acquire_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) detail_columns: bool,
}

impl Default for PostgresSinkBuilder {
    fn default() -> Self {
        Self {
            name: "postgres".to_owned(),
            partitions_ahead: 3,
            retention: None,
            maintenance_interval: Duration::from_secs(3600),
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            detail_columns: true,
        }
    }
}

impl PostgresSinkBuilder {
    /// The sink's name in logs, counters and the spool (default `postgres`).
    /// Give each Postgres sink of one auditor its own name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// How many months after the current one get their partition ahead of
    /// time (default 3), at start-up and by the maintenance task. Partitions
    /// for other months are created when an entry needs one.
    pub fn partitions_ahead(mut self, months: u32) -> Self {
        self.partitions_ahead = months;
        self
    }

    /// Drops partitions whose month ended longer ago than `max_age` (default:
    /// keep everything), when the sink is built (before it writes), every
    /// [`maintenance_interval`](Self::maintenance_interval), and on
    /// [`PostgresSink::apply_retention`]. The role needs `EXECUTE` on
    /// `audit_events_drop_partitions`. Each run that drops partitions is
    /// reported on [`PostgresSink::retention_events`].
    pub fn retention(mut self, max_age: Duration) -> Self {
        self.retention = Some(max_age);
        self
    }

    /// How often the maintenance task creates partitions ahead and applies
    /// retention (default 1 hour).
    pub fn maintenance_interval(mut self, interval: Duration) -> Self {
        self.maintenance_interval = interval;
        self
    }

    /// The size of the pool the sink opens with [`connect`](Self::connect)
    /// (default 4). Ignored with [`from_pool`](Self::from_pool).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n;
        self
    }

    /// How long a write waits for a connection before it fails (transiently,
    /// so it is retried) (default 10 s). Ignored with
    /// [`from_pool`](Self::from_pool).
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// How long one attempt at writing a batch may take once it has a
    /// connection (default 30 s). A write still running then is abandoned
    /// and fails transiently, so it is retried: its connection is closed
    /// instead of going back to the pool, where its state is unknown. This
    /// bounds what a hung connection (a dead peer without a reset, a lock
    /// held by another session) can stall the pipeline. The abandoned
    /// statement may still commit on the server; the retry then skips
    /// what it stored (see [Writes](super#writes)).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Whether each row also holds the entry's request, response, changes
    /// and metadata in their own `jsonb` columns (default `true`).
    ///
    /// They repeat parts of the `entry` column, for ad-hoc SQL; the store
    /// never reads them. With `false` they are left `NULL`, which saves the
    /// database parsing, compressing and storing four `jsonb` values per row,
    /// a large part of its time and space per row (audit-bench's Postgres
    /// scenario measures it). Ad-hoc SQL then reads the view
    /// `audit_events_details` (schema version 3), whose `request_json`,
    /// `response_json`, `changes_json` and `metadata_json` come from the
    /// column where there is one and from `entry` otherwise, so queries work
    /// across rows written either way.
    pub fn detail_columns(mut self, enabled: bool) -> Self {
        self.detail_columns = enabled;
        self
    }

    fn validate(&self) -> Result<(), PostgresError> {
        let invalid = |m: &str| Err(PostgresError::InvalidConfig(m.to_owned()));
        if self.name.is_empty() {
            return invalid("the sink name is empty");
        }
        if self.max_connections == 0 {
            return invalid("max_connections must be at least 1");
        }
        if self.write_timeout.is_zero() {
            return invalid("write_timeout must be longer than zero");
        }
        if self.maintenance_interval.is_zero() {
            return invalid("maintenance_interval must be longer than zero");
        }
        if self.partitions_ahead > 120 {
            return invalid("partitions_ahead must be at most 120 months");
        }
        Ok(())
    }

    /// Connects to `url` (`postgres://user:password@host:port/database`),
    /// checks the schema version, and creates the partitions of the current
    /// month and the next ones. Fails if the database cannot be reached.
    pub async fn connect(self, url: &str) -> Result<PostgresSink, PostgresError> {
        self.validate()?;
        let pool = connect_pool(url, self.max_connections, self.acquire_timeout).await?;
        PostgresSink::start(self, pool, true).await
    }

    /// Uses the application's own pool, and checks and prepares the
    /// database as [`connect`](Self::connect) does. The sink never closes
    /// this pool.
    pub async fn from_pool(self, pool: PgPool) -> Result<PostgresSink, PostgresError> {
        self.validate()?;
        PostgresSink::start(self, pool, false).await
    }
}
