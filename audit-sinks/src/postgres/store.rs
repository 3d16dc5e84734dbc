//! [`PostgresStore`]: the read side.

use std::collections::VecDeque;
use std::fmt;

use async_trait::async_trait;
use audit_core::AuditEvent;
use audit_core::query::{Order, Query};
use audit_core::store::{AuditStore, Page, PurgeReport, StoreError};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use serde_json::json;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::{Executor as _, Postgres, QueryBuilder, Row as _, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use super::PostgresError;
use super::migrate::{check_schema, connect_pool};
use super::retention::{self, RetentionReport, RetentionRule};
use super::target::describe;

/// How many rows a scan reads per round trip.
const SCAN_CHUNK: i64 = 2_000;

/// Queries the `audit_events` table written by
/// [`PostgresSink`](super::PostgresSink); see the
/// [module docs](super#the-store).
///
/// Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    target: String,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("target", &self.target).finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user:password@host/db`)
    /// and checks that the audit schema is there.
    pub async fn connect(url: &str) -> Result<Self, PostgresError> {
        let pool = connect_pool(url, 4, std::time::Duration::from_secs(10)).await?;
        let store = Self::from_pool(pool);
        check_schema(&store.pool, &store.target).await?;
        Ok(store)
    }

    /// A store over the application's own pool. Nothing is checked until the
    /// first query.
    pub fn from_pool(pool: PgPool) -> Self {
        let target = describe(&pool.connect_options());
        Self { pool, target }
    }

    /// The pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Drops (or with `dry_run` only describes) every monthly partition
    /// whose month ended at or before `before`, and says what they held: the
    /// whole-partition form of [`AuditStore::purge`], for `audit purge`.
    ///
    /// Record the result with [`RetentionReport::event`] so the log says what
    /// was removed. Needs `EXECUTE` on `audit_events_drop_partitions` (see
    /// the [grants](super#roles-and-grants)).
    pub async fn purge_partitions(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<RetentionReport, PostgresError> {
        retention::drop_partitions(
            &self.pool,
            &self.target,
            before,
            dry_run,
            RetentionRule::Purge(before),
        )
        .await
    }

    /// The plan PostgreSQL chooses for the page [`query`](AuditStore::query)
    /// would fetch: `EXPLAIN` of the very statement, with `analyze` also run
    /// (`EXPLAIN (ANALYZE, BUFFERS)`; it only reads). For finding out why a
    /// query is slow, and how the indexes in [`query_plans`](super::query_plans)
    /// were chosen.
    pub async fn explain(&self, query: &Query, analyze: bool) -> Result<String, PostgresError> {
        let query = query.resolved(OffsetDateTime::now_utc());
        self.explain_sql(page_sql(&query, explain_prefix(analyze))).await
    }

    /// Like [`explain`](Self::explain), for the first chunk of a
    /// [`scan`](AuditStore::scan).
    pub async fn explain_scan(
        &self,
        query: &Query,
        analyze: bool,
    ) -> Result<String, PostgresError> {
        let query = query.resolved(OffsetDateTime::now_utc());
        self.explain_sql(scan_sql(&query, 0, explain_prefix(analyze))).await
    }

    async fn explain_sql(
        &self,
        mut explain: QueryBuilder<'static, Postgres>,
    ) -> Result<String, PostgresError> {
        let lines: Vec<String> = explain
            .build_query_scalar()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| PostgresError::database("explaining a query", &self.target, e))?;
        Ok(lines.join("\n"))
    }

    /// A read-only transaction with one snapshot for every statement.
    async fn snapshot(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        (&mut *tx).execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
        Ok(tx)
    }

    fn unavailable(&self, e: sqlx::Error) -> StoreError {
        let what = match &e {
            sqlx::Error::Database(db) => match db.code().as_deref() {
                Some("42P01") => " (the audit_events table does not exist: run `audit migrate`)",
                Some("42501") => {
                    " (the role may not read audit_events: see the grants in the docs)"
                }
                _ => "",
            },
            _ => "",
        };
        StoreError::unavailable_with(
            format!("querying PostgreSQL at {}{what}: {e}", self.target),
            e,
        )
    }
}

/// Rounds up to whole microseconds, as PostgreSQL stores times: for entries
/// (whole microseconds) `time >= t` and `time < t` mean the same with `t`
/// rounded up.
fn ceil_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond() % 1_000;
    if nanos == 0 {
        t
    } else {
        t.checked_add(time::Duration::nanoseconds(i64::from(1_000 - nanos))).unwrap_or(t)
    }
}

/// Appends ` AND <filter>` for every filter of `query` (relative times
/// already resolved), with bound parameters only.
fn push_filters(qb: &mut QueryBuilder<'_, Postgres>, query: &Query) {
    qb.push(" WHERE TRUE");
    if let Some(tenant) = &query.tenant {
        qb.push(" AND tenant = ").push_bind(tenant.clone());
    }
    if let Some(actor) = &query.actor {
        qb.push(" AND actor_keys @> ARRAY[").push_bind(actor.clone()).push("]::text[]");
    }
    if !query.events.is_empty() {
        qb.push(" AND (");
        for (i, pattern) in query.events.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            if pattern.is_exact() {
                qb.push("event = ").push_bind(pattern.as_str().to_owned());
            } else {
                qb.push("event LIKE ").push_bind(pattern.to_sql_like()).push(r" ESCAPE '\'");
            }
        }
        qb.push(")");
    }
    if query.resource_type.is_some() || query.resource_id.is_some() {
        let mut wanted = serde_json::Map::new();
        if let Some(kind) = &query.resource_type {
            wanted.insert("type".to_owned(), json!(kind));
        }
        if let Some(id) = &query.resource_id {
            wanted.insert("id".to_owned(), json!(id));
        }
        let wanted = serde_json::Value::Array(vec![serde_json::Value::Object(wanted)]);
        qb.push(" AND resources @> ").push_bind(wanted.to_string()).push("::jsonb");
    }
    if let Some(outcome) = query.outcome {
        qb.push(" AND outcome = ").push_bind(outcome.as_str());
    }
    if let Some(action) = query.action {
        qb.push(" AND action = ").push_bind(action.as_str());
    }
    let (since, until) = query.resolve_times(OffsetDateTime::UNIX_EPOCH);
    if let Some(since) = since {
        qb.push(" AND time >= ").push_bind(ceil_micros(since));
    }
    if let Some(until) = until {
        qb.push(" AND time < ").push_bind(ceil_micros(until));
    }
    if let Some(like) = query.text_sql_like() {
        let bind = |qb: &mut QueryBuilder<'_, Postgres>| {
            qb.push_bind(like.clone()).push(r" ESCAPE '\'");
        };
        qb.push(" AND (description ILIKE ");
        bind(qb);
        qb.push(" OR event ILIKE ");
        bind(qb);
        qb.push(" OR reason ILIKE ");
        bind(qb);
        qb.push(" OR actor ILIKE ");
        bind(qb);
        qb.push(" OR EXISTS (SELECT 1 FROM jsonb_array_elements(resources) AS r(v) WHERE v->>'id' ILIKE ");
        bind(qb);
        qb.push(" OR v->>'name' ILIKE ");
        bind(qb);
        qb.push("))");
    }
}

/// Appends the keyset condition for the query's cursor.
fn push_cursor(qb: &mut QueryBuilder<'_, Postgres>, query: &Query) {
    let Some(cursor) = query.cursor else { return };
    let (time, id) = (cursor.time(), cursor.id());
    // Stored times are whole microseconds. A cursor between two of them
    // (not made from an entry) compares as the microsecond boundary.
    let (time, id) = if time.nanosecond() % 1_000 == 0 {
        (time, id)
    } else {
        match query.order {
            // (t, id) < (ceil, nil)  <=>  t < ceil  <=>  t <= floor
            Order::NewestFirst => (ceil_micros(time), Uuid::nil()),
            // (t, id) > (floor, max)  <=>  t > floor  <=>  t >= ceil
            Order::OldestFirst => (ceil_micros(time) - time::Duration::MICROSECOND, Uuid::max()),
        }
    };
    let op = match query.order {
        Order::NewestFirst => "<",
        Order::OldestFirst => ">",
    };
    qb.push(format_args!(" AND (time, id) {op} ("))
        .push_bind(time)
        .push(", ")
        .push_bind(id)
        .push(")");
}

fn explain_prefix(analyze: bool) -> &'static str {
    if analyze { "EXPLAIN (ANALYZE, BUFFERS) " } else { "EXPLAIN " }
}

const SELECT: &str = "SELECT ingest_seq, id, entry::text FROM audit_events";

/// The `SELECT` of one page: `limit + 1` rows in the query's order, after
/// `prefix` (empty, or `EXPLAIN`).
fn page_sql(query: &Query, prefix: &str) -> QueryBuilder<'static, Postgres> {
    let mut qb = QueryBuilder::new(format!("{prefix}{SELECT}"));
    push_filters(&mut qb, query);
    push_cursor(&mut qb, query);
    match query.order {
        Order::NewestFirst => qb.push(" ORDER BY time DESC, id DESC"),
        Order::OldestFirst => qb.push(" ORDER BY time, id"),
    };
    let limit = i64::try_from(query.effective_limit()).unwrap_or(i64::MAX);
    qb.push(" LIMIT ").push_bind(limit.saturating_add(1));
    qb
}

/// The `SELECT` of one chunk of a scan: rows after `after` in write order.
fn scan_sql(query: &Query, after: i64, prefix: &str) -> QueryBuilder<'static, Postgres> {
    let mut qb = QueryBuilder::new(format!("{prefix}{SELECT}"));
    push_filters(&mut qb, query);
    qb.push(" AND ingest_seq > ").push_bind(after);
    qb.push(" ORDER BY ingest_seq LIMIT ").push_bind(SCAN_CHUNK);
    qb
}

/// An entry from a row, or where and why it is not one.
fn decode(row: &PgRow) -> Result<(i64, AuditEvent), StoreError> {
    let location = |seq: Option<i64>, id: Option<Uuid>| {
        format!(
            "audit_events id {} (ingest_seq {})",
            id.map_or_else(|| "?".to_owned(), |id| id.to_string()),
            seq.map_or_else(|| "?".to_owned(), |s| s.to_string())
        )
    };
    let seq: Option<i64> = row.try_get(0).ok();
    let id: Option<Uuid> = row.try_get(1).ok();
    let entry: String = row.try_get(2).map_err(|e| {
        StoreError::corrupt(location(seq, id), format!("cannot read the entry: {e}"))
    })?;
    let event: AuditEvent = serde_json::from_str(&entry)
        .map_err(|e| StoreError::corrupt(location(seq, id), format!("not an entry: {e}")))?;
    if Some(event.id) != id {
        return Err(StoreError::corrupt(
            location(seq, id),
            format!("the entry's id {} differs from the row's", event.id),
        ));
    }
    Ok((seq.unwrap_or(0), event))
}

#[async_trait]
impl AuditStore for PostgresStore {
    /// One page, in `(time, id)` order, with a keyset cursor: one indexed
    /// `SELECT ... LIMIT limit + 1`.
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let query = query.resolved(OffsetDateTime::now_utc());
        let rows = page_sql(&query, "")
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.unavailable(e))?;
        let entries =
            rows.iter().map(|row| decode(row).map(|(_, e)| e)).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_ordered(entries, query.effective_limit()))
    }

    /// Every matching entry in write order (`ingest_seq`), read in keyset
    /// chunks of 2 000 rows (each an indexed merge of the partitions), all in
    /// one `REPEATABLE READ READ ONLY` transaction.
    ///
    /// The one snapshot matters with several writers: `ingest_seq` is drawn
    /// when a row is inserted, not when it commits, so a writer's batch can
    /// become visible after a later-numbered batch of another writer. Read
    /// chunk by chunk without a snapshot, that batch would be skipped while
    /// the same chain's next batch was not, and verification would report
    /// entries missing. In one snapshot each chain is a prefix of itself: a
    /// sink commits its batches one after another.
    ///
    /// A row that is not an entry yields [`StoreError::Corrupt`] and the scan
    /// goes on; a failed round trip yields [`StoreError::Unavailable`] and
    /// ends it. The scan holds one connection of the pool until it ends or is
    /// dropped.
    fn scan<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<AuditEvent, StoreError>> {
        struct ScanState {
            query: Query,
            tx: Option<Transaction<'static, Postgres>>,
            after: i64,
            buffered: VecDeque<Result<(i64, AuditEvent), StoreError>>,
            done: bool,
        }
        let state = ScanState {
            query: query.resolved(OffsetDateTime::now_utc()),
            tx: None,
            after: 0,
            buffered: VecDeque::new(),
            done: false,
        };
        futures::stream::unfold(state, move |mut st| async move {
            loop {
                if let Some(item) = st.buffered.pop_front() {
                    return Some((item.map(|(_, e)| e), st));
                }
                if st.done {
                    return None;
                }
                let tx = match st.tx.as_mut() {
                    Some(tx) => tx,
                    None => match self.snapshot().await {
                        Ok(tx) => st.tx.insert(tx),
                        Err(e) => {
                            st.done = true;
                            return Some((Err(self.unavailable(e)), st));
                        }
                    },
                };
                let mut select = scan_sql(&st.query, st.after, "");
                // `Executor` methods return boxed futures, which keep this stream `Send`.
                match (&mut **tx).fetch_all(select.build()).await {
                    Ok(rows) => {
                        st.done = (rows.len() as i64) < SCAN_CHUNK;
                        for row in &rows {
                            if let Ok(seq) = row.try_get::<i64, _>(0) {
                                st.after = st.after.max(seq);
                            }
                            st.buffered.push_back(decode(row));
                        }
                        if st.done {
                            // Ends the transaction; dropping it would roll back too.
                            if let Some(tx) = st.tx.take() {
                                let _ = tx.rollback().await;
                            }
                        }
                    }
                    Err(e) => {
                        st.done = true;
                        return Some((Err(self.unavailable(e)), st));
                    }
                }
            }
        })
        .boxed()
    }

    /// Drops whole monthly partitions whose month ended at or before
    /// `before`; see [`PostgresStore::purge_partitions`], which also names
    /// them.
    async fn purge(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, StoreError> {
        let report = self
            .purge_partitions(before, dry_run)
            .await
            .map_err(|e| StoreError::unavailable_with(e.to_string(), e))?;
        Ok(PurgeReport::new(report.entries(), before, dry_run))
    }
}

#[cfg(test)]
mod tests {
    use audit_core::query::{Cursor, EventPattern};
    use time::macros::datetime;

    use super::*;

    fn sql(query: &Query) -> String {
        page_sql(query, "").sql().to_owned()
    }

    #[test]
    fn every_value_is_a_bound_parameter() {
        let query = Query::new()
            .tenant("acme'; DROP TABLE audit_events; --")
            .actor("alice")
            .event(EventPattern::parse("key.*").unwrap())
            .event(EventPattern::parse("project.update").unwrap())
            .resource_type("project")
            .resource_id("p_1")
            .text("50%")
            .since(datetime!(2025-01-01 0:00 UTC))
            .cursor(Cursor::new(datetime!(2025-02-01 0:00 UTC), Uuid::nil()))
            .limit(10);
        let sql = sql(&query);
        assert!(!sql.contains("acme") && !sql.contains("alice") && !sql.contains("key."), "{sql}");
        assert!(sql.contains("event LIKE $3 ESCAPE '\\'") && sql.contains("event = $4"), "{sql}");
        assert!(sql.contains("(time, id) < ("), "{sql}");
        assert!(sql.ends_with("ORDER BY time DESC, id DESC LIMIT $15"), "{sql}");
    }

    #[test]
    fn oldest_first_reverses_the_keyset() {
        let query = Query::new()
            .order(Order::OldestFirst)
            .cursor(Cursor::new(datetime!(2025-02-01 0:00 UTC), Uuid::nil()));
        let sql = sql(&query);
        assert!(sql.contains("(time, id) > (") && sql.contains("ORDER BY time, id LIMIT"), "{sql}");
    }

    #[test]
    fn bounds_round_up_to_microseconds() {
        let t = datetime!(2025-01-01 0:00:00.000_000_001 UTC);
        assert_eq!(ceil_micros(t), datetime!(2025-01-01 0:00:00.000_001 UTC));
        let whole = datetime!(2025-01-01 0:00:00.000_001 UTC);
        assert_eq!(ceil_micros(whole), whole);
    }
}
