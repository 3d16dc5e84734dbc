//! `integrity::canonical_json` (which takes a serde_json fast path when it
//! can) equals the general RFC 8785 canonicalizer's output for every entry.
#![no_main]

use audit_core::integrity::canonical_json;
use audit_core::{AuditEvent, Body, HttpRequest, Request};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(event: &AuditEvent) {
    let ours = canonical_json(event);
    let mut without_hash = event.clone();
    if let Some(link) = without_hash.chain.as_mut() {
        link.hash.clear();
    }
    let reference = serde_json_canonicalizer::to_vec(&without_hash);
    match (ours, reference) {
        (Ok(a), Ok(b)) => assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "canonical_json differs from RFC 8785"
        ),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("one canonicalizer failed: ours {a:?}, reference {b:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<AuditEvent>(data) {
        check(&event);
    }
    // Arbitrary JSON in every place an entry carries free JSON.
    if let Ok(value) = serde_json::from_slice::<Value>(data) {
        let mut request = HttpRequest::new("POST", "/x");
        request.body = Some(Body::Json(value.clone()));
        let mut builder = AuditEvent::builder("fuzz.canonical")
            .request(Request::Http(request))
            .change(audit_core::Change::new("x", value.clone(), Value::Null))
            .metadata("v", value.clone());
        if let Value::Object(map) = &value {
            for (k, v) in map {
                builder = builder.metadata(k.clone(), v.clone());
            }
        }
        check(&builder.build());
    }
});
