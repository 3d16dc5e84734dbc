//! The PostgreSQL sink and store: one partitioned, append-only
//! `audit_events` table, written in batches and queried with indexed SQL.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use audit_core::Auditor;
//! use audit_core::query::Query;
//! use audit_core::store::AuditStore as _;
//! use audit_sinks::postgres::{self, PostgresSink};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "postgres://audit_owner@db.internal/app";
//! // Once per deployment (or `audit migrate --store postgres://...`); safe to
//! // run from every instance at start-up.
//! postgres::migrate_url(url).await?;
//!
//! let sink = PostgresSink::builder()
//!     .retention(Duration::from_secs(400 * 24 * 3600))
//!     .connect("postgres://audit_app@db.internal/app")
//!     .await?;
//! let store = sink.store();
//! let retention = sink.retention_events();
//! let auditor = Auditor::builder().service("projects-api", "1.0.0").sink(sink).build()?;
//! if let Some(retention) = retention {
//!     tokio::spawn(retention.record_into(auditor.clone()));
//! }
//!
//! // ... record entries ...
//! auditor.shutdown(Duration::from_secs(10)).await?;
//!
//! let page = store.query(&Query::new().tenant("acme").limit(20)).await?;
//! # Ok(()) }
//! ```
//!
//! Build the sink from a URL ([`PostgresSink::connect`]) or from the
//! application's own [`PgPool`] ([`PostgresSink::from_pool`]); the store
//! likewise ([`PostgresStore::connect`], [`PostgresStore::from_pool`], or
//! [`PostgresSink::store`]). Passwords in URLs never appear in `Debug`
//! output, logs or errors.
//!
//! # Migrations
//!
//! [`migrate`] (or [`migrate_url`]) creates the schema in the first schema of
//! the connection's `search_path`. Migrations are embedded in the binary,
//! versioned, and recorded with their checksums in `audit_schema_migrations`
//! (not sqlx's `_sqlx_migrations`, which the application may use for its own).
//! Each runs in one transaction holding an advisory lock, so running them
//! again, or from several instances at once, is harmless. The sink and store
//! check the version when they connect and say what to run when it is
//! missing.
//!
//! # Schema
//!
//! One table, `audit_events`, range-partitioned by `time` into monthly
//! partitions `audit_events_pYYYY_MM` (UTC):
//!
//! | column | type | from |
//! |---|---|---|
//! | `id`, `time` | `uuid`, `timestamptz` | primary key `(id, time)` (a partitioned table's key must hold the partition key) |
//! | `ingest_seq` | `bigint` | a sequence: the write order, which `scan` follows |
//! | `event` | `text COLLATE "C"` | `event` (the C collation lets `LIKE 'key.%'` use the index) |
//! | `action`, `outcome`, `reason` | `text` | |
//! | `actor`, `actor_kind`, `actor_id`, `actor_name`, `actor_email` | `text` | `actor` is the display form, `alice@example.com` |
//! | `actor_keys` | `text[]` | generated: every form the actor filter accepts |
//! | `tenant` | `text` | |
//! | `resource_type`, `resource_id` | `text` | the first resource |
//! | `resources` | `jsonb` | every resource, `[{type, id, name}]` |
//! | `description` | `text` | |
//! | `ip`, `user_agent`, `request_id` | `inet`, `text`, `text` | `source` |
//! | `method`, `route`, `status`, `grpc_status` | `text`, `text`, `integer`, `integer` | HTTP method and route template, or gRPC method and `/package.Service/Method` |
//! | `service_name`, `service_instance` | `text` | |
//! | `chain_id`, `chain_seq`, `chain_prev`, `chain_hash` | `uuid`, `bigint`, `text`, `text` | `chain` |
//! | `request`, `response`, `changes`, `metadata` | `jsonb` | for ad-hoc SQL; `NULL` with [`detail_columns(false)`](PostgresSinkBuilder::detail_columns) |
//! | `entry` | `json` | the complete entry as the sink serialized it |
//!
//! [`COLUMNS`] lists the columns the sink writes, in its order.
//!
//! The store rebuilds entries from `entry` only. It is `json`, not `jsonb`:
//! `jsonb` reorders keys and normalizes numbers, while `json` keeps the text
//! verbatim, so an entry reads back identical and its chain hash verifies.
//! The typed columns exist to filter and index; text that PostgreSQL cannot
//! hold in them (NUL) is replaced there, never in `entry`.
//!
//! The indexes, and the query plans that chose them, are in [`query_plans`].
//!
//! The view `audit_events_details` (schema version 3) is `audit_events`
//! with `request_json`, `response_json`, `changes_json` and `metadata_json`
//! (`json`) for every row: from the `jsonb` column where the row has one,
//! else from `entry`. Ad-hoc SQL that reads those parts should use it, so
//! that it also sees rows written with
//! [`detail_columns(false)`](PostgresSinkBuilder::detail_columns), which
//! leaves the four columns `NULL` to save the database their cost (a large
//! part of its work per row; the benchmark measures it).
//!
//! A row holds the entry twice (verbatim in `entry`, and in parts in the
//! `jsonb` columns), a few KB that PostgreSQL compresses. Schema version 2
//! sets those columns to lz4 where the server has it (its default, pglz,
//! was the largest single cost of an insert); a database still at version 1
//! works, and the sink logs that `audit migrate` would upgrade it. That
//! upgrade changes only the catalog (values stored before keep pglz and read
//! the same), but it holds an exclusive lock on the table and each partition
//! until it commits, so reads and writes wait for it: a moment, unless a
//! long query holds the table, which it then waits for in turn.
//!
//! # Partitions
//!
//! The sink creates the partitions of the current month and the next
//! [`partitions_ahead`](PostgresSinkBuilder::partitions_ahead) (default 3) at
//! start-up and hourly. A batch with an entry in a month it has not seen
//! (a backdated entry, an import) first creates that month's partition; an
//! insert that still finds a partition missing (dropped meanwhile by another
//! process) creates it and tries again. Partitions are created by
//! `audit_events_ensure_partition`, a `SECURITY DEFINER` function serialized by
//! an advisory lock, so the application role needs no `CREATE` privilege and
//! several instances may race.
//!
//! # Writes
//!
//! `Sink::write` sends the whole batch in one binary `COPY`, the fastest
//! way into PostgreSQL. A retried or replayed batch (after a lost connection
//! whose commit did happen, or from the spool after a restart) inserts
//! nothing twice: a replayed entry has the same id and time, so its `COPY`
//! fails on the primary key (and, being one statement, stores nothing), and
//! the batch goes again as one `INSERT .. SELECT FROM UNNEST(..) ON CONFLICT
//! (id, time) DO NOTHING`, every column bound as an array. Until a batch
//! stores every one of its entries, the next batches go straight to that
//! insert, so a replay from the spool does not pay for a failed `COPY` per
//! batch. Both ways write the same values (one function maps an entry to
//! its row for both), and entries keep the batch's order in `ingest_seq`.
//! The application role needs `INSERT` for both; no other grant.
//!
//! An attempt has [`write_timeout`](PostgresSinkBuilder::write_timeout)
//! (30 s by default) once it holds a connection; then it is abandoned, its
//! connection closed, and the batch retried. sqlx sets no deadline of its own
//! on a statement, so without one a connection whose peer vanished without a
//! reset, or an insert waiting on another session's lock, would hold the
//! pipeline (and, once the queue is full, the callers of `record`)
//! indefinitely.
//!
//! Errors say whether retrying helps:
//!
//! - transient (the pipeline retries with backoff and spools meanwhile):
//!   connection, TLS and protocol failures, pool and write timeouts, and SQLSTATE
//!   classes 08 (connection), 40 (serialization failure, deadlock), 53
//!   (disk full, out of memory, too many connections), 57 (administrator or
//!   crash shutdown, `pg_terminate_backend`, cancelled), 58 (system I/O),
//!   plus 25006 (read-only: a failover to a standby) and 55P03 (lock not
//!   available);
//! - permanent (the batch goes to the dead-letter file): everything else,
//!   notably class 23 (constraint), 22 (data) and 42 (undefined table,
//!   insufficient privilege: a schema or grant problem), and entries that
//!   cannot be encoded.
//!
//! # Several writers
//!
//! Any number of processes may write to one table; each `Auditor` keeps its
//! own chain (`chain_id`). `scan` returns the entries in write order, which
//! interleaves the chains; within a chain, a sink writes batch after batch,
//! so that order is the chain's order, and `audit verify` checks every chain
//! of the table in one pass.
//!
//! # Append-only
//!
//! A row trigger rejects every `UPDATE` and `DELETE`, and statement triggers
//! reject `TRUNCATE` of the table and of each partition (SQLSTATE 42501, with
//! a hint). Only the owner can disable them: run the application with a role
//! that does not own the table.
//!
//! # Retention
//!
//! Retention drops whole partitions, never single rows: with
//! [`retention`](PostgresSinkBuilder::retention) set, the sink drops the
//! partitions whose month ended longer ago than the policy when it is built,
//! hourly and on [`PostgresSink::apply_retention`]; `audit purge` does the
//! same with [`PostgresStore::purge_partitions`]. A partition is locked,
//! summarized (entries, time range, the chain seqs it held) and dropped in
//! one transaction by the `SECURITY DEFINER` function
//! `audit_events_drop_partitions`. Chains then start later; verification
//! accepts that and is anchored at the oldest kept checkpoint.
//!
//! **The `audit.retention` entry.** As with the file sink, the sink cannot
//! write that entry itself (it would have no place in the hash chain), so
//! each run that dropped partitions produces a [`RetentionReport`] on
//! [`PostgresSink::retention_events`], and the application records it
//! through its auditor with [`RetentionEvents::record_into`].
//!
//! # Roles and grants
//!
//! Run [`migrate`] as a role that owns the schema, and the application as a
//! role that may only insert and read:
//!
//! ```sql
//! -- as the owner, after `audit migrate`
//! CREATE ROLE audit_app LOGIN PASSWORD '...';
//! GRANT USAGE ON SCHEMA public TO audit_app;
//! GRANT SELECT, INSERT ON audit_events TO audit_app;
//! GRANT USAGE ON SEQUENCE audit_events_ingest_seq TO audit_app;
//! GRANT SELECT ON audit_schema_migrations TO audit_app;
//! -- for whoever runs ad-hoc SQL over the details:
//! GRANT SELECT ON audit_events_details TO audit_reader;
//! GRANT EXECUTE ON FUNCTION audit_events_ensure_partition(timestamptz),
//!                           audit_events_ensure_partitions(timestamptz[]) TO audit_app;
//! -- only for the role that applies retention (the sink's `retention`, `audit purge`):
//! GRANT EXECUTE ON FUNCTION audit_events_drop_partitions(timestamptz, boolean) TO audit_retention;
//! ```
//!
//! Rows are inserted and read through the parent table, so no grant on the
//! partitions is needed. Without `UPDATE`, `DELETE`, `TRUNCATE` or ownership,
//! the application role cannot change the trail even with the triggers
//! disabled. Granting it `audit_events_drop_partitions` lets it drop whole
//! old months: give that to a separate role if retention should not be in the
//! application's hands.
//!
//! # The store
//!
//! [`PostgresStore`] translates a [`Query`](audit_core::query::Query) into one
//! `SELECT` with bound parameters only: `tenant =`, `actor_keys @> ARRAY[..]`
//! (id, name, email or display form), `event =` or `event LIKE .. ESCAPE '\'`
//! for globs, `resources @> '[{"type": .., "id": ..}]'` (type and id of the
//! same resource), `outcome`, `action`, `time` bounds (relative ones resolved
//! once per call), and `ILIKE` over description, event, reason, actor and
//! resource ids and names for text. Pages are ordered by `(time, id)` with a
//! keyset cursor `(time, id) < ($t, $id)` and fetch `limit + 1` rows. `scan`
//! reads in `ingest_seq` order, in keyset chunks within one read-only
//! snapshot, so that concurrent writers cannot make a chain look cut (see
//! [`PostgresStore`]'s `scan`).

mod config;
mod error;
mod migrate;
mod partition;
mod retention;
mod row;
mod sink;
mod store;
mod target;

pub mod query_plans;

pub use config::PostgresSinkBuilder;
pub use error::PostgresError;
pub use migrate::{MigrateReport, SCHEMA_VERSION, migrate, migrate_url};
#[cfg(test)]
pub(crate) use retention::WORDING as RETENTION_WORDING;
pub use retention::{DroppedPartition, RetentionEvents, RetentionReport, RetentionRule};
pub use row::COLUMNS;
pub use sink::PostgresSink;
pub use sqlx::postgres::PgPool;
pub use store::PostgresStore;

pub use crate::retention::{ChainSpan, RETENTION_EVENT};
