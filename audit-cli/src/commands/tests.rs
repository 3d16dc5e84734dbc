//! The commands over the in-memory store, with entries from a real `Auditor`.

use std::time::Duration;

use audit_core::testing::MemorySink;
use audit_core::{Actor, AuditEvent, Auditor, Outcome, Resource, SigningKey, Source};
use clap::Parser as _;

use super::*;
use crate::cli::{Cli, Command};

fn key() -> SigningKey {
    SigningKey::ed25519_from_bytes(&[3; 32])
}

async fn store() -> MemorySink {
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .service("projects-api", "1.0.0")
        .signing_key(key())
        .checkpoint_every(3)
        .sink(sink.clone())
        .build()
        .unwrap();
    for n in 0..8 {
        let event =
            AuditEvent::builder(if n % 2 == 0 { "project.update" } else { "api_key.create" })
                .actor(
                    Actor::user(format!("u_{}", n % 3)).email(format!("user{}@example.com", n % 3)),
                )
                .resource(Resource::new("project", format!("p_{n}")))
                .outcome(if n == 5 { Outcome::Denied } else { Outcome::Success })
                .source(Source::new().ip("10.0.0.1".parse().unwrap()));
        auditor.record(event).await.unwrap();
    }
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    sink
}

fn parse(args: &[&str]) -> Command {
    let mut full = vec!["audit"];
    full.extend_from_slice(args);
    Cli::try_parse_from(full).unwrap().command
}

async fn run(store: &MemorySink, args: &[&str]) -> (Status, String) {
    let ctx = Context { quiet: true, terminal_width: None };
    let mut out = Vec::new();
    let status = match parse(args) {
        Command::Query(a) => query(store, &a, &mut out, &ctx).await,
        Command::Export(a) => export(store, &a, &mut out, &ctx).await,
        Command::Verify(a) => verify(store, &a, &mut out, &ctx).await,
        Command::Tail(a) => tail(store, &a, &mut out, &ctx).await,
        Command::Stats(a) => stats(store, &a, &mut out, &ctx).await,
        Command::Purge(a) => purge(store, &a, &mut out, &ctx).await,
        Command::Keygen(a) => keygen(&a, &mut out, &ctx),
        Command::Migrate(a) => migrate(&a, &mut out, &ctx).await,
    }
    .unwrap();
    (status, String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn query_pages_up_to_the_limit() {
    let store = store().await;
    let (_, text) = run(&store, &["query", "-s", "x", "--event", "project.*", "-f", "jsonl"]).await;
    assert_eq!(text.lines().count(), 4, "{text}");
    let (_, text) = run(&store, &["query", "-s", "x", "--limit", "2", "-f", "jsonl"]).await;
    let entries: Vec<AuditEvent> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(entries.len(), 2);
    assert!(entries[0].time >= entries[1].time, "newest first");
    let (_, text) = run(&store, &["query", "-s", "x", "--outcome", "denied"]).await;
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("denied"));
}

#[tokio::test]
async fn export_streams_everything_in_write_order() {
    let store = store().await;
    let (_, text) = run(&store, &["export", "-s", "x", "--format", "json"]).await;
    let entries: Vec<AuditEvent> = serde_json::from_str(&text).unwrap();
    assert_eq!(entries, store.entries());
}

#[tokio::test]
async fn verify_reports_chains_and_problems() {
    let store = store().await;
    let dir = tempfile::tempdir().unwrap();
    let paths = crate::keys::write_key_pair(dir.path(), &key(), false).unwrap();
    let public = paths.public_key.to_str().unwrap();

    let (status, text) = run(&store, &["verify", "-s", "x", "--public-key", public]).await;
    assert_eq!(status, Status::Success, "{text}");
    assert!(text.starts_with("OK: "), "{text}");
    assert!(text.contains("sealed"), "{text}");
    assert!(!text.contains("NOT checked"), "{text}");

    let (status, text) = run(&store, &["verify", "-s", "x"]).await;
    assert_eq!(status, Status::Success);
    assert!(text.contains(verify::SIGNATURES_NOT_CHECKED), "{text}");

    // A modified entry.
    let mut entries = store.entries();
    entries[4].description = "nothing to see here".into();
    let tampered = MemorySink::new();
    tampered.load(entries);
    let (status, text) = run(&tampered, &["verify", "-s", "x", "--public-key", public]).await;
    assert_eq!(status, Status::ProblemFound);
    assert!(text.starts_with("FAILED: chain "), "{text}");
    assert!(text.contains(", seq 4: modified"), "{text}");

    let (_, text) = run(&tampered, &["verify", "-s", "x", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problem"]["kind"], "modified");
    assert_eq!(v["problem"]["seq"], 4);
}

#[tokio::test]
async fn tail_shows_the_latest_oldest_first() {
    let store = store().await;
    let (_, text) = run(&store, &["tail", "-s", "x", "-n", "3", "-f", "jsonl"]).await;
    let entries: Vec<AuditEvent> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let all = store.entries();
    assert_eq!(entries, all[all.len() - 3..].to_vec());
}

#[tokio::test]
async fn stats_count_by_event() {
    let store = store().await;
    let (_, text) = run(&store, &["stats", "-s", "x", "--format", "json"]).await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["total"], store.len());
    assert_eq!(v["by_event"]["project.update"], 4);
    assert_eq!(v["by_outcome"]["denied"], 1);
}

#[tokio::test]
async fn purge_reports_what_it_removed() {
    let store = store().await;
    let n = store.len();
    let (_, text) = run(&store, &["purge", "-s", "x", "--older-than", "0s", "--dry-run"]).await;
    assert!(text.starts_with(&format!("dry run: would remove {n} entries older than ")), "{text}");
    assert_eq!(store.len(), n);
    let (_, text) = run(&store, &["purge", "-s", "x", "--older-than", "1d"]).await;
    assert!(text.starts_with("removed 0 entries older than "), "{text}");
    assert_eq!(store.len(), n);
}
