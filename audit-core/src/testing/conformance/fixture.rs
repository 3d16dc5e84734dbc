//! The entries the suite writes.

use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::{
    Action, Actor, AuditEvent, Body, ChainLink, Change, HttpRequest, Outcome, Request, Resource,
    Response, ServiceInfo, Source,
};

/// How many entries [`fixture`] returns.
pub const FIXTURE_LEN: usize = 60;

/// How many entries [`run`] hands to `load` at a time.
pub(super) const LOAD_BATCH: usize = 16;

/// The time of the first fixture entry; the others follow over ten days.
pub(super) const BASE: OffsetDateTime = datetime!(2025-01-06 00:00:00 UTC);

/// The entries the suite writes, in write order.
///
/// Deterministic: the same entries (ids included) on every call. Sixty
/// entries over ten days from 2025-01-06, each with a distinct microsecond
/// timestamp; two tenants (`acme`, `globex`) and some system entries without
/// one; actors `alice@example.com` (user `u_alice`, name `Alice`),
/// `bob@example.com` (user `u_bob`), `api-key:ci-deploy` (key `k_ci`),
/// `system:billing-cron` and `anonymous`; events `project.create`,
/// `project.update`, `project.delete`, `api_key.create`, `api_key.revoke`,
/// `api-key.legacy_import`, `member.invite`, `authorization.denied` and
/// `authorization.mfa_required`; every outcome; entries with one, two or no
/// resources. Entries 20 to 39 carry chain links (shaped like real ones, not
/// hashed).
///
/// Write order is not time order: every 13th entry (from the 6th) is
/// backdated before its predecessor, as an entry recorded with an explicit
/// earlier time would be. Ids are UUIDv7 in write order, so sorting by id
/// alone or scanning by time gives the wrong answer.
pub fn fixture() -> Vec<AuditEvent> {
    (0..FIXTURE_LEN).map(fixture_entry).collect()
}

pub(super) fn alice() -> Actor {
    Actor::user("u_alice").email("alice@example.com").name("Alice")
}

pub(super) fn bob() -> Actor {
    Actor::user("u_bob").email("bob@example.com")
}

pub(super) fn ci_deploy() -> Actor {
    Actor::api_key("k_ci").name("ci-deploy")
}

pub(super) fn billing_cron() -> Actor {
    Actor::system("billing-cron")
}

pub(super) const PROJECTS: [(&str, &str); 5] = [
    ("p_0", "Apollo"),
    ("p_1", "Gemini"),
    ("p_2", "Mercury"),
    ("p_3", "Skylab"),
    ("p_4", "Artemis"),
];

pub(super) fn project(n: usize) -> Resource {
    let (id, name) = PROJECTS[n % PROJECTS.len()];
    Resource::new("project", id).name(name)
}

pub(super) fn fixture_time(i: usize) -> OffsetDateTime {
    let i = i as i64;
    let mut t = BASE
        + time::Duration::hours(4 * i)
        + time::Duration::seconds((i * 7_919) % 3_600)
        + time::Duration::microseconds((i * 104_729 + 17) % 1_000_000);
    if i % 13 == 5 {
        t -= time::Duration::hours(6);
    }
    t
}

pub(super) fn fixture_id(i: usize) -> Uuid {
    let written = BASE + time::Duration::hours(4 * i as i64 + 1);
    let millis = u64::try_from(written.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut random = [0u8; 10];
    for (k, b) in random.iter_mut().enumerate() {
        *b = ((i * 31 + k * 17 + 7) % 251) as u8;
    }
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

pub(super) fn fixture_entry(i: usize) -> AuditEvent {
    let tenant = if i % 3 == 2 { "globex" } else { "acme" };
    let builder = match i % 10 {
        0 => AuditEvent::builder("project.create").actor(alice()).resource(project(i / 10)),
        1 => AuditEvent::builder("project.update")
            .actor(bob())
            .resource(project(i))
            .change(Change::new("name", "old", "new"))
            .request(Request::Http(HttpRequest::new("PATCH", format!("/projects/p_{}", i % 5))))
            .response(Response {
                status: Some(200),
                grpc_status: None,
                body: Some(Body::Json(json!({"ok": true}))),
                duration_us: Some(1_000 + i as u64),
            }),
        2 => AuditEvent::builder("api_key.create")
            .actor(ci_deploy())
            .resource(Resource::new("api_key", format!("k_{i}")).name(format!("key {i}"))),
        3 => AuditEvent::builder("project.update")
            .actor(alice())
            .resource(project(3))
            .outcome(Outcome::Failure)
            .reason("Quota exceeded")
            .description("alice@example.com could not update project p_3: plan limit reached"),
        4 => AuditEvent::builder("authorization.denied")
            .resource(project(i))
            .outcome(Outcome::Denied)
            .reason("missing bearer token"),
        5 => AuditEvent::builder("member.invite")
            .actor(bob())
            .resource(project(1))
            .resource(Resource::new("user", "u_carol").name("Carol")),
        6 => AuditEvent::builder("project.delete")
            .actor(ci_deploy())
            .resource(project(i))
            .outcome(if i % 20 == 6 { Outcome::Cancelled } else { Outcome::Success }),
        7 => AuditEvent::builder("api_key.revoke")
            .actor(billing_cron())
            .resource(Resource::new("api_key", "k_old")),
        8 => AuditEvent::builder("authorization.mfa_required")
            .actor(bob())
            .resource(Resource::of_type("settings"))
            .outcome(Outcome::Denied)
            .reason("MFA required for this action"),
        _ => AuditEvent::builder("api-key.legacy_import")
            .actor(alice())
            .action(Action::Create)
            .metadata("source", "legacy")
            .metadata("count", 3),
    };
    let builder = if i % 10 == 7 { builder } else { builder.tenant(tenant) };
    let ip = [10, 0, (i / 8) as u8, (i % 8) as u8 + 1];
    let mut entry = builder
        .id(fixture_id(i))
        .time(fixture_time(i))
        .source(Source::new().ip(ip.into()).request_id(format!("req-{i:03}")))
        .build();
    if entry.description.is_empty() {
        entry.description = entry.default_description();
    }
    entry.service =
        ServiceInfo { version: Some("2.3.1".into()), ..ServiceInfo::new("projects-api") };
    if (20..40).contains(&i) {
        let seq = (i - 20) as u64;
        entry.chain = Some(ChainLink {
            id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001),
            seq,
            prev: format!("{seq:064x}"),
            hash: format!("{:064x}", seq + 1),
        });
    }
    entry
}
