//! Loads at least a million entries through the sink and prints the plans
//! PostgreSQL chooses for the store's queries. Run by hand (several minutes,
//! about 2 GB); the plans it printed are recorded in
//! `audit_sinks::postgres::query_plans`.
//!
//! ```text
//! AUDIT_EXPLAIN_ROWS=1000000 cargo run -p audit-sinks --features postgres --release \
//!     --example postgres_explain
//! ```
//!
//! Set `AUDIT_EXPLAIN_KEEP=1` to keep the database (its name is printed) for
//! trying other indexes by hand.

use std::time::{Duration, Instant};

use audit_core::query::{Cursor, EventPattern, Order, Query};
use audit_core::store::AuditStore as _;
use audit_core::{Actor, AuditEvent, Outcome, Resource, Sink as _, Source};
use audit_sinks::postgres::PostgresSink;
use audit_testkit::pg::FreshDb;
use time::OffsetDateTime;
use uuid::Uuid;

/// A deterministic pseudo-random number for entry `n` and salt `k`.
fn mix(n: u64, k: u64) -> u64 {
    let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Skewed like real traffic: low numbers are much more frequent.
fn skewed(n: u64, k: u64, max: u64) -> u64 {
    let u = (mix(n, k) >> 11) as f64 / (1u64 << 53) as f64;
    ((u * u * u) * max as f64) as u64
}

const EVENTS: [&str; 12] = [
    "project.update",
    "project.create",
    "project.delete",
    "member.invite",
    "member.role_change",
    "api_key.create",
    "api_key.revoke",
    "authorization.denied",
    "user.login",
    "billing.invoice_paid",
    "settings.update",
    "report.export",
];

/// Entry `n` of `total`, spread over the last twelve months.
fn entry(n: u64, total: u64, now: OffsetDateTime) -> AuditEvent {
    let span = 365 * 86_400 * 1_000_000i64;
    let age = span - (span / total as i64) * n as i64;
    let time = now - time::Duration::microseconds(age);
    let tenant = skewed(n, 1, 2_000);
    let user = skewed(n, 2, 20_000);
    let event = EVENTS[skewed(n, 3, EVENTS.len() as u64) as usize];
    let actor = if mix(n, 4).is_multiple_of(10) {
        Actor::api_key(format!("k_{}", user % 500)).name(format!("deploy-{}", user % 500))
    } else {
        Actor::user(format!("u_{user}")).email(format!("user{user}@t{tenant}.example.com"))
    };
    let kind = event.split('.').next().unwrap_or("project");
    AuditEvent::builder(event)
        .id(Uuid::now_v7())
        .time(time)
        .actor(actor)
        .tenant(format!("t_{tenant}"))
        .resource(Resource::new(kind, format!("{kind}_{}", skewed(n, 5, 200_000))))
        .outcome(if mix(n, 6).is_multiple_of(20) { Outcome::Denied } else { Outcome::Success })
        .source(
            Source::new()
                .ip([10, 1, (n % 250) as u8, (n % 199) as u8].into())
                .user_agent("loadgen/1"),
        )
        .metadata("n", n)
        .build()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let total: u64 =
        std::env::var("AUDIT_EXPLAIN_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let db = FreshDb::new().await;
    audit_sinks::postgres::migrate_url(db.url()).await.expect("migrate");
    println!("database {}", db.name());
    let sink = PostgresSink::builder().max_connections(4).connect(db.url()).await.unwrap();
    let now = OffsetDateTime::now_utc();

    let started = Instant::now();
    let batch = 5_000u64;
    let mut writers = Vec::new();
    for w in 0..2u64 {
        let sink = sink.clone();
        writers.push(tokio::spawn(async move {
            let mut start = w * batch;
            while start < total {
                let entries: Vec<AuditEvent> =
                    (start..(start + batch).min(total)).map(|n| entry(n, total, now)).collect();
                sink.write(audit_core::Batch::new(&entries)).await.unwrap();
                start += 2 * batch;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let pool = db.pool().await;
    sqlx::raw_sql("ANALYZE audit_events").execute(&pool).await.unwrap();
    let size: String =
        sqlx::query_scalar("SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits WHERE inhparent = 'audit_events'::regclass")
            .fetch_one(&pool)
            .await
            .unwrap();
    println!("loaded {total} entries in {:.1?} ({size})", started.elapsed());

    let store = sink.store();
    // Cursors for "page 2" queries: from the first page of the same query.
    let page1 = store.query(&Query::new().tenant("t_0").limit(100)).await.unwrap();
    let t0_cursor = page1.next_cursor.unwrap_or_else(|| Cursor::new(now, Uuid::max()));
    let mid = Cursor::new(now - time::Duration::days(180), Uuid::nil());
    let pattern = |p: &str| EventPattern::parse(p).unwrap();
    let cases: Vec<(&str, Query)> = vec![
        ("newest 100", Query::new()),
        ("newest 100, page from a cursor half a year back", Query::new().cursor(mid)),
        ("oldest 100", Query::new().order(Order::OldestFirst)),
        ("busy tenant", Query::new().tenant("t_0")),
        ("busy tenant, page 2", Query::new().tenant("t_0").cursor(t0_cursor)),
        ("quiet tenant", Query::new().tenant("t_1900")),
        (
            "quiet tenant, last 7 days",
            Query::new().tenant("t_1900").since(Duration::from_secs(7 * 86_400)),
        ),
        ("busy actor (display form)", Query::new().actor("user0@t0.example.com")),
        ("quiet actor (by id)", Query::new().actor("u_19000")),
        ("api key actor (display form)", Query::new().actor("api-key:deploy-7")),
        ("tenant and actor", Query::new().tenant("t_3").actor("u_40")),
        ("common event", Query::new().event(pattern("project.update"))),
        ("rare event", Query::new().event(pattern("report.export"))),
        ("event prefix glob", Query::new().event(pattern("api_key.*"))),
        ("event suffix glob", Query::new().event(pattern("*.delete"))),
        ("tenant and event glob", Query::new().tenant("t_2").event(pattern("member.*"))),
        (
            "resource type and id",
            Query::new().resource_type("project").resource_id("project_150000"),
        ),
        ("popular resource", Query::new().resource_type("project").resource_id("project_0")),
        ("resource type alone", Query::new().resource_type("report")),
        (
            "denied in the last 30 days",
            Query::new().outcome(Outcome::Denied).since(Duration::from_secs(30 * 86_400)),
        ),
        ("tenant and text", Query::new().tenant("t_5").text("deploy-3")),
        (
            "text alone, last 7 days",
            Query::new().text("project_4242").since(Duration::from_secs(7 * 86_400)),
        ),
        (
            "time range in one month",
            Query::new()
                .since(now - time::Duration::days(100))
                .until(now - time::Duration::days(99)),
        ),
    ];
    for (name, query) in &cases {
        // Once to warm the cache, then the plan with timings.
        store.query(query).await.unwrap();
        let plan = store.explain(query, true).await.unwrap();
        println!("\n=== {name}: {query:?}\n{plan}");
    }
    for (name, query) in [
        ("scan, first chunk", Query::new()),
        ("scan of a tenant, first chunk", Query::new().tenant("t_1900")),
    ] {
        let plan = store.explain_scan(&query, true).await.unwrap();
        println!("\n=== {name}\n{plan}");
    }
    sink.shutdown().await.unwrap();
    if std::env::var_os("AUDIT_EXPLAIN_KEEP").is_some() {
        println!("keeping database {}", db.name());
        std::mem::forget(db);
    }
}
