//! Quickstart: records a few entries through the audit pipeline and prints
//! them as JSON lines.
//!
//! ```text
//! cargo run -p examples --example quickstart
//! ```

use std::time::Duration;

use audit_core::testing::MemorySink;
use audit_core::{Actor, AuditEvent, Auditor, Outcome, Resource, SigningKey};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .service("quickstart", env!("CARGO_PKG_VERSION"))
        .sink(sink.clone())
        .signing_key(SigningKey::generate_ed25519()?)
        .build()?;

    let alice = Actor::user("u_1").email("alice@example.com").name("Alice");
    let bob = Actor::user("u_2").email("bob@example.com");
    let ci = Actor::api_key("k_9").name("ci-deploy");

    auditor
        .record(
            AuditEvent::builder("project.create")
                .actor(alice.clone())
                .tenant("acme")
                .resource(Resource::new("project", "p_42").name("Apollo")),
        )
        .await?;
    auditor
        .record(
            AuditEvent::builder("project.update")
                .actor(alice.clone())
                .tenant("acme")
                .resource(Resource::new("project", "p_42"))
                .changes_between(
                    &json!({"name": "Apollo", "webhook_secret": "whsec_old"}),
                    &json!({"name": "Apollo 11", "webhook_secret": "whsec_new"}),
                ),
        )
        .await?;
    auditor
        .record(
            AuditEvent::builder("member.role_change")
                .actor(bob)
                .tenant("acme")
                .resource(Resource::new("member", "m_7"))
                .outcome(Outcome::Denied)
                .reason("members cannot change roles"),
        )
        .await?;
    auditor
        .record(
            AuditEvent::builder("api_key.create")
                .actor(ci)
                .tenant("acme")
                .resource(Resource::new("api_key", "k_10"))
                .metadata("response", json!({"id": "k_10", "secret_key": "sk_live_do_not_log"})),
        )
        .await?;
    auditor.shutdown(Duration::from_secs(5)).await?;

    for entry in sink.entries() {
        println!("{}", serde_json::to_string(&entry)?);
    }
    Ok(())
}
