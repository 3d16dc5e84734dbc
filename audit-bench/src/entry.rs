//! The entry the sink and pipeline scenarios write: what the HTTP scenario's
//! `PATCH /projects/{id}` produces, about 1 KB of JSON.

use std::collections::BTreeMap;

use audit_core::{
    Actor, AuditEvent, Body, ChainLink, HttpRequest, Request, Resource, Response, ServiceInfo,
    Source,
};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

/// The project's fields before and after the update: the handler's values,
/// which it has whether or not it is audited (the SaaS API's handler passes
/// its `before` and `after` to `scope.record_changes`); capture only diffs
/// them.
#[derive(Debug, Serialize)]
struct ProjectFields {
    name: &'static str,
    version: u32,
    visibility: &'static str,
}

const BEFORE: ProjectFields =
    ProjectFields { name: "Project 42", version: 1, visibility: "public" };
const AFTER: ProjectFields =
    ProjectFields { name: "Apollo guidance computer", version: 2, visibility: "private" };

/// Builds the entry from the parts of a request, as the layer and the
/// macro do (the "capture" step). `notes` pads the request body.
pub(crate) fn capture(notes: &str) -> AuditEvent {
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    headers.insert("authorization".to_owned(), "Bearer tok_5f2a9c1e7b4d".to_owned());
    headers.insert("user-agent".to_owned(), "audit-bench/0.1 (hyper; +loopback)".to_owned());
    let mut request = HttpRequest::new("PATCH", "/projects/p_42");
    request.route = Some("/projects/{id}".to_owned());
    request.query = Some("expand=members&token=abc".to_owned());
    request.headers = headers;
    request.body = Some(Body::Json(json!({
        "name": "Apollo guidance computer",
        "description": "Flight software for the command and lunar modules, revision 2",
        "visibility": "private",
        "settings": {
            "retention_days": 90,
            "labels": ["nasa", "mit", "apollo"],
            "webhook_url": "https://hooks.example.com/p/42",
            "webhook_secret": "whsec_5f2a9c1e7b"
        },
        "notes": notes,
    })));
    let mut response = Response::default();
    response.status = Some(200);
    response.duration_us = Some(412);
    AuditEvent::builder("project.update")
        .actor(Actor::user("u_1").email("alice@example.com"))
        .tenant("acme")
        .resource(Resource::new("project", "p_42"))
        .source(
            Source::new()
                .ip("127.0.0.1".parse().expect("ip"))
                .user_agent("audit-bench/0.1 (hyper; +loopback)")
                .request_id("01890f5e-8c6b-7cc3-9a3e-2f4f1a7d9b10"),
        )
        .request(Request::Http(request))
        .response(response)
        .changes_between(&BEFORE, &AFTER)
        .build()
}

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
    let mut e = capture("");
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

    #[test]
    fn the_changes_are_those_of_the_json_values() {
        let typed = capture("").changes;
        let json = audit_core::diff::diff_serialize(
            &json!({"name": "Project 42", "visibility": "public", "version": 1}),
            &json!({"name": "Apollo guidance computer", "visibility": "private", "version": 2}),
        );
        assert_eq!(serde_json::to_value(&typed).unwrap(), serde_json::to_value(&json).unwrap());
        assert_eq!(typed.len(), 3);
    }
}
