//! Field-level changes: `diff` and `diff_serialize`.

use std::collections::BTreeMap;

use audit_core::diff::{MAX_DEPTH, TOO_DEEP_TO_DIFF, diff, diff_serialize};
use audit_core::{AuditEvent, Change};
use proptest::prelude::*;
use serde::{Serialize, Serializer};
use serde_json::{Map, Value, json};

fn paths(changes: &[Change]) -> Vec<&str> {
    changes.iter().map(|c| c.path.as_str()).collect()
}

/// Drops a value without recursion: `serde_json::Value`'s own drop recurses
/// once per level.
fn drop_iteratively(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

fn nested_objects(depth: usize, bottom: Value) -> Value {
    let mut value = bottom;
    for _ in 0..depth {
        let mut map = Map::new();
        map.insert("a".to_owned(), value);
        value = Value::Object(map);
    }
    value
}

#[test]
fn equal_values_have_no_changes() {
    for v in [
        json!(null),
        json!(1),
        json!("x"),
        json!([]),
        json!({}),
        json!({"a": [1, {"b": null}], "c": {"d": "e"}}),
    ] {
        assert_eq!(diff(&v, &v.clone()), []);
    }
}

#[test]
fn a_changed_field_has_both_values() {
    let changes = diff(&json!({"name": "Apollo", "id": 1}), &json!({"name": "Gemini", "id": 1}));
    assert_eq!(changes, [Change::new("name", "Apollo", "Gemini")]);
}

#[test]
fn an_added_field_has_null_before() {
    let changes = diff(&json!({"a": 1}), &json!({"a": 1, "region": "eu"}));
    assert_eq!(changes, [Change::new("region", Value::Null, "eu")]);
}

#[test]
fn a_removed_field_has_null_after() {
    let changes = diff(&json!({"a": 1, "archived": false}), &json!({"a": 1}));
    assert_eq!(changes, [Change::new("archived", false, Value::Null)]);
}

#[test]
fn an_added_object_is_one_change_with_its_whole_value() {
    let changes = diff(&json!({}), &json!({"owner": {"id": "u1", "role": "admin"}}));
    assert_eq!(changes, [Change::new("owner", Value::Null, json!({"id": "u1", "role": "admin"}))]);
}

#[test]
fn null_and_missing_are_the_same() {
    assert_eq!(diff(&json!({"a": null}), &json!({})), []);
    assert_eq!(diff(&json!({}), &json!({"a": null})), []);
}

#[test]
fn nested_fields_are_joined_with_dots() {
    let before = json!({"settings": {"webhook_url": "https://a", "retries": 3}});
    let after = json!({"settings": {"webhook_url": "https://b", "retries": 3}});
    assert_eq!(
        diff(&before, &after),
        [Change::new("settings.webhook_url", "https://a", "https://b")]
    );
}

#[test]
fn arrays_of_equal_length_are_compared_by_index() {
    let before = json!({"members": [
        {"id": "u1", "role": "admin"},
        {"id": "u2", "role": "viewer"},
        {"id": "u3", "role": "viewer"},
    ]});
    let mut after = before.clone();
    after["members"][2]["role"] = json!("editor");
    after["members"][0]["id"] = json!("u0");
    let changes = diff(&before, &after);
    assert_eq!(
        changes,
        [
            Change::new("members[0].id", "u1", "u0"),
            Change::new("members[2].role", "viewer", "editor")
        ]
    );
    assert_eq!(diff(&json!([[1, 2]]), &json!([[1, 3]])), [Change::new("[0][1]", 2, 3)]);
}

#[test]
fn arrays_of_different_length_are_one_change() {
    let changes = diff(&json!({"tags": ["a", "b"]}), &json!({"tags": ["x", "a", "b"]}));
    assert_eq!(changes, [Change::new("tags", json!(["a", "b"]), json!(["x", "a", "b"]))]);
}

#[test]
fn a_top_level_change_has_the_empty_path() {
    assert_eq!(diff(&json!(1), &json!(2)), [Change::new("", 1, 2)]);
    assert_eq!(diff(&json!({"a": 1}), &json!([1])), [Change::new("", json!({"a": 1}), json!([1]))]);
}

#[test]
fn a_change_of_type_is_one_change() {
    let changes = diff(&json!({"limits": {"max": 5}}), &json!({"limits": "unlimited"}));
    assert_eq!(changes, [Change::new("limits", json!({"max": 5}), "unlimited")]);
    let changes = diff(&json!({"n": 1}), &json!({"n": "1"}));
    assert_eq!(changes, [Change::new("n", 1, "1")]);
}

#[test]
fn keys_that_would_be_ambiguous_are_quoted() {
    let before = json!({"labels": {"app.kubernetes.io/name": "a", "x[0]": 1, "": 1, "q\"": 1}});
    let after = json!({"labels": {"app.kubernetes.io/name": "b", "x[0]": 2, "": 2, "q\"": 2}});
    let mut got = paths(&diff(&before, &after)).into_iter().map(str::to_owned).collect::<Vec<_>>();
    got.sort();
    assert_eq!(
        got,
        [
            r#"labels[""]"#,
            r#"labels["app.kubernetes.io/name"]"#,
            r#"labels["q\""]"#,
            r#"labels["x[0]"]"#
        ]
    );
    assert_eq!(paths(&diff(&json!({"a.b": 1}), &json!({"a.b": 2}))), [r#"["a.b"]"#]);
}

#[test]
fn changes_come_in_document_order() {
    let before = json!({"a": 1, "b": {"c": 1, "d": [1, 2]}, "e": 1});
    let after = json!({"a": 2, "b": {"c": 2, "d": [1, 3]}, "f": 1});
    assert_eq!(paths(&diff(&before, &after)), ["a", "b.c", "b.d[1]", "e", "f"]);
}

#[test]
fn diff_serialize_compares_serializable_values() {
    #[derive(Serialize)]
    struct Project {
        name: String,
        members: Vec<Member>,
        settings: BTreeMap<String, String>,
    }
    #[derive(Serialize)]
    struct Member {
        id: u32,
        role: &'static str,
    }
    let before = Project {
        name: "Apollo".into(),
        members: vec![Member { id: 1, role: "admin" }, Member { id: 2, role: "viewer" }],
        settings: [("webhook_url".to_owned(), "https://a".to_owned())].into(),
    };
    let after = Project {
        name: "Apollo".into(),
        members: vec![Member { id: 1, role: "admin" }, Member { id: 2, role: "editor" }],
        settings: [("webhook_url".to_owned(), "https://b".to_owned())].into(),
    };
    assert_eq!(
        diff_serialize(&before, &after),
        [
            Change::new("members[1].role", "viewer", "editor"),
            Change::new("settings.webhook_url", "https://a", "https://b"),
        ]
    );
    // Unsized values and different types on each side are fine.
    assert_eq!(diff_serialize("a", &String::from("b")), [Change::new("", "a", "b")]);
    assert_eq!(diff_serialize(&[1, 2][..], &vec![1, 2]), []);
}

struct Unserializable;

impl Serialize for Unserializable {
    fn serialize<S: Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
        Err(serde::ser::Error::custom("the database handle cannot be serialized"))
    }
}

#[test]
fn a_value_that_fails_to_serialize_gives_one_marker_change() {
    let changes = diff_serialize(&Unserializable, &json!({"a": 1}));
    assert_eq!(
        changes,
        [Change::new(
            "",
            "[not serializable: the database handle cannot be serialized]",
            json!({"a": 1})
        )]
    );

    // A map with non-string keys cannot become JSON either.
    let tuple_keys: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
    let changes = diff_serialize(&json!(null), &tuple_keys);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, "");
    assert_eq!(changes[0].before, Value::Null);
    let marker = changes[0].after.as_str().unwrap();
    assert!(marker.starts_with("[not serializable: "), "{marker}");

    let changes = diff_serialize(&Unserializable, &Unserializable);
    assert_eq!(changes.len(), 1);
    assert!(changes[0].before.as_str().unwrap().starts_with("[not serializable"));
    assert!(changes[0].after.as_str().unwrap().starts_with("[not serializable"));
}

#[test]
fn the_event_builder_records_changes_between_two_values() {
    let event = AuditEvent::builder("project.update")
        .changes_between(&json!({"name": "a", "n": 1}), &json!({"name": "b", "n": 1}))
        .build();
    assert_eq!(event.changes, [Change::new("name", "a", "b")]);
}

#[test]
fn the_walk_stops_at_max_depth_with_one_change_for_the_subtree() {
    let before = nested_objects(MAX_DEPTH + 5, json!(1));
    let after = nested_objects(MAX_DEPTH + 5, json!(2));
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].path, vec!["a"; MAX_DEPTH].join("."));
    assert_eq!(changes[0].before, nested_objects(5, json!(1)));
    assert_eq!(changes[0].after, nested_objects(5, json!(2)));
}

#[test]
fn very_deep_values_do_not_overflow_the_stack() {
    let before = nested_objects(100_000, json!(1));
    let after = nested_objects(100_000, json!(2));
    let changes = diff(&before, &after);
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].before, TOO_DEEP_TO_DIFF);
    assert_eq!(changes[0].after, TOO_DEEP_TO_DIFF);
    // Equal deep values: no change, and no recursion in the comparison.
    let copy = nested_objects(100_000, json!(1));
    assert_eq!(diff(&before, &copy), []);

    // Through serde too: converting a deep `Value` to a `Value` recurses in
    // serde_json itself, so stay well within the default test stack there.
    let shallow_enough = nested_objects(200, json!(1));
    let changes = diff_serialize(&shallow_enough, &json!(null));
    assert_eq!(changes, [Change::new("", TOO_DEEP_TO_DIFF, Value::Null)]);

    drop_iteratively(before);
    drop_iteratively(after);
    drop_iteratively(copy);
    drop_iteratively(shallow_enough);
}

// ---------------------------------------------------------------- property

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (0..4i64).prop_map(Value::from),
        "[ab]{0,2}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[ab.]{1,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Looks a change path up in a value (keys in the generated values never
/// contain quotes or backslashes).
fn resolve<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("[\"") {
            let end = r.find('"')?;
            current = current.as_object()?.get(&r[..end])?;
            rest = r[end..].strip_prefix("\"]")?;
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            current = current.as_array()?.get(r[..end].parse::<usize>().ok()?)?;
            rest = &r[end + 1..];
        } else {
            let r = rest.strip_prefix('.').unwrap_or(rest);
            let end = r.find(['.', '[']).unwrap_or(r.len());
            current = current.as_object()?.get(&r[..end])?;
            rest = &r[end..];
        }
    }
    Some(current)
}

/// The value with every object field that is null left out.
fn without_null_fields(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_null_fields(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_null_fields).collect()),
        other => other.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Two values have no changes exactly when they are equal (a missing
    /// field reads as null), and every change's path leads to its before and
    /// after values.
    #[test]
    fn changes_point_at_what_differs(before in arb_json(), after in arb_json()) {
        let changes = diff(&before, &after);
        let equal = without_null_fields(&before) == without_null_fields(&after);
        prop_assert_eq!(changes.is_empty(), equal);
        for change in &changes {
            let b = resolve(&before, &change.path).cloned().unwrap_or(Value::Null);
            let a = resolve(&after, &change.path).cloned().unwrap_or(Value::Null);
            prop_assert_eq!(&change.before, &b, "path {}", change.path);
            prop_assert_eq!(&change.after, &a, "path {}", change.path);
            prop_assert_ne!(&b, &a);
        }
    }
}
