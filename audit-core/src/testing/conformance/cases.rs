//! The filter checks: one query per case, and the predicate that says what
//! it must return.

use std::time::Duration;

use time::OffsetDateTime;

use crate::query::{EventPattern, Order, Query};
use crate::store::AuditStore;
use crate::{Action, AuditEvent, Outcome};

use super::{Suite, fixture::alice, fixture::billing_cron, fixture::bob, fixture::ci_deploy};

/// One filter check: a query and the predicate that says what it must return.
pub(super) struct Case {
    pub(super) name: String,
    pub(super) query: Query,
    pub(super) expect: Box<dyn Fn(&AuditEvent) -> bool>,
    pub(super) non_empty: bool,
}

impl Case {
    pub(super) fn new(
        name: impl Into<String>,
        query: Query,
        expect: impl Fn(&AuditEvent) -> bool + 'static,
    ) -> Self {
        Self { name: name.into(), query, expect: Box::new(expect), non_empty: true }
    }

    pub(super) fn empty(name: impl Into<String>, query: Query) -> Self {
        Self { name: name.into(), query, expect: Box::new(|_| false), non_empty: false }
    }
}

impl<S: AuditStore + ?Sized> Suite<'_, S> {
    pub(super) fn cases(&self) -> Vec<Case> {
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
}
