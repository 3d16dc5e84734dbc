//! `saas-api --postgres URL` writes every entry to PostgreSQL too (the
//! schema migrated at start-up), identical to the file sink's: same ids,
//! same order, and the chain read back from Postgres verifies.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust auth) or
//! `AUDIT_TEST_PG_URL`; each test uses a fresh database, dropped at the end.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use audit_core::integrity::{VerifyOptions, verify};
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::{AuditEvent, Outcome};
use audit_sinks::postgres::PostgresStore;
use clap::Parser as _;
use examples::saas::{Args, Config};
use futures::TryStreamExt as _;
use reqwest::Method;
use serde_json::json;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tests::{Api, read_log};

fn admin_url() -> String {
    std::env::var("AUDIT_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin() -> PgPool {
    let url = admin_url();
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {url} (start it, or set AUDIT_TEST_PG_URL to a \
                 server where this user may create databases): {e}"
            )
        })
}

/// A fresh database, dropped when the test ends (also when it fails).
struct FreshDb {
    name: String,
    url: String,
}

impl FreshDb {
    async fn new() -> Self {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
        let name = format!("saas_e2e_{}_{nanos}", std::process::id());
        let admin = admin().await;
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.unwrap();
        admin.close().await;
        let base = admin_url();
        let (server, query) = base.split_once('?').map_or((base.as_str(), ""), |(b, q)| (b, q));
        let server = server.rsplit_once('/').map_or(server, |(s, _)| s);
        let query = if query.is_empty() { String::new() } else { format!("?{query}") };
        Self { url: format!("{server}/{name}{query}"), name }
    }
}

impl Drop for FreshDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let admin = admin().await;
                let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::raw_sql(&sql).execute(&admin).await.map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop the test database {}", self.name);
        }
    }
}

#[tokio::test]
async fn the_postgres_flag_writes_every_entry_to_postgres() {
    let db = FreshDb::new().await;
    let flags = Config::from(Args::try_parse_from(["saas-api", "--postgres", &db.url]).unwrap());
    let api = Api::start_with(|mut config| {
        config.postgres = flags.postgres;
        config
    })
    .await;
    let alice = Some("alice-token");
    let (status, project) =
        api.call(Method::POST, "/projects", alice, Some(json!({"name": "Apollo"}))).await;
    assert_eq!(status, 201);
    let path = format!("/projects/{}", project["id"].as_str().unwrap());
    assert_eq!(
        api.call(Method::PATCH, &path, alice, Some(json!({"name": "Apollo 11"}))).await.0,
        200
    );
    let role = Some(json!({"role": "admin"}));
    assert_eq!(api.call(Method::PATCH, "/members/m_2/role", Some("bob-token"), role).await.0, 403);
    let (_, dir) = api.finish().await;

    let in_file = read_log(&dir.path().join("audit")).await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let in_postgres: Vec<AuditEvent> = store.scan(&Query::new()).try_collect().await.unwrap();
    assert_eq!(in_postgres.len(), 5, "genesis, 3 calls, closing checkpoint");
    assert_eq!(in_postgres, in_file, "both sinks store identical entries");
    verify(&in_postgres, &VerifyOptions::new().require_sealed(true)).unwrap();

    let denied = store.query(&Query::new().outcome(Outcome::Denied)).await.unwrap();
    assert_eq!(denied.entries.len(), 1);
    assert_eq!(denied.entries[0].actor.to_string(), "bob@example.com");
    drop(store);
}
