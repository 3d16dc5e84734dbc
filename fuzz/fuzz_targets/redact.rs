//! Redaction of arbitrary JSON, query strings and headers: never panics,
//! leaves no value under a sensitive key unmasked, and leaves no container
//! nested deeper than the limit.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use audit_core::redact::{HMAC_PREFIX, REDACTED, TOO_DEEP};
use audit_core::{AuditEvent, Body, Change, HttpRequest, Redactor, Request};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

static PLAIN: LazyLock<Redactor> = LazyLock::new(Redactor::default);
static HMAC: LazyLock<Redactor> =
    LazyLock::new(|| Redactor::builder().hmac_key(b"fuzz-key").max_depth(6).build());

fn masked(v: &Value) -> bool {
    matches!(v, Value::String(s) if s == REDACTED || s == TOO_DEEP || s.starts_with(HMAC_PREFIX))
}

/// Checks the redaction invariants of a redacted value (iteratively).
fn check(r: &Redactor, root: &Value) {
    let mut stack = vec![(root, 0usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Object(map) => {
                assert!(depth < r.max_depth(), "an object at depth {depth} survived");
                for (k, child) in map {
                    if r.is_sensitive_key(k) {
                        assert!(masked(child), "{k:?} kept {child:?}");
                    } else {
                        stack.push((child, depth + 1));
                    }
                }
            }
            Value::Array(items) => {
                assert!(depth < r.max_depth(), "an array at depth {depth} survived");
                stack.extend(items.iter().map(|c| (c, depth + 1)));
            }
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for r in [&*PLAIN, &*HMAC] {
        let _ = r.redact_query(&text);
        let _ = r.mask(&text);
        let mut headers = BTreeMap::new();
        for line in text.lines().take(16) {
            let (k, v) = line.split_once(':').unwrap_or((line, ""));
            headers.insert(k.to_ascii_lowercase(), v.to_owned());
        }
        r.redact_headers(&mut headers);
        for (k, v) in &headers {
            if r.is_sensitive_header(k) {
                assert!(v == REDACTED || v.starts_with(HMAC_PREFIX), "header {k}: {v}");
            }
        }
    }
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    for r in [&*PLAIN, &*HMAC] {
        let mut v = value.clone();
        r.redact_json(&mut v);
        if value.is_object() || value.is_array() {
            check(r, &v);
        }
        // The same value everywhere an entry carries JSON.
        let mut request = HttpRequest::new("POST", format!("/x?{text}"));
        request.body = Some(Body::Json(value.clone()));
        let mut event = AuditEvent::builder("fuzz.redact")
            .request(Request::Http(request))
            .change(Change::new("a.password", value.clone(), Value::Null))
            .change(Change::new("a.b", value.clone(), value.clone()))
            .metadata("m", value.clone())
            .build();
        r.redact_event(&mut event);
        for m in event.metadata.values() {
            check(r, m);
        }
        for c in &event.changes {
            check(r, &c.before);
            check(r, &c.after);
        }
        if let Some(Request::Http(h)) = &event.request
            && let Some(Body::Json(b)) = &h.body
            && (b.is_object() || b.is_array())
        {
            check(r, b);
        }
    }
});
