use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use serde::Serialize;
use serde_json::json;

use serde::ser;

use super::*;

/// What the general path answers.
fn general<B: Serialize + ?Sized, A: Serialize + ?Sized>(b: &B, a: &A) -> Vec<Change> {
    super::super::diff(
        &serde_json::to_value(b).expect("before"),
        &serde_json::to_value(a).expect("after"),
    )
}

#[test]
fn a_record_before_and_after_takes_the_fast_path() {
    // Fields declared out of key order, as most structs are.
    #[derive(Serialize)]
    struct Project {
        name: String,
        id: u64,
        visibility: Visibility,
        tags: Vec<&'static str>,
        owner: Option<&'static str>,
        limits: HashMap<&'static str, f64>,
        plan: Plan,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "lowercase")]
    enum Visibility {
        Private,
        Public,
    }
    #[derive(Serialize)]
    enum Plan {
        Seats(u32),
        Custom { seats: u32, note: char },
    }
    let before = Project {
        name: "Apollo".into(),
        id: 7,
        visibility: Visibility::Private,
        tags: vec!["nasa", "mit"],
        owner: None,
        limits: [("cpu", 1.5), ("disk", 10.0), ("ram", f64::NAN)].into(),
        plan: Plan::Custom { seats: 3, note: 'a' },
    };
    let after = Project {
        name: "Apollo 11".into(),
        id: 7,
        visibility: Visibility::Public,
        tags: vec!["nasa", "jpl"],
        owner: Some("u_1"),
        limits: [("ram", 2.0), ("disk", 10.0), ("cpu", 2.0)].into(),
        plan: Plan::Custom { seats: 4, note: 'b' },
    };
    let fast = diff(&before, &after).expect("same shape: the fast path answers");
    assert_eq!(fast, general(&before, &after));
    let paths: Vec<&str> = fast.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "limits.cpu",
            "limits.ram",
            "name",
            "owner",
            "plan.Custom.note",
            "plan.Custom.seats",
            "tags[1]",
            "visibility"
        ]
    );
    assert_eq!(fast[1].before, Value::Null, "NaN is null, as to_value has it");

    let seats = (Plan::Seats(1), Plan::Seats(2));
    assert_eq!(diff(&seats.0, &seats.1), Some(general(&seats.0, &seats.1)));
}

#[test]
fn integer_keys_are_written_in_decimal() {
    let before: BTreeMap<i64, &str> = [(-1, "a"), (10, "b"), (2, "c")].into();
    let after: BTreeMap<i64, &str> = [(-1, "a"), (10, "x"), (2, "c")].into();
    let fast = diff(&before, &after).expect("fast path");
    assert_eq!(fast, general(&before, &after));
    assert_eq!(fast, [Change::new("10", "b", "x")]);
}

#[test]
fn what_the_fast_path_leaves_to_the_general_one() {
    // Different shapes.
    assert!(diff(&json!({"a": 1}), &json!({"a": 1, "b": 2})).is_none());
    assert!(diff(&json!([1, 2]), &json!([1])).is_none());
    assert!(diff(&json!({"a": {}}), &json!({"a": {"b": 1}})).is_none());
    // Repeated keys, which to_value would merge.
    struct Twice;
    impl Serialize for Twice {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap as _;
            let mut m = s.serialize_map(None)?;
            m.serialize_entry("a", &1)?;
            m.serialize_entry("a", &2)?;
            m.end()
        }
    }
    assert!(diff(&Twice, &Twice).is_none());
    // Deep values, 128-bit integers, bytes, keys that are not strings.
    let deep = (0..MAX_FLAT_DEPTH + 1).fold(json!(1), |v, _| json!([v]));
    assert!(diff(&deep, &deep).is_none());
    assert!(diff(&1u128, &2u128).is_none());
    assert!(diff(serde_bytes_like(), serde_bytes_like()).is_none());
    let bool_keys: BTreeMap<bool, u8> = [(true, 1)].into();
    assert!(diff(&bool_keys, &bool_keys).is_none());
    // serde_json's own markers (raw JSON, arbitrary-precision numbers).
    struct Marked;
    impl Serialize for Marked {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeStruct as _;
            let mut m = s.serialize_struct("$serde_json::private::RawValue", 1)?;
            m.serialize_field("$serde_json::private::RawValue", "1")?;
            m.end()
        }
    }
    assert!(diff(&Marked, &Marked).is_none());
}

/// A value that serializes as a byte string.
fn serde_bytes_like() -> &'static Bytes {
    &Bytes
}
struct Bytes;
impl Serialize for Bytes {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(b"ab")
    }
}

#[test]
fn a_diff_inside_serialization_takes_the_general_path() {
    struct Nested;
    impl Serialize for Nested {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            // The buffers are taken by the outer call.
            let inner = diff(&json!({"x": 1}), &json!({"x": 2}));
            assert!(inner.is_none());
            s.serialize_str("n")
        }
    }
    assert_eq!(diff(&Nested, &Nested), Some(vec![]));
}

fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3..4i64).prop_map(Value::from),
        prop_oneof![Just(0.5f64), Just(-1.0), Just(1.0), Just(1e300)].prop_map(Value::from),
        "[ab\"\\\\.é]{0,3}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[ab.\\[\"]{0,3}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `value` with its `i`-th leaf (depth first) replaced by
/// `replacements[i]` where that is `Some`: the same shape, other scalars.
fn replace_leaves(value: &Value, replacements: &[Option<Value>], next: &mut usize) -> Value {
    match value {
        Value::Array(items) if !items.is_empty() => {
            Value::Array(items.iter().map(|v| replace_leaves(v, replacements, next)).collect())
        }
        Value::Object(map) if !map.is_empty() => Value::Object(
            map.iter().map(|(k, v)| (k.clone(), replace_leaves(v, replacements, next))).collect(),
        ),
        leaf => {
            let i = *next;
            *next += 1;
            match replacements.get(i) {
                Some(Some(r)) => r.clone(),
                _ => leaf.clone(),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    /// Two values of the same shape: the fast path answers, and answers
    /// what the general path does.
    #[test]
    fn same_shapes_give_the_general_paths_changes(
        before in arb_json(),
        replacements in prop::collection::vec(prop::option::weighted(0.3, arb_scalar()), 0..40),
    ) {
        let after = replace_leaves(&before, &replacements, &mut 0);
        let fast = diff(&before, &after);
        prop_assert!(fast.is_some(), "{before} vs {after}");
        prop_assert_eq!(fast.unwrap(), general(&before, &after));
    }

    /// Any two values: when the fast path answers, it answers what the
    /// general path does.
    #[test]
    fn the_fast_path_never_disagrees(before in arb_json(), after in arb_json()) {
        if let Some(fast) = diff(&before, &after) {
            prop_assert_eq!(fast, general(&before, &after));
        }
    }
}
