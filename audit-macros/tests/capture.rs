//! What is captured and what is not: `skip`, `skip_all`, `redact`,
//! `capture(..)`, `Sensitive<T>`, the auditor's redactor, and changes
//! recorded from the body.

mod common;

use audit_core::{AuditScope, Auditor, Change, Sensitive, audited};
use common::{auditor, recorded, request_body, response_body};
use serde::Serialize;
use serde_json::json;

#[derive(Serialize)]
struct Card {
    number: String,
    holder: String,
}

#[derive(Serialize)]
struct Signup {
    email: String,
    password: String,
    cards: Vec<Card>,
    api_secret: Sensitive<String>,
    nickname: String,
}

fn signup() -> Signup {
    Signup {
        email: "a@example.com".into(),
        password: "hunter2".into(),
        cards: vec![
            Card { number: "4242".into(), holder: "A".into() },
            Card { number: "5555".into(), holder: "B".into() },
        ],
        api_secret: Sensitive::new("sk_live".into()),
        nickname: "ace".into(),
    }
}

#[audited(event = "user.signup", auditor = auditor, redact(form.cards.number, form.nickname), skip(db))]
async fn register(auditor: &Auditor, form: Signup, db: &str, invite: Option<String>) -> String {
    let _ = db;
    format!("{}-{}", form.email, invite.unwrap_or_default())
}

#[tokio::test]
async fn redaction_and_skip() {
    let (auditor, sink) = auditor();
    register(&auditor, signup(), "postgres://secret@db", Some("inv".into())).await;
    let e = &recorded(&auditor, &sink).await[0];
    assert_eq!(
        request_body(e),
        json!({
            "form": {
                "email": "a@example.com",
                "password": "[REDACTED]",                      // the auditor's redactor
                "cards": [
                    {"number": "[REDACTED]", "holder": "A"},  // redact(..) into arrays
                    {"number": "[REDACTED]", "holder": "B"},
                ],
                "api_secret": "[REDACTED]",                    // Sensitive<T>
                "nickname": "[REDACTED]",
            },
            "invite": "inv",
        })
    );
}

#[audited(event = "user.signup", auditor = auditor, skip_all, capture(response = false))]
async fn quiet(auditor: &Auditor, form: Signup) -> String {
    form.email
}

#[audited(event = "user.signup", auditor = auditor, capture(request = false), redact(form))]
async fn only_response(auditor: &Auditor, form: Signup) -> String {
    form.email
}

#[audited(event = "user.signup", auditor = auditor, redact(form))]
async fn redacted_whole(auditor: &Auditor, form: Signup) -> usize {
    form.cards.len()
}

#[tokio::test]
async fn capture_can_be_turned_off() {
    let (auditor, sink) = auditor();
    quiet(&auditor, signup()).await;
    only_response(&auditor, signup()).await;
    redacted_whole(&auditor, signup()).await;
    let e = recorded(&auditor, &sink).await;
    assert!(e[0].request.is_none() && e[0].response.as_ref().unwrap().body.is_none());
    assert!(e[1].request.is_none());
    assert_eq!(response_body(&e[1]), json!("a@example.com"));
    assert_eq!(request_body(&e[2]), json!({"form": "[REDACTED]"}));
}

#[derive(Clone, Serialize)]
struct Project {
    name: String,
    archived: bool,
    owner_token: String,
}

#[audited(event = "project.archive", auditor = auditor, resource_id = "p_42", skip(project))]
fn archive(auditor: &Auditor, project: &mut Project) {
    let before = project.clone();
    project.archived = true;
    project.owner_token = "t_2".into();
    AuditScope::current().expect("inside an audited function").record_changes(&before, &*project);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_recorded_from_the_body_are_redacted() {
    let (auditor, sink) = auditor();
    let mut p = Project { name: "Apollo".into(), archived: false, owner_token: "t_1".into() };
    archive(&auditor, &mut p);
    let e = &recorded(&auditor, &sink).await[0];
    assert_eq!(
        e.changes,
        vec![
            Change::new("archived", false, true),
            Change::new("owner_token", "[REDACTED]", "[REDACTED]"),
        ]
    );
    assert!(e.request.is_none());
}
