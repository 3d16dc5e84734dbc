//! The fast canonical-JSON path (serde_json output of the sorted-field event
//! model) must agree byte for byte with a general RFC 8785 canonicalizer.

use audit_core::integrity::canonical_json;
use audit_core::{
    Actor, AuditEvent, Body, Change, HttpRequest, OmitReason, Request, Resource, Response, Source,
};
use proptest::prelude::*;
use serde_json::{Map, Value};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        (-(1i64 << 53)..(1i64 << 53)).prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        "[\\x00-\\x1f\"\\\\/\u{7f}\u{2028}\u{e000}\u{ffff}\u{10000}\u{1f600}a-z]{0,8}"
            .prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                "[a-z\u{e000}\u{ffff}\u{10000}\u{1f600}_]{0,6}",
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn event() -> impl Strategy<Value = AuditEvent> {
    (
        "[a-z_]{1,8}\\.[a-z_]{1,8}",
        "\\PC{0,16}",
        json_value(),
        json_value(),
        json_value(),
        prop::collection::btree_map("[a-z\u{1f600}-]{1,8}", "\\PC{0,8}", 0..4),
        prop_oneof![3 => 0..(1u64 << 53), 1 => any::<u64>()],
        any::<bool>(),
    )
        .prop_map(|(name, text, meta, body, before, headers, n, omitted)| {
            let mut request = HttpRequest::new("PATCH", format!("/x/{text}"));
            request.headers = headers;
            request.body = Some(if omitted {
                Body::omitted(OmitReason::Truncated, Some(n))
            } else {
                Body::Json(body)
            });
            let mut response = Response::default();
            response.status = Some(200);
            response.duration_us = Some(n);
            AuditEvent::builder(name)
                .actor(Actor::user(text.clone()).email(format!("{text}@example.com")))
                .resource(Resource::new("project", text.clone()))
                .source(Source::new().user_agent(text.clone()))
                .request(Request::Http(request))
                .response(response)
                .change(Change::new("a.b", before, Value::from(n)))
                .metadata("m", meta)
                .description(text)
                .build()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fast_path_agrees_with_the_general_canonicalizer(e in event()) {
        let ours = canonical_json(&e).unwrap();
        let reference = serde_json_canonicalizer::to_vec(&e).unwrap();
        prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&reference));
    }
}

/// The hash of an entry: SHA-256 over the previous hash (bytes) and the
/// RFC 8785 form of the entry without its own hash, by the reference
/// canonicalizer.
fn reference_hash(prev: &str, e: &AuditEvent) -> String {
    use sha2::{Digest, Sha256};
    let mut e = e.clone();
    if let Some(link) = e.chain.as_mut() {
        link.hash.clear();
    }
    let mut hasher = Sha256::new();
    hasher.update(hex::decode(prev).unwrap());
    hasher.update(serde_json_canonicalizer::to_vec(&e).unwrap());
    hex::encode(hasher.finalize())
}

const PREV: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Sealing learns whether serde_json's output is canonical while it
    /// serializes (floats, big integers, keys outside the BMP); whichever
    /// way it goes, the hash is the reference's.
    #[test]
    fn hashing_agrees_with_the_general_canonicalizer(e in event(), sealed in any::<bool>()) {
        let mut e = e;
        if sealed {
            // A sealed entry is hashed around its own (64-digit) hash.
            let link = serde_json::json!({
                "hash": "ab".repeat(32), "id": uuid::Uuid::nil(), "prev": PREV, "seq": 7,
            });
            e.chain = Some(serde_json::from_value(link).unwrap());
        }
        let ours = audit_core::integrity::compute_hash(PREV, &e).unwrap();
        prop_assert_eq!(ours, reference_hash(PREV, &e));
    }
}

#[test]
fn what_serde_json_writes_differently_is_hashed_in_canonical_form() {
    let entry = |meta: Value| AuditEvent::builder("project.update").metadata("m", meta).build();
    for meta in [
        serde_json::json!({"ratio": 0.1}),
        serde_json::json!({"big": 1u64 << 60}),
        serde_json::json!({"neg": -(1i64 << 60)}),
        serde_json::json!({"\u{ffff}": 1, "\u{1f600}": 2}),
        serde_json::json!({"emoji in a value is fine": "\u{1f600}"}),
        serde_json::json!([1e300, -0.0, 5e-324]),
    ] {
        let e = entry(meta.clone());
        let ours = audit_core::integrity::compute_hash(PREV, &e).unwrap();
        assert_eq!(ours, reference_hash(PREV, &e), "{meta}");
    }
}

#[test]
fn a_plain_entry_is_serialized_in_canonical_order() {
    let e = AuditEvent::builder("project.update")
        .actor(Actor::user("u1").email("a@example.com"))
        .resource(Resource::new("project", "p1"))
        .metadata("z", 1)
        .metadata("a", "x")
        .build();
    let json = serde_json::to_string(&e).unwrap();
    assert_eq!(json.as_bytes(), canonical_json(&e).unwrap().as_slice());
    assert!(
        json.starts_with(
            r#"{"action":"update","actor":{"email":"a@example.com","id":"u1","kind":"user"}"#
        ),
        "{json}"
    );
}
