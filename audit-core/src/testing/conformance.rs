//! The [`AuditStore`] conformance suite: the store semantics, written once.
//!
//! Every store (memory, file, Postgres) runs [`run`] in its tests against a
//! fresh, empty store. The suite writes a deterministic [`fixture`] through
//! the store's own write path, then checks every filter alone and combined,
//! both orders, cursor pagination, [`AuditStore::scan`] and, if the store
//! supports it, [`AuditStore::purge`]. Expected results are computed from the
//! fixture with plain predicates, independently of [`Query::matches`].
//!
//! ```
//! use audit_core::testing::{MemorySink, conformance};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = MemorySink::new();
//! conformance::run(&sink, |entries| {
//!     sink.load(entries);
//!     std::future::ready(())
//! })
//! .await;
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use futures::TryStreamExt as _;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

use crate::query::{Cursor, EventPattern, Order, Query};
use crate::store::{AuditStore, StoreError};
use crate::{
    Action, Actor, AuditEvent, Body, ChainLink, Change, HttpRequest, Outcome, Request, Resource,
    Response, ServiceInfo, Source,
};

/// How many entries [`fixture`] returns.
pub const FIXTURE_LEN: usize = 60;

/// How many entries [`run`] hands to `load` at a time.
const LOAD_BATCH: usize = 16;

/// The time of the first fixture entry; the others follow over ten days.
const BASE: OffsetDateTime = datetime!(2025-01-06 00:00:00 UTC);

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

fn alice() -> Actor {
    Actor::user("u_alice").email("alice@example.com").name("Alice")
}

fn bob() -> Actor {
    Actor::user("u_bob").email("bob@example.com")
}

fn ci_deploy() -> Actor {
    Actor::api_key("k_ci").name("ci-deploy")
}

fn billing_cron() -> Actor {
    Actor::system("billing-cron")
}

const PROJECTS: [(&str, &str); 5] = [
    ("p_0", "Apollo"),
    ("p_1", "Gemini"),
    ("p_2", "Mercury"),
    ("p_3", "Skylab"),
    ("p_4", "Artemis"),
];

fn project(n: usize) -> Resource {
    let (id, name) = PROJECTS[n % PROJECTS.len()];
    Resource::new("project", id).name(name)
}

fn fixture_time(i: usize) -> OffsetDateTime {
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

fn fixture_id(i: usize) -> Uuid {
    let written = BASE + time::Duration::hours(4 * i as i64 + 1);
    let millis = u64::try_from(written.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    let mut random = [0u8; 10];
    for (k, b) in random.iter_mut().enumerate() {
        *b = ((i * 31 + k * 17 + 7) % 251) as u8;
    }
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}

fn fixture_entry(i: usize) -> AuditEvent {
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

/// Runs the conformance suite against `store`.
///
/// `store` must start empty. `load` must write the entries it is given through
/// the store's own write path (e.g. a sink's `write_batch`), in order, and the
/// entries must be visible to queries once its future completes. It is called
/// several times, with consecutive batches of [`fixture`].
///
/// Ends with [`AuditStore::purge`] (skipped if the store answers
/// [`StoreError::Unsupported`]), so the store is not left with the full
/// fixture.
///
/// # Panics
///
/// On the first behaviour that differs from the contract of [`AuditStore`],
/// with a message naming the check, the query, and the expected and actual
/// entries (as `#<fixture index> <event>`). This is a test helper.
pub async fn run<S, L, Fut>(store: &S, mut load: L)
where
    S: AuditStore + ?Sized,
    L: FnMut(Vec<AuditEvent>) -> Fut,
    Fut: Future<Output = ()>,
{
    let fixture = fixture();
    let suite = Suite::new(store, fixture.clone());

    suite.check_starts_empty().await;
    for batch in fixture.chunks(LOAD_BATCH) {
        load(batch.to_vec()).await;
    }
    suite.check_everything_was_loaded().await;
    suite.check_filters().await;
    suite.check_pagination().await;
    suite.check_scan().await;
    suite.check_purge().await;
}

/// One filter check: a query and the predicate that says what it must return.
struct Case {
    name: String,
    query: Query,
    expect: Box<dyn Fn(&AuditEvent) -> bool>,
    non_empty: bool,
}

impl Case {
    fn new(
        name: impl Into<String>,
        query: Query,
        expect: impl Fn(&AuditEvent) -> bool + 'static,
    ) -> Self {
        Self { name: name.into(), query, expect: Box::new(expect), non_empty: true }
    }

    fn empty(name: impl Into<String>, query: Query) -> Self {
        Self { name: name.into(), query, expect: Box::new(|_| false), non_empty: false }
    }
}

struct Suite<'a, S: ?Sized> {
    store: &'a S,
    /// In write order.
    fixture: Vec<AuditEvent>,
    index: HashMap<Uuid, usize>,
}

impl<'a, S: AuditStore + ?Sized> Suite<'a, S> {
    fn new(store: &'a S, fixture: Vec<AuditEvent>) -> Self {
        let index = fixture.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
        Self { store, fixture, index }
    }

    fn label(&self, e: &AuditEvent) -> String {
        match self.index.get(&e.id) {
            Some(i) => format!("#{i} {}", e.event),
            None => format!("unknown entry {} {}", e.id, e.event),
        }
    }

    fn labels(&self, entries: &[AuditEvent]) -> Vec<String> {
        entries.iter().map(|e| self.label(e)).collect()
    }

    /// The fixture entries passing `filter`, sorted in `order`.
    fn sorted(&self, filter: &dyn Fn(&AuditEvent) -> bool, order: Order) -> Vec<AuditEvent> {
        let mut out: Vec<AuditEvent> = self.fixture.iter().filter(|e| filter(e)).cloned().collect();
        out.sort_by(|a, b| order.compare(a, b));
        out
    }

    /// Asserts that `actual` is exactly `expected`: same entries, same order,
    /// every field equal.
    fn assert_entries(
        &self,
        check: &str,
        query: &Query,
        actual: &[AuditEvent],
        expected: &[AuditEvent],
    ) {
        let (got, want) = (self.labels(actual), self.labels(expected));
        assert!(
            got == want,
            "store conformance: {check}: wrong entries\n  query: {query:?}\n  expected {} entries: \
             {want:?}\n  got {} entries: {got:?}",
            want.len(),
            got.len(),
        );
        for (a, e) in actual.iter().zip(expected) {
            assert!(
                a == e,
                "store conformance: {check}: entry {} did not come back as it was written\n  \
                 written: {e:?}\n  read:    {a:?}",
                self.label(e),
            );
        }
    }

    async fn query(&self, check: &str, query: &Query) -> crate::store::Page {
        match self.store.query(query).await {
            Ok(page) => page,
            Err(e) => panic!("store conformance: {check}: query failed: {e}\n  query: {query:?}"),
        }
    }

    async fn scan(&self, check: &str, query: &Query) -> Vec<AuditEvent> {
        match self.store.scan(query).try_collect().await {
            Ok(entries) => entries,
            Err(e) => panic!("store conformance: {check}: scan failed: {e}\n  query: {query:?}"),
        }
    }

    async fn check_starts_empty(&self) {
        let page = self.query("empty store", &Query::new()).await;
        assert!(
            page.entries.is_empty(),
            "store conformance: the store must start empty, but it holds {} entries; give the \
             suite a fresh store",
            page.entries.len()
        );
        assert!(page.next_cursor.is_none(), "store conformance: an empty store gave a next_cursor");
        let scanned = self.scan("empty store", &Query::new()).await;
        assert!(scanned.is_empty(), "store conformance: scan of an empty store returned entries");
    }

    async fn check_everything_was_loaded(&self) {
        let scanned = self.scan("after load", &Query::new()).await;
        assert!(
            scanned.len() == self.fixture.len(),
            "store conformance: after load, scan returned {} of the {} written entries; `load` \
             must make every entry visible before its future completes",
            scanned.len(),
            self.fixture.len()
        );
    }

    async fn check_filters(&self) {
        for case in self.cases() {
            let expected_all = self.sorted(&case.expect, Order::OldestFirst);
            if case.non_empty {
                assert!(
                    !expected_all.is_empty(),
                    "store conformance: bug in the suite: case `{}` expects no entries",
                    case.name
                );
            }
            for order in [Order::NewestFirst, Order::OldestFirst] {
                let query = case.query.clone().order(order);
                let expected = self.sorted(&case.expect, order);
                let page = self.query(&case.name, &query).await;
                let check = format!("filter `{}` ({order:?})", case.name);
                self.assert_entries(&check, &query, &page.entries, &expected);
                assert!(
                    page.next_cursor.is_none(),
                    "store conformance: {check}: all {} entries fit in one page, but next_cursor \
                     is {:?}\n  query: {query:?}",
                    expected.len(),
                    page.next_cursor
                );
            }
            let written: Vec<AuditEvent> =
                self.fixture.iter().filter(|e| (case.expect)(e)).cloned().collect();
            let scanned = self.scan(&case.name, &case.query).await;
            let check = format!("scan with filter `{}`", case.name);
            self.assert_entries(&check, &case.query, &scanned, &written);
        }
    }

    fn cases(&self) -> Vec<Case> {
        let pattern = |p: &str| match EventPattern::parse(p) {
            Ok(p) => p,
            Err(e) => panic!("store conformance: bug in the suite: {e}"),
        };
        let by_time = self.sorted(&|_| true, Order::OldestFirst);
        let t = |i: usize| by_time[i].time;
        let (t20, t40) = (t(20), t(40));
        // halfway between two neighbouring entries, hours from either
        let mid = t(30) + (t(31) - t(30)) / 2;
        let now = OffsetDateTime::now_utc();
        let back_to_mid = Duration::try_from(now - mid).unwrap_or(Duration::ZERO);
        let has_resource = |kind: &'static str, id: Option<&'static str>| {
            move |e: &AuditEvent| {
                e.resource
                    .iter()
                    .any(|r| r.kind == kind && id.is_none_or(|id| r.id.as_deref() == Some(id)))
            }
        };
        let event_in = |names: &'static [&'static str]| {
            move |e: &AuditEvent| names.contains(&e.event.as_str())
        };

        vec![
            Case::new("everything", Query::new(), |_| true),
            // tenant
            Case::new("tenant acme", Query::new().tenant("acme"), |e| {
                e.tenant.as_deref() == Some("acme")
            }),
            Case::new("tenant globex", Query::new().tenant("globex"), |e| {
                e.tenant.as_deref() == Some("globex")
            }),
            Case::empty("unknown tenant", Query::new().tenant("nobody")),
            // actor: email, id, name, display form
            Case::new("actor by email", Query::new().actor("alice@example.com"), |e| {
                e.actor == alice()
            }),
            Case::new("actor by user id", Query::new().actor("u_alice"), |e| e.actor == alice()),
            Case::new("actor by name", Query::new().actor("Alice"), |e| e.actor == alice()),
            Case::new("api key by display form", Query::new().actor("api-key:ci-deploy"), |e| {
                e.actor == ci_deploy()
            }),
            Case::new("api key by key id", Query::new().actor("k_ci"), |e| e.actor == ci_deploy()),
            Case::new(
                "system actor by display form",
                Query::new().actor("system:billing-cron"),
                |e| e.actor == billing_cron(),
            ),
            Case::new("anonymous actor", Query::new().actor("anonymous"), |e| {
                e.actor.is_anonymous()
            }),
            Case::empty("actor is matched exactly", Query::new().actor("alice")),
            // events
            Case::new(
                "exact event",
                Query::new().event(pattern("project.update")),
                event_in(&["project.update"]),
            ),
            Case::new(
                "event glob `api_key.*` (`_` is literal)",
                Query::new().event(pattern("api_key.*")),
                event_in(&["api_key.create", "api_key.revoke"]),
            ),
            Case::new(
                "event glob `authorization.*`",
                Query::new().event(pattern("authorization.*")),
                event_in(&["authorization.denied", "authorization.mfa_required"]),
            ),
            Case::new(
                "event glob `*.delete`",
                Query::new().event(pattern("*.delete")),
                event_in(&["project.delete"]),
            ),
            Case::new(
                "event glob with inner `*`",
                Query::new().event(pattern("a*n.*_*")),
                event_in(&["authorization.mfa_required"]),
            ),
            Case::new(
                "any of several event patterns",
                Query::new().event(pattern("member.invite")).event(pattern("project.c*")),
                event_in(&["member.invite", "project.create"]),
            ),
            Case::new("event glob `*`", Query::new().event(pattern("*")), |_| true),
            Case::empty(
                "event prefix without `*` is exact",
                Query::new().event(pattern("project")),
            ),
            // resources
            Case::new(
                "resource type",
                Query::new().resource_type("project"),
                has_resource("project", None),
            ),
            Case::new(
                "resource type of a second resource",
                Query::new().resource_type("user"),
                has_resource("user", None),
            ),
            Case::new(
                "resource type and id",
                Query::new().resource_type("project").resource_id("p_1"),
                has_resource("project", Some("p_1")),
            ),
            Case::new(
                "resource id alone",
                Query::new().resource_id("u_carol"),
                has_resource("user", Some("u_carol")),
            ),
            Case::empty(
                "resource type and id must match the same resource",
                Query::new().resource_type("project").resource_id("u_carol"),
            ),
            // outcome and action
            Case::new("outcome success", Query::new().outcome(Outcome::Success), |e| {
                e.outcome == Outcome::Success
            }),
            Case::new("outcome failure", Query::new().outcome(Outcome::Failure), |e| {
                e.outcome == Outcome::Failure
            }),
            Case::new("outcome denied", Query::new().outcome(Outcome::Denied), |e| {
                e.outcome == Outcome::Denied
            }),
            Case::new("outcome cancelled", Query::new().outcome(Outcome::Cancelled), |e| {
                e.outcome == Outcome::Cancelled
            }),
            Case::new("action delete", Query::new().action(Action::Delete), |e| {
                e.action == Action::Delete
            }),
            Case::new(
                "action create, overridden ones included",
                Query::new().action(Action::Create),
                |e| e.action == Action::Create,
            ),
            // time
            Case::new("since (inclusive)", Query::new().since(t20), move |e| e.time >= t20),
            Case::new("until (exclusive)", Query::new().until(t40), move |e| e.time < t40),
            Case::new("since and until", Query::new().since(t20).until(t40), move |e| {
                e.time >= t20 && e.time < t40
            }),
            Case::empty("since after until", Query::new().since(t40).until(t20)),
            Case::new("relative since", Query::new().since(back_to_mid), move |e| e.time >= mid),
            Case::new("relative until", Query::new().until(back_to_mid), move |e| e.time < mid),
            Case {
                non_empty: false,
                ..Case::new(
                    "relative since 1d",
                    Query::new().since(Duration::from_secs(86_400)),
                    move |e| e.time >= now - time::Duration::days(1),
                )
            },
            // text
            Case::new("text in resource name, any case", Query::new().text("gEMINI"), |e| {
                e.resource.iter().any(|r| r.name.as_deref() == Some("Gemini"))
            }),
            Case::new("text in reason", Query::new().text("quota"), |e| {
                e.reason.as_deref() == Some("Quota exceeded")
            }),
            Case::new("text in description", Query::new().text("PLAN LIMIT"), |e| {
                e.description.contains("plan limit")
            }),
            Case::new("text in actor display form", Query::new().text("ci-deploy"), |e| {
                e.actor == ci_deploy()
            }),
            Case::new(
                "text in event name",
                Query::new().text("mfa_req"),
                event_in(&["authorization.mfa_required"]),
            ),
            Case::new(
                "text in resource id",
                Query::new().text("k_old"),
                has_resource("api_key", Some("k_old")),
            ),
            Case::empty("text found nowhere", Query::new().text("no such text")),
            // combined
            Case::new(
                "tenant, outcome, event glob and since",
                Query::new()
                    .tenant("acme")
                    .outcome(Outcome::Success)
                    .event(pattern("project.*"))
                    .since(t20),
                move |e| {
                    e.tenant.as_deref() == Some("acme")
                        && e.outcome == Outcome::Success
                        && e.event.starts_with("project.")
                        && e.time >= t20
                },
            ),
            Case::new(
                "tenant, actor, resource and text",
                Query::new()
                    .tenant("globex")
                    .actor("bob@example.com")
                    .resource_type("project")
                    .text("gemini"),
                |e| {
                    e.tenant.as_deref() == Some("globex")
                        && e.actor == bob()
                        && e.resource.iter().any(|r| r.name.as_deref() == Some("Gemini"))
                },
            ),
            Case::new(
                "system entries without a tenant",
                Query::new().actor("billing-cron").event(pattern("api_key.revoke")).until(t40),
                move |e| e.actor == billing_cron() && e.tenant.is_none() && e.time < t40,
            ),
        ]
    }

    async fn check_pagination(&self) {
        let everything: &dyn Fn(&AuditEvent) -> bool = &|_| true;
        let acme: &dyn Fn(&AuditEvent) -> bool = &|e| e.tenant.as_deref() == Some("acme");
        let filters = [
            ("everything", Query::new(), everything),
            ("tenant acme", Query::new().tenant("acme"), acme),
        ];
        for (name, base, filter) in filters {
            for order in [Order::NewestFirst, Order::OldestFirst] {
                let expected = self.sorted(filter, order);
                for size in [1, 7, 100] {
                    let check = format!("pagination of `{name}`, {order:?}, {size} per page");
                    self.walk(&check, base.clone().order(order).limit(size), &expected).await;
                }
                // A cursor made by the client from an entry works like one the store gave.
                let query = base.clone().order(order).limit(7).cursor(Cursor::after(&expected[9]));
                let page = self.query("cursor from an entry", &query).await;
                let check = format!("`{name}`, {order:?}, cursor after the 10th entry");
                self.assert_entries(&check, &query, &page.entries, &expected[10..17]);
                assert!(
                    page.next_cursor.is_some(),
                    "store conformance: {check}: next_cursor is None"
                );
            }
        }
        let query = Query::new().tenant("nobody").limit(7);
        let page = self.query("empty page", &query).await;
        assert!(
            page.entries.is_empty() && page.next_cursor.is_none(),
            "store conformance: a query matching nothing must give an empty page without a \
             next_cursor; got {} entries, next_cursor {:?}",
            page.entries.len(),
            page.next_cursor
        );
    }

    /// Follows `next_cursor` from the first page to the last and checks that
    /// the pages together hold `expected`, each entry once, in order.
    async fn walk(&self, check: &str, first: Query, expected: &[AuditEvent]) {
        let limit = first.limit.unwrap_or(Query::DEFAULT_LIMIT);
        let mut query = first;
        let mut seen: Vec<AuditEvent> = Vec::new();
        let mut ids = HashSet::new();
        for page_no in 1.. {
            let page = self.query(check, &query).await;
            assert!(
                page.entries.len() <= limit,
                "store conformance: {check}: page {page_no} has {} entries, more than the limit",
                page.entries.len()
            );
            for e in &page.entries {
                assert!(
                    ids.insert(e.id),
                    "store conformance: {check}: entry {} came again on page {page_no}",
                    self.label(e)
                );
            }
            let remaining = expected.len().saturating_sub(seen.len());
            assert!(
                page.entries.len() == remaining.min(limit),
                "store conformance: {check}: page {page_no} has {} entries; with {remaining} \
                 left it must have {} (every page is full, up to the last)",
                page.entries.len(),
                remaining.min(limit),
            );
            seen.extend(page.entries);
            let more = seen.len() < expected.len();
            assert!(
                page.next_cursor.is_some() == more,
                "store conformance: {check}: page {page_no} has next_cursor {:?}, but {} entries \
                 follow; next_cursor must be set exactly when more follow",
                page.next_cursor,
                expected.len().saturating_sub(seen.len()),
            );
            match page.next_cursor {
                Some(cursor) => {
                    assert!(
                        page_no <= expected.len() + 1,
                        "store conformance: {check}: more pages than entries; the cursor does not advance"
                    );
                    query = query.cursor(cursor);
                }
                None => break,
            }
        }
        self.assert_entries(check, &query, &seen, expected);
    }

    async fn check_scan(&self) {
        // Storage order, and limit, cursor and order are ignored.
        let cursor = Cursor::after(&self.fixture[30]);
        for query in [
            Query::new(),
            Query::new().limit(3),
            Query::new().order(Order::OldestFirst).cursor(cursor),
            Query::new().order(Order::NewestFirst).cursor(cursor).limit(1),
        ] {
            let scanned = self.scan("scan", &query).await;
            self.assert_entries(
                "scan returns every entry in write order, ignoring limit, cursor and order",
                &query,
                &scanned,
                &self.fixture,
            );
        }
        let query = Query::new().tenant("nobody");
        let scanned = self.scan("scan matching nothing", &query).await;
        assert!(scanned.is_empty(), "store conformance: scan matching nothing returned entries");
    }

    async fn check_purge(&self) {
        let by_time = self.sorted(&|_| true, Order::OldestFirst);
        let cut = by_time[10].time;
        let older = by_time.iter().filter(|e| e.time < cut).count() as u64;
        let dry = match self.store.purge(cut, true).await {
            Ok(report) => report,
            Err(StoreError::Unsupported(_)) => return,
            Err(e) => panic!("store conformance: purge (dry run) failed: {e}"),
        };
        assert!(
            dry.removed <= older,
            "store conformance: a dry-run purge before entry {} counts {} entries, but only {older} \
             are older",
            self.label(&by_time[10]),
            dry.removed
        );
        let all = self.scan("after a dry-run purge", &Query::new()).await;
        self.assert_entries("a dry-run purge removes nothing", &Query::new(), &all, &self.fixture);

        let report = match self.store.purge(cut, false).await {
            Ok(report) => report,
            Err(e) => panic!("store conformance: purge failed: {e}"),
        };
        assert!(
            report.removed == dry.removed,
            "store conformance: purge removed {} entries, but its dry run counted {}",
            report.removed,
            dry.removed
        );
        let kept = self.scan("after purge", &Query::new()).await;
        assert!(
            kept.len() as u64 + report.removed == self.fixture.len() as u64,
            "store conformance: purge reported {} removed, but {} of {} entries remain",
            report.removed,
            kept.len(),
            self.fixture.len()
        );
        let removed: HashSet<Uuid> = {
            let kept: HashSet<Uuid> = kept.iter().map(|e| e.id).collect();
            self.fixture.iter().map(|e| e.id).filter(|id| !kept.contains(id)).collect()
        };
        let expected: Vec<AuditEvent> =
            self.fixture.iter().filter(|e| !removed.contains(&e.id)).cloned().collect();
        self.assert_entries("purge keeps the rest in write order", &Query::new(), &kept, &expected);
        for e in &self.fixture {
            assert!(
                e.time < cut || !removed.contains(&e.id),
                "store conformance: purge before {cut} removed entry {} of {}",
                self.label(e),
                e.time
            );
        }
    }
}
