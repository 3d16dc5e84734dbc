//! Walks of JSON values that never recurse, so that values built by code,
//! nested many thousands of levels deep, cannot overflow the stack.

use serde_json::Value;

/// Whether two values are equal, compared without recursion.
pub(crate) fn deep_eq(a: &Value, b: &Value) -> bool {
    if !is_container(a) && !is_container(b) {
        // Two scalars (nearly every field): no stack to allocate.
        return a == b;
    }
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                for (k, xv) in x {
                    match y.get(k) {
                        Some(yv) => stack.push((xv, yv)),
                        None => return false,
                    }
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                if x.len() != y.len() {
                    return false;
                }
                stack.extend(x.iter().zip(y));
            }
            (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => {
                return false;
            }
            (x, y) => {
                if x != y {
                    return false;
                }
            }
        }
    }
    true
}

/// Whether a value nests containers more than `limit` levels deep (a scalar
/// has depth 0, `[]` and `[1]` depth 1, `[[1]]` depth 2). Walks without
/// recursion and stops as soon as the answer is known.
pub(crate) fn deeper_than(value: &Value, limit: usize) -> bool {
    if !is_container(value) {
        return false;
    }
    let mut stack = vec![(value, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(_) | Value::Object(_) if depth >= limit => return true,
            Value::Array(items) => stack.extend(items.iter().map(|c| (c, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|c| (c, depth + 1))),
            _ => {}
        }
    }
    false
}

/// Whether a value is an array or an object.
pub(crate) fn is_container(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Object(_))
}

/// Drops a value without recursion. `serde_json::Value`'s own `Drop` recurses
/// once per level, which overflows the stack on values built by code that are
/// many thousands of levels deep.
pub(crate) fn drop_deep(value: Value) {
    // Only nested containers wait on the stack; scalars are dropped as their
    // container is taken apart, so a flat value allocates nothing here.
    fn take_apart(value: Value, stack: &mut Vec<Value>) {
        let nested = |v: &Value| matches!(v, Value::Array(_) | Value::Object(_));
        match value {
            Value::Array(items) => stack.extend(items.into_iter().filter(nested)),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v).filter(nested)),
            _ => {}
        }
    }
    let mut stack = Vec::new();
    take_apart(value, &mut stack);
    while let Some(v) = stack.pop() {
        take_apart(v, &mut stack);
    }
}
