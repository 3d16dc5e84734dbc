//! `saas-api --postgres URL` writes every entry to PostgreSQL too (the
//! schema migrated at start-up), identical to the file sink's: same ids,
//! same order, and the chain read back from Postgres verifies.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (user `postgres`, trust auth) or
//! `AUDIT_TEST_PG_URL`; each test uses a fresh database, dropped at the end.

use audit_core::integrity::{VerifyOptions, verify};
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::{AuditEvent, Outcome};
use audit_sinks::postgres::PostgresStore;
use audit_testkit::pg::FreshDb;
use clap::Parser as _;
use examples::saas::{Args, Config};
use futures::TryStreamExt as _;
use reqwest::Method;
use serde_json::json;
use tests::{Api, read_log};

#[tokio::test]
async fn the_postgres_flag_writes_every_entry_to_postgres() {
    let db = FreshDb::new().await;
    let flags = Config::from(Args::try_parse_from(["saas-api", "--postgres", db.url()]).unwrap());
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
    let store = PostgresStore::connect(db.url()).await.unwrap();
    let in_postgres: Vec<AuditEvent> = store.scan(&Query::new()).try_collect().await.unwrap();
    assert_eq!(in_postgres.len(), 5, "genesis, 3 calls, closing checkpoint");
    assert_eq!(in_postgres, in_file, "both sinks store identical entries");
    verify(&in_postgres, &VerifyOptions::new().require_sealed(true)).unwrap();

    let denied = store.query(&Query::new().outcome(Outcome::Denied)).await.unwrap();
    assert_eq!(denied.entries.len(), 1);
    assert_eq!(denied.entries[0].actor.to_string(), "bob@example.com");
    drop(store);
}
