//! Generic functions: capture follows the bounds the signature declares;
//! `impl Trait` arguments and return types; lifetimes.

mod common;

use std::fmt::Display;

use audit_core::{Auditor, Resource, audited};
use common::{auditor, recorded, request_body, response_body};
use serde::Serialize;
use serde_json::json;

#[audited(event = "item.store", auditor = auditor)]
async fn store<T: Serialize + Clone>(auditor: &Auditor, item: T) -> T {
    item.clone()
}

#[audited(event = "item.store", auditor = auditor)]
async fn store_opaque<T>(auditor: &Auditor, item: T) -> Vec<T>
where
    T: Clone + Send,
{
    vec![item]
}

#[audited(event = "item.tag", auditor = auditor, resource_id = id)]
fn tag<'a, I: Display>(auditor: &Auditor, id: I, label: &'a str) -> impl Serialize + 'a {
    [label]
}

#[audited(event = "item.label", auditor = auditor)]
fn label(auditor: &Auditor, value: impl Serialize, other: impl Into<String>) -> String {
    let _ = value;
    other.into()
}

#[derive(Clone, PartialEq, Debug)]
struct NotSerialize(u8);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_what_the_bounds_allow() {
    let (auditor, sink) = auditor();
    assert_eq!(store(&auditor, json!({"a": 1})).await, json!({"a": 1}));
    assert_eq!(store_opaque(&auditor, NotSerialize(1)).await, vec![NotSerialize(1)]);
    let _ = tag(&auditor, 42, "hot");
    assert_eq!(label(&auditor, 5, "x"), "x");

    let e = recorded(&auditor, &sink).await;
    assert_eq!(request_body(&e[0]), json!({"item": {"a": 1}}));
    assert_eq!(response_body(&e[0]), json!({"a": 1}));
    // `T` has no `Serialize` bound: neither the argument nor the result is captured
    assert!(e[1].request.is_none());
    assert_eq!(response_body(&e[1]), serde_json::Value::Null);
    // `impl Serialize` is serializable; `Display` ids become the resource id
    assert_eq!(e[2].resource, vec![Resource::new("item", "42")]);
    // `I: Display` only: not serializable, so not captured
    assert_eq!(request_body(&e[2]), json!({"label": "hot"}));
    assert_eq!(response_body(&e[2]), json!(["hot"]));
    assert_eq!(request_body(&e[3]), json!({"value": 5}));
}
