//! The values a [`JsonPath`] reaches in an entry.
//!
//! The answer is the same as walking the entry's serialized JSON (a
//! property test says so), but the typed parts of the entry (the request's
//! method, the response's status) are read directly, so that a body is never
//! serialized to reach a status code.

use serde::Serialize;
use serde_json::Value;

use super::ast::{JsonPath, JsonRoot};
use crate::{AuditEvent, Body, Change, Request, Response};

/// Whether `pred` holds for any value the path reaches. Arrays stand for
/// each of their elements, on the way and at the end; an absent part, a
/// missing key or an empty array reaches nothing.
pub(super) fn any_value(
    entry: &AuditEvent,
    path: &JsonPath,
    pred: &mut dyn FnMut(&Value) -> bool,
) -> bool {
    let keys = path.keys();
    match path.root() {
        JsonRoot::Request => entry.request.as_ref().is_some_and(|r| in_request(r, keys, pred)),
        JsonRoot::Response => entry.response.as_ref().is_some_and(|r| in_response(r, keys, pred)),
        JsonRoot::Changes => entry.changes.iter().any(|c| in_change(c, keys, pred)),
        JsonRoot::Metadata if entry.metadata.is_empty() => false,
        JsonRoot::Metadata => match keys.split_first() {
            None => whole(&entry.metadata, pred),
            Some((key, rest)) => entry.metadata.get(key).is_some_and(|v| walk(v, rest, pred)),
        },
    }
}

/// Walks `keys` down from `value`.
pub(super) fn walk(value: &Value, keys: &[String], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|item| walk(item, keys, pred)),
        Value::Object(map) => match keys.split_first() {
            None => pred(value),
            Some((key, rest)) => map.get(key).is_some_and(|v| walk(v, rest, pred)),
        },
        scalar => keys.is_empty() && pred(scalar),
    }
}

/// A whole typed part, through its JSON (only for paths that end at it).
fn whole<T: Serialize + ?Sized>(part: &T, pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    serde_json::to_value(part).is_ok_and(|v| walk(&v, &[], pred))
}

fn leaf(value: impl Into<Value>, rest: &[String], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    rest.is_empty() && pred(&value.into())
}

fn in_body(body: &Body, rest: &[String], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    match body {
        Body::Json(value) => walk(value, rest, pred),
        Body::Omitted(marker) => {
            serde_json::to_value(marker).is_ok_and(|value| walk(&value, rest, pred))
        }
    }
}

fn in_request(request: &Request, keys: &[String], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((first, rest)) = keys.split_first() else {
        return whole(request, pred);
    };
    match request {
        Request::Http(http) => match first.as_str() {
            "method" => leaf(http.method.as_str(), rest, pred),
            "path" => leaf(http.path.as_str(), rest, pred),
            "route" => http.route.as_deref().is_some_and(|r| leaf(r, rest, pred)),
            "query" => http.query.as_deref().is_some_and(|q| leaf(q, rest, pred)),
            "headers" if http.headers.is_empty() => false,
            "headers" => match rest.split_first() {
                None => whole(&http.headers, pred),
                Some((name, rest)) => {
                    http.headers.get(name).is_some_and(|v| leaf(v.as_str(), rest, pred))
                }
            },
            "body" => http.body.as_ref().is_some_and(|b| in_body(b, rest, pred)),
            _ => false,
        },
        Request::Grpc(grpc) => match first.as_str() {
            "service" => leaf(grpc.service.as_str(), rest, pred),
            "method" => leaf(grpc.method.as_str(), rest, pred),
            "message" => grpc.message.as_ref().is_some_and(|b| in_body(b, rest, pred)),
            _ => false,
        },
    }
}

fn in_response(response: &Response, keys: &[String], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((first, rest)) = keys.split_first() else {
        return whole(response, pred);
    };
    match first.as_str() {
        "status" => response.status.is_some_and(|s| leaf(s, rest, pred)),
        "grpc_status" => response.grpc_status.is_some_and(|s| leaf(s, rest, pred)),
        "duration_us" => response.duration_us.is_some_and(|d| leaf(d, rest, pred)),
        "body" => response.body.as_ref().is_some_and(|b| in_body(b, rest, pred)),
        _ => false,
    }
}

fn in_change(change: &Change, keys: &[String], pred: &mut dyn FnMut(&Value) -> bool) -> bool {
    let Some((first, rest)) = keys.split_first() else {
        return whole(change, pred);
    };
    match first.as_str() {
        "path" => leaf(change.path.as_str(), rest, pred),
        "before" => walk(&change.before, rest, pred),
        "after" => walk(&change.after, rest, pred),
        _ => false,
    }
}
