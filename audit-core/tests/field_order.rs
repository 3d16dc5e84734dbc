//! The field-order invariant the hashing path relies on: every struct of
//! the event model serializes its keys in sorted order, and `chain` is the
//! third key of an entry (see `AuditEvent`'s docs).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use audit_core::model::{OmitReason, ServiceInfo};
use audit_core::{
    Actor, AuditEvent, Body, ChainLink, Change, GrpcRequest, HttpRequest, Outcome, Request,
    Resource, Response, Source,
};
use serde_json::json;

/// Every object's keys in the order serde_json wrote them, read from the
/// JSON text itself (parsing into a `Value` would sort them).
fn key_orders(json: &str) -> Vec<Vec<String>> {
    let bytes = json.as_bytes();
    let mut objects: Vec<Vec<String>> = Vec::new();
    let mut open: Vec<Option<usize>> = Vec::new(); // index in `objects`, None for arrays
    let mut expect_key = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                objects.push(Vec::new());
                open.push(Some(objects.len() - 1));
                expect_key = true;
            }
            b'[' => {
                open.push(None);
                expect_key = false;
            }
            b'}' | b']' => {
                open.pop();
                expect_key = false;
            }
            b',' => expect_key = matches!(open.last(), Some(Some(_))),
            b'"' => {
                let start = i + 1;
                i += 1;
                while bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                if expect_key && let Some(Some(object)) = open.last() {
                    objects[*object].push(json[start..i].to_owned());
                    expect_key = false;
                }
            }
            _ => {}
        }
        i += 1;
    }
    objects
}

fn full_entry(request: Request) -> AuditEvent {
    let mut response = Response::default();
    response.body = Some(Body::omitted(OmitReason::Truncated, Some(10)));
    response.duration_us = Some(5);
    response.grpc_status = Some(0);
    response.status = Some(409);
    let mut e = AuditEvent::builder("project.update")
        .id(uuid::Uuid::now_v7())
        .time(time::OffsetDateTime::now_utc())
        .actor(Actor::user("u_1").email("alice@example.com").name("Alice"))
        .tenant("acme")
        .outcome(Outcome::Failure)
        .reason("conflict")
        .resource(Resource::new("project", "p_1").name("Apollo"))
        .description("alice updated project p_1")
        .source(
            Source::new()
                .ip(IpAddr::V4(Ipv4Addr::LOCALHOST))
                .user_agent("curl/8")
                .request_id("r_1"),
        )
        .request(request)
        .response(response)
        .change(Change::new("name", "a", "b"))
        .metadata("zeta", 1)
        .metadata("alpha", json!({"b": 1, "a": 2}))
        .build();
    e.service = ServiceInfo::new("svc");
    e.service.instance = Some("i".into());
    e.service.version = Some("1".into());
    let mut link = ChainLink::clone(
        &serde_json::from_value(json!({"id": uuid::Uuid::nil(), "prev": "0", "seq": 1})).unwrap(),
    );
    link.hash = "h".repeat(64);
    e.chain = Some(link);
    e
}

#[test]
fn entry_fields_are_declared_in_sorted_key_order_with_chain_third() {
    let mut http = HttpRequest::new("PATCH", "/projects/p_1");
    http.route = Some("/projects/{id}".into());
    http.query = Some("a=1".into());
    http.headers = BTreeMap::from([("user-agent".to_owned(), "curl/8".to_owned())]);
    http.body = Some(Body::Json(json!({"name": "b"})));
    let mut grpc = GrpcRequest::new("projects.v1.Projects", "Update");
    grpc.message = Some(Body::Json(json!({"id": 1})));
    for request in [Request::Http(http), Request::Grpc(grpc)] {
        let json = serde_json::to_string(&full_entry(request)).unwrap();
        let orders = key_orders(&json);
        let top = &orders[0];
        assert_eq!(&top[..3], ["action", "actor", "chain"], "chain must be the third key: {json}");
        assert_eq!(top.len(), 17, "every field of the entry is set: {top:?}");
        for keys in &orders {
            let mut sorted = keys.clone();
            sorted.sort();
            assert_eq!(keys, &sorted, "keys out of sorted order in {json}");
        }
        assert!(
            json.contains(r#""chain":{"hash":""#),
            "`hash` is the first key of a chain link: {json}"
        );
    }
}

#[test]
fn the_key_order_reader_sees_an_unsorted_object() {
    assert_eq!(key_orders(r#"{"b":[{"y":1,"x":"\"}"}],"a":2}"#), [vec!["b", "a"], vec!["y", "x"]]);
}
