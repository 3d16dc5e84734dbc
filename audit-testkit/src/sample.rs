//! The sample entry of the benchmarks: what the SaaS example's
//! `PATCH /projects/{id}` produces, about 1 KB of JSON, with the secrets a
//! real request carries (a bearer token, a webhook secret, a token in the
//! query) for redaction to find.

use std::collections::BTreeMap;

use audit_core::{Actor, AuditEvent, Body, HttpRequest, Request, Resource, Response, Source};
use serde::Serialize;
use serde_json::{Value, json};

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

/// The bearer token of the request (redacted in the entry).
pub const BEARER_TOKEN: &str = "Bearer tok_5f2a9c1e7b4d";

/// The JSON body of the request, about 300 bytes, with a webhook secret in
/// `settings`.
pub fn request_body() -> Value {
    json!({
        "name": "Apollo guidance computer",
        "description": "Flight software for the command and lunar modules, revision 2",
        "visibility": "private",
        "settings": {
            "retention_days": 90,
            "labels": ["nasa", "mit", "apollo"],
            "webhook_url": "https://hooks.example.com/p/42",
            "webhook_secret": "whsec_5f2a9c1e7b"
        },
    })
}

/// The entry, built from the parts of the request as the layer and the
/// macro do (the "capture" step): not yet enriched, redacted or chained.
pub fn entry() -> AuditEvent {
    let mut headers = BTreeMap::new();
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    headers.insert("authorization".to_owned(), BEARER_TOKEN.to_owned());
    headers.insert("user-agent".to_owned(), "audit-bench/0.1 (hyper; +loopback)".to_owned());
    let mut request = HttpRequest::new("PATCH", "/projects/p_42");
    request.route = Some("/projects/{id}".to_owned());
    request.query = Some("expand=members&token=abc".to_owned());
    request.headers = headers;
    request.body = Some(Body::Json(request_body()));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_are_those_of_the_json_values() {
        let typed = entry().changes;
        let json = audit_core::diff::diff_serialize(
            &json!({"name": "Project 42", "visibility": "public", "version": 1}),
            &json!({"name": "Apollo guidance computer", "visibility": "private", "version": 2}),
        );
        assert_eq!(serde_json::to_value(&typed).unwrap(), serde_json::to_value(&json).unwrap());
        assert_eq!(typed.len(), 3);
    }

    #[test]
    fn the_entry_is_about_one_kilobyte_with_secrets_to_redact() {
        let json = serde_json::to_string(&entry()).unwrap();
        assert!((800..=1800).contains(&json.len()), "{} bytes: {json}", json.len());
        assert!(json.contains("whsec_5f2a9c1e7b"), "{json}");
        assert!(json.contains("tok_5f2a9c1e7b4d"), "{json}");
    }
}
