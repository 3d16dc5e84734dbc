//! Real Postgres stores for the tests: a fresh database per test
//! (`audit_testkit::pg`) on the server at `AUDIT_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth), dropped when
//! the test ends. An unreachable server fails the test, saying so; it never
//! skips.

use std::time::Duration;

use assert_cmd::Command;
use audit_core::Auditor;
use audit_sinks::postgres::PostgresSink;
use audit_testkit::pg::FreshDb;

use crate::fixture::{Fixture, audit, standard_entries};

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// A fresh database, dropped with the fixture (also when the test fails),
/// and a key pair from `audit keygen`.
pub(crate) struct PgFixture {
    pub(crate) db: FreshDb,
    pub(crate) keys: Fixture,
}

impl PgFixture {
    /// An empty database, without the audit schema.
    pub(crate) fn empty() -> Self {
        Self { db: block_on(FreshDb::new()), keys: Fixture::empty() }
    }

    /// A database with the audit schema (through `audit migrate`) holding
    /// [`standard_entries`], recorded by an `Auditor` through the Postgres
    /// sink with the fixture's signing key, sealed.
    pub(crate) fn new() -> Self {
        let f = Self::empty();
        f.cmd("migrate").assert().success();
        block_on(async {
            let sink = PostgresSink::connect(f.db.url()).await.expect("connect the Postgres sink");
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
        cmd.arg(command).arg("--store").arg(self.db.url());
        cmd
    }

    /// How many rows `audit_events` holds.
    pub(crate) fn count(&self) -> i64 {
        block_on(async {
            let pool = self.db.pool().await;
            let n = sqlx::query_scalar("SELECT count(*) FROM audit_events")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        })
    }
}
