//! Real Postgres stores for the tests: a fresh database per test on the
//! server at `AUDIT_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`,
//! trust auth), dropped when the test ends. An unreachable server fails the
//! test, saying so; it never skips.

use std::time::Duration;

use assert_cmd::Command;
use audit_core::Auditor;
use audit_sinks::postgres::PostgresSink;
use sqlx::postgres::{PgPool, PgPoolOptions};
use uuid::Uuid;

use crate::fixture::{Fixture, audit, standard_entries};

/// The server: `AUDIT_TEST_PG_URL`, or the local default.
fn admin_url() -> String {
    std::env::var("AUDIT_TEST_PG_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let host_start = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[host_start..].find('/').map_or(base.len(), |i| host_start + i);
    format!("{}/{database}{query}", &base[..host_end])
}

async fn admin_pool() -> PgPool {
    let url = admin_url();
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable for the audit-cli tests (set AUDIT_TEST_PG_URL to \
                 a server where this user may create databases; default \
                 postgres://postgres@127.0.0.1:5432/postgres): {e}"
            )
        })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A fresh database `audit_cli_test_<uuid>`, dropped on drop (also when the
/// test fails), and a key pair from `audit keygen`.
pub(crate) struct PgFixture {
    pub(crate) name: String,
    pub(crate) url: String,
    pub(crate) keys: Fixture,
}

impl PgFixture {
    /// An empty database, without the audit schema.
    pub(crate) fn empty() -> Self {
        let name = format!("audit_cli_test_{}", Uuid::now_v7().simple());
        block_on(async {
            let admin = admin_pool().await;
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
            admin.close().await;
        });
        let url = with_database(&admin_url(), &name);
        Self { name, url, keys: Fixture::empty() }
    }

    /// A database with the audit schema (through `audit migrate`) holding
    /// [`standard_entries`], recorded by an `Auditor` through the Postgres
    /// sink with the fixture's signing key, sealed.
    pub(crate) fn new() -> Self {
        let f = Self::empty();
        f.cmd("migrate").assert().success();
        block_on(async {
            let sink = PostgresSink::connect(&f.url).await.expect("connect the Postgres sink");
            let auditor = Auditor::builder()
                .service("projects-api", "2.3.1")
                .instance("test-1")
                .signing_key(f.keys.signing_key())
                .checkpoint_every(4)
                .sink(sink)
                .build()
                .unwrap();
            for e in standard_entries() {
                auditor.record(e).await.unwrap();
            }
            auditor.shutdown(Duration::from_secs(10)).await.unwrap();
        });
        f
    }

    /// `audit <command> --store <url>`.
    pub(crate) fn cmd(&self, command: &str) -> Command {
        let mut cmd = audit();
        cmd.arg(command).arg("--store").arg(&self.url);
        cmd
    }

    /// How many rows `audit_events` holds.
    pub(crate) fn count(&self) -> i64 {
        block_on(async {
            let pool = PgPoolOptions::new().max_connections(1).connect(&self.url).await.unwrap();
            let n = sqlx::query_scalar("SELECT count(*) FROM audit_events")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        })
    }
}

impl Drop for PgFixture {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run while panicking, or inside a runtime: use a thread
        // with its own.
        let done = std::thread::spawn(move || {
            block_on(async move {
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(&admin_url())
                    .await?;
                sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await?;
                admin.close().await;
                Ok::<(), sqlx::Error>(())
            })
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!("warning: could not drop the test database {}", self.name);
        }
    }
}
