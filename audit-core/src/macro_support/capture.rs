//! The handler's arguments captured as the entry's request.

use std::fmt::Debug;

use serde_json::{Map, Value};

use crate::{model::Body, redact::REDACTED};

// ---------------------------------------------------------------------------
// Request capture.

/// The arguments captured as the request: one value directly, or an object
/// keyed by argument name.
#[derive(Debug, Default)]
pub struct ArgsCapture {
    direct: bool,
    entries: Vec<(&'static str, Value)>,
}

impl ArgsCapture {
    /// `direct`: the request is the one captured value itself (a `Json` body,
    /// a gRPC message), not an object keyed by argument name.
    pub fn new(direct: bool) -> Self {
        Self { direct, entries: Vec::new() }
    }

    /// Adds an argument, if it could be captured.
    pub fn add(&mut self, name: &'static str, value: Option<Value>) {
        if let Some(v) = value {
            self.entries.push((name, v));
        }
    }

    /// Replaces the value at `path` (`[argument, field, field...]`) with
    /// `"[REDACTED]"`. A field inside an array applies to every element.
    pub fn redact(&mut self, path: &[&str]) {
        let Some((arg, fields)) = path.split_first() else { return };
        for (name, value) in &mut self.entries {
            if name == arg {
                redact_path(value, fields);
            }
        }
    }

    /// The request body, if anything was captured.
    pub fn finish(self) -> Option<Body> {
        if self.entries.is_empty() {
            return None;
        }
        if self.direct && self.entries.len() == 1 {
            return self.entries.into_iter().next().map(|(_, v)| Body::Json(v));
        }
        let map: Map<String, Value> =
            self.entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Some(Body::Json(Value::Object(map)))
    }
}

pub(super) fn redact_path(value: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        *value = Value::String(REDACTED.to_owned());
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(v) = map.get_mut(*first) {
                redact_path(v, rest);
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_path(item, path);
            }
        }
        _ => {}
    }
}
