//! Helpers shared by the Postgres sink and store tests: a fresh database per
//! test, entries, and hand-made chains.
#![allow(dead_code, unreachable_pub)]

use std::str::FromStr as _;
use std::time::Duration;

use audit_core::integrity::{
    CHECKPOINT_EVENT, CheckpointData, CheckpointPolicy, Sequencer, checkpoint_message, compute_hash,
};
use audit_core::json::rfc3339_micros;
use audit_core::query::Query;
use audit_core::store::AuditStore;
use audit_core::{Actor, AuditEvent, Resource, ServiceInfo, SigningKey};
use futures::TryStreamExt as _;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use time::OffsetDateTime;
use uuid::Uuid;

/// The server the tests use: `AUDIT_TEST_PG_URL`, or the local default.
pub fn admin_url() -> String {
    std::env::var("AUDIT_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..].find('/').map_or(base.len(), |i| host_start + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// `url` connecting as `user` (no password: the test server trusts local users).
pub fn with_user(url: &str, user: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let host = match rest[..authority_end].rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    format!("{}{user}@{host}", &url[..start])
}

fn where_(url: &str) -> String {
    match PgConnectOptions::from_str(url) {
        Ok(o) => format!("{}:{}", o.get_host(), o.get_port()),
        Err(_) => "the configured URL".to_owned(),
    }
}

async fn admin_pool() -> PgPool {
    let url = admin_url();
    let connected = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await;
    match connected {
        Ok(pool) => pool,
        Err(e) => panic!(
            "PostgreSQL is not reachable at {} (set AUDIT_TEST_PG_URL to the URL of a server where \
             this user may create databases, e.g. postgres://postgres@127.0.0.1:5432/postgres): {e}",
            where_(&url)
        ),
    }
}

/// A fresh database `audit_test_<random>`, dropped (with every role made by
/// [`TestDb::role`]) when the test ends, also when it fails.
pub struct TestDb {
    pub name: String,
    pub url: String,
    roles: Vec<String>,
}

impl TestDb {
    /// Creates the database. Fails the test, saying so, when PostgreSQL
    /// cannot be reached.
    pub async fn new() -> Self {
        let name = format!("audit_test_{}", Uuid::now_v7().simple());
        let admin = admin_pool().await;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        admin.close().await;
        let url = with_database(&admin_url(), &name);
        Self { name, url, roles: Vec::new() }
    }

    /// A fresh database with the audit schema.
    pub async fn migrated() -> Self {
        let db = Self::new().await;
        audit_sinks::postgres::migrate_url(&db.url).await.expect("migrate");
        db
    }

    /// A pool over the test database, as the admin user.
    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&self.url)
            .await
            .expect("connect to the test database")
    }

    /// Creates a login role (cluster-wide, so named after the database and
    /// dropped with it) and returns its name and a URL that connects as it.
    pub async fn role(&mut self, suffix: &str) -> (String, String) {
        let role = format!("{}_{suffix}", self.name);
        let admin = admin_pool().await;
        sqlx::raw_sql(&format!("CREATE ROLE {role} LOGIN"))
            .execute(&admin)
            .await
            .expect("create role");
        admin.close().await;
        self.roles.push(role.clone());
        let url = with_user(&self.url, &role);
        (role, url)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let roles = std::mem::take(&mut self.roles);
        // Drop may run inside a runtime (or while panicking): use a thread
        // with its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(&admin_url())
                    .await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await?;
                for role in roles {
                    sqlx::raw_sql(&format!("DROP ROLE IF EXISTS {role}")).execute(&admin).await?;
                }
                admin.close().await;
                Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("warning: could not drop the test database {}", self.name);
        }
    }
}

/// An entry with a fresh UUIDv7 and the current time, numbered in its metadata.
pub fn entry(n: usize) -> AuditEvent {
    entry_at(n, rfc3339_micros::truncate(OffsetDateTime::now_utc()))
}

/// An entry at `time`, numbered in its metadata.
pub fn entry_at(n: usize, time: OffsetDateTime) -> AuditEvent {
    AuditEvent::builder("project.update")
        .id(Uuid::now_v7())
        .time(time)
        .actor(Actor::user(format!("u_{n}")).email(format!("user{n}@example.com")))
        .tenant("acme")
        .resource(Resource::new("project", format!("p_{n}")))
        .description(format!("user{n}@example.com updated project p_{n}"))
        .metadata("n", n)
        .build()
}

/// Every entry of the store, in write order; panics on an error.
pub async fn scan_all<S: AuditStore + ?Sized>(store: &S) -> Vec<AuditEvent> {
    let query = Query::new();
    store.scan(&query).try_collect().await.expect("scan")
}

/// A signed chain whose entries carry the given times (the sequencer stamps
/// genesis and checkpoints with the current time; here every entry is
/// re-timed and the chain re-hashed and re-signed, as if it had been written
/// back then). `kinds[i]` is `'g'` (genesis, first only), `'e'` (an entry),
/// `'c'` (a checkpoint) or `'C'` (the closing checkpoint, last only).
pub fn chain_at(key: &SigningKey, items: &[(char, OffsetDateTime)]) -> Vec<AuditEvent> {
    let mut seq = Sequencer::new(
        Some(key.clone()),
        CheckpointPolicy::new(1_000_000, Duration::from_secs(365 * 24 * 3600)),
        ServiceInfo::new("retention-test"),
    );
    let mut out = Vec::new();
    for (n, (kind, _)) in items.iter().enumerate() {
        let e = match kind {
            'g' => seq.genesis().unwrap(),
            'c' => seq.checkpoint(false).unwrap(),
            'C' => seq.checkpoint(true).unwrap(),
            _ => {
                let mut e = entry(n);
                seq.seal(&mut e).unwrap();
                e
            }
        };
        out.push(e);
    }
    let chain_id = seq.chain_id();
    let mut prev = audit_core::integrity::ZERO_HASH.to_owned();
    for (n, (e, (_, time))) in out.iter_mut().zip(items).enumerate() {
        e.time = rfc3339_micros::truncate(*time);
        if e.event == CHECKPOINT_EVENT {
            let mut data: CheckpointData =
                serde_json::from_value(e.metadata["checkpoint"].clone()).unwrap();
            data.seq = n as u64 - 1;
            data.hash.clone_from(&prev);
            data.signature = Some(key.sign(&checkpoint_message(chain_id, data.seq, &prev)));
            e.metadata.insert("checkpoint".to_owned(), serde_json::to_value(&data).unwrap());
        }
        let link = e.chain.as_mut().unwrap();
        link.prev.clone_from(&prev);
        link.hash.clear();
        let hash = compute_hash(&prev, e).unwrap();
        e.chain.as_mut().unwrap().hash.clone_from(&hash);
        prev = hash;
    }
    out
}

/// The start (UTC midnight of the 1st) of the month `delta` months from now.
pub fn month_start(delta: i32) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let months = now.year() * 12 + i32::from(u8::from(now.month())) - 1 + delta;
    let (year, month) = (months.div_euclid(12), months.rem_euclid(12) + 1);
    time::Date::from_calendar_date(year, time::Month::try_from(month as u8).unwrap(), 1)
        .unwrap()
        .midnight()
        .assume_utc()
}
