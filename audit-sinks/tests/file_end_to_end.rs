//! A real `Auditor` writing through the file sink, then the file store read
//! back and verified: hashes, links, signatures, a sealed chain.
#![cfg(feature = "file")]

mod file_support;

use std::time::Duration;

use audit_core::integrity::{CHECKPOINT_EVENT, GENESIS_EVENT, Verifier, VerifyOptions};
use audit_core::query::Query;
use audit_core::store::AuditStore;
use audit_core::{Actor, AuditEvent, Auditor, Resource, SigningKey};
use audit_sinks::file::{FileSink, FileStore};
use file_support::{files_ending, log_files};
use futures::TryStreamExt as _;

#[tokio::test]
async fn entries_recorded_by_an_auditor_verify_from_the_file_store() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::ed25519_from_bytes(&[7; 32]);
    let sink =
        FileSink::builder(dir.path()).max_file_bytes(32 * 1024).gzip_rotated(true).build().unwrap();
    let auditor = Auditor::builder()
        .service("projects-api", "1.0.0")
        .signing_key(key.clone())
        .checkpoint_every(50)
        // Batches of at most ~8 KiB, so files rotate whatever the timing.
        .batch_size(20)
        .sink(sink)
        .build()
        .unwrap();

    let users = ["alice@example.com", "bob@example.com", "carol@example.com"];
    for n in 0..300 {
        let user = users[n % users.len()];
        auditor
            .record(
                AuditEvent::builder("project.update")
                    .actor(Actor::user(format!("u_{}", n % users.len())).email(user))
                    .tenant(if n % 2 == 0 { "acme" } else { "globex" })
                    .resource(Resource::new("project", format!("p_{n}")))
                    .metadata("n", n),
            )
            .await
            .unwrap();
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let written = auditor.stats().sinks[0].written;
    assert!(written > 300, "genesis, entries and checkpoints: {written}");
    assert!(files_ending(dir.path(), ".jsonl.gz").len() >= 2, "{:?}", log_files(dir.path()));

    let store = FileStore::open(dir.path()).unwrap();
    let all: Vec<AuditEvent> = store.scan(&Query::new()).try_collect().await.unwrap();
    assert_eq!(all.len() as u64, written);
    assert_eq!(all[0].event, GENESIS_EVENT);
    assert_eq!(all.last().unwrap().event, CHECKPOINT_EVENT);

    let options = VerifyOptions::new().key(key.verifying_key()).require_sealed(true);
    let mut verifier = Verifier::new(options);
    for e in &all {
        verifier.push(e).unwrap_or_else(|p| panic!("verification failed: {p}"));
    }
    let report = verifier.finish().unwrap_or_else(|p| panic!("verification failed: {p}"));
    assert_eq!(report.entries, written);
    assert_eq!(report.chains.len(), 1);
    assert!(report.chains[0].sealed && report.signatures_checked);
    assert!(report.chains[0].checkpoints >= 6);

    // And queries over the same files.
    let bob = store.query(&Query::new().actor("bob@example.com").limit(1_000)).await.unwrap();
    assert_eq!(bob.entries.len(), 100);
    assert!(bob.entries.windows(2).all(|w| w[0].time >= w[1].time), "newest first");
}
