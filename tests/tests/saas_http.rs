//! The example SaaS API over HTTP, through a real server on loopback, a real
//! reqwest client and a real file sink: every mutating route leaves exactly
//! one entry with the right event, action, actor, tenant, resource, outcome,
//! status, route template and request id; reads leave none; denials and
//! failures carry their reason.

use audit_core::{Action, Actor, ActorKind, AuditEvent, Outcome, Resource};
use reqwest::Method;
use serde_json::{Value, json};
use tests::{Api, request_body, request_json, response_body, status};

const ALICE: Option<&str> = Some("alice-token");
const BOB: Option<&str> = Some("bob-token");

fn alice() -> Actor {
    Actor::user("u_alice").name("Alice").email("alice@example.com")
}

fn bob() -> Actor {
    Actor::user("u_bob").name("Bob").email("bob@example.com")
}

/// Checks the parts every entry of an authenticated HTTP call has.
#[track_caller]
fn assert_entry(
    e: &AuditEvent,
    event: &str,
    action: Action,
    actor: &Actor,
    resource: Resource,
    outcome: Outcome,
    http: (u16, &str, &str),
) {
    let (code, method, route) = http;
    assert_eq!(e.event, event, "{e:#?}");
    assert_eq!(e.action, action, "{e:#?}");
    assert_eq!(&e.actor, actor, "{e:#?}");
    assert_eq!(e.tenant.as_deref(), Some("acme"), "{e:#?}");
    assert_eq!(e.resource, vec![resource], "{e:#?}");
    assert_eq!(e.outcome, outcome, "{e:#?}");
    assert_eq!(status(e), Some(code), "{e:#?}");
    let request = request_json(e);
    assert_eq!(request["method"], method, "{e:#?}");
    assert_eq!(request["route"], route, "{e:#?}");
    assert!(e.source.request_id.is_some(), "{e:#?}");
    assert_eq!(e.service.name, "saas-api");
}

#[tokio::test]
async fn every_mutating_route_leaves_one_entry_and_reads_none() {
    let api = Api::start().await;
    let post = |path: &'static str, token, body| api.call(Method::POST, path, token, Some(body));

    let (s, project) = post("/projects", ALICE, json!({"name": "Apollo"})).await;
    assert_eq!(s, 201, "{project}");
    let id = project["id"].as_str().unwrap().to_owned();
    let path = format!("/projects/{id}");
    // reads: not audited
    assert_eq!(api.call(Method::GET, "/projects", ALICE, None).await.0, 200);
    assert_eq!(api.call(Method::GET, &path, BOB, None).await.0, 200);
    assert_eq!(api.call(Method::GET, "/settings", ALICE, None).await.0, 200);
    let patch = json!({"name": "Apollo 11", "visibility": "public"});
    assert_eq!(api.call(Method::PATCH, &path, ALICE, Some(patch)).await.0, 200);
    let (s, key) = post("/api-keys", ALICE, json!({"name": "terraform"})).await;
    assert_eq!(s, 201, "{key}");
    let key_id = key["id"].as_str().unwrap().to_owned();
    let (s, member) = post("/members", ALICE, json!({"email": "carol@example.com"})).await;
    assert_eq!(s, 201, "{member}");
    let member_id = member["id"].as_str().unwrap().to_owned();
    let role = json!({"role": "admin"});
    let role_path = format!("/members/{member_id}/role");
    assert_eq!(api.call(Method::PATCH, &role_path, ALICE, Some(role)).await.0, 200);
    let settings = json!({"display_name": "Acme Inc.", "require_mfa": true});
    assert_eq!(api.call(Method::PUT, "/settings", ALICE, Some(settings)).await.0, 200);
    let key_path = format!("/api-keys/{key_id}");
    assert_eq!(api.call(Method::DELETE, &key_path, ALICE, None).await.0, 200);
    assert_eq!(api.call(Method::DELETE, &path, BOB, None).await.0, 204);

    let (e, _dir) = api.finish().await;
    let events: Vec<&str> = e.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "project.create",
            "project.update",
            "api_key.create",
            "member.invite",
            "member.role_change",
            "settings.update",
            "api_key.revoke",
            "project.delete",
        ],
        "one entry per mutation, none for the reads"
    );
    use Action::{Create, Delete, Update};
    let ok = Outcome::Success;
    let project = Resource::new("project", &id);
    assert_entry(
        &e[0],
        "project.create",
        Create,
        &alice(),
        project.clone(),
        ok,
        (201, "POST", "/projects"),
    );
    assert_eq!(request_body(&e[0])["name"], "Apollo");
    assert_eq!(response_body(&e[0])["id"], id.as_str());
    assert_eq!(e[0].description, format!("alice@example.com created project {id}"));

    assert_entry(
        &e[1],
        "project.update",
        Update,
        &alice(),
        project.clone(),
        ok,
        (200, "PATCH", "/projects/{id}"),
    );
    assert_eq!(request_json(&e[1])["path"], path.as_str());
    let changes: Vec<(&str, &Value, &Value)> =
        e[1].changes.iter().map(|c| (c.path.as_str(), &c.before, &c.after)).collect();
    assert_eq!(
        changes,
        [
            ("name", &json!("Apollo"), &json!("Apollo 11")),
            ("visibility", &json!("private"), &json!("public")),
        ],
        "field-level changes"
    );

    let key = Resource::new("api_key", &key_id);
    assert_entry(
        &e[2],
        "api_key.create",
        Create,
        &alice(),
        key.clone(),
        ok,
        (201, "POST", "/api-keys"),
    );
    assert_eq!(response_body(&e[2])["secret_key"], "[REDACTED]");
    assert_eq!(response_body(&e[2])["name"], "terraform");

    let member = Resource::new("member", &member_id);
    assert_entry(
        &e[3],
        "member.invite",
        Create,
        &alice(),
        member.clone(),
        ok,
        (201, "POST", "/members"),
    );
    assert_entry(
        &e[4],
        "member.role_change",
        Update,
        &alice(),
        member,
        ok,
        (200, "PATCH", "/members/{id}/role"),
    );
    assert!(e[4].changes.iter().any(|c| c.path == "role" && c.after == "admin"), "{:#?}", e[4]);
    let settings = Resource::new("settings", "acme");
    assert_entry(
        &e[5],
        "settings.update",
        Update,
        &alice(),
        settings,
        ok,
        (200, "PUT", "/settings"),
    );
    assert_entry(
        &e[6],
        "api_key.revoke",
        Delete,
        &alice(),
        key,
        ok,
        (200, "DELETE", "/api-keys/{id}"),
    );
    assert_entry(
        &e[7],
        "project.delete",
        Delete,
        &bob(),
        project,
        ok,
        (204, "DELETE", "/projects/{id}"),
    );
    assert_eq!(e[7].metadata["name"], "Apollo 11");
    // every entry has the request and response bodies the policy asks for
    assert!(e.iter().all(|e| e.response.as_ref().is_some_and(|r| r.duration_us.is_some())));
}

#[tokio::test]
async fn the_request_id_is_echoed_and_recorded() {
    let api = Api::start().await;
    let response = api
        .request(Method::POST, "/projects", ALICE)
        .header("x-request-id", "req-7f3a")
        .json(&json!({"name": "Apollo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["x-request-id"], "req-7f3a");
    // without one, the layer makes one up and echoes it
    let response = api
        .request(Method::POST, "/projects", ALICE)
        .json(&json!({"name": "Gemini"}))
        .send()
        .await
        .unwrap();
    let generated = response.headers()["x-request-id"].to_str().unwrap().to_owned();

    let (e, _dir) = api.finish().await;
    assert_eq!(e[0].source.request_id.as_deref(), Some("req-7f3a"));
    assert_eq!(e[1].source.request_id.as_deref(), Some(generated.as_str()));
}

#[tokio::test]
async fn bobs_role_change_is_denied_with_the_reason() {
    let api = Api::start().await;
    let (s, body) =
        api.call(Method::PATCH, "/members/m_2/role", BOB, Some(json!({"role": "admin"}))).await;
    assert_eq!(s, 403);
    assert_eq!(body["error"]["code"], "forbidden");

    let (e, _dir) = api.finish().await;
    assert_eq!(e.len(), 1);
    let member = Resource::new("member", "m_2");
    let http = (403, "PATCH", "/members/{id}/role");
    assert_entry(
        &e[0],
        "member.role_change",
        Action::Update,
        &bob(),
        member,
        Outcome::Denied,
        http,
    );
    assert_eq!(e[0].reason.as_deref(), Some("only admins can change member roles"));
    assert!(e[0].changes.is_empty(), "nothing changed");
    assert_eq!(e[0].description, "bob@example.com updated member m_2 (denied)");
}

#[tokio::test]
async fn a_call_without_credentials_is_denied_and_anonymous() {
    let api = Api::start().await;
    assert_eq!(
        api.call(Method::POST, "/projects", Some("a-guess"), Some(json!({"name": "x"}))).await.0,
        401
    );
    assert_eq!(api.call(Method::DELETE, "/projects/p_1", None, None).await.0, 401);
    // a read without credentials is refused and audited too
    assert_eq!(api.call(Method::GET, "/projects", None, None).await.0, 401);

    let (e, _dir) = api.finish().await;
    let seen: Vec<(&str, Outcome, Option<&str>, Option<u16>)> =
        e.iter().map(|e| (e.event.as_str(), e.outcome, e.reason.as_deref(), status(e))).collect();
    assert_eq!(
        seen,
        [
            ("project.create", Outcome::Denied, Some("unknown bearer token"), Some(401)),
            ("project.delete", Outcome::Denied, Some("no credentials"), Some(401)),
            ("project.read", Outcome::Denied, Some("no credentials"), Some(401)),
        ]
    );
    for e in &e {
        assert_eq!(e.actor.kind, ActorKind::Anonymous, "{e:#?}");
        assert_eq!(e.actor.to_string(), "anonymous");
        assert_eq!(e.tenant, None);
    }
    assert_eq!(request_json(&e[1])["route"], "/projects/{id}");
    assert_eq!(request_json(&e[1])["path"], "/projects/p_1");
}

#[tokio::test]
async fn failures_carry_their_reason() {
    let api = Api::start().await;
    assert_eq!(
        api.call(Method::POST, "/projects", ALICE, Some(json!({"name": "Apollo"}))).await.0,
        201
    );
    let ci = api
        .request(Method::POST, "/projects", None)
        .header("x-api-key", "ci-token")
        .json(&json!({"name": "apollo"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ci.status(), 409);
    let (s, body) =
        api.call(Method::PATCH, "/projects/p_404", ALICE, Some(json!({"name": "x"}))).await;
    assert_eq!((s, &body["error"]["message"]), (404, &json!("project p_404 not found")));
    let (s, body) = api.call(Method::POST, "/projects", BOB, Some(json!({"name": " "}))).await;
    assert_eq!((s, &body["error"]["field"]), (422, &json!("name")));
    assert_eq!(api.call(Method::DELETE, "/api-keys/key_404", ALICE, None).await.0, 404);

    let (e, _dir) = api.finish().await;
    let seen: Vec<(&str, Outcome, Option<u16>, &str)> = e
        .iter()
        .map(|e| (e.event.as_str(), e.outcome, status(e), e.reason.as_deref().unwrap_or("")))
        .collect();
    assert_eq!(
        seen,
        [
            ("project.create", Outcome::Success, Some(201), ""),
            (
                "project.create",
                Outcome::Failure,
                Some(409),
                "a project named `apollo` already exists"
            ),
            ("project.update", Outcome::Failure, Some(404), "project p_404 not found"),
            ("project.create", Outcome::Failure, Some(422), "name: must not be empty"),
            ("api_key.revoke", Outcome::Failure, Some(404), "api_key key_404 not found"),
        ]
    );
    // the API key's actor
    assert_eq!(e[1].actor.to_string(), "api-key:ci-deploy");
    assert_eq!(e[1].actor.kind, ActorKind::ApiKey);
    assert_eq!(e[2].resource, vec![Resource::new("project", "p_404")]);
    assert_eq!(response_body(&e[2])["error"]["code"], "not_found");
}
