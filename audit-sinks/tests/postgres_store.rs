//! The store: the audit-core conformance suite, exact round trips,
//! idempotent replays, and partitions created on demand.
#![cfg(feature = "postgres")]

mod postgres_support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use audit_core::Sink as _;
use audit_core::integrity::{CheckpointPolicy, Sequencer, VerifyOptions, verify};
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::testing::conformance;
use audit_core::{
    Actor, AuditEvent, Batch, Body, Change, GrpcRequest, HttpRequest, JsonEntry, Outcome, Request,
    Resource, Response, ServiceInfo, SigningKey, Source,
};
use audit_sinks::postgres::PostgresSink;
use audit_testkit::pg::FreshDb;
use bytes::Bytes;
use postgres_support::{entry, entry_at, migrated_db, scan_all};
use serde_json::json;
use time::macros::datetime;

#[tokio::test]
async fn the_store_passes_the_conformance_suite() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let store = sink.store();
    conformance::run(&store, |entries| {
        let sink = sink.clone();
        async move { sink.write(audit_core::Batch::new(&entries)).await.expect("load") }
    })
    .await;
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_replayed_batch_inserts_nothing_twice() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let batch: Vec<AuditEvent> = (0..200).map(entry).collect();
    sink.write(audit_core::Batch::new(&batch)).await.unwrap();
    // The same batch again (a retry whose commit had happened), and one that
    // overlaps it (a replay from the spool after a restart).
    sink.write(audit_core::Batch::new(&batch)).await.unwrap();
    let more: Vec<AuditEvent> = (200..300).map(entry).collect();
    let overlapping: Vec<AuditEvent> = batch[150..].iter().chain(&more).cloned().collect();
    sink.write(audit_core::Batch::new(&overlapping)).await.unwrap();
    // A batch holding the same entry twice.
    let twice = vec![entry(300), entry(301)];
    let twice = [twice.clone(), twice].concat();
    sink.write(audit_core::Batch::new(&twice)).await.unwrap();

    let pool = db.pool().await;
    let (rows, ids): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT id) FROM audit_events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((rows, ids), (302, 302));
    // In write order, each once.
    let scanned = scan_all(&sink.store()).await;
    let expected: Vec<AuditEvent> = batch.iter().chain(&more).chain(&twice[..2]).cloned().collect();
    assert_eq!(scanned, expected);
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn entries_come_back_exactly_as_written_and_their_hashes_verify() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let key = SigningKey::ed25519_from_bytes(&[3; 32]);
    let mut seq =
        Sequencer::new(Some(key.clone()), CheckpointPolicy::default(), ServiceInfo::new("svc"));
    let mut chain = vec![seq.genesis().unwrap()];
    // Values that jsonb would rewrite: key order, number forms, escapes.
    let odd = [
        json!({"z": 1, "a": 2, "m": {"y": [3, 2, 1], "b": null}}),
        json!({"float": 0.1, "big": 1.5e300, "neg": -0.0, "int": 9_007_199_254_740_993_u64}),
        json!({"text": "nul \u{0} tab \t quote \" emoji 🦀 é", "empty": ""}),
    ];
    for (n, value) in odd.iter().enumerate() {
        let mut e = entry(n);
        e.metadata.insert("odd".to_owned(), value.clone());
        e.description = format!("with \u{0} inside {n}");
        e.source = Source::new().ip("2001:db8::1".parse().unwrap()).user_agent("curl/8 \u{0}");
        seq.seal(&mut e).unwrap();
        chain.push(e);
    }
    chain.push(seq.checkpoint(true).unwrap());
    sink.write(audit_core::Batch::new(&chain)).await.unwrap();

    let back = scan_all(&sink.store()).await;
    assert_eq!(back, chain);
    let report = verify(&back, &VerifyOptions::new().key(key.verifying_key()).require_sealed(true))
        .unwrap_or_else(|p| panic!("verification failed: {p}"));
    assert!(report.chains[0].sealed);

    // The typed columns hold what people filter on.
    let pool = db.pool().await;
    let (ip, actor, keys): (String, String, Vec<String>) = sqlx::query_as(
        "SELECT host(ip), actor, actor_keys FROM audit_events WHERE event = 'project.update' LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(ip, "2001:db8::1");
    assert_eq!(actor, "user0@example.com");
    // Every form the actor filter accepts (the display form is the email here).
    assert!(keys.contains(&"u_0".to_owned()) && keys.contains(&actor), "{keys:?}");
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_partition_dropped_meanwhile_is_created_again() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let old = datetime!(2024-01-15 08:00 UTC);
    sink.write(audit_core::Batch::new(&[entry_at(0, old)])).await.unwrap();
    // Another process drops that month (the sink still believes it exists).
    let pool = db.pool().await;
    let dropped: Vec<String> = sqlx::query_scalar(
        "SELECT partition_name FROM audit_events_drop_partitions('2024-02-01T00:00:00Z', false)",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(dropped, ["audit_events_p2024_01"]);
    // The insert finds no partition, creates it and tries again.
    let e = entry_at(1, old);
    sink.write(audit_core::Batch::new(std::slice::from_ref(&e))).await.unwrap();
    assert_eq!(scan_all(&sink.store()).await, [e]);
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_closed_pool_is_a_transient_error() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    sink.pool().close().await;
    let err = sink.write(audit_core::Batch::new(&[entry(0)])).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
}

#[tokio::test]
async fn a_write_that_hangs_is_abandoned_and_its_retry_stores_each_entry_once() {
    let db = migrated_db().await;
    // One connection: the abandoned write must give its slot back.
    let sink = PostgresSink::builder()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .write_timeout(Duration::from_millis(300))
        .connect(db.url())
        .await
        .unwrap();
    // Another session holds the table, so the sink's insert waits for it.
    let pool = db.pool().await;
    let mut locker = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *locker)
        .await
        .unwrap();
    let batch: Vec<AuditEvent> = (0..200).map(entry).collect();
    let hung =
        tokio::time::timeout(Duration::from_secs(60), sink.write(audit_core::Batch::new(&batch)))
            .await
            .expect("the write hung past its write_timeout");
    let err = hung.unwrap_err();
    assert!(err.is_retryable(), "a timed-out write is retried: {err}");
    assert!(err.to_string().contains("write_timeout"), "{err}");
    // The abandoned statement still waits on the server; once the lock is
    // gone it may store its rows too. The retry then skips them.
    locker.rollback().await.unwrap();
    sink.write(audit_core::Batch::new(&batch)).await.expect("the retry, on a new connection");
    let (rows, ids): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT id) FROM audit_events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((rows, ids), (200, 200));
    assert_eq!(scan_all(&sink.store()).await, batch);
    sink.shutdown().await.unwrap();
}

#[test]
fn a_zero_write_timeout_is_refused() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(
            PostgresSink::builder()
                .write_timeout(Duration::ZERO)
                .connect("postgres://nobody@127.0.0.1:1/none"),
        )
        .unwrap_err();
    assert!(err.to_string().contains("write_timeout"), "{err}");
}

#[tokio::test]
async fn queries_use_every_filter_with_bound_parameters() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let mut batch: Vec<AuditEvent> = (0..20).map(entry).collect();
    batch[3].tenant = Some("o'brien; DROP TABLE audit_events; --".to_owned());
    sink.write(audit_core::Batch::new(&batch)).await.unwrap();
    let store = sink.store();
    let page =
        store.query(&Query::new().tenant("o'brien; DROP TABLE audit_events; --")).await.unwrap();
    assert_eq!(page.entries, [batch[3].clone()]);
    let page = store.query(&Query::new().text("%")).await.unwrap();
    assert!(page.entries.is_empty(), "`%` is a literal in text search");
    let ids: HashSet<_> = scan_all(&store).await.into_iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 20);
    sink.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_sinks_create_the_same_partitions_at_once() {
    let db = migrated_db().await;
    let mut writers = Vec::new();
    for w in 0..4 {
        // Each its own pool, as separate processes would.
        let sink = PostgresSink::connect(db.url()).await.unwrap();
        writers.push(tokio::spawn(async move {
            for round in 0..3 {
                // Every writer needs the same eight old months at once.
                let batch: Vec<AuditEvent> = (0..8)
                    .map(|m| {
                        let month = time::Month::try_from(m as u8 + 1).unwrap();
                        let day = time::Date::from_calendar_date(2023, month, 10).unwrap();
                        entry_at(w * 100 + round * 10 + m, day.midnight().assume_utc())
                    })
                    .collect();
                sink.write(audit_core::Batch::new(&batch)).await.expect("concurrent write");
            }
            sink.shutdown().await.unwrap();
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let pool = db.pool().await;
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_events").fetch_one(&pool).await.unwrap();
    assert_eq!(rows, 4 * 3 * 8);
}

#[tokio::test]
async fn a_scan_reads_one_snapshot() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    // More than one chunk of 2 000 rows.
    let first: Vec<AuditEvent> = (0..2_500).map(entry).collect();
    for batch in first.chunks(500) {
        sink.write(audit_core::Batch::new(batch)).await.unwrap();
    }
    let store = sink.store();
    let query = Query::new();
    let mut scan = store.scan(&query);
    let head = futures::StreamExt::next(&mut scan).await.unwrap().unwrap();
    assert_eq!(head, first[0]);
    // Written while the scan runs: not part of its snapshot.
    let later: Vec<AuditEvent> = (2_500..2_600).map(entry).collect();
    sink.write(audit_core::Batch::new(&later)).await.unwrap();
    let rest: Vec<AuditEvent> =
        futures::TryStreamExt::try_collect(scan).await.expect("the rest of the scan");
    assert_eq!(rest.len(), first.len() - 1);
    assert_eq!(rest, first[1..]);
    assert_eq!(scan_all(&store).await.len(), 2_600);
    sink.shutdown().await.unwrap();
}

/// Entries that use every column, in every form: HTTP and gRPC requests, IPv4,
/// IPv6 and no address, NUL in text and in JSON, a chain, changes,
/// metadata, several resources, and none of the optional parts.
fn varied_entries() -> Vec<AuditEvent> {
    let mut service = ServiceInfo::new("svc");
    service.instance = Some("i-1".to_owned());
    let key = SigningKey::ed25519_from_bytes(&[5; 32]);
    let mut seq = Sequencer::new(Some(key), CheckpointPolicy::default(), service.clone());
    let mut out = vec![seq.genesis().unwrap()];
    for n in 0..6 {
        let mut e = entry(n);
        e.service = service.clone();
        let mut response = Response::default();
        match n {
            0 => {
                let mut http = HttpRequest::new("PATCH", "/projects/p_0");
                http.route = Some("/projects/{id}".to_owned());
                http.body = Some(Body::Json(json!({"name": "new", "nul": "a\u{0}b"})));
                e.request = Some(Request::Http(http));
                response.status = Some(200);
                response.duration_us = Some(1234);
                e.source = Source::new()
                    .ip("203.0.113.7".parse().unwrap())
                    .user_agent("curl/8")
                    .request_id("r-1");
                e.changes.push(Change::new("/name", "old", "new"));
            }
            1 => {
                e.request = Some(Request::Grpc(GrpcRequest::new("projects.v1.Projects", "Update")));
                response.grpc_status = Some(5);
                e.outcome = Outcome::Failure;
                e.reason = Some("not found \u{0} here".to_owned());
                e.source = Source::new().ip("2001:db8::7".parse().unwrap());
            }
            2 => {
                e.resource.push(Resource::new("member", "m_2").name("Ann \u{0}"));
                e.metadata.insert("text".to_owned(), json!("tab \t quote \" \\u0000 literal"));
            }
            3 => {
                e.actor = Actor::api_key("ci-deploy").name("CI");
                e.tenant = None;
            }
            _ => {
                e.description = format!("nul \u{0} in description {n}");
            }
        }
        if n < 2 {
            e.response = Some(response);
        }
        seq.seal(&mut e).unwrap();
        out.push(e);
    }
    out.push(seq.checkpoint(true).unwrap());
    out
}

/// Every column the sink wrote (all but `ingest_seq`, whose values a failed
/// `COPY` may skip), row by row in write order.
async fn stored_rows(db: &FreshDb) -> Vec<serde_json::Value> {
    let pool = db.pool().await;
    // `row_to_json`: `to_jsonb` cannot hold the `\u0000` of `entry`.
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT row_to_json(a)::text FROM audit_events a ORDER BY ingest_seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows.iter()
        .map(|row| {
            let mut row: serde_json::Value = serde_json::from_str(row).unwrap();
            row.as_object_mut().unwrap().remove("ingest_seq").expect("ingest_seq");
            row
        })
        .collect()
}

/// Collects the sink's debug events on this thread.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn count(&self, needle: &str) -> usize {
        String::from_utf8_lossy(&self.0.lock().unwrap()).matches(needle).count()
    }
}

#[tokio::test]
async fn the_copy_and_the_on_conflict_insert_store_the_same_rows() {
    const FALLBACK: &str = "inserting it with ON CONFLICT";
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let entries = varied_entries();

    // A: the whole batch in one COPY.
    let a = migrated_db().await;
    let sink = PostgresSink::connect(a.url()).await.unwrap();
    sink.write(audit_core::Batch::new(&entries)).await.unwrap();
    assert_eq!(scan_all(&sink.store()).await, entries);
    sink.shutdown().await.unwrap();
    assert_eq!(logs.count(FALLBACK), 0, "a fresh batch is copied");

    // B: the first entry alone, then the whole batch: its COPY fails on the
    // stored entry, and the ON CONFLICT insert stores the rest.
    let b = migrated_db().await;
    let sink = PostgresSink::connect(b.url()).await.unwrap();
    sink.write(audit_core::Batch::new(&entries[..1])).await.unwrap();
    sink.write(audit_core::Batch::new(&entries)).await.unwrap();
    assert_eq!(logs.count(FALLBACK), 1);
    assert_eq!(scan_all(&sink.store()).await, entries);

    // Both ways store the same values in every column.
    let (rows_a, rows_b) = (stored_rows(&a).await, stored_rows(&b).await);
    assert_eq!(rows_a.len(), entries.len());
    for (row_a, row_b) in rows_a.iter().zip(&rows_b) {
        assert_eq!(row_a, row_b);
    }
    // Spot checks of the typed columns: NUL replaced, addresses typed.
    assert_eq!(rows_a[1]["ip"], "203.0.113.7");
    assert_eq!(rows_a[1]["status"], 200);
    assert_eq!(rows_a[1]["route"], "/projects/{id}");
    assert_eq!(rows_a[1]["request"]["body"]["nul"], "a\u{fffd}b");
    assert_eq!(rows_a[1]["changes"][0]["after"], "new");
    assert_eq!(rows_a[2]["ip"], "2001:db8::7");
    assert_eq!(rows_a[2]["grpc_status"], 5);
    assert_eq!(rows_a[2]["route"], "/projects.v1.Projects/Update");
    assert_eq!(rows_a[2]["reason"], "not found \u{fffd} here");
    assert_eq!(rows_a[3]["resources"][1]["name"], "Ann \u{fffd}");
    assert_eq!(rows_a[3]["metadata"]["text"], "tab \t quote \" \\u0000 literal");
    assert_eq!(rows_a[4]["actor"], "api-key:CI");
    assert_eq!(rows_a[4]["actor_keys"], serde_json::json!(["api-key:CI", "ci-deploy", "CI"]));
    assert_eq!(rows_a[4]["tenant"], serde_json::Value::Null);
    assert_eq!(rows_a[5]["description"], "nul \u{fffd} in description 4");
    assert_eq!(rows_a[5]["chain_seq"], 5);
    assert_eq!(rows_a[5]["service_instance"], "i-1");
    // `entry` keeps the NUL.
    let stored: AuditEvent = serde_json::from_value(rows_a[5]["entry"].clone()).unwrap();
    assert_eq!(stored, entries[5]);

    // While replaying, batches skip the COPY: an overlapping batch goes
    // straight to the insert; a batch of new entries stores all of them and
    // ends the replay, so the next overlapping batch tries a COPY again.
    let more: Vec<AuditEvent> = (10..13).map(entry).collect();
    let overlapping = [&entries[7..], &more[..1]].concat();
    sink.write(audit_core::Batch::new(&overlapping)).await.unwrap();
    assert_eq!(logs.count(FALLBACK), 1, "no COPY while replaying");
    sink.write(audit_core::Batch::new(&more[1..2])).await.unwrap();
    let overlapping = [&more[1..2], &more[2..]].concat();
    sink.write(audit_core::Batch::new(&overlapping)).await.unwrap();
    assert_eq!(logs.count(FALLBACK), 2, "a COPY again once a batch stored every entry");
    let expected: Vec<AuditEvent> = entries.iter().chain(&more).cloned().collect();
    assert_eq!(scan_all(&sink.store()).await, expected);
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_pipelines_json_of_an_entry_is_stored_as_it_is() {
    let db = migrated_db().await;
    let sink = PostgresSink::connect(db.url()).await.unwrap();
    let entries = varied_entries();
    // The pipeline hands over `serde_json::to_vec` of each entry; pretty
    // JSON of the same entries shows which bytes the sink stored. The last
    // two have none and are serialized by the sink.
    let json: Vec<Option<Bytes>> = entries[..entries.len() - 2]
        .iter()
        .map(|e| Some(Bytes::from(serde_json::to_vec_pretty(e).unwrap())))
        .collect();
    sink.write(Batch::with_json(&entries, &json)).await.unwrap();
    // A batch of JSON alone, as sinks that want no entries get it.
    let more: Vec<AuditEvent> = (20..23).map(entry).collect();
    let alone: Vec<JsonEntry> = more
        .iter()
        .map(|e| JsonEntry { id: e.id, json: Bytes::from(serde_json::to_vec_pretty(e).unwrap()) })
        .collect();
    sink.write(Batch::from_json(&alone)).await.unwrap();

    let pool = db.pool().await;
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT entry::text FROM audit_events ORDER BY ingest_seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected: Vec<String> = json
        .iter()
        .map(|j| String::from_utf8(j.as_ref().unwrap().to_vec()).unwrap())
        .chain(entries[entries.len() - 2..].iter().map(|e| serde_json::to_string(e).unwrap()))
        .chain(alone.iter().map(|j| String::from_utf8(j.json.to_vec()).unwrap()))
        .collect();
    assert_eq!(stored, expected);
    let all: Vec<AuditEvent> = entries.iter().chain(&more).cloned().collect();
    assert_eq!(scan_all(&sink.store()).await, all);
    // The typed columns come from the entries, as always.
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM audit_events WHERE event = 'project.update' ORDER BY ingest_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actors[0], "user0@example.com");
    sink.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_detail_columns_rows_leave_them_null_and_the_view_reads_every_row_alike() {
    let db = migrated_db().await;
    let entries = varied_entries();
    // The chain in turns, with the detail columns and without: an HTTP
    // entry with a NUL in its body goes with them; a gRPC one with a NUL in
    // its reason, and one with the text `\u0000` in its metadata, without.
    let with_details = |i: usize| i < 2 || (4..6).contains(&i);
    let full = PostgresSink::connect(db.url()).await.unwrap();
    let lean = PostgresSink::builder().detail_columns(false).connect(db.url()).await.unwrap();
    full.write(audit_core::Batch::new(&entries[..2])).await.unwrap();
    lean.write(audit_core::Batch::new(&entries[2..4])).await.unwrap();
    full.write(audit_core::Batch::new(&entries[4..6])).await.unwrap();
    lean.write(audit_core::Batch::new(&entries[6..])).await.unwrap();
    full.shutdown().await.unwrap();

    let pool = db.pool().await;
    let filled: Vec<(bool, bool, bool, bool)> = sqlx::query_as(
        "SELECT request IS NOT NULL, response IS NOT NULL, changes IS NOT NULL, \
         metadata IS NOT NULL FROM audit_events ORDER BY ingest_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected_filled = |e: &AuditEvent| {
        (e.request.is_some(), e.response.is_some(), !e.changes.is_empty(), !e.metadata.is_empty())
    };
    for (i, (row, e)) in filled.iter().zip(&entries).enumerate() {
        let expected =
            if with_details(i) { expected_filled(e) } else { (false, false, false, false) };
        assert_eq!(*row, expected, "row {i}");
    }
    // Both kinds of rows have parts to show.
    assert!(filled.iter().any(|r| r.0 && r.1 && r.3), "{filled:?}");
    assert!(!with_details(2) && expected_filled(&entries[2]) == (true, true, false, true));
    assert!(!with_details(3) && entries[3].metadata.contains_key("text"));

    // The view gives every row's parts, from the column or from `entry`.
    type Parts = (Option<String>, Option<String>, Option<String>, Option<String>);
    let view: Vec<Parts> = sqlx::query_as(
        "SELECT request_json::text, response_json::text, changes_json::text, \
             metadata_json::text FROM audit_events_details ORDER BY ingest_seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(view.len(), entries.len());
    // PostgreSQL gives U+FFFD for a NUL, from a `jsonb` column and from
    // `entry` in the view alike.
    fn no_nul(v: serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        let fix = |s: String| s.replace('\0', "\u{fffd}");
        match v {
            Value::String(s) => Value::String(fix(s)),
            Value::Array(a) => Value::Array(a.into_iter().map(no_nul).collect()),
            Value::Object(o) => {
                Value::Object(o.into_iter().map(|(k, v)| (fix(k), no_nul(v))).collect())
            }
            v => v,
        }
    }
    let parse = |s: &Option<String>| {
        s.as_deref().map_or(serde_json::Value::Null, |s| serde_json::from_str(s).unwrap())
    };
    for (i, (row, e)) in view.iter().zip(&entries).enumerate() {
        let json = serde_json::to_value(e).unwrap();
        let field = |name: &str| json.get(name).cloned().unwrap_or(serde_json::Value::Null);
        assert_eq!(parse(&row.0), no_nul(field("request")), "row {i} request");
        assert_eq!(parse(&row.1), no_nul(field("response")), "row {i} response");
        assert_eq!(parse(&row.2), no_nul(field("changes")), "row {i} changes");
        assert_eq!(parse(&row.3), no_nul(field("metadata")), "row {i} metadata");
    }
    // Entries read back whole, and the chain verifies, whichever sink wrote them.
    let back = scan_all(&lean.store()).await;
    assert_eq!(back, entries);
    let key = SigningKey::ed25519_from_bytes(&[5; 32]);
    verify(&back, &VerifyOptions::new().key(key.verifying_key()).require_sealed(true))
        .unwrap_or_else(|p| panic!("verification failed: {p}"));
    lean.shutdown().await.unwrap();
}
