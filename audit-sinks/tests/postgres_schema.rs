//! The schema: migrations (twice, concurrently), the version check, the
//! append-only triggers, the grants of an insert-only role, and passwords
//! kept out of `Debug` and errors.
#![cfg(feature = "postgres")]

mod postgres_support;

use audit_core::Sink as _;
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_sinks::postgres::{self, PostgresError, PostgresSink, PostgresStore};
use audit_testkit::pg::{FreshDb, with_user};
use postgres_support::{entry, entry_at, migrated_db};
use time::macros::datetime;

#[tokio::test]
async fn migrations_are_idempotent_and_safe_to_run_concurrently() {
    let db = FreshDb::new().await;
    // Eight instances starting at once, each with its own connection.
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url().to_owned();
            tokio::spawn(async move { postgres::migrate_url(&url).await })
        })
        .collect();
    let mut applied = 0;
    for run in runs {
        let report = run.await.unwrap().expect("concurrent migrate");
        assert_eq!(report.version, postgres::SCHEMA_VERSION);
        applied += report.applied.len();
    }
    assert_eq!(
        applied,
        postgres::SCHEMA_VERSION as usize,
        "exactly one instance applies each migration"
    );

    // And again, on an application pool.
    let pool = db.pool().await;
    let again = postgres::migrate(&pool).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, postgres::SCHEMA_VERSION);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_schema_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, i64::from(postgres::SCHEMA_VERSION));
    // The application's own sqlx migrations table is left alone.
    let sqlx_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!sqlx_table);
}

/// An entry with 16 KB of metadata, which PostgreSQL compresses.
fn large(mut e: audit_core::AuditEvent) -> audit_core::AuditEvent {
    e.metadata.insert("notes".to_owned(), "compressible text ".repeat(1000).into());
    e
}

/// The compression of `entry` in `audit_events` and each partition:
/// `l` (lz4), `p` (pglz) or empty (the server's default, pglz).
async fn compression(pool: &sqlx::PgPool) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT c.relname::text, a.attcompression::text FROM pg_attribute a \
         JOIN pg_class c ON c.oid = a.attrelid \
         WHERE a.attname = 'entry' AND (c.oid = 'audit_events'::regclass \
            OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'audit_events'::regclass)) \
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_version_1_database_works_and_migrating_it_moves_every_partition_to_lz4() {
    let db = migrated_db().await;
    let pool = db.pool().await;
    let has_lz4: bool = sqlx::query_scalar(
        "SELECT 'lz4' = ANY (enumvals) FROM pg_settings WHERE name = 'default_toast_compression'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // Back to version 1: pglz everywhere, migrations 2 and 3 undone.
    for (table, _) in compression(&pool).await {
        sqlx::raw_sql(&format!(
            "ALTER TABLE ONLY {table} ALTER COLUMN entry SET COMPRESSION pglz, \
             ALTER COLUMN request SET COMPRESSION pglz"
        ))
        .execute(&pool)
        .await
        .unwrap();
    }
    sqlx::raw_sql(
        "DELETE FROM audit_schema_migrations WHERE version >= 2; DROP VIEW audit_events_details",
    )
    .execute(&pool)
    .await
    .unwrap();
    assert!(compression(&pool).await.iter().all(|(_, c)| c == "p"));

    // This build writes to it, and to an old month's partition.
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let old = large(entry_at(0, datetime!(2025-03-10 12:00 UTC)));
    let now = large(entry(1));
    sink.write(audit_core::Batch::new(&[old.clone(), now.clone()])).await.unwrap();

    let report = postgres::migrate(&pool).await.unwrap();
    assert_eq!(report.applied, [2, 3]);
    let expected = if has_lz4 { "l" } else { "p" };
    let after = compression(&pool).await;
    assert!(after.len() >= 3, "the parent and at least two partitions: {after:?}");
    assert!(after.iter().all(|(_, c)| c == expected), "{after:?}");
    // A partition made after the migration inherits it.
    let later = large(entry_at(2, datetime!(2024-07-01 00:00 UTC)));
    sink.write(audit_core::Batch::new(std::slice::from_ref(&later))).await.unwrap();
    let made_later = compression(&pool).await;
    let p2024 = made_later.iter().find(|(t, _)| t == "audit_events_p2024_07").expect("partition");
    assert_eq!(p2024.1, expected, "{made_later:?}");
    // Everything reads back, whatever it was compressed with.
    let methods: Vec<String> = sqlx::query_scalar(
        "SELECT pg_column_compression(entry) FROM audit_events ORDER BY ingest_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(methods, ["pglz", "pglz", if has_lz4 { "lz4" } else { "pglz" }]);
    let stored = sink.store().query(&Query::new().limit(10)).await.unwrap();
    assert_eq!(stored.entries.len(), 3);
    assert!([old, now, later].iter().all(|e| stored.entries.contains(e)));
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_sink_and_store_refuse_a_database_without_the_schema() {
    let db = FreshDb::new().await;
    let err = PostgresSink::connect(db.url()).await.unwrap_err();
    assert!(matches!(err, PostgresError::SchemaOutdated { found: 0, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("audit migrate"), "{message}");
    let err = PostgresStore::connect(db.url()).await.unwrap_err();
    assert!(matches!(err, PostgresError::SchemaOutdated { found: 0, .. }), "{err:?}");
}

#[tokio::test]
async fn updates_deletes_and_truncates_are_rejected() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let batch: Vec<_> = (0..5).map(entry).collect();
    sink.write(audit_core::Batch::new(&batch)).await.unwrap();
    let pool = db.pool().await;
    let partition = format!(
        "audit_events_p{}",
        time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!("[year]_[month]"))
            .unwrap()
    );
    for statement in [
        "UPDATE audit_events SET reason = 'tampered'".to_owned(),
        format!("UPDATE {partition} SET description = 'tampered'"),
        "DELETE FROM audit_events".to_owned(),
        format!("DELETE FROM {partition} WHERE true"),
        "TRUNCATE audit_events".to_owned(),
        format!("TRUNCATE {partition}"),
    ] {
        let err = sqlx::raw_sql(&statement).execute(&pool).await.unwrap_err();
        let db_err = err.as_database_error().unwrap_or_else(|| panic!("{statement}: {err}"));
        assert_eq!(db_err.code().as_deref(), Some("42501"), "{statement}: {err}");
        assert!(db_err.message().contains("append-only"), "{statement}: {err}");
    }
    let stored = sink.store().query(&Query::new()).await.unwrap();
    assert_eq!(stored.entries.len(), 5);
    assert!(stored.entries.iter().all(|e| e.reason.is_none()));
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_insert_only_role_writes_and_reads_with_the_documented_grants() {
    let mut db = migrated_db().await;
    let (role, role_url) = db.role("app").await;
    let pool = db.pool().await;
    // The grants of the module docs (`public` is the schema here).
    sqlx::raw_sql(&format!(
        "GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT, INSERT ON audit_events TO {role};
         GRANT USAGE ON SEQUENCE audit_events_ingest_seq TO {role};
         GRANT SELECT ON audit_schema_migrations TO {role};
         GRANT EXECUTE ON FUNCTION audit_events_ensure_partition(timestamptz),
                                   audit_events_ensure_partitions(timestamptz[]) TO {role};"
    ))
    .execute(&pool)
    .await
    .unwrap();

    let sink = PostgresSink::connect(&role_url).await.expect("the app role connects");
    // A backdated entry needs a partition the role may not create itself:
    // the SECURITY DEFINER function does.
    let batch = vec![entry(0), entry_at(1, datetime!(2024-03-10 12:00 UTC))];
    sink.write(audit_core::Batch::new(&batch)).await.expect("the app role inserts");
    let store = PostgresStore::connect(&role_url).await.unwrap();
    assert_eq!(store.query(&Query::new()).await.unwrap().entries.len(), 2);

    let app = sink.pool();
    for statement in ["UPDATE audit_events SET reason = 'x'", "DELETE FROM audit_events"] {
        let err = sqlx::raw_sql(statement).execute(app).await.unwrap_err();
        let code = err.as_database_error().and_then(|e| e.code().map(|c| c.into_owned()));
        assert_eq!(code.as_deref(), Some("42501"), "{statement}: {err}");
    }
    // No retention for the app role unless granted.
    let err = store.purge_partitions(datetime!(2024-05-01 0:00 UTC), false).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert_eq!(store.query(&Query::new()).await.unwrap().entries.len(), 2);

    // Without INSERT the batch is rejected permanently: retrying cannot help.
    sqlx::raw_sql(&format!("REVOKE INSERT ON audit_events FROM {role}"))
        .execute(&pool)
        .await
        .unwrap();
    let err = sink.write(audit_core::Batch::new(&[entry(2)])).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("42501"), "{err}");
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_password_is_never_printed() {
    let db = migrated_db().await;
    // The test server trusts local users, so any password connects.
    let url = with_user(db.url(), "postgres:hunter2-secret");
    let sink = PostgresSink::connect(&url).await.unwrap();
    let store = PostgresStore::connect(&url).await.unwrap();
    for text in [format!("{sink:?}"), format!("{store:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(db.name()), "{text}");
    }
    // Nothing listens on port 1.
    let unreachable = "postgres://postgres:hunter2-secret@127.0.0.1:1/nowhere";
    let err = PostgresSink::builder()
        .acquire_timeout(std::time::Duration::from_secs(2))
        .connect(unreachable)
        .await
        .unwrap_err();
    let text = format!("{err} / {err:?}");
    assert!(matches!(err, PostgresError::Connect { .. }), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    let err =
        PostgresSink::connect("postgres://u:hunter2-secret@host:notaport/db").await.unwrap_err();
    assert!(!format!("{err} / {err:?}").contains("hunter2"), "{err:?}");
    sink.shutdown().await.unwrap();
}
