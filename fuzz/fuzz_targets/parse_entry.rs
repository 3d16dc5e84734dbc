//! The store's line format: any line either fails to parse as an entry or
//! parses into one that can be hashed, verified and written back.
#![no_main]

use audit_core::AuditEvent;
use audit_core::integrity::{Verifier, VerifyOptions, canonical_json, compute_hash};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<AuditEvent>(data) else { return };
    let _ = canonical_json(&event);
    if let Some(link) = &event.chain {
        let _ = compute_hash(&link.prev, &event);
    }
    let mut verifier = Verifier::new(VerifyOptions::new());
    if verifier.push(&event).is_ok() {
        let _ = verifier.finish();
    }
    let _ = event.default_description();
    // What a sink writes, the store reads back.
    let line = serde_json::to_string(&event).expect("an entry serializes");
    assert!(!line.contains('\n'), "one entry, one line");
    let back: AuditEvent = serde_json::from_str(&line).expect("a written entry reads back");
    assert_eq!(serde_json::to_string(&back).unwrap(), line);
});
