use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::diff::Change;
use crate::json::rfc3339_micros;

proptest::proptest! {
    /// The fast path writes exactly what `time`'s format description
    /// does, for any instant and offset it takes, and serialization
    /// writes the same string either way.
    #[test]
    fn timestamps_format_the_same_on_both_paths(
        // From 0001-01-02 to 9999-12-30 (`time`'s range, with room
        // for the offset), with the years before 1970 on the slow path.
        secs in -62_135_510_400i64..253_402_128_000,
        nanos in 0u32..1_000_000_000,
        offset_minutes in -(23 * 60 + 59)..(23 * 60 + 59),
    ) {
        let utc = OffsetDateTime::from_unix_timestamp(secs)
            .expect("in range")
            .replace_nanosecond(nanos)
            .expect("in range");
        let offset = time::UtcOffset::from_whole_seconds(offset_minutes * 60).expect("in range");
        let time = utc.to_offset(offset);
        let expected = rfc3339_micros::format_any(time);
        proptest::prop_assert_eq!(rfc3339_micros::format(time), expected.clone());
        let json = serde_json::to_string(&Wrapper(time)).expect("serializes");
        proptest::prop_assert_eq!(json, format!("\"{expected}\""));
    }
}

#[derive(Serialize)]
struct Wrapper(#[serde(with = "rfc3339_micros")] OffsetDateTime);

#[test]
fn timestamps_at_the_ends_of_the_fast_paths_years_format() {
    let before = OffsetDateTime::from_unix_timestamp(-1).expect("in range");
    assert_eq!(rfc3339_micros::format(before), "1969-12-31T23:59:59.000000Z");
    let edge = OffsetDateTime::from_unix_timestamp(253_402_300_799).expect("in range");
    assert_eq!(rfc3339_micros::format(edge), "9999-12-31T23:59:59.000000Z");
}

#[test]
fn action_is_derived_from_the_verb() {
    let cases = [
        ("project.create", Action::Create),
        ("member.add", Action::Create),
        ("member.invite", Action::Create),
        ("project.update", Action::Update),
        ("flag.set", Action::Update),
        ("member.role_change", Action::Update),
        ("api_key.rotate", Action::Update),
        ("api_key.reroll", Action::Update),
        ("sso.enable", Action::Update),
        ("sso.disable", Action::Update),
        ("project.delete", Action::Delete),
        ("member.remove", Action::Delete),
        ("api_key.revoke", Action::Delete),
        ("project.read", Action::Read),
        ("project.get", Action::Read),
        ("project.list", Action::Read),
        ("report.export", Action::Read),
        ("file.download", Action::Read),
        ("user.login", Action::Other),
        ("", Action::Other),
        ("delete", Action::Delete),
    ];
    for (name, action) in cases {
        assert_eq!(Action::from_event_name(name), action, "{name}");
    }
}

#[test]
fn action_can_be_overridden_and_survives_rename() {
    let e = AuditEvent::builder("user.login").action(Action::Read).event("x.delete").build();
    assert_eq!(e.action, Action::Read);
    let e = AuditEvent::builder("user.login").event("x.delete").build();
    assert_eq!(e.action, Action::Delete);
}

#[test]
fn actor_display_forms() {
    assert_eq!(Actor::user("u1").email("alice@example.com").to_string(), "alice@example.com");
    assert_eq!(Actor::user("u1").name("Alice").to_string(), "Alice");
    assert_eq!(Actor::user("u1").to_string(), "user:u1");
    assert_eq!(Actor::api_key("k_1").name("ci-deploy").to_string(), "api-key:ci-deploy");
    assert_eq!(Actor::api_key("k_1").to_string(), "api-key:k_1");
    assert_eq!(Actor::service("billing").to_string(), "service:billing");
    assert_eq!(Actor::system("billing-cron").to_string(), "system:billing-cron");
    assert_eq!(Actor::anonymous().to_string(), "anonymous");
}

#[test]
fn description_defaults() {
    let e = AuditEvent::builder("project.update")
        .actor(Actor::user("u1").email("alice@example.com"))
        .resource(Resource::new("project", "p_42"))
        .build();
    assert_eq!(e.default_description(), "alice@example.com updated project p_42");
    let e = AuditEvent::builder("member.role_change")
        .actor(Actor::user("u2").email("bob@example.com"))
        .outcome(Outcome::Denied)
        .build();
    assert_eq!(e.default_description(), "bob@example.com updated member (denied)");
}

fn full_event() -> AuditEvent {
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    AuditEvent::builder("project.update")
        .id(Uuid::now_v7())
        .time(rfc3339_micros::truncate(OffsetDateTime::now_utc()))
        .actor(Actor::user("u1").email("alice@example.com").name("Alice"))
        .tenant("acme")
        .resource(Resource::new("project", "p_42").name("Apollo"))
        .resource(Resource::of_type("settings"))
        .outcome(Outcome::Failure)
        .reason("conflict")
        .description("alice updated")
        .source(Source::new().ip("10.0.0.1".parse().unwrap()).user_agent("curl/8").request_id("r1"))
        .request(Request::Http(HttpRequest {
            method: "PATCH".into(),
            route: Some("/projects/{id}".into()),
            path: "/projects/p_42".into(),
            query: Some("a=1".into()),
            headers,
            body: Some(Body::Json(serde_json::json!({"name": "x", "n": 1.5}))),
        }))
        .response(Response {
            status: Some(409),
            grpc_status: None,
            body: Some(Body::omitted(OmitReason::Truncated, Some(70_000))),
            duration_us: Some(1234),
        })
        .change(Change::new("name", "a", "b"))
        .metadata("k", serde_json::json!({"nested": [1, 2]}))
        .build()
}

#[test]
fn serde_round_trip_is_stable() {
    let e = full_event();
    let json = serde_json::to_string(&e).unwrap();
    let back: AuditEvent = serde_json::from_str(&json).unwrap();
    assert_eq!(back, e);
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    // grpc requests are recognised by their service field
    let g = AuditEvent::builder("project.update")
        .request(Request::Grpc(GrpcRequest::new("p.v1.Projects", "Update")))
        .build();
    let back: AuditEvent = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
    assert_eq!(back.request, g.request);
}

#[test]
fn json_field_names_are_the_contract() {
    let v = serde_json::to_value(full_event()).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "id",
        "time",
        "event",
        "action",
        "outcome",
        "reason",
        "actor",
        "tenant",
        "resource",
        "description",
        "source",
        "request",
        "response",
        "changes",
        "metadata",
    ] {
        assert!(keys.contains(&k), "missing {k} in {keys:?}");
    }
    assert_eq!(v["resource"][0]["type"], "project");
    assert_eq!(v["actor"]["kind"], "user");
    assert_eq!(v["response"]["body"]["$omitted"], "truncated");
    let t = v["time"].as_str().unwrap();
    assert_eq!(t.len(), "2026-11-22T06:39:33.123456Z".len(), "{t}");
    assert!(t.ends_with('Z'));
}

#[test]
fn unknown_fields_are_ignored() {
    let json = r#"{"id":"018f0000-0000-7000-8000-000000000000","time":"2026-01-01T00:00:00.000000Z",
        "event":"a.create","action":"create","outcome":"success","actor":{"kind":"system","id":"x"},
        "future_field":{"x":1}}"#;
    let e: AuditEvent = serde_json::from_str(json).unwrap();
    assert_eq!(e.event, "a.create");
}
