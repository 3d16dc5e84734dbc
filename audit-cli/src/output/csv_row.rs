//! CSV: one row per entry, nested fields flattened into stable columns.
//!
//! The columns are [`COLUMNS`], always all of them, in that order, whatever
//! the entries hold. Nested values that have no column of their own (every
//! resource, the query string, headers, bodies, changes, metadata) are JSON
//! text. Every cell that a spreadsheet would run as a formula (it starts with
//! `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, as
//! OWASP recommends against CSV injection: entry text often comes from clients.

use std::borrow::Cow;

use audit_core::json::rfc3339_micros;
use audit_core::{AuditEvent, Request};
use serde::Serialize;

/// The CSV header, in column order.
pub const COLUMNS: [&str; 38] = [
    "id",
    "time",
    "event",
    "action",
    "outcome",
    "reason",
    "actor_kind",
    "actor_id",
    "actor_name",
    "actor_email",
    "tenant",
    "resource_type",
    "resource_id",
    "resource_name",
    "description",
    "source_ip",
    "user_agent",
    "request_id",
    "method",
    "route",
    "path",
    "status",
    "grpc_status",
    "duration_us",
    "service_name",
    "service_version",
    "service_instance",
    "chain_id",
    "chain_seq",
    "chain_hash",
    "chain_prev",
    "resources",
    "query",
    "request_headers",
    "request_body",
    "response_body",
    "changes",
    "metadata",
];

/// The cells of an entry, in [`COLUMNS`] order, neutralised.
///
/// `resource_*` are the first resource's; `resources` has all of them as
/// JSON. For a gRPC request, `method` is the gRPC method, `route` is
/// `/<service>/<method>` and `request_body` is the message.
pub fn record(e: &AuditEvent) -> Vec<String> {
    let first = e.resource.first();
    let opt = |v: Option<&String>| v.cloned().unwrap_or_default();
    let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
    let (method, route, path, query, headers, body) = match &e.request {
        Some(Request::Http(r)) => (
            r.method.clone(),
            opt(r.route.as_ref()),
            r.path.clone(),
            opt(r.query.as_ref()),
            if r.headers.is_empty() { String::new() } else { json(&r.headers) },
            r.body.as_ref().map(json).unwrap_or_default(),
        ),
        Some(Request::Grpc(r)) => (
            r.method.clone(),
            format!("/{}/{}", r.service, r.method),
            String::new(),
            String::new(),
            String::new(),
            r.message.as_ref().map(json).unwrap_or_default(),
        ),
        // `Request` is non-exhaustive: a future kind still gets its JSON.
        Some(other) => {
            (String::new(), String::new(), String::new(), String::new(), String::new(), json(other))
        }
        None => Default::default(),
    };
    let response = e.response.as_ref();
    let chain = e.chain.as_ref();
    let cells = vec![
        e.id.to_string(),
        rfc3339_micros::format(e.time),
        e.event.clone(),
        e.action.to_string(),
        e.outcome.to_string(),
        opt(e.reason.as_ref()),
        e.actor.kind.to_string(),
        opt(e.actor.id.as_ref()),
        opt(e.actor.name.as_ref()),
        opt(e.actor.email.as_ref()),
        opt(e.tenant.as_ref()),
        first.map(|r| r.kind.clone()).unwrap_or_default(),
        opt(first.and_then(|r| r.id.as_ref())),
        opt(first.and_then(|r| r.name.as_ref())),
        e.description.clone(),
        e.source.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        opt(e.source.user_agent.as_ref()),
        opt(e.source.request_id.as_ref()),
        method,
        route,
        path,
        num(response.and_then(|r| r.status).map(u64::from)),
        response.and_then(|r| r.grpc_status).map(|n| n.to_string()).unwrap_or_default(),
        num(response.and_then(|r| r.duration_us)),
        e.service.name.clone(),
        opt(e.service.version.as_ref()),
        opt(e.service.instance.as_ref()),
        chain.map(|c| c.id.to_string()).unwrap_or_default(),
        chain.map(|c| c.seq.to_string()).unwrap_or_default(),
        chain.map(|c| c.hash.clone()).unwrap_or_default(),
        chain.map(|c| c.prev.clone()).unwrap_or_default(),
        if e.resource.is_empty() { String::new() } else { json(&e.resource) },
        query,
        headers,
        body,
        response.and_then(|r| r.body.as_ref()).map(json).unwrap_or_default(),
        if e.changes.is_empty() { String::new() } else { json(&e.changes) },
        if e.metadata.is_empty() { String::new() } else { json(&e.metadata) },
    ];
    debug_assert_eq!(cells.len(), COLUMNS.len());
    cells.into_iter().map(|c| neutralise(&c).into_owned()).collect()
}

fn json<T: Serialize + ?Sized>(value: &T) -> String {
    // Serializing the entry model to a string cannot fail (string keys, no
    // custom errors); an empty cell would be the fallback.
    serde_json::to_string(value).unwrap_or_default()
}

/// The cell, prefixed with `'` if a spreadsheet would read it as a formula:
/// when it starts with `=`, `+`, `-`, `@`, a tab or a carriage return.
///
/// ```
/// use audit_cli::output::csv_row::neutralise;
/// assert_eq!(neutralise("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
/// assert_eq!(neutralise("alice"), "alice");
/// ```
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Actor, Body, Change, HttpRequest, Resource, Response, Source};

    fn cell<'a>(row: &'a [String], column: &str) -> &'a str {
        let at = COLUMNS.iter().position(|c| *c == column).unwrap();
        &row[at]
    }

    #[test]
    fn formulas_are_neutralised() {
        for bad in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(bad), format!("'{bad}"));
        }
        for fine in ["", "1", "alice", " =x", "a=b", "'quoted"] {
            assert_eq!(neutralise(fine), fine);
        }
        let e = AuditEvent::builder("project.update")
            .description("=HYPERLINK(\"http://evil.example\",\"click\")")
            .actor(Actor::user("@admin"))
            .reason("-2+3")
            .build();
        let row = record(&e);
        assert_eq!(cell(&row, "description"), "'=HYPERLINK(\"http://evil.example\",\"click\")");
        assert_eq!(cell(&row, "actor_id"), "'@admin");
        assert_eq!(cell(&row, "reason"), "'-2+3");
        assert!(row.iter().all(|c| !c.starts_with(['=', '+', '-', '@', '\t', '\r'])));
    }

    #[test]
    fn nested_fields_are_flattened() {
        let e = AuditEvent::builder("project.update")
            .actor(Actor::user("u_1").email("alice@example.com").name("Alice"))
            .tenant("acme")
            .resource(Resource::new("project", "p_42").name("Apollo"))
            .resource(Resource::of_type("settings"))
            .source(Source::new().ip("10.0.0.1".parse().unwrap()).user_agent("curl/8"))
            .request(Request::Http({
                let mut r = HttpRequest::new("PATCH", "/projects/p_42");
                r.route = Some("/projects/{id}".into());
                r.body = Some(Body::Json(serde_json::json!({"name": "x"})));
                r
            }))
            .response({
                let mut r = Response::default();
                r.status = Some(200);
                r.duration_us = Some(1234);
                r
            })
            .change(Change::new("name", "a", "b"))
            .metadata("ticket", "T-1")
            .build();
        let row = record(&e);
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(cell(&row, "actor_kind"), "user");
        assert_eq!(cell(&row, "actor_email"), "alice@example.com");
        assert_eq!(cell(&row, "resource_type"), "project");
        assert_eq!(cell(&row, "resource_id"), "p_42");
        assert_eq!(cell(&row, "resource_name"), "Apollo");
        assert_eq!(cell(&row, "source_ip"), "10.0.0.1");
        assert_eq!(cell(&row, "method"), "PATCH");
        assert_eq!(cell(&row, "route"), "/projects/{id}");
        assert_eq!(cell(&row, "path"), "/projects/p_42");
        assert_eq!(cell(&row, "status"), "200");
        assert_eq!(cell(&row, "duration_us"), "1234");
        let json_cell =
            |column| serde_json::from_str::<serde_json::Value>(cell(&row, column)).unwrap();
        assert_eq!(json_cell("request_body"), serde_json::json!({"name": "x"}));
        assert_eq!(
            json_cell("changes"),
            serde_json::json!([{"path": "name", "before": "a", "after": "b"}])
        );
        assert_eq!(json_cell("metadata"), serde_json::json!({"ticket": "T-1"}));
        assert_eq!(
            json_cell("resources"),
            serde_json::json!([{"type": "project", "id": "p_42", "name": "Apollo"}, {"type": "settings"}])
        );
        assert_eq!(cell(&row, "chain_id"), "");
    }

    #[test]
    fn grpc_requests_have_a_route() {
        let e = AuditEvent::builder("project.update")
            .request(Request::Grpc(audit_core::GrpcRequest::new("p.v1.Projects", "Update")))
            .build();
        let row = record(&e);
        assert_eq!(cell(&row, "method"), "Update");
        assert_eq!(cell(&row, "route"), "/p.v1.Projects/Update");
    }

    #[test]
    fn the_first_columns_are_the_documented_ones() {
        let documented = "id,time,event,action,outcome,reason,actor_kind,actor_id,actor_name,\
            actor_email,tenant,resource_type,resource_id,resource_name,description,source_ip,\
            user_agent,request_id,method,route,path,status,grpc_status,duration_us,service_name,\
            service_version,service_instance,chain_id,chain_seq,chain_hash";
        assert_eq!(COLUMNS[..30].join(","), documented);
    }
}
