//! Description templates (`description = "..."`).

use serde_json::Value;

use crate::model::{AuditEvent, Resource};

// ---------------------------------------------------------------------------
// Description templates.

/// Renders a description template against an entry: `{actor}`,
/// `{actor.id|name|email|kind}`, `{resource}`, `{resource.type|id|name}`,
/// `{tenant}`, `{event}`, `{action}`, `{metadata.KEY}`; `{{` and `}}` are
/// braces. Unknown values render as nothing (the macro checks the names at
/// compile time).
pub fn render_description(template: &str, event: &AuditEvent) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let (true, Some(end)) = (tail.starts_with('{'), tail.find('}')) {
            out.push_str(&placeholder(&tail[1..end], event));
            rest = &tail[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

pub(super) fn placeholder(name: &str, e: &AuditEvent) -> String {
    let resource = e.primary_resource();
    let opt = |v: Option<&String>| v.cloned().unwrap_or_default();
    match name.trim() {
        "actor" => e.actor.to_string(),
        "actor.id" => opt(e.actor.id.as_ref()),
        "actor.name" => opt(e.actor.name.as_ref()),
        "actor.email" => opt(e.actor.email.as_ref()),
        "actor.kind" => e.actor.kind.to_string(),
        "resource" => resource.map(Resource::to_string).unwrap_or_default(),
        "resource.type" => resource.map(|r| r.kind.clone()).unwrap_or_default(),
        "resource.id" => opt(resource.and_then(|r| r.id.as_ref())),
        "resource.name" => opt(resource.and_then(|r| r.name.as_ref())),
        "tenant" => opt(e.tenant.as_ref()),
        "event" => e.event.clone(),
        "action" => e.action.as_str().to_owned(),
        other => match other.strip_prefix("metadata.").and_then(|k| e.metadata.get(k)) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        },
    }
}
