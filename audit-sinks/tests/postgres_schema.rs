//! The schema: migrations (twice, concurrently), the version check, the
//! append-only triggers, the grants of an insert-only role, and passwords
//! kept out of `Debug` and errors.
#![cfg(feature = "postgres")]

mod postgres_support;

use audit_core::Sink as _;
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_sinks::postgres::{self, PostgresError, PostgresSink, PostgresStore};
use postgres_support::{TestDb, entry, entry_at, with_user};
use time::macros::datetime;

#[tokio::test]
async fn migrations_are_idempotent_and_safe_to_run_concurrently() {
    let db = TestDb::new().await;
    // Eight instances starting at once, each with its own connection.
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { postgres::migrate_url(&url).await })
        })
        .collect();
    let mut applied = 0;
    for run in runs {
        let report = run.await.unwrap().expect("concurrent migrate");
        assert_eq!(report.version, postgres::SCHEMA_VERSION);
        applied += report.applied.len();
    }
    assert_eq!(applied, 1, "exactly one instance applies the migration");

    // And again, on an application pool.
    let pool = db.pool().await;
    let again = postgres::migrate(&pool).await.unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(again.version, postgres::SCHEMA_VERSION);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_schema_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 1);
    // The application's own sqlx migrations table is left alone.
    let sqlx_table: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!sqlx_table);
}

#[tokio::test]
async fn the_sink_and_store_refuse_a_database_without_the_schema() {
    let db = TestDb::new().await;
    let err = PostgresSink::connect(&db.url).await.unwrap_err();
    assert!(matches!(err, PostgresError::SchemaOutdated { found: 0, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("audit migrate"), "{message}");
    let err = PostgresStore::connect(&db.url).await.unwrap_err();
    assert!(matches!(err, PostgresError::SchemaOutdated { found: 0, .. }), "{err:?}");
}

#[tokio::test]
async fn updates_deletes_and_truncates_are_rejected() {
    let db = TestDb::migrated().await;
    let sink = PostgresSink::connect(&db.url).await.unwrap();
    let batch: Vec<_> = (0..5).map(entry).collect();
    sink.write_batch(&batch).await.unwrap();
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
    let mut db = TestDb::migrated().await;
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
    sink.write_batch(&batch).await.expect("the app role inserts");
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
    let err = sink.write_batch(&[entry(2)]).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert!(err.to_string().contains("42501"), "{err}");
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_password_is_never_printed() {
    let db = TestDb::migrated().await;
    // The test server trusts local users, so any password connects.
    let url = with_user(&db.url, "postgres:hunter2-secret");
    let sink = PostgresSink::connect(&url).await.unwrap();
    let store = PostgresStore::connect(&url).await.unwrap();
    for text in [format!("{sink:?}"), format!("{store:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains(&db.name), "{text}");
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
