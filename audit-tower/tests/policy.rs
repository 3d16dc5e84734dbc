//! The policy: ordered rules matching method, route and path, each with a
//! level and an event name; what each level records.

mod common;

use audit_core::{Action, Body};
use audit_tower::{AuditLayer, Level, Policy, Rule};
use axum::Router;
use axum::routing::{get, post};
use common::{Trail, client, entry_for, http, serve_axum, within};
use http::Method;
use serde_json::json;

async fn echo(body: String) -> ([(http::HeaderName, &'static str); 1], String) {
    (
        [(http::header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"echo":{body},"token":"t0p"}}"#),
    )
}

#[tokio::test]
async fn each_level_records_what_it_should() {
    let trail = Trail::new();
    let policy = Policy::new()
        .rule(Rule::new().route("/none").level(Level::None))
        .rule(Rule::new().route("/metadata").level(Level::Metadata))
        .rule(Rule::new().route("/request").level(Level::Request))
        .rule(Rule::new().route("/both").level(Level::RequestResponse));
    let app = Router::new()
        .route("/none", post(echo))
        .route("/metadata", post(echo))
        .route("/request", post(echo))
        .route("/both", post(echo))
        .layer(AuditLayer::new(trail.auditor.clone()).policy(policy));
    let addr = serve_axum(app).await;
    let c = client();
    for path in ["/none", "/metadata", "/request", "/both"] {
        let res = within(
            c.post(format!("http://{addr}{path}"))
                .header("content-type", "application/json")
                .body(r#"{"name":"apollo","password":"hunter2"}"#)
                .send(),
        )
        .await
        .unwrap();
        // The client gets the whole response, captured or not.
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["echo"]["name"], "apollo");
    }
    let entries = trail.finish().await;
    assert_eq!(entries.len(), 3, "{entries:#?}");

    let metadata = entry_for(&entries, "/metadata");
    assert_eq!(http(metadata).body, None);
    assert_eq!(metadata.response.as_ref().unwrap().body, None);

    let request = entry_for(&entries, "/request");
    assert_eq!(
        http(request).body,
        Some(Body::Json(json!({"name": "apollo", "password": "[REDACTED]"}))),
        "request bodies are redacted"
    );
    assert_eq!(request.response.as_ref().unwrap().body, None);

    let both = entry_for(&entries, "/both");
    assert_eq!(
        http(both).body,
        Some(Body::Json(json!({"name": "apollo", "password": "[REDACTED]"})))
    );
    assert_eq!(
        both.response.as_ref().unwrap().body,
        Some(Body::Json(
            json!({"echo": {"name": "apollo", "password": "[REDACTED]"}, "token": "[REDACTED]"})
        ))
    );
    assert_eq!(both.response.as_ref().unwrap().status, Some(200));
}

#[tokio::test]
async fn first_match_wins_with_methods_routes_paths_and_event_names() {
    let trail = Trail::new();
    let policy = Policy::new()
        .rule(Rule::new().path("/projects/internal-*").level(Level::None))
        .rule(Rule::new().method(Method::POST).route("/projects").event("project.create"))
        .rule(
            Rule::new()
                .method(Method::POST)
                .route("/projects/*/transfer")
                .event("project.transfer"),
        )
        .rule(Rule::new().method(Method::GET).route("/projects/**").event("project.view"))
        .rule(Rule::new().methods([Method::POST, Method::DELETE]));
    let app = Router::new()
        .route("/projects", post(echo))
        .route("/projects/{id}", get(echo).delete(echo))
        .route("/projects/{id}/transfer", post(echo))
        .route("/projects/{id}/members/{member}", get(echo))
        .layer(AuditLayer::new(trail.auditor.clone()).policy(policy));
    let addr = serve_axum(app).await;
    let c = client();
    let send = |m: Method, p: &str| c.request(m, format!("http://{addr}{p}")).body("null").send();
    within(send(Method::POST, "/projects")).await.unwrap();
    within(send(Method::POST, "/projects/p_1/transfer")).await.unwrap();
    within(send(Method::GET, "/projects/p_1/members/m_2")).await.unwrap();
    within(send(Method::DELETE, "/projects/p_1")).await.unwrap();
    within(send(Method::DELETE, "/projects/internal-cache")).await.unwrap();

    let entries = trail.finish().await;
    let names: Vec<(&str, &str)> =
        entries.iter().map(|e| (http(e).path.as_str(), e.event.as_str())).collect();
    assert_eq!(entries.len(), 4, "{names:?}");
    assert_eq!(entry_for(&entries, "/projects").event, "project.create");
    assert_eq!(entry_for(&entries, "/projects/p_1/transfer").event, "project.transfer");
    let view = entry_for(&entries, "/projects/p_1/members/m_2");
    assert_eq!((view.event.as_str(), view.action), ("project.view", Action::Other));
    // No rule event: derived from the route template.
    assert_eq!(entry_for(&entries, "/projects/p_1").event, "project.delete");
}

#[tokio::test]
async fn default_policy_derives_event_names_and_skips_reads() {
    let trail = Trail::new();
    let app = Router::new()
        .route("/api-keys", post(echo).get(echo))
        .route("/orgs/{org}/policies/{id}", axum::routing::put(echo).head(echo))
        .layer(AuditLayer::new(trail.auditor.clone()));
    let addr = serve_axum(app).await;
    let c = client();
    within(c.post(format!("http://{addr}/api-keys")).body("1").send()).await.unwrap();
    within(c.get(format!("http://{addr}/api-keys")).send()).await.unwrap();
    within(c.put(format!("http://{addr}/orgs/o/policies/p")).body("1").send()).await.unwrap();
    within(c.head(format!("http://{addr}/orgs/o/policies/p")).send()).await.unwrap();
    let entries = trail.finish().await;
    let mut names: Vec<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    names.sort();
    assert_eq!(names, ["api_key.create", "policy.update"]);
}
