// The extra `&`s are the point: they pick the probe level.
#![allow(clippy::needless_borrow)]

use super::*;
use crate::model::{Actor, AuditEvent, Body, Outcome, Resource};
use crate::scope::AuditScope;

use serde_json::json;

#[test]
fn probes_pick_the_most_specific_level() {
    let actor = Actor::user("u1");
    assert_eq!((&&&Probe(&actor)).__audit_actor(), Some(Actor::user("u1")));
    assert_eq!((&&&Probe(&Some(actor.clone()))).__audit_actor(), Some(Actor::user("u1")));
    assert_eq!((&&&Probe(&Box::new(actor.clone()))).__audit_actor(), Some(Actor::user("u1")));
    assert_eq!((&&&Probe(&5)).__audit_actor(), None);

    assert_eq!((&&&Probe(&actor)).__audit_arg(), None, "actors are not request data");
    assert_eq!((&&&Probe(&"x")).__audit_arg(), Some(json!("x")));
    assert_eq!((&&&Probe(&Box::new(1))).__audit_arg(), Some(json!(1)));
    struct Opaque;
    assert_eq!((&&&Probe(&Opaque)).__audit_arg(), None);

    #[derive(Debug)]
    struct Msg {
        #[allow(dead_code)]
        a: u8,
    }
    assert_eq!((&&&Probe(&Msg { a: 1 })).__audit_message(), Some(json!({"a": 1})));
    assert_eq!((&&&Probe(&json!({"a": 1}))).__audit_message(), Some(json!({"a": 1})));

    let ok: Result<u8, std::io::Error> = Ok(1);
    assert_eq!((&&&Probe(&ok)).__audit_outcome(), Reported::Ok);
    let err: Result<u8, String> = Err("boom".into());
    assert_eq!((&&&Probe(&err)).__audit_outcome(), Reported::Err(Some("boom".into())));
    #[derive(Debug)]
    struct DebugOnly;
    let err: Result<u8, DebugOnly> = Err(DebugOnly);
    assert_eq!((&&&Probe(&err)).__audit_outcome(), Reported::Err(Some("DebugOnly".into())));
    let err: Result<u8, Opaque> = Err(Opaque);
    assert_eq!((&&&Probe(&err)).__audit_outcome(), Reported::Err(None));
    assert_eq!((&&&Probe(&5)).__audit_outcome(), Reported::Value);

    let ok: Result<u8, Opaque> = Ok(7);
    let v = (&Probe(&ok)).__audit_ok().and_then(|v| (&&Probe(v)).__audit_value());
    assert_eq!(v, Some(json!(7)));
    let v = (&Probe(&"s")).__audit_ok().and_then(|v| (&&Probe(v)).__audit_value());
    assert_eq!(v, Some(json!("s")));

    assert_eq!((&&&&Probe(&42)).__audit_id(), Some("42".into()));
    assert_eq!((&&&&Probe(&Box::new("p_1"))).__audit_id(), Some("p_1".into()));
    #[derive(Serialize)]
    struct PathParams {
        org: &'static str,
        id: &'static str,
    }
    assert_eq!((&&&&Probe(&PathParams { org: "o", id: "p_2" })).__audit_id(), Some("p_2".into()));
    assert_eq!((&&&&Probe(&Opaque)).__audit_id(), None);
}

#[test]
fn debug_output_reads_back_as_json() {
    #[derive(Debug)]
    #[allow(dead_code)]
    enum Role {
        Admin,
        Custom(String),
    }
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Inner {
        id: u64,
        ratio: f64,
    }
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Msg {
        name: String,
        password: String,
        tags: Vec<&'static str>,
        parent: Option<Inner>,
        none: Option<u8>,
        role: Role,
        custom: Role,
        pair: (i32, char),
        unit: (),
        map: std::collections::BTreeMap<u8, bool>,
        bytes: Vec<u8>,
        r#type: i64,
    }
    let msg = Msg {
        name: "a \"quoted\" \\ name\n\u{1F600}".into(),
        password: "hunter2".into(),
        tags: vec!["x", "y"],
        parent: Some(Inner { id: 7, ratio: -0.5 }),
        none: None,
        role: Role::Admin,
        custom: Role::Custom("ops".into()),
        pair: (-3, '\''),
        unit: (),
        map: [(1, true), (2, false)].into_iter().collect(),
        bytes: vec![1, 2],
        r#type: -9,
    };
    assert_eq!(
        debug_to_json(&format!("{msg:?}")),
        json!({
            "name": "a \"quoted\" \\ name\n\u{1F600}",
            "password": "hunter2",
            "tags": ["x", "y"],
            "parent": {"id": 7, "ratio": -0.5},
            "none": null,
            "role": "Admin",
            "custom": "ops",
            "pair": [-3, "'"],
            "unit": null,
            "map": {"1": true, "2": false},
            "bytes": [1, 2],
            "type": -9,
        })
    );
    assert_eq!(debug_to_json("Opaque { .. }"), json!({}));
    assert_eq!(debug_to_json("Secret(sk_live) trailing garbage {"), json!(UNPARSEABLE_DEBUG));
    assert_eq!(debug_to_json("Unclosed { a: \"x"), json!(UNPARSEABLE_DEBUG));
    assert_eq!(debug_to_json(&"[".repeat(500)), json!(UNPARSEABLE_DEBUG));
}

#[test]
fn request_capture_is_direct_or_keyed_and_redacted() {
    let mut c = ArgsCapture::new(true);
    c.add("body", Some(json!({"name": "a", "card": {"number": "4242"}})));
    c.redact(&["body", "card", "number"]);
    assert_eq!(
        c.finish(),
        Some(Body::Json(json!({"name": "a", "card": {"number": "[REDACTED]"}})))
    );

    let mut c = ArgsCapture::new(false);
    c.add("a", Some(json!([{"pw": 1}, {"pw": 2}])));
    c.add("b", Some(debug_to_json("B { pw: 3 }")));
    c.add("c", None);
    c.redact(&["a", "pw"]);
    c.redact(&["b", "pw"]);
    assert_eq!(
        c.finish(),
        Some(Body::Json(
            json!({"a": [{"pw": "[REDACTED]"}, {"pw": "[REDACTED]"}], "b": {"pw": "[REDACTED]"}})
        ))
    );
    assert_eq!(ArgsCapture::new(true).finish(), None);
}

#[test]
fn description_templates_render() {
    let e = AuditEvent::builder("project.update")
        .actor(Actor::user("u1").email("alice@example.com"))
        .resource(Resource::new("project", "p_42"))
        .tenant("acme")
        .metadata("region", "eu")
        .metadata("n", 3)
        .build();
    assert_eq!(
        render_description(
            "{actor} renamed {resource.type} {resource.id} in {tenant} ({metadata.region}, {metadata.n}) {{x}}",
            &e
        ),
        "alice@example.com renamed project p_42 in acme (eu, 3) {x}"
    );
    assert_eq!(
        render_description("{action} {event} {missing", &e),
        "update project.update {missing"
    );
}

#[test]
fn grpc_codes_map_to_outcomes() {
    assert_eq!(grpc_outcome(7), Outcome::Denied);
    assert_eq!(grpc_outcome(16), Outcome::Denied);
    assert_eq!(grpc_outcome(1), Outcome::Cancelled);
    assert_eq!(grpc_outcome(5), Outcome::Failure);
}

#[test]
fn after_fills_outcome_resource_and_response() {
    let s = AuditScope::new();
    s.set_event("project.create");
    after(
        &s,
        true,
        After {
            reported: Reported::Ok,
            response: Some(json!({"id": "p_9", "name": "x"})),
            resource_type: Some("project"),
            description: Some("{actor} made {resource}"),
        },
    );
    let e = s.build_event("");
    assert_eq!(e.outcome, Outcome::Success);
    assert_eq!(e.resource, vec![Resource::new("project", "p_9")]);
    assert_eq!(e.description, "anonymous made project p_9");

    // inside a layer, success is the layer's to decide; an error is ours
    let s = AuditScope::new();
    after(
        &s,
        false,
        After { reported: Reported::Ok, response: None, resource_type: None, description: None },
    );
    assert_eq!(s.outcome(), None);
    after(
        &s,
        false,
        After {
            reported: Reported::Err(Some("nope".into())),
            response: None,
            resource_type: None,
            description: None,
        },
    );
    let e = s.build_event("x.y");
    assert_eq!((e.outcome, e.reason.as_deref()), (Outcome::Failure, Some("nope")));
}
