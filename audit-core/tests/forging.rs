//! An attacker with write access to the store but not the signing key, on
//! entries written by a real `Auditor`: what verification catches, and the
//! limits SECURITY.md states (the verifier's key must come from outside the
//! store; an open chain's tail after its last checkpoint and whole chains
//! are covered by hashes only).

use std::time::Duration;

use audit_core::integrity::{
    ProblemKind, VerifyOptions, ZERO_HASH, checkpoint_message, compute_hash, verify,
};
use audit_core::testing::MemorySink;
use audit_core::{Actor, AuditEvent, Auditor, Resource, SigningKey};
use serde_json::json;

fn key() -> SigningKey {
    SigningKey::ed25519_from_bytes(&[3; 32])
}

fn attacker_key() -> SigningKey {
    SigningKey::ed25519_from_bytes(&[66; 32])
}

fn with_key() -> VerifyOptions {
    VerifyOptions::new().key(key().verifying_key())
}

/// Genesis, 10 entries with a checkpoint after every 3, and (if `seal`) the
/// closing checkpoint, recorded by a real auditor.
async fn trail(seal: bool) -> Vec<AuditEvent> {
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .service("forging", "0.0.0")
        .sink(sink.clone())
        .signing_key(key())
        .checkpoint_every(3)
        .build()
        .unwrap();
    for i in 0..10 {
        auditor
            .record(
                AuditEvent::builder("payment.refund")
                    .actor(Actor::user(format!("u_{i}")))
                    .resource(Resource::new("payment", format!("pay_{i}")))
                    .metadata("amount", 100 + i),
            )
            .await
            .unwrap();
    }
    if seal {
        auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    } else {
        // Let the sink catch up without closing the chain: a crashed writer.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while sink.len() < 14 {
            assert!(std::time::Instant::now() < deadline, "entries were not written");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let entries = sink.entries();
    verify(&entries, &with_key().require_sealed(seal)).expect("the genuine trail verifies");
    entries
}

/// Relinks and rehashes from `from` on; checkpoints claim the entry before
/// them and, with `signer`, carry its signature and key id.
fn rewrite_from(entries: &mut [AuditEvent], from: usize, signer: Option<&SigningKey>) {
    for i in from..entries.len() {
        let prev = if i == 0 { ZERO_HASH.to_owned() } else { link_hash(&entries[i - 1]) };
        let chain = entries[i].chain.as_ref().unwrap().id;
        if let Some(k) = signer {
            for data in ["genesis", "checkpoint"] {
                if let Some(d) = entries[i].metadata.get_mut(data) {
                    d["key_id"] = json!(k.key_id());
                }
            }
        }
        if entries[i].event == "audit.checkpoint" {
            let before = entries[i - 1].chain.clone().unwrap();
            let cp = entries[i].metadata.get_mut("checkpoint").unwrap();
            cp["seq"] = json!(before.seq);
            cp["hash"] = json!(before.hash);
            if let Some(k) = signer {
                cp["signature"] =
                    json!(k.sign(&checkpoint_message(chain, before.seq, &before.hash)));
            }
        }
        let e = &mut entries[i];
        e.chain.as_mut().unwrap().prev.clone_from(&prev);
        let hash = compute_hash(&prev, e).unwrap();
        e.chain.as_mut().unwrap().hash = hash;
    }
}

fn link_hash(e: &AuditEvent) -> String {
    e.chain.as_ref().unwrap().hash.clone()
}

fn refund_index(entries: &[AuditEvent], n: usize) -> usize {
    entries.iter().position(|e| e.metadata.get("amount") == Some(&json!(100 + n))).unwrap()
}

#[tokio::test]
async fn a_rewrite_signed_with_the_attackers_own_key_fails_with_the_real_key() {
    let mut entries = trail(true).await;
    let victim = refund_index(&entries, 4);
    entries[victim].metadata.insert("amount".into(), json!(1_000_000));
    // Everything, genesis included, re-signed with the attacker's key.
    rewrite_from(&mut entries, 0, Some(&attacker_key()));

    // With the key the store itself names, it would pass: a verifier must
    // take its public key from somewhere the attacker cannot write.
    let attackers = VerifyOptions::new().key(attacker_key().verifying_key()).require_sealed(true);
    assert!(verify(&entries, &attackers).is_ok());
    let problem = verify(&entries, &with_key().require_sealed(true)).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::BadSignature, "{problem}");
    // Reported at the first checkpoint, the earliest signature that fails.
    assert_eq!(entries[problem.seq as usize].event, "audit.checkpoint");
}

#[tokio::test]
async fn a_genuine_checkpoint_cannot_be_moved_to_vouch_for_other_entries() {
    let mut entries = trail(true).await;
    let victim = refund_index(&entries, 7);
    entries[victim].outcome = audit_core::Outcome::Denied;
    rewrite_from(&mut entries, victim, None);
    // Put the genuine signature of an earlier checkpoint on the later ones.
    let first_cp = entries.iter().position(|e| e.event == "audit.checkpoint").unwrap();
    let genuine = entries[first_cp].metadata["checkpoint"]["signature"].clone();
    for e in entries.iter_mut().skip(victim) {
        if let Some(cp) = e.metadata.get_mut("checkpoint") {
            cp["signature"] = genuine.clone();
        }
    }
    rewrite_from(&mut entries, victim, None);
    let problem = verify(&entries, &with_key()).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::BadSignature, "{problem}");
    assert!(problem.seq as usize > victim);
}

#[tokio::test]
async fn a_sealed_chain_cut_short_is_detected_even_with_a_forged_closing_checkpoint() {
    let entries = trail(true).await;
    let cut = refund_index(&entries, 8);
    let mut short: Vec<AuditEvent> = entries[..cut].to_vec();
    let problem = verify(&short, &with_key().require_sealed(true)).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::TruncatedTail, "{problem}");
    // Appending the genuine closing checkpoint relinked to the cut: its
    // signature is over the genuine last entry.
    short.push(entries.last().unwrap().clone());
    let n = short.len();
    short[n - 1].chain.as_mut().unwrap().seq = short[n - 2].chain.as_ref().unwrap().seq + 1;
    rewrite_from(&mut short, n - 1, None);
    let problem = verify(&short, &with_key().require_sealed(true)).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::BadSignature, "{problem}");
}

#[tokio::test]
async fn limits_the_tail_of_an_open_chain_is_covered_by_hashes_only() {
    // A writer that crashed never sealed its chain. Entries after its last
    // checkpoint can be cut (or rewritten) without the key, undetected
    // unless sealing is required.
    let entries = trail(false).await;
    let last_cp = entries.iter().rposition(|e| e.event == "audit.checkpoint").unwrap();
    assert!(last_cp < entries.len() - 1, "the trail ends with unsigned entries");
    let report = verify(&entries, &with_key()).unwrap();
    assert_eq!(report.chains[0].unsigned_tail, (entries.len() - 1 - last_cp) as u64);
    assert!(!report.chains[0].sealed);

    let mut tail_rewritten = entries.clone();
    tail_rewritten[last_cp + 1].metadata.insert("amount".into(), json!(0));
    rewrite_from(&mut tail_rewritten, last_cp + 1, None);
    assert!(verify(&tail_rewritten, &with_key()).is_ok(), "not detectable: documented");
    assert!(verify(&entries[..=last_cp], &with_key()).is_ok(), "not detectable: documented");
    // Requiring sealed chains flags both, as it flags any open chain.
    let sealed = with_key().require_sealed(true);
    assert_eq!(verify(&tail_rewritten, &sealed).unwrap_err().kind, ProblemKind::TruncatedTail);
}

#[tokio::test]
async fn limits_a_whole_chain_removed_leaves_no_trace_in_the_others() {
    let a = trail(true).await;
    let b = trail(true).await;
    let both: Vec<AuditEvent> = a.iter().chain(&b).cloned().collect();
    assert_eq!(verify(&both, &with_key()).unwrap().chains.len(), 2);
    // Deleting chain `a` entirely: `b` alone still verifies. Completeness of
    // the set of chains needs something outside the store (the spool, the
    // writer's logs, a second sink).
    assert_eq!(verify(&b, &with_key()).unwrap().chains.len(), 1);
}
