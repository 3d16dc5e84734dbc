//! Field-level changes: what an operation changed, as `[{path, before, after}]`.
//!
//! [`diff`] compares two JSON values and returns one [`Change`] per field that
//! differs; [`diff_serialize`] does the same for any two [`Serialize`] values
//! (a DTO before and after an update). The builder method
//! [`AuditEventBuilder::changes_between`](crate::AuditEventBuilder::changes_between)
//! calls it for you.
//!
//! ```
//! use audit_core::diff::diff;
//! use serde_json::json;
//!
//! let before = json!({"name": "Apollo", "members": [{"role": "viewer"}], "archived": false});
//! let after = json!({"name": "Apollo", "members": [{"role": "admin"}], "region": "eu"});
//! let changes = diff(&before, &after);
//!
//! let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
//! assert_eq!(paths, ["archived", "members[0].role", "region"]);
//! assert_eq!(changes[1].before, "viewer");
//! assert_eq!(changes[1].after, "admin");
//! assert_eq!(changes[0].after, serde_json::Value::Null); // removed: the missing side is null
//! ```
//!
//! # The rules
//!
//! - Objects are compared key by key. A key only one side has is one change
//!   whose missing side is `null`, carrying the whole value of the other side.
//!   A field that is `null` on one side and missing on the other is no change.
//! - Arrays of equal length are compared index by index. Arrays of different
//!   lengths are one change carrying both whole arrays: an insertion at the
//!   front would otherwise show up as a change of every element.
//! - Scalars, and values of different types, are compared directly.
//! - Unchanged fields produce nothing; equal values produce an empty list.
//! - Changes come in document order: the fields of `before` in its order, then
//!   the fields only `after` has.
//!
//! # Paths
//!
//! Object keys are joined with dots and array indices are written `[n]`:
//! `settings.webhook_url`, `members[2].role`. A change of the whole value
//! (two different scalars at the top) has the empty path `""`. A key that is
//! empty or contains `.`, `[`, `]` or `"` is written as a bracketed JSON string,
//! so that the path can be read back unambiguously: `labels["app.kubernetes.io/name"]`.
//!
//! # Depth
//!
//! The comparison walks at most [`MAX_DEPTH`] levels, without recursion, so
//! values built by code cannot overflow the stack. Below that depth a differing
//! subtree is reported as one change at the path where the walk stopped; a side
//! that is itself more than [`MAX_DEPTH`] levels deep is carried as the string
//! [`TOO_DEEP_TO_DIFF`] rather than copied.

use serde::Serialize;
use serde_json::Value;

use crate::json::{deep_eq, deeper_than, drop_deep, push_index, push_key};

mod change;
mod flat;

pub use change::Change;

/// How many levels of nesting [`diff`] walks before it reports a differing
/// subtree as a single change.
pub const MAX_DEPTH: usize = 64;

/// The value that stands in for a side of a change that is nested too deeply
/// to be copied into an entry.
pub const TOO_DEEP_TO_DIFF: &str = "[too deep to diff]";

/// The field-level differences between two JSON values; see the
/// [module docs](self) for the rules and the path syntax.
pub fn diff(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    // An explicit stack instead of recursion; entries are pushed in reverse so
    // that changes come out in document order. The walk is depth first, so
    // one path buffer serves every node: a node's path is its parent's (the
    // buffer's first `parent_len` bytes when the node is popped) plus its own
    // segment, and only a change copies it.
    let mut path = String::new();
    let mut stack: Vec<PairToCompare<'_>> = vec![PairToCompare {
        parent_len: 0,
        segment: Segment::Root,
        before: Some(before),
        after: Some(after),
        depth: 0,
    }];
    while let Some(PairToCompare { parent_len, segment, before, after, depth }) = stack.pop() {
        path.truncate(parent_len);
        match segment {
            Segment::Root => {}
            Segment::Key(key) => push_key(&mut path, key),
            Segment::Index(index) => push_index(&mut path, index),
        }
        let here = path.len();
        match (before, after) {
            (Some(Value::Object(b)), Some(Value::Object(a))) if depth < MAX_DEPTH => {
                let first = stack.len();
                for (key, bv) in b {
                    stack.push(PairToCompare {
                        parent_len: here,
                        segment: Segment::Key(key),
                        before: Some(bv),
                        after: a.get(key),
                        depth: depth + 1,
                    });
                }
                for (key, av) in a.iter().filter(|(k, _)| !b.contains_key(*k)) {
                    stack.push(PairToCompare {
                        parent_len: here,
                        segment: Segment::Key(key),
                        before: None,
                        after: Some(av),
                        depth: depth + 1,
                    });
                }
                stack[first..].reverse();
            }
            (Some(Value::Array(b)), Some(Value::Array(a)))
                if depth < MAX_DEPTH && b.len() == a.len() =>
            {
                stack.extend(b.iter().zip(a).enumerate().rev().map(|(i, (bv, av))| {
                    PairToCompare {
                        parent_len: here,
                        segment: Segment::Index(i),
                        before: Some(bv),
                        after: Some(av),
                        depth: depth + 1,
                    }
                }));
            }
            (Some(b), Some(a)) => {
                if !deep_eq(b, a) {
                    changes.push(Change {
                        path: path.clone(),
                        before: bounded_clone(b),
                        after: bounded_clone(a),
                    });
                }
            }
            // A missing field reads as null: null on one side and missing on
            // the other is no change.
            (Some(Value::Null), None) | (None, Some(Value::Null)) | (None, None) => {}
            (Some(b), None) => changes.push(Change {
                path: path.clone(),
                before: bounded_clone(b),
                after: Value::Null,
            }),
            (None, Some(a)) => changes.push(Change {
                path: path.clone(),
                before: Value::Null,
                after: bounded_clone(a),
            }),
        }
    }
    changes
}

/// The field-level differences between two serializable values, e.g. a record
/// before and after an update; see [`diff`].
///
/// The changes are those of [`diff`] between both values converted with
/// [`serde_json::to_value`]. Two values of the same shape (the same fields,
/// arrays of the same lengths: a record before and after an update, mostly)
/// are compared without building either `Value`, which spares most of the
/// work and every allocation but the changes'. A value that cannot
/// be converted (a map with non-string keys, a `Serialize` impl that fails)
/// does not panic: the result is a single change at the path `""` whose side
/// that failed is a string explaining why, `"[not serializable: <error>]"`.
///
/// ```
/// use audit_core::diff::diff_serialize;
///
/// #[derive(serde::Serialize)]
/// struct Project { name: String, archived: bool }
///
/// let before = Project { name: "Apollo".into(), archived: false };
/// let after = Project { name: "Apollo".into(), archived: true };
/// let changes = diff_serialize(&before, &after);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].path, "archived");
/// ```
pub fn diff_serialize<B: Serialize + ?Sized, A: Serialize + ?Sized>(
    before: &B,
    after: &A,
) -> Vec<Change> {
    if let Some(changes) = flat::diff(before, after) {
        return changes;
    }
    match (serde_json::to_value(before), serde_json::to_value(after)) {
        (Ok(b), Ok(a)) => {
            let changes = diff(&b, &a);
            drop_deep(b);
            drop_deep(a);
            changes
        }
        (b, a) => {
            let side = |r: Result<Value, serde_json::Error>| match r {
                Ok(v) => {
                    let kept = bounded_clone(&v);
                    drop_deep(v);
                    kept
                }
                Err(e) => Value::String(format!("[not serializable: {e}]")),
            };
            vec![Change { path: String::new(), before: side(b), after: side(a) }]
        }
    }
}

/// One pair of values still to compare.
struct PairToCompare<'a> {
    /// The length of the parent's path.
    parent_len: usize,
    /// What the pair adds to its parent's path.
    segment: Segment<'a>,
    before: Option<&'a Value>,
    after: Option<&'a Value>,
    depth: usize,
}

/// The last segment of a path.
#[derive(Clone, Copy)]
enum Segment<'a> {
    /// The top (the empty path).
    Root,
    Key(&'a str),
    Index(usize),
}

/// A copy of a value, or [`TOO_DEEP_TO_DIFF`] if copying it (and later serializing or
/// dropping the copy) could overflow the stack.
fn bounded_clone(value: &Value) -> Value {
    if deeper_than(value, MAX_DEPTH) {
        Value::String(TOO_DEEP_TO_DIFF.to_owned())
    } else {
        value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::path_segments;
    use serde_json::json;

    #[test]
    fn paths_round_trip_through_segments() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("name", &["name"]),
            ("settings.webhook_url", &["settings", "webhook_url"]),
            ("members[2].role", &["members", "2", "role"]),
            ("[0][1]", &["0", "1"]),
            (r#"labels["app.kubernetes.io/name"]"#, &["labels", "app.kubernetes.io/name"]),
            (r#"a["x\"]y"].b"#, &["a", "x\"]y", "b"]),
            (r#"[""]"#, &[""]),
        ];
        for (path, want) in cases {
            assert_eq!(path_segments(path), *want, "{path}");
        }
    }

    #[test]
    fn malformed_paths_do_not_panic() {
        for path in ["[", "a[", "a[\"", "a[\"x", "]", "a..b", "[\"\\", "é[ü]", "a[\"é\"]"] {
            let _ = path_segments(path);
        }
    }

    #[test]
    fn quoted_keys_are_written_as_json_strings() {
        let pushed = |path: &str, key: &str| {
            let mut path = path.to_owned();
            push_key(&mut path, key);
            path
        };
        assert_eq!(pushed("", "a.b"), r#"["a.b"]"#);
        assert_eq!(pushed("x", "a[0]"), r#"x["a[0]"]"#);
        assert_eq!(pushed("x", ""), r#"x[""]"#);
        assert_eq!(pushed("x", "plain"), "x.plain");
        assert_eq!(pushed("", "plain"), "plain");
    }

    #[test]
    fn depth_is_measured_by_containers() {
        assert!(!deeper_than(&json!(1), 0));
        assert!(deeper_than(&json!([]), 0));
        assert!(!deeper_than(&json!([[1]]), 2));
        assert!(deeper_than(&json!([[[1]]]), 2));
        assert!(deeper_than(&json!({"a": {"b": {}}}), 2));
    }

    #[test]
    fn deep_eq_matches_partial_eq() {
        let values =
            [json!(null), json!(1), json!(1.5), json!("a"), json!([1, 2]), json!({"a": [1]})];
        for a in &values {
            for b in &values {
                assert_eq!(deep_eq(a, b), a == b, "{a} vs {b}");
            }
        }
        assert!(!deep_eq(&json!({"a": 1}), &json!({"b": 1})));
    }
}
