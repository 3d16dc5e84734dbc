//! Default event names, derived from the route or the gRPC method.
//!
//! The layer names an entry `<resource>.<verb>` when neither a policy rule nor
//! the handler (`#[audited(event = ..)]`, [`AuditScope::set_event`]) names it.
//!
//! [`AuditScope::set_event`]: audit_core::AuditScope::set_event

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
    let resource = route
        .split('/')
        .rfind(|s| !s.is_empty() && !is_parameter(s, is_template))
        .map(resource_name)
        .unwrap_or_else(|| "root".to_owned());
    format!("{resource}.{}", verb_for_method(method))
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

fn verb_for_method(method: &Method) -> String {
    match *method {
        Method::POST => "create".to_owned(),
        Method::PUT | Method::PATCH => "update".to_owned(),
        Method::DELETE => "delete".to_owned(),
        Method::GET | Method::HEAD => "read".to_owned(),
        ref other => other.as_str().to_ascii_lowercase(),
    }
}

fn is_parameter(segment: &str, is_template: bool) -> bool {
    segment.starts_with('{')
        || segment.starts_with(':')
        || segment.starts_with('*')
        || (!is_template && segment.bytes().any(|b| b.is_ascii_digit()))
}

fn resource_name(segment: &str) -> String {
    let name: String = segment
        .chars()
        .map(|c| match c {
            '-' | '.' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    singularize(&name)
}

fn singularize(word: &str) -> String {
    if let Some(stem) = word.strip_suffix("ies").filter(|s| !s.is_empty()) {
        return format!("{stem}y");
    }
    if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") || word.len() < 2 {
        return word.to_owned();
    }
    word.strip_suffix('s').unwrap_or(word).to_owned()
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
