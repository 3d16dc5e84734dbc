use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::verify::is_hash;
use super::*;
use crate::model::{Actor, AuditEvent, ServiceInfo};
use crate::sink::SinkInput;

fn event_with_metadata() -> AuditEvent {
    let numbers = json!({
        "j_int": 9_007_199_254_740_992_u64,
        "a_one": 1.0,
        "b_big": 1e21,
        "c_tiny": 1e-7,
        "d_micro": 0.000_001,
        "e_negzero": -0.0,
        "f_large": 1e20,
        "g_frac": 4.50,
        "h_milli": 2e-3,
        "i_e27": 1e-27,
    });
    // RFC 8785 section 3.2.3: keys sort by UTF-16 code units.
    let sort = json!({
        "\u{20ac}": 5, "\r": 1, "\u{fb33}": 7, "1": 2, "\u{1f600}": 6, "\u{80}": 3, "\u{f6}": 4,
    });
    AuditEvent::builder("project.update")
        .id(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
        .time(OffsetDateTime::UNIX_EPOCH)
        .actor(Actor::user("u_1").email("alice@example.com"))
        .metadata("sort", sort)
        .metadata("numbers", numbers)
        .metadata("text", "\u{1f}\u{e9}\n\"\\/")
        .build()
}

#[test]
fn canonical_json_is_rfc_8785() {
    let bytes = canonical_json(&event_with_metadata()).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let expected_metadata = concat!(
        r#""metadata":{"numbers":{"a_one":1,"b_big":1e+21,"c_tiny":1e-7,"d_micro":0.000001,"#,
        r#""e_negzero":0,"f_large":100000000000000000000,"g_frac":4.5,"h_milli":0.002,"#,
        r#""i_e27":1e-27,"j_int":9007199254740992},"#,
        "\"sort\":{\"\\r\":1,\"1\":2,\"\u{80}\":3,\"\u{f6}\":4,\"\u{20ac}\":5,\"\u{1f600}\":6,\"\u{fb33}\":7},",
        r#""text":"\u001f"#,
        "\u{e9}",
        r#"\n\"\\/"}"#,
    );
    assert!(text.contains(expected_metadata), "{text}");
    // No whitespace between tokens (no string here has any).
    assert!(!text.contains([' ', '\n', '\t']), "{text}");
    // Keys sorted at every level, the whole entry.
    let expected = [
        r#"{"action":"update","actor":{"email":"alice@example.com","id":"u_1","kind":"user"},"#,
        r#""description":"","event":"project.update","#,
        r#""id":"01900000-0000-7000-8000-000000000001","#,
        expected_metadata,
        r#","outcome":"success","time":"1970-01-01T00:00:00.000000Z"}"#,
    ]
    .concat();
    assert_eq!(text, expected);
    // Canonical form is a fixed point.
    assert_eq!(serde_json_canonicalizer::pipe(&text).unwrap(), text);
}

#[test]
fn canonical_json_leaves_out_the_hash_only() {
    let mut seq = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::new("svc"));
    let genesis = seq.genesis().unwrap();
    let mut e = event_with_metadata();
    seq.seal(&mut e).unwrap();
    let text = String::from_utf8(canonical_json(&e).unwrap()).unwrap();
    let link = e.chain.as_ref().unwrap();
    let expected = format!(
        r#""chain":{{"id":"{}","prev":"{}","seq":1}}"#,
        link.id,
        genesis.chain.as_ref().unwrap().hash
    );
    assert!(text.contains(&expected), "{text}");
    assert!(!text.contains(&link.hash));
}

#[test]
fn compute_hash_is_sha256_over_prev_and_canonical_bytes() {
    let key = SigningKey::ed25519_from_bytes(&[7; 32]);
    let mut seq = Sequencer::new(Some(key), CheckpointPolicy::default(), ServiceInfo::new("svc"));
    let genesis = seq.genesis().unwrap();
    let link = genesis.chain.as_ref().unwrap();
    assert_eq!((link.seq, link.prev.as_str()), (0, ZERO_HASH));

    let mut hasher = Sha256::new();
    hasher.update([0u8; 32]);
    hasher.update(canonical_json(&genesis).unwrap());
    let expected = hex::encode(hasher.finalize());
    assert_eq!(link.hash, expected);
    assert_eq!(compute_hash(ZERO_HASH, &genesis).unwrap(), expected);

    let mut e = event_with_metadata();
    seq.seal(&mut e).unwrap();
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(&link.hash).unwrap());
    hasher.update(canonical_json(&e).unwrap());
    assert_eq!(e.chain.as_ref().unwrap().hash, hex::encode(hasher.finalize()));
}

#[test]
fn a_lent_chain_is_taken_back_only_when_the_json_was_made() {
    let mut seq = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::new("s"));
    let genesis = seq.genesis().unwrap();
    let mut prev = genesis.chain.unwrap().hash;
    for i in 0..4 {
        let mut plain = AuditEvent::builder("project.update").metadata("i", i).build();
        let (json, _) = seq.seal_encoded(&mut plain, SinkInput::Json).unwrap();
        let line: AuditEvent = serde_json::from_slice(&json.expect("plain JSON")).unwrap();
        let link = line.chain.clone().unwrap();
        assert_eq!(link.prev, prev, "entry {i} links to the one before");
        assert_eq!(link.hash, compute_hash(&link.prev, &line).unwrap());
        let lent = plain.chain.unwrap();
        assert!(lent.prev.is_empty() && lent.hash.is_empty(), "taken back: {lent:?}");
        prev = link.hash;
    }
    // No JSON made (a float: the general canonicalizer): the entry keeps
    // its chain, and the next one still links to it.
    let mut float = event_with_metadata();
    let (json, _) = seq.seal_encoded(&mut float, SinkInput::Json).unwrap();
    assert!(json.is_none());
    let kept = float.chain.clone().unwrap();
    assert_eq!(kept.prev, prev);
    assert_eq!(kept.hash, compute_hash(&kept.prev, &float).unwrap());
    let mut next = AuditEvent::builder("project.update").build();
    seq.seal_encoded(&mut next, SinkInput::Entries).unwrap();
    assert_eq!(next.chain.unwrap().prev, kept.hash);
}

#[test]
fn the_entrys_own_hash_never_changes_its_hash() {
    // A plain entry (hashed around the field) and one with floats (hashed
    // through the general canonicalizer), with every kind of stored hash
    // a tampered or hand-made entry can carry.
    let plain =
        AuditEvent::builder("project.update").actor(Actor::user("u_1")).metadata("n", 7).build();
    for (mut e, is_plain) in [(plain, true), (event_with_metadata(), false)] {
        let mut seq = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::new("s"));
        seq.genesis().unwrap();
        let (json, _) = seq.seal_encoded(&mut e, SinkInput::EntriesAndJson).unwrap();
        let sealed = e.chain.clone().unwrap();
        let expected = compute_hash(&sealed.prev, &e).unwrap();
        assert_eq!(sealed.hash, expected);
        assert_eq!(json.is_some(), is_plain);
        if let Some(json) = json {
            assert_eq!(json, serde_json::to_vec(&e).unwrap());
        }
        let odd_hashes = [
            String::new(),
            ZERO_HASH.to_owned(),
            "AB".repeat(32),
            format!("\"{}\\", "a".repeat(62)),
            "é".repeat(32),
            "short".to_owned(),
            "f".repeat(65),
        ];
        for odd in odd_hashes {
            e.chain.as_mut().unwrap().hash = odd.clone();
            assert_eq!(compute_hash(&sealed.prev, &e).unwrap(), expected, "{odd:?}");
        }
    }
}

#[test]
fn compute_hash_rejects_bad_prev() {
    let e = event_with_metadata();
    assert!(matches!(compute_hash("not hex", &e), Err(CanonicalError::BadHash(_))));
}

#[test]
fn checkpoints_sign_the_entry_before_them() {
    let key = SigningKey::ed25519_from_bytes(&[7; 32]);
    let mut seq = Sequencer::new(
        Some(key.clone()),
        CheckpointPolicy::new(2, Duration::from_secs(3600)),
        ServiceInfo::new("svc"),
    );
    seq.genesis().unwrap();
    let mut e = event_with_metadata();
    seq.seal(&mut e).unwrap();
    assert!(!seq.checkpoint_due(Instant::now()));
    let mut e2 = event_with_metadata();
    seq.seal(&mut e2).unwrap();
    assert!(seq.checkpoint_due(Instant::now()));
    let cp = seq.checkpoint(false).unwrap();
    let data: CheckpointData = serde_json::from_value(cp.metadata["checkpoint"].clone()).unwrap();
    let link = e2.chain.as_ref().unwrap();
    assert_eq!((data.seq, data.hash.as_str()), (link.seq, link.hash.as_str()));
    assert_eq!(data.key_id, Some(key.key_id()));
    let message = checkpoint_message(seq.chain_id(), data.seq, &data.hash);
    assert!(key.verifying_key().verify(&message, data.signature.as_deref().unwrap()));
    assert!(!seq.checkpoint_due(Instant::now()));
}

#[test]
fn problem_kind_names_match_serde() {
    for kind in [
        ProblemKind::Modified,
        ProblemKind::Missing,
        ProblemKind::Inserted,
        ProblemKind::Reordered,
        ProblemKind::BadSignature,
        ProblemKind::MissingSignature,
        ProblemKind::TruncatedTail,
        ProblemKind::Malformed,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
}

#[test]
fn is_hash_wants_64_lowercase_hex_digits() {
    assert!(is_hash(ZERO_HASH));
    assert!(is_hash(&"ab".repeat(32)));
    assert!(!is_hash(&"AB".repeat(32)));
    assert!(!is_hash(&"ab".repeat(31)));
    assert!(!is_hash("é"));
}
