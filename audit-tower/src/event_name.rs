//! Default event names, derived from the route or the gRPC method.
//!
//! The layer names an entry `<resource>.<verb>` when neither a policy rule nor
//! the handler (`#[audited(event = ..)]`, [`AuditScope::set_event`]) names it.
//!
//! [`AuditScope::set_event`]: audit_core::AuditScope::set_event

use std::borrow::Cow;

use http::Method;

/// The default event name of an HTTP request: `<resource>.<verb>`.
///
/// - The resource is the last static segment of the route template,
///   singularized (`projects` → `project`, `policies` → `policy`; words ending
///   in `ss`, `us` or `is` are kept), lowercased, with `-` and `.` turned into
///   `_`. Parameters (`{id}`, `:id`, `*rest`) are skipped. Without a route
///   template (`is_template = false`) segments that contain a digit are
///   taken for identifiers and skipped too (`/projects/p_42` → `project`). A
///   route with no static segment names the resource `root`.
/// - The verb comes from the method: `POST` → `create`, `PUT` and `PATCH` →
///   `update`, `DELETE` → `delete`, `GET` and `HEAD` → `read`, anything else →
///   the method in lowercase.
///
/// ```
/// use audit_tower::event_name_for_route;
/// use http::Method;
///
/// assert_eq!(event_name_for_route(&Method::POST, "/projects", true), "project.create");
/// assert_eq!(event_name_for_route(&Method::PATCH, "/projects/{id}", true), "project.update");
/// assert_eq!(event_name_for_route(&Method::DELETE, "/v1/api-keys/{id}", true), "api_key.delete");
/// assert_eq!(event_name_for_route(&Method::PUT, "/projects/p_42", false), "project.update");
/// ```
pub fn event_name_for_route(method: &Method, route: &str, is_template: bool) -> String {
    // Built in one buffer: this runs on every request the layer sees.
    let segment = route.split('/').rfind(|s| !s.is_empty() && !is_parameter(s, is_template));
    let verb = verb_for_method(method);
    let mut name = String::with_capacity(segment.map_or(4, str::len) + 1 + verb.len());
    match segment {
        Some(segment) => {
            name.extend(segment.chars().map(|c| match c {
                '-' | '.' | ' ' => '_',
                c => c.to_ascii_lowercase(),
            }));
            singularize_in_place(&mut name);
        }
        None => name.push_str("root"),
    }
    name.push('.');
    name.push_str(&verb);
    name
}

/// The default event name of a gRPC call: `<resource>.<verb>`.
///
/// The method name is split into words at case changes (`CreateAPIKey` →
/// `Create`, `API`, `Key`); the first word is the verb and the rest, joined
/// with `_` and singularized, the resource (`UpdateProject` →
/// `project.update`, `ListProjects` → `project.list`). A one-word method
/// (`Ping`) takes its resource from the service name, without a `Service`
/// suffix (`projects.v1.ProjectService` → `project.ping`).
///
/// ```
/// use audit_tower::event_name_for_grpc;
///
/// assert_eq!(event_name_for_grpc("projects.v1.Projects", "UpdateProject"), "project.update");
/// assert_eq!(event_name_for_grpc("keys.v1.Keys", "CreateAPIKey"), "api_key.create");
/// assert_eq!(event_name_for_grpc("projects.v1.ProjectService", "Ping"), "project.ping");
/// ```
pub fn event_name_for_grpc(service: &str, method: &str) -> String {
    let words = split_camel(method);
    match words.split_first() {
        Some((verb, rest)) if !rest.is_empty() => {
            let resource = rest.iter().map(|w| w.to_ascii_lowercase()).collect::<Vec<_>>();
            format!("{}.{}", singularize(&resource.join("_")), verb.to_ascii_lowercase())
        }
        _ => {
            let short = service.rsplit('.').next().unwrap_or(service);
            let short = short.strip_suffix("Service").filter(|s| !s.is_empty()).unwrap_or(short);
            let resource = split_camel(short)
                .iter()
                .map(|w| w.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join("_");
            let resource = if resource.is_empty() { "service".to_owned() } else { resource };
            let verb =
                if method.is_empty() { "call".to_owned() } else { method.to_ascii_lowercase() };
            format!("{}.{verb}", singularize(&resource))
        }
    }
}

fn verb_for_method(method: &Method) -> Cow<'static, str> {
    match *method {
        Method::POST => "create".into(),
        Method::PUT | Method::PATCH => "update".into(),
        Method::DELETE => "delete".into(),
        Method::GET | Method::HEAD => "read".into(),
        ref other => other.as_str().to_ascii_lowercase().into(),
    }
}

fn is_parameter(segment: &str, is_template: bool) -> bool {
    segment.starts_with('{')
        || segment.starts_with(':')
        || segment.starts_with('*')
        || (!is_template && segment.bytes().any(|b| b.is_ascii_digit()))
}

fn singularize(word: &str) -> String {
    let mut word = word.to_owned();
    singularize_in_place(&mut word);
    word
}

/// `policies` → `policy`, `projects` → `project`; words ending in `ss`, `us`
/// or `is` are kept.
fn singularize_in_place(word: &mut String) {
    if word.len() > 3 && word.ends_with("ies") {
        word.truncate(word.len() - 3);
        word.push('y');
    } else if word.len() >= 2
        && word.ends_with('s')
        && !(word.ends_with("ss") || word.ends_with("us") || word.ends_with("is"))
    {
        word.pop();
    }
}

/// Splits `CreateAPIKey` into `Create`, `API`, `Key`; underscores separate too.
fn split_camel(s: &str) -> Vec<&str> {
    let mut words = Vec::new();
    for part in s.split(['_', '-']).filter(|p| !p.is_empty()) {
        let chars: Vec<(usize, char)> = part.char_indices().collect();
        let mut start = 0;
        for i in 1..chars.len() {
            let (idx, c) = chars[i];
            let prev = chars[i - 1].1;
            let next_lower = chars.get(i + 1).is_some_and(|(_, n)| n.is_lowercase());
            let boundary = c.is_uppercase()
                && (prev.is_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_uppercase() && next_lower));
            if boundary {
                words.push(&part[start..idx]);
                start = idx;
            }
        }
        words.push(&part[start..]);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let cases = [
            (Method::POST, "/projects", true, "project.create"),
            (Method::PATCH, "/projects/{id}", true, "project.update"),
            (Method::PUT, "/projects/{id}", true, "project.update"),
            (Method::DELETE, "/projects/{id}", true, "project.delete"),
            (Method::GET, "/projects/{id}", true, "project.read"),
            (Method::POST, "/orgs/{org}/policies", true, "policy.create"),
            (Method::POST, "/orgs/{org}/api-keys/{id}/reroll", true, "reroll.create"),
            (Method::POST, "/status", true, "status.create"),
            (Method::POST, "/", true, "root.create"),
            (Method::POST, "/{id}", true, "root.create"),
            (Method::POST, "/files/{*rest}", true, "file.create"),
            (Method::POST, "/users/:id/emails", true, "email.create"),
            (Method::OPTIONS, "/projects", true, "project.options"),
            (Method::DELETE, "/v1/projects/0190a3c2-7d", false, "project.delete"),
            (Method::DELETE, "/v1/projects/{id}", true, "project.delete"),
        ];
        for (method, route, template, expected) in cases {
            assert_eq!(
                event_name_for_route(&method, route, template),
                expected,
                "{method} {route}"
            );
        }
    }

    #[test]
    fn grpc_methods() {
        let cases = [
            ("p.v1.Projects", "UpdateProject", "project.update"),
            ("p.v1.Projects", "ListProjects", "project.list"),
            ("p.v1.Projects", "GetProject", "project.get"),
            ("p.v1.Projects", "DeleteProjectMembers", "project_member.delete"),
            ("p.v1.Keys", "CreateAPIKey", "api_key.create"),
            ("p.v1.ProjectService", "Ping", "project.ping"),
            ("Service", "Ping", "service.ping"),
            ("p.v1.Policies", "Evaluate", "policy.evaluate"),
            ("p.v1.Things", "delete_thing", "thing.delete"),
        ];
        for (service, method, expected) in cases {
            assert_eq!(event_name_for_grpc(service, method), expected, "{service}/{method}");
        }
    }

    #[test]
    fn camel_case_splitting() {
        assert_eq!(split_camel("CreateAPIKey"), ["Create", "API", "Key"]);
        assert_eq!(split_camel("GetV2Thing"), ["Get", "V2", "Thing"]);
        assert_eq!(split_camel("update"), ["update"]);
        assert!(split_camel("").is_empty());
    }
}
