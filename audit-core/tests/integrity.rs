//! Verification of the tamper-evident chain: one test per kind of tampering.
//!
//! Chains are built with the `Sequencer` directly, with checkpoints every 5
//! entries. `chain(signer, 22, true)` gives, by seq (= index):
//!
//! ```text
//! 0 genesis, 1-5, 6 checkpoint, 7-11, 12 checkpoint, 13-17, 18 checkpoint,
//! 19-23, 24 checkpoint, 25-26, 27 closing checkpoint
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use audit_core::integrity::{
    CheckpointPolicy, ProblemKind, Sequencer, Verifier, VerifyOptions, ZERO_HASH, compute_hash,
    verify,
};
use audit_core::{
    Actor, AuditEvent, Body, Change, HttpRequest, Outcome, Request, Resource, Response,
    ServiceInfo, SigningKey, Source, json::rfc3339_micros,
};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

const CHECKPOINTS: [u64; 5] = [6, 12, 18, 24, 27];

fn key() -> SigningKey {
    SigningKey::ed25519_from_bytes(&[7; 32])
}

fn with_key() -> VerifyOptions {
    VerifyOptions::new().key(key().verifying_key())
}

fn sample(i: usize) -> AuditEvent {
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    headers.insert("authorization".to_owned(), "[REDACTED]".to_owned());
    let mut request = HttpRequest::new("PATCH", format!("/projects/p_{i}"));
    request.route = Some("/projects/{id}".into());
    request.query = Some("token=%5BREDACTED%5D&x=1".into());
    request.headers = headers;
    request.body = Some(Body::Json(json!({
        "name": "x", "ratio": 0.1, "big": 1e21, "small": 1.5e-7, "neg": -0.0,
        "int": 9_007_199_254_740_991_u64, "third": 1.0 / 3.0, "emoji": "😀",
        "control": "\u{1f}", "nested": {"z": [1, 2.5, null, true], "a": {}}
    })));
    let mut response = Response::default();
    response.status = Some(200);
    response.duration_us = Some(1234 + i as u64);
    AuditEvent::builder(if i.is_multiple_of(3) { "project.create" } else { "project.update" })
        .id(Uuid::now_v7())
        .time(rfc3339_micros::truncate(OffsetDateTime::now_utc()))
        .actor(Actor::user(format!("u_{i}")).email("alice@example.com").name("Alïce ✓"))
        .tenant("acme")
        .resource(Resource::new("project", format!("p_{i}")).name("Apollo \"β\""))
        .outcome(if i.is_multiple_of(4) { Outcome::Failure } else { Outcome::Success })
        .reason("conflict\nwith\ttabs")
        .description(format!("alice@example.com updated project p_{i}"))
        .source(Source::new().ip("2001:db8::1".parse().unwrap()).user_agent("curl/8.5"))
        .request(Request::Http(request))
        .response(response)
        .change(Change::new("name", "a", json!({"b": 1.25})))
        .metadata("attempt", i)
        .metadata("€", json!({"\u{fb33}": 1, "\u{1f600}": 2, "\r": 3}))
        .build()
}

/// A chain of `n` application entries with checkpoints every 5 entries.
fn chain(signer: Option<SigningKey>, n: usize, closing: bool) -> Vec<AuditEvent> {
    let policy = CheckpointPolicy::new(5, Duration::from_secs(3600));
    let mut seq = Sequencer::new(signer, policy, ServiceInfo::new("billing"));
    let mut out = vec![seq.genesis().unwrap()];
    for i in 0..n {
        let mut e = sample(i);
        seq.seal(&mut e).unwrap();
        out.push(e);
        if seq.checkpoint_due(Instant::now()) {
            out.push(seq.checkpoint(false).unwrap());
        }
    }
    if closing {
        out.push(seq.checkpoint(true).unwrap());
    }
    out
}

fn signed() -> Vec<AuditEvent> {
    chain(Some(key()), 22, true)
}

fn link(e: &AuditEvent) -> &audit_core::ChainLink {
    e.chain.as_ref().unwrap()
}

fn chain_id(entries: &[AuditEvent]) -> Uuid {
    link(&entries[0]).id
}

fn hash_of(e: &AuditEvent) -> String {
    link(e).hash.clone()
}

/// What a forger without the key does: links and hashes everything from
/// `from` on again, so only signatures can tell.
fn rehash_from(entries: &mut [AuditEvent], from: usize) {
    for i in from..entries.len() {
        let prev = if i == 0 { ZERO_HASH.to_owned() } else { hash_of(&entries[i - 1]) };
        let e = &mut entries[i];
        e.chain.as_mut().unwrap().prev.clone_from(&prev);
        let hash = compute_hash(&prev, e).unwrap();
        e.chain.as_mut().unwrap().hash = hash;
    }
}

/// What a careful forger without the key does: also makes every checkpoint
/// from `from` on claim the entry before it (the signature cannot follow).
fn forge_from(entries: &mut [AuditEvent], from: usize) {
    for i in from..entries.len() {
        if entries[i].event == "audit.checkpoint" {
            let before = entries[i - 1].chain.clone().unwrap();
            let cp = entries[i].metadata.get_mut("checkpoint").unwrap();
            cp["seq"] = json!(before.seq);
            cp["hash"] = json!(before.hash);
        }
        rehash_from(&mut entries[..=i], i);
    }
}

/// Renumbers the seqs from `from` on so that they follow each other again.
fn renumber_from(entries: &mut [AuditEvent], from: usize) {
    let first = if from == 0 { 0 } else { link(&entries[from - 1]).seq + 1 };
    for (i, e) in entries[from..].iter_mut().enumerate() {
        e.chain.as_mut().unwrap().seq = first + i as u64;
    }
}

#[track_caller]
fn assert_problem(
    result: Result<audit_core::integrity::VerifyReport, audit_core::integrity::Problem>,
    kind: ProblemKind,
    chain: Uuid,
    seq: u64,
) -> audit_core::integrity::Problem {
    let problem = match result {
        Ok(report) => panic!("expected {kind} at seq {seq}, verification passed:\n{report}"),
        Err(p) => p,
    };
    assert_eq!((problem.kind, problem.chain, problem.seq), (kind, chain, seq), "{problem}");
    problem
}

#[test]
fn the_test_chain_has_the_expected_layout() {
    let entries = signed();
    assert_eq!(entries.len(), 28);
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(link(e).seq, i as u64);
        let is_checkpoint = e.event == "audit.checkpoint";
        assert_eq!(is_checkpoint, CHECKPOINTS.contains(&(i as u64)), "seq {i}");
    }
    assert_eq!(entries[0].event, "audit.genesis");
}

#[test]
fn intact_chain_verifies_with_key() {
    let entries = signed();
    let report = verify(&entries, &with_key().require_sealed(true)).unwrap();
    assert!(report.signatures_checked);
    assert_eq!(report.entries, 28);
    assert_eq!(report.chains.len(), 1);
    let c = &report.chains[0];
    assert_eq!(c.chain, chain_id(&entries));
    assert_eq!((c.first_seq, c.last_seq, c.entries), (0, 27, 28));
    assert_eq!((c.checkpoints, c.last_checkpoint_seq), (5, Some(27)));
    assert!(c.sealed);
    assert_eq!(c.unsigned_tail, 0);
    assert_eq!(c.starts_at, None);
    let text = report.to_string();
    assert!(text.contains("checkpoint signatures"), "{text}");
    assert!(text.contains("sealed"), "{text}");
}

#[test]
fn intact_chain_verifies_without_key_and_says_signatures_were_not_checked() {
    let entries = signed();
    let report = verify(&entries, &VerifyOptions::new().require_sealed(true)).unwrap();
    assert!(!report.signatures_checked);
    assert!(report.chains[0].sealed);
    let text = report.to_string();
    assert!(text.contains("signatures not checked"), "{text}");
    // The report is meant for `audit verify --json`.
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["signatures_checked"], false);
    assert_eq!(v["chains"][0]["last_seq"], 27);
}

#[test]
fn streaming_verifier_matches_verify() {
    let entries = signed();
    let mut verifier = Verifier::new(with_key());
    for e in &entries {
        verifier.push(e).unwrap();
    }
    assert_eq!(verifier.entries(), 28);
    assert!(verifier.signatures_checked());
    assert_eq!(verifier.finish().unwrap(), verify(&entries, &with_key()).unwrap());
}

#[test]
fn modified_field_is_reported_at_that_entry() {
    let mut entries = signed();
    entries[8].actor = Actor::user("mallory");
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Modified, chain_id(&entries), 8);
    assert_eq!(problem.entry_id, Some(entries[8].id));
    let text = problem.to_string();
    assert!(text.starts_with(&format!("chain {}: entry seq 8", chain_id(&entries))), "{text}");
    assert!(text.contains("was modified: its hash does not match its content"), "{text}");
    // Without a key the hash still catches it.
    assert_problem(
        verify(&entries, &VerifyOptions::new()),
        ProblemKind::Modified,
        problem.chain,
        8,
    );
}

#[test]
fn modified_entry_is_reported_by_push_at_once() {
    let mut entries = signed();
    entries[3].metadata.insert("attempt".into(), json!(99));
    let mut verifier = Verifier::new(with_key());
    for e in &entries[..3] {
        verifier.push(e).unwrap();
    }
    let problem = verifier.push(&entries[3]).unwrap_err();
    assert_eq!((problem.kind, problem.seq), (ProblemKind::Modified, 3));
    // The verifier stays failed with the same problem.
    assert_eq!(verifier.push(&entries[4]).unwrap_err(), problem);
    assert_eq!(verifier.finish().unwrap_err(), problem);
}

#[test]
fn modified_checkpoint_without_recomputed_hash_is_modified() {
    let mut entries = signed();
    let cp = entries[12].metadata.get_mut("checkpoint").unwrap();
    cp["signature"] = json!("00".repeat(64));
    assert_problem(verify(&entries, &with_key()), ProblemKind::Modified, chain_id(&entries), 12);
}

#[test]
fn entry_rewritten_with_its_own_hash_recomputed_is_modified() {
    // The forger edits seq 8 and recomputes its hash, not the later ones: the
    // next entry no longer links to it.
    let mut entries = signed();
    entries[8].description = "nothing happened".into();
    let prev = link(&entries[8]).prev.clone();
    let hash = compute_hash(&prev, &entries[8]).unwrap();
    entries[8].chain.as_mut().unwrap().hash = hash;
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Modified, chain_id(&entries), 8);
    assert_eq!(problem.entry_id, Some(entries[8].id));
    // Also when it is the last but one entry of the stream.
    let problem = assert_problem(
        verify(&entries[..10], &VerifyOptions::new()),
        ProblemKind::Modified,
        chain_id(&entries),
        8,
    );
    assert_eq!(problem.entry_id, Some(entries[8].id));
}

#[test]
fn deleted_entry_is_missing() {
    let mut entries = signed();
    entries.remove(8);
    let chain = chain_id(&entries);
    // Not certain until the end: seq 8 could still turn up.
    let mut verifier = Verifier::new(with_key());
    for e in &entries {
        verifier.push(e).unwrap();
    }
    let problem = assert_problem(verifier.finish(), ProblemKind::Missing, chain, 8);
    assert_eq!(problem.entry_id, None);
    assert!(problem.to_string().contains("entry seq 8 is missing"), "{problem}");
}

#[test]
fn deleted_range_is_missing_from_its_first_seq() {
    let mut entries = signed();
    entries.drain(8..11);
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Missing, chain_id(&entries), 8);
    assert!(problem.to_string().contains("seq 8..=10 are missing"), "{problem}");
}

#[test]
fn deleted_checkpoint_is_missing() {
    let mut entries = signed();
    entries.remove(12);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Missing, chain_id(&entries), 12);
}

#[test]
fn missing_entry_wins_over_a_later_problem() {
    let mut entries = signed();
    entries[15].description = "edited".into();
    entries.remove(8);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Missing, chain_id(&entries), 8);
}

#[test]
fn swapped_entries_are_reordered() {
    let mut entries = signed();
    entries.swap(8, 9);
    let problem = assert_problem(
        verify(&entries, &with_key()),
        ProblemKind::Reordered,
        chain_id(&entries),
        8,
    );
    assert_eq!(problem.entry_id, Some(entries[9].id));
    assert!(problem.to_string().contains("appears after entry seq 9"), "{problem}");
}

#[test]
fn entry_moved_back_is_reordered_not_missing() {
    // 6, 8, 9, 10, 11, 7, 12: reported when 7 turns up.
    let mut entries = signed();
    let moved = entries.remove(7);
    entries.insert(11, moved);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Reordered, chain_id(&entries), 7);
}

fn forged(entries: &[AuditEvent], after: usize) -> AuditEvent {
    // A forged entry that claims the place after `after`, linked and hashed
    // correctly, as someone with write access to the store can make.
    let mut e = AuditEvent::builder("api_key.revoke")
        .id(Uuid::now_v7())
        .time(rfc3339_micros::truncate(OffsetDateTime::now_utc()))
        .actor(Actor::user("u_1").email("alice@example.com"))
        .build();
    let prev = hash_of(&entries[after]);
    let mut link = entries[after].chain.clone().unwrap();
    link.seq += 1;
    link.prev.clone_from(&prev);
    link.hash.clear();
    e.chain = Some(link);
    let hash = compute_hash(&prev, &e).unwrap();
    e.chain.as_mut().unwrap().hash = hash;
    e
}

#[test]
fn forged_entry_after_the_genuine_one_is_inserted() {
    let mut entries = signed();
    let fake = forged(&entries, 8);
    entries.insert(10, fake.clone());
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Inserted, chain_id(&entries), 9);
    assert_eq!(problem.entry_id, Some(fake.id));
}

#[test]
fn forged_entry_before_the_genuine_one_is_inserted() {
    let mut entries = signed();
    let fake = forged(&entries, 8);
    entries.insert(9, fake.clone());
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Inserted, chain_id(&entries), 9);
    // The next entry links to the genuine seq 9, so the first one is the intruder.
    assert_eq!(problem.entry_id, Some(fake.id));
}

#[test]
fn forged_entry_replacing_a_genuine_one_is_inserted() {
    // The forger removes seq 9 and puts a self-consistent entry in its place
    // whose prev is not the hash of seq 8.
    let mut entries = signed();
    let mut fake = forged(&entries, 8);
    let prev = hash_of(&entries[3]);
    fake.chain.as_mut().unwrap().prev.clone_from(&prev);
    let hash = compute_hash(&prev, &fake).unwrap();
    fake.chain.as_mut().unwrap().hash = hash;
    entries[9] = fake.clone();
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Inserted, chain_id(&entries), 9);
    assert_eq!(problem.entry_id, Some(fake.id));
}

#[test]
fn forged_entry_with_every_later_entry_renumbered_is_caught_by_checkpoints() {
    let mut entries = signed();
    let fake = forged(&entries, 8);
    entries.insert(9, fake);
    renumber_from(&mut entries, 9);
    rehash_from(&mut entries, 9);
    let chain = chain_id(&entries);
    // Six entries (7, 8, 9 forged, 10, 11, 12) after checkpoint 6: the genesis
    // promises a checkpoint every five.
    assert_problem(verify(&entries, &with_key()), ProblemKind::MissingSignature, chain, 12);
    // Without a key: checkpoint 12 is now seq 13 and still claims seq 11.
    assert_problem(verify(&entries, &VerifyOptions::new()), ProblemKind::BadSignature, chain, 13);
}

#[test]
fn entry_without_chain_link_is_inserted() {
    let mut entries = signed();
    let mut fake = sample(99);
    fake.chain = None;
    entries.insert(9, fake.clone());
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Inserted, chain_id(&entries), 8);
    assert_eq!(problem.entry_id, Some(fake.id));
    assert!(problem.to_string().contains("without a chain link"), "{problem}");
}

#[test]
fn entry_after_the_closing_checkpoint_is_inserted() {
    let mut entries = signed();
    let fake = forged(&entries, 27);
    entries.push(fake.clone());
    // Also without require_sealed: the sequencer writes nothing after closing.
    let problem = assert_problem(
        verify(&entries, &VerifyOptions::new()),
        ProblemKind::Inserted,
        chain_id(&entries),
        28,
    );
    assert_eq!(problem.entry_id, Some(fake.id));
}

#[test]
fn duplicated_entry_is_inserted() {
    let mut entries = signed();
    let copy = entries[9].clone();
    entries.insert(10, copy);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Inserted, chain_id(&entries), 9);
    // A copy of an older entry, further down.
    let mut entries = signed();
    let copy = entries[3].clone();
    entries.insert(10, copy);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Inserted, chain_id(&entries), 3);
}

#[test]
fn rewritten_chain_without_the_key_fails_at_the_next_checkpoint() {
    let original = signed();
    let mut entries = original.clone();
    entries[8].description = "nothing happened".into();
    entries[8].outcome = Outcome::Denied;
    rehash_from(&mut entries, 8);
    let chain = chain_id(&entries);
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::BadSignature, chain, 12);
    assert_eq!(problem.entry_id, Some(entries[12].id));

    // A careful forger also makes every checkpoint claim the new hashes: the
    // signatures no longer verify.
    let mut entries = original;
    entries[8].description = "nothing happened".into();
    forge_from(&mut entries, 8);
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::BadSignature, chain, 12);
    assert!(problem.to_string().contains("bad signature"), "{problem}");
    // Without a key such a rewrite is not detectable.
    verify(&entries, &VerifyOptions::new().require_sealed(true)).unwrap();
}

#[test]
fn altered_checkpoint_signature_is_bad_signature() {
    let mut entries = signed();
    let cp = entries[12].metadata.get_mut("checkpoint").unwrap();
    let mut sig = cp["signature"].as_str().unwrap().as_bytes().to_vec();
    sig[0] = if sig[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(sig).unwrap();
    cp["signature"] = json!(flipped);
    rehash_from(&mut entries, 12);
    assert_problem(
        verify(&entries, &with_key()),
        ProblemKind::BadSignature,
        chain_id(&entries),
        12,
    );
}

#[test]
fn wrong_key_is_bad_signature() {
    let entries = signed();
    let other = SigningKey::ed25519_from_bytes(&[8; 32]).verifying_key();
    let problem = assert_problem(
        verify(&entries, &VerifyOptions::new().key(other)),
        ProblemKind::BadSignature,
        chain_id(&entries),
        6,
    );
    assert_eq!(problem.entry_id, Some(entries[6].id));
}

#[test]
fn several_keys_are_picked_by_key_id() {
    let entries = signed();
    let other = SigningKey::ed25519_from_bytes(&[8; 32]).verifying_key();
    let hmac = SigningKey::hmac_sha256(b"secret".to_vec()).verifying_key();
    let options = VerifyOptions::new().keys([other, hmac, key().verifying_key()]);
    verify(&entries, &options.require_sealed(true)).unwrap();
}

#[test]
fn unsigned_chain_with_a_key_is_missing_signature() {
    let entries = chain(None, 22, true);
    let problem = assert_problem(
        verify(&entries, &with_key()),
        ProblemKind::MissingSignature,
        chain_id(&entries),
        0,
    );
    assert!(problem.to_string().contains("unsigned"), "{problem}");
    // Without a key it verifies, and says signatures were not checked.
    let report = verify(&entries, &VerifyOptions::new()).unwrap();
    assert!(!report.signatures_checked);
}

#[test]
fn unsigned_checkpoint_in_a_chain_that_started_later_is_missing_signature() {
    let entries = chain(None, 22, true);
    assert_problem(
        verify(&entries[3..], &with_key()),
        ProblemKind::MissingSignature,
        chain_id(&entries),
        6,
    );
}

#[test]
fn chain_signed_with_another_algorithm_is_missing_signature() {
    let entries = chain(Some(SigningKey::hmac_sha256(b"secret".to_vec())), 22, true);
    assert_problem(
        verify(&entries, &with_key()),
        ProblemKind::MissingSignature,
        chain_id(&entries),
        0,
    );
}

#[test]
fn removed_checkpoint_with_recomputed_hashes_is_missing_signature() {
    let mut entries = signed();
    entries.remove(12);
    renumber_from(&mut entries, 12);
    rehash_from(&mut entries, 12);
    // Seqs 7-11 and (renumbered) 12: the sixth entry after checkpoint 6.
    assert_problem(
        verify(&entries, &with_key()),
        ProblemKind::MissingSignature,
        chain_id(&entries),
        12,
    );
}

#[test]
fn cut_tail_is_truncated_when_sealing_is_required() {
    let mut entries = signed();
    entries.pop(); // the closing checkpoint
    let chain = chain_id(&entries);
    let problem = assert_problem(
        verify(&entries, &with_key().require_sealed(true)),
        ProblemKind::TruncatedTail,
        chain,
        26,
    );
    assert_eq!(problem.entry_id, Some(entries[26].id));

    // An open chain is fine otherwise; the report says how much is unsigned.
    let report = verify(&entries, &with_key()).unwrap();
    let c = &report.chains[0];
    assert!(!c.sealed);
    assert_eq!(c.last_checkpoint_seq, Some(24));
    assert_eq!(c.unsigned_tail, 2);
    assert!(report.to_string().contains("open, 2 entries after the last checkpoint"), "{report}");
}

#[test]
fn chain_without_closing_checkpoint_is_open() {
    let entries = chain(Some(key()), 7, false);
    let report = verify(&entries, &with_key()).unwrap();
    let c = &report.chains[0];
    assert_eq!((c.last_seq, c.last_checkpoint_seq, c.unsigned_tail), (8, Some(6), 2));
    assert_problem(
        verify(&entries, &with_key().require_sealed(true)),
        ProblemKind::TruncatedTail,
        chain_id(&entries),
        8,
    );
}

#[test]
fn hmac_key_variant_verifies() {
    let hmac = SigningKey::hmac_sha256(b"a shared secret".to_vec());
    let entries = chain(Some(hmac.clone()), 22, true);
    let options = VerifyOptions::new().key(hmac.verifying_key()).require_sealed(true);
    let report = verify(&entries, &options).unwrap();
    assert!(report.signatures_checked && report.chains[0].sealed);

    let wrong = SigningKey::hmac_sha256(b"another secret".to_vec()).verifying_key();
    assert_problem(
        verify(&entries, &VerifyOptions::new().key(wrong)),
        ProblemKind::BadSignature,
        chain_id(&entries),
        6,
    );
}

fn interleave(a: &[AuditEvent], b: &[AuditEvent]) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Two of a, one of b: not a regular pattern.
        for _ in 0..2 {
            if let Some(e) = a.get(i) {
                out.push(e.clone());
                i += 1;
            }
        }
        if let Some(e) = b.get(j) {
            out.push(e.clone());
            j += 1;
        }
    }
    out
}

#[test]
fn interleaved_chains_verify() {
    let a = signed();
    let b = chain(Some(key()), 9, false);
    let entries = interleave(&a, &b);
    let report = verify(&entries, &with_key()).unwrap();
    assert_eq!(report.entries, (a.len() + b.len()) as u64);
    assert_eq!(report.chains.len(), 2);
    assert_eq!(report.chains[0].chain, chain_id(&a));
    assert_eq!(report.chains[1].chain, chain_id(&b));
    assert!(report.chains[0].sealed && !report.chains[1].sealed);
    // b is open: only with require_sealed is that a problem, at b's last entry.
    assert_problem(
        verify(&entries, &with_key().require_sealed(true)),
        ProblemKind::TruncatedTail,
        chain_id(&b),
        link(b.last().unwrap()).seq,
    );
}

#[test]
fn problem_in_one_of_interleaved_chains_names_that_chain() {
    let a = signed();
    let mut b = chain(Some(key()), 9, false);
    b[4].tenant = Some("globex".into());
    let entries = interleave(&a, &b);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Modified, chain_id(&b), 4);

    // A gap in a, then a modification in b: the gap comes first in the stream.
    let mut a = signed();
    let mut b = chain(Some(key()), 9, false);
    a.remove(2);
    b[9].tenant = Some("globex".into());
    let entries = interleave(&a, &b);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Missing, chain_id(&a), 2);
}

#[test]
fn chain_starting_mid_way_verifies_and_reports_where_it_starts() {
    let entries = signed();
    let kept = &entries[7..];
    let report = verify(kept, &with_key().require_sealed(true)).unwrap();
    let c = &report.chains[0];
    assert_eq!(c.starts_at, Some(7));
    assert_eq!((c.first_seq, c.last_seq, c.entries), (7, 27, 21));
    assert!(c.sealed);
    assert!(report.to_string().contains("starts at seq 7"), "{report}");
    // An entry of the kept part that was rewritten is still caught.
    let mut kept = kept.to_vec();
    kept[1].description = "nothing happened".into();
    rehash_from(&mut kept, 1);
    assert_problem(verify(&kept, &with_key()), ProblemKind::BadSignature, chain_id(&entries), 12);
}

#[test]
fn json_lines_round_trip_keeps_every_hash() {
    let a = signed();
    let b = chain(None, 9, true);
    let lines: Vec<String> =
        interleave(&a, &b).iter().map(|e| serde_json::to_string(e).unwrap()).collect();
    let file = lines.join("\n");
    let parsed: Vec<AuditEvent> =
        file.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(parsed.len(), a.len() + b.len());
    let report = verify(&parsed, &VerifyOptions::new().require_sealed(true)).unwrap();
    assert_eq!(report.chains.len(), 2);
    // Pretty-printed JSON parses back to the same hashes too.
    let pretty: Vec<AuditEvent> = a
        .iter()
        .map(|e| serde_json::from_str(&serde_json::to_string_pretty(e).unwrap()).unwrap())
        .collect();
    verify(&pretty, &with_key().require_sealed(true)).unwrap();
}

#[test]
fn bad_input_is_malformed_not_a_panic() {
    // A hash that is not hex.
    let mut entries = signed();
    entries[5].chain.as_mut().unwrap().hash = "zz".repeat(32);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, chain_id(&entries), 5);

    // A prev of the wrong length.
    let mut entries = signed();
    entries[5].chain.as_mut().unwrap().prev = "abc".into();
    assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, chain_id(&entries), 5);

    // A genesis entry whose prev is not zeros (hash recomputed).
    let mut entries = signed();
    let prev = "11".repeat(32);
    entries[0].chain.as_mut().unwrap().prev.clone_from(&prev);
    let hash = compute_hash(&prev, &entries[0]).unwrap();
    entries[0].chain.as_mut().unwrap().hash = hash;
    assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, chain_id(&entries), 0);

    // Seq 0 that is not a genesis entry.
    let mut entries = signed();
    entries[0].event = "project.update".into();
    rehash_from(&mut entries, 0);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, chain_id(&entries), 0);

    // Checkpoint data of the wrong type, and missing (hashes recomputed).
    for bad in [json!("not an object"), json!({"seq": "eleven", "hash": 1})] {
        let mut entries = signed();
        entries[12].metadata.insert("checkpoint".into(), bad);
        rehash_from(&mut entries, 12);
        assert_problem(
            verify(&entries, &VerifyOptions::new()),
            ProblemKind::Malformed,
            chain_id(&entries),
            12,
        );
    }
    let mut entries = signed();
    entries[12].metadata.clear();
    rehash_from(&mut entries, 12);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, chain_id(&entries), 12);

    // Genesis data of the wrong type.
    let mut entries = signed();
    entries[0].metadata.insert("genesis".into(), json!([1, 2, 3]));
    rehash_from(&mut entries, 0);
    assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, chain_id(&entries), 0);

    // A genesis entry in the middle of a chain.
    let mut entries = signed();
    entries[9].event = "audit.genesis".into();
    rehash_from(&mut entries, 9);
    assert_problem(
        verify(&entries, &VerifyOptions::new()),
        ProblemKind::Malformed,
        chain_id(&entries),
        9,
    );

    // A stream that does not start with a chained entry.
    let mut entries = signed();
    entries[0].chain = None;
    let problem =
        assert_problem(verify(&entries, &with_key()), ProblemKind::Malformed, Uuid::nil(), 0);
    assert!(!problem.to_string().starts_with("chain"), "{problem}");

    // Nothing at all is fine: nothing to verify.
    let report = verify(&Vec::<AuditEvent>::new(), &with_key().require_sealed(true)).unwrap();
    assert_eq!((report.entries, report.chains.len()), (0, 0));
}

#[test]
fn problems_serialize_for_the_cli() {
    let mut entries = signed();
    entries[8].actor = Actor::user("mallory");
    let problem = verify(&entries, &with_key()).unwrap_err();
    let v = serde_json::to_value(&problem).unwrap();
    assert_eq!(v["kind"], "modified");
    assert_eq!(v["seq"], 8);
    assert_eq!(v["chain"], chain_id(&entries).to_string());
    let err: Box<dyn std::error::Error> = Box::new(problem);
    assert!(err.to_string().contains("seq 8"));
}

#[test]
fn sequencer_refuses_out_of_order_use() {
    let policy = CheckpointPolicy::new(5, Duration::from_secs(3600));
    let mut seq = Sequencer::new(Some(key()), policy, ServiceInfo::new("billing"));
    let mut e = sample(0);
    assert!(seq.seal(&mut e).is_err(), "seal before genesis");
    assert!(seq.checkpoint(false).is_err(), "checkpoint before genesis");
    seq.genesis().unwrap();
    assert!(seq.genesis().is_err(), "genesis twice");
    seq.seal(&mut e).unwrap();
    seq.checkpoint(true).unwrap();
    let mut late = sample(1);
    assert!(seq.seal(&mut late).is_err(), "seal after the closing checkpoint");
    assert!(seq.checkpoint(true).is_err(), "checkpoint after the closing checkpoint");
}
