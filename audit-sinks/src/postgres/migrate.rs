//! Embedded, versioned migrations.
//!
//! Each migration runs in one transaction that first takes a
//! transaction-level advisory lock, so that several instances starting at
//! once apply it exactly once (the others wait, then find it applied). The
//! applied versions and their SHA-256 checksums live in
//! `audit_schema_migrations`, apart from sqlx's `_sqlx_migrations`, so the
//! application's own `sqlx::migrate!` migrations in the same database are
//! not disturbed.

use std::str::FromStr as _;

use sha2::{Digest as _, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Executor as _, PgPool};

use super::PostgresError;
use super::target::describe;

/// The schema version [`migrate`] brings a database to: the newest this
/// build knows.
pub const SCHEMA_VERSION: u32 = 3;

/// The oldest schema version this build writes and reads. Version 2 only
/// changes how large values are compressed, and version 3 adds a view for
/// ad-hoc SQL, so a database at version 1 works.
const REQUIRED_VERSION: u32 = 1;

/// The advisory lock key that serializes migrations (`audit-sinks migrate`).
const MIGRATION_LOCK: i64 = 7_021_770_040_830_312_448;

struct Migration {
    version: u32,
    sql: &'static str,
    description: &'static str,
}

/// The migrations, in order. One that adds a column to `audit_events` must
/// also recreate the view `audit_events_details` (version 3), whose `a.*`
/// was expanded to the columns of the day it was created.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "audit_events: partitioned table, indexes, append-only triggers, partition and retention functions",
        sql: include_str!("migrations/0001_audit_events.sql"),
    },
    Migration {
        version: 2,
        description: "audit_events: lz4 compression for the large values, where the server has lz4",
        sql: include_str!("migrations/0002_lz4_compression.sql"),
    },
    Migration {
        version: 3,
        description: "audit_events_details: the request, response, changes and metadata of every row, from their columns or from entry",
        sql: include_str!("migrations/0003_details_view.sql"),
    },
];

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrateReport {
    /// The versions applied by this call, in order (empty: already up to date).
    pub applied: Vec<u32>,
    /// The schema version after the call.
    pub version: u32,
}

/// Creates or upgrades the audit schema (`audit_events` and its functions)
/// in the pool's database, in the first schema of the `search_path`.
///
/// Idempotent, and safe to run from several instances at once: each
/// migration runs in a transaction holding an advisory lock, so one applies
/// it and the others find it applied. Run it with a role that may create
/// tables (the owner of the schema); the application's role needs only the
/// grants listed in the [module docs](super#roles-and-grants).
///
/// Fails with [`PostgresError::MigrationChanged`] if an applied migration
/// differs from the one embedded in this build.
pub async fn migrate(pool: &PgPool) -> Result<MigrateReport, PostgresError> {
    let target = describe(&pool.connect_options());
    let db = |what| {
        let target = target.clone();
        move |e| PostgresError::database(what, &target, e)
    };
    let mut applied = Vec::new();
    for migration in MIGRATIONS {
        let checksum = hex::encode(Sha256::digest(migration.sql.as_bytes()));
        let mut tx = pool.begin().await.map_err(db("starting the migration"))?;
        // `Executor` methods return boxed futures: they keep this function's
        // future `Send` (sqlx's generic `execute(&mut *tx)` does not).
        (&mut *tx)
            .execute(sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK))
            .await
            .map_err(db("taking the migration lock"))?;
        (&mut *tx)
            .execute(
                "CREATE TABLE IF NOT EXISTS audit_schema_migrations (
                    version     integer PRIMARY KEY,
                    description text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now()
                )",
            )
            .await
            .map_err(db("creating audit_schema_migrations"))?;
        let existing: Option<String> = (&mut *tx)
            .fetch_optional(
                sqlx::query("SELECT checksum FROM audit_schema_migrations WHERE version = $1")
                    .bind(migration.version as i32),
            )
            .await
            .map_err(db("reading audit_schema_migrations"))?
            .map(|row| sqlx::Row::try_get::<String, _>(&row, 0))
            .transpose()
            .map_err(db("reading audit_schema_migrations"))?;
        match existing {
            Some(existing) if existing == checksum => {}
            Some(_) => {
                return Err(PostgresError::MigrationChanged {
                    target: target.clone(),
                    version: migration.version,
                });
            }
            None => {
                // A string without arguments runs as a simple query: many statements.
                (&mut *tx)
                    .execute(migration.sql)
                    .await
                    .map_err(db("applying an audit schema migration"))?;
                (&mut *tx)
                    .execute(
                        sqlx::query(
                            "INSERT INTO audit_schema_migrations (version, description, checksum) \
                             VALUES ($1, $2, $3)",
                        )
                        .bind(migration.version as i32)
                        .bind(migration.description)
                        .bind(checksum.as_str()),
                    )
                    .await
                    .map_err(db("recording an audit schema migration"))?;
                applied.push(migration.version);
            }
        }
        tx.commit().await.map_err(db("committing the migration"))?;
    }
    if !applied.is_empty() {
        tracing::info!(%target, ?applied, "applied audit schema migrations");
    }
    let version = schema_version(pool, &target).await?;
    Ok(MigrateReport { applied, version })
}

/// [`migrate`] over a connection URL (for the `audit migrate` command).
pub async fn migrate_url(url: &str) -> Result<MigrateReport, PostgresError> {
    let pool = connect_pool(url, 1, std::time::Duration::from_secs(10)).await?;
    let report = migrate(&pool).await;
    pool.close().await;
    report
}

/// Parses a URL without ever quoting it (it may hold a password).
pub(crate) fn parse_url(url: &str) -> Result<PgConnectOptions, PostgresError> {
    PgConnectOptions::from_str(url).map_err(|e| PostgresError::InvalidUrl(e.to_string()))
}

/// A pool over `url`, connected once to check that the database is there.
pub(crate) async fn connect_pool(
    url: &str,
    max_connections: u32,
    acquire_timeout: std::time::Duration,
) -> Result<PgPool, PostgresError> {
    let mut options = parse_url(url)?;
    if options.get_application_name().is_none() {
        options = options.application_name("audit-sinks");
    }
    let target = describe(&options);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .connect_with(options)
        .await
        .map_err(|source| PostgresError::Connect { target, source })
}

/// The schema version of the pool's database: 0 without an audit schema.
pub(crate) async fn schema_version(pool: &PgPool, target: &str) -> Result<u32, PostgresError> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('audit_schema_migrations') IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(|e| PostgresError::database("reading the audit schema version", target, e))?;
    if !exists {
        return Ok(0);
    }
    let version: Option<i32> =
        sqlx::query_scalar("SELECT max(version) FROM audit_schema_migrations")
            .fetch_one(pool)
            .await
            .map_err(|e| PostgresError::database("reading the audit schema version", target, e))?;
    Ok(version.and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
}

/// Fails unless the schema is at least the version this build needs.
pub(crate) async fn check_schema(pool: &PgPool, target: &str) -> Result<(), PostgresError> {
    let found = schema_version(pool, target).await?;
    if found < REQUIRED_VERSION {
        return Err(PostgresError::SchemaOutdated {
            target: target.to_owned(),
            found,
            expected: REQUIRED_VERSION,
        });
    }
    if found < SCHEMA_VERSION {
        tracing::info!(
            %target, found, latest = SCHEMA_VERSION,
            "the audit schema works but is not the latest: `audit migrate --store postgres://...` \
             (or audit_sinks::postgres::migrate) upgrades it"
        );
    }
    if found > SCHEMA_VERSION {
        tracing::warn!(
            %target, found, expected = SCHEMA_VERSION,
            "the audit schema is newer than this build of audit-sinks; upgrade it"
        );
    }
    Ok(())
}
