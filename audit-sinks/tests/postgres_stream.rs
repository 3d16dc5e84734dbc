//! A stream of 50 000 entries through a real `Auditor` while another
//! connection keeps terminating the sink's backends: every entry arrives
//! exactly once, and the chain verifies from the store's scan.
#![cfg(feature = "postgres")]

mod postgres_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use audit_core::integrity::{Verifier, VerifyOptions};
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::{Actor, AuditEvent, Auditor, Resource, RetryPolicy, SigningKey};
use audit_sinks::postgres::{PostgresSink, PostgresStore};
use futures::StreamExt as _;
use postgres_support::migrated_db;
use uuid::Uuid;

const ENTRIES: usize = 50_000;
/// How long recording the stream may take before the test fails instead of
/// hanging: it takes 10-70 s on a 2-core machine.
const STREAM_DEADLINE: Duration = Duration::from_secs(240);

/// A backend: pid, state, wait event, seconds in its statement, statement.
type Backend = (i32, Option<String>, Option<String>, Option<f64>, Option<String>);

/// The sink's backends as PostgreSQL sees them: state, wait and statement.
async fn sink_backends(pool: &sqlx::PgPool) -> String {
    let rows: Result<Vec<Backend>, _> = sqlx::query_as(
        "SELECT pid, state, wait_event_type || ':' || wait_event, \
             extract(epoch FROM now() - query_start)::float8, left(query, 60) \
             FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'audit-sinks'",
    )
    .fetch_all(pool)
    .await;
    match rows {
        Ok(rows) if rows.is_empty() => "no sink backend".to_owned(),
        Ok(rows) => rows
            .iter()
            .map(|(pid, state, wait, secs, query)| {
                format!(
                    "[pid {pid} {} wait {} for {:.2}s: {}]",
                    state.as_deref().unwrap_or("?"),
                    wait.as_deref().unwrap_or("-"),
                    secs.unwrap_or(0.0),
                    query.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        Err(e) => format!("pg_stat_activity: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_entry_arrives_exactly_once_while_connections_are_killed() {
    // The sink's retry warnings show in the output when the test fails.
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_test_writer()
        .try_init();
    let db = migrated_db().await;
    let key = SigningKey::ed25519_from_bytes(&[5; 32]);
    let sink = PostgresSink::builder()
        .max_connections(2)
        .write_timeout(Duration::from_secs(5))
        .connect(db.url())
        .await
        .unwrap();
    let auditor = Auditor::builder()
        .service("stream-test", "1.0.0")
        .signing_key(key.clone())
        .checkpoint_every(1_000)
        .retry_policy(RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(200)))
        .sink(sink)
        .build()
        .unwrap();

    // Another connection terminates the sink's backends (application_name
    // `audit-sinks`), over and over, while the stream runs.
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicI64::new(0));
    let killer = {
        let (stop, killed) = (stop.clone(), killed.clone());
        let pool = db.pool().await;
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND application_name = 'audit-sinks' \
                     AND pid <> pg_backend_pid()",
                )
                .fetch_one(&pool)
                .await
                .expect("terminate the sink's backends");
                killed.fetch_add(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            pool.close().await;
        })
    };

    // Progress every 5 s, in the output when the test fails: where a stall
    // waits (the pipeline's counters, the sink's backends).
    let started = std::time::Instant::now();
    let monitor_pool = db.pool().await;
    let progress = {
        let (auditor, killed, pool) = (auditor.clone(), killed.clone(), monitor_pool.clone());
        move || {
            let (auditor, killed, pool) = (auditor.clone(), killed.clone(), pool.clone());
            async move {
                let stats = auditor.stats();
                let sink = &stats.sinks[0];
                format!(
                    "{:>6.1?}: recorded {}, written {}, retried {}, queued {} ({} bytes), \
                     {} backends terminated; {}",
                    started.elapsed(),
                    stats.recorded,
                    sink.written,
                    sink.retried,
                    sink.queue_depth,
                    sink.queue_bytes,
                    killed.load(Ordering::SeqCst),
                    sink_backends(&pool).await
                )
            }
        }
    };
    let monitor = {
        let progress = progress.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                eprintln!("{}", progress().await);
            }
        })
    };

    let mut ids = Vec::with_capacity(ENTRIES);
    let recording = tokio::time::timeout(STREAM_DEADLINE, async {
        for n in 0..ENTRIES {
            let receipt = auditor
                .record(
                    AuditEvent::builder("project.update")
                        .actor(
                            Actor::user(format!("u_{}", n % 50))
                                .email(format!("user{}@example.com", n % 50)),
                        )
                        .tenant(if n % 2 == 0 { "acme" } else { "globex" })
                        .resource(Resource::new("project", format!("p_{}", n % 500)))
                        .metadata("n", n),
                )
                .await
                .unwrap();
            ids.push(receipt.id);
        }
    })
    .await;
    if recording.is_err() {
        panic!(
            "recording {ENTRIES} entries took more than {STREAM_DEADLINE:?} (the sink stalled): {}",
            progress().await
        );
    }
    // Keep killing until the sink has caught up with most of the stream.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while auditor.stats().sinks[0].written < ENTRIES as u64
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let streamed = started.elapsed();
    monitor.abort();
    monitor_pool.close().await;
    stop.store(true, Ordering::SeqCst);
    killer.await.unwrap();
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();
    eprintln!("streamed in {streamed:.1?}, shut down after {:.1?}", started.elapsed());

    let stats = auditor.stats();
    let sink = &stats.sinks[0];
    let killed = killed.load(Ordering::SeqCst);
    eprintln!("terminated {killed} backends; sink stats: {sink:?}");
    assert!(killed > 0, "no backend was terminated");
    assert!(sink.retried > 0, "no write failed: the kills never hit a write");
    assert_eq!(sink.failed, 0, "a lost connection is transient, never permanent");
    assert_eq!(sink.written, stats.recorded);
    let written = sink.written;
    assert!(written > ENTRIES as u64 + 50, "genesis, entries and checkpoints: {written}");

    let store = PostgresStore::connect(db.url()).await.unwrap();
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT id) FROM audit_events")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((rows as u64, distinct as u64), (written, written), "every entry exactly once");
    let ours: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE id = ANY($1)")
        .bind(&ids)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(ours as usize, ENTRIES);

    // The chain verifies from the store's scan, in write order.
    let options = VerifyOptions::new().key(key.verifying_key()).require_sealed(true);
    let mut verifier = Verifier::new(options);
    let query = Query::new();
    let mut scan = store.scan(&query);
    let mut seen: Vec<Uuid> = Vec::new();
    while let Some(entry) = scan.next().await {
        let entry = entry.unwrap();
        verifier.push(&entry).unwrap_or_else(|p| panic!("verification failed: {p}"));
        seen.push(entry.id);
    }
    let report = verifier.finish().unwrap_or_else(|p| panic!("verification failed: {p}"));
    assert_eq!(report.entries, written);
    assert_eq!(report.chains.len(), 1);
    assert!(report.chains[0].sealed && report.signatures_checked);
    assert_eq!(seen.len() as u64, written);
}
