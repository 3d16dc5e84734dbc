//! The entry the sink and pipeline scenarios write: the sample entry of
//! `audit_testkit::sample` (what the HTTP scenario's `PATCH /projects/{id}`
//! produces, about 1 KB of JSON), as the auditor hands it to a sink.

use audit_core::{AuditEvent, ChainLink, ServiceInfo};
use serde_json::json;
use uuid::Uuid;

/// A finished entry, as a sink receives it: enriched, redacted and chained
/// (the chain fields are stand-ins of the right size), with a new id.
pub(crate) fn finished(template: &AuditEvent, seq: u64) -> AuditEvent {
    let mut e = template.clone();
    e.id = Uuid::now_v7();
    let now = time::OffsetDateTime::now_utc();
    e.time = now.replace_nanosecond(now.nanosecond() / 1000 * 1000).unwrap_or(now);
    if e.description.is_empty() {
        e.description = e.default_description();
    }
    e.service = ServiceInfo::new("bench");
    e.service.version = Some("0.1.0".into());
    e.service.instance = Some("bench-1".into());
    // `ChainLink` is non-exhaustive: built from its JSON form.
    e.chain = serde_json::from_value::<ChainLink>(json!({
        "id": Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
        "seq": seq,
        "prev": "a".repeat(64),
        "hash": "b".repeat(64),
    }))
    .ok();
    e
}

/// The template of [`finished`] entries: redacted as the auditor would.
pub(crate) fn template() -> AuditEvent {
    let mut e = audit_testkit::sample::entry();
    audit_core::Redactor::default().redact_event(&mut e);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_is_about_one_kilobyte_and_redacted() {
        let e = finished(&template(), 7);
        let json = serde_json::to_string(&e).unwrap();
        assert!((800..=1800).contains(&json.len()), "{} bytes: {json}", json.len());
        assert!(!json.contains("whsec_5f2a9c1e7b"), "{json}");
        assert!(!json.contains("tok_5f2a9c1e7b4d"), "{json}");
        assert_ne!(finished(&template(), 8).id, e.id);
    }
}
