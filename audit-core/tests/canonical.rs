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
