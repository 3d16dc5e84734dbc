//! The plain scan semantics: whether one entry matches a filter.
//!
//! Every store must give the answers [`Filter::matches`] gives; a store that
//! cannot translate part of a filter (a regular expression in SQL, a JSON
//! path) narrows with what it can translate and checks each remaining entry
//! with [`Filter::matches`].

use std::cmp::Ordering;
use std::net::IpAddr;

use serde_json::Number;
use time::OffsetDateTime;

use super::ast::{Condition, Field, Filter, Test, Value};
use super::json;
use super::pattern::Pattern;
use crate::{Action, ActorKind, AuditEvent, Outcome, Resource};

impl Filter {
    /// Whether `entry` matches, with relative times (`7d`) counted back from
    /// `now`. See the [module docs](super#semantics) for the semantics of
    /// each field and operator.
    ///
    /// ```
    /// use audit_core::filter::Filter;
    /// use audit_core::{Actor, AuditEvent, Outcome};
    /// use time::macros::datetime;
    ///
    /// let entry = AuditEvent::builder("api_key.create")
    ///     .actor(Actor::user("u_1").email("alice@example.com"))
    ///     .outcome(Outcome::Denied)
    ///     .time(datetime!(2026-03-01 12:00 UTC))
    ///     .build();
    /// let now = datetime!(2026-03-02 00:00 UTC);
    /// let filter = Filter::parse("category = api_key and actor = alice@example.com and time > 1d")?;
    /// assert!(filter.matches(&entry, now));
    /// assert!(!Filter::parse("outcome in (success, failure)")?.matches(&entry, now));
    /// # Ok::<(), audit_core::filter::ParseError>(())
    /// ```
    pub fn matches(&self, entry: &AuditEvent, now: OffsetDateTime) -> bool {
        match self {
            Self::And(list) => list.iter().all(|f| f.matches(entry, now)),
            Self::Or(list) => list.iter().any(|f| f.matches(entry, now)),
            Self::Not(inner) => !inner.matches(entry, now),
            Self::Cond(cond) => cond.matches(entry, now),
            Self::Text(text) => text_matches(entry, text),
        }
    }
}

impl Condition {
    /// Whether `entry` passes this condition, relative times counted back
    /// from `now`.
    pub fn matches(&self, entry: &AuditEvent, now: OffsetDateTime) -> bool {
        let ordered = |value: &Value, want: fn(Ordering) -> bool| {
            any(&self.field, entry, &mut |c| compare(&c, value, now).is_some_and(want))
        };
        match &self.test {
            Test::Eq(value) => any(&self.field, entry, &mut |c| equals(&c, value, now)),
            Test::Ne(value) => !any(&self.field, entry, &mut |c| equals(&c, value, now)),
            Test::In(values) => {
                any(&self.field, entry, &mut |c| values.iter().any(|v| equals(&c, v, now)))
            }
            Test::Matches(pattern) => any(&self.field, entry, &mut |c| finds(&c, pattern)),
            Test::Exists => any(&self.field, entry, &mut |_| true),
            Test::Lt(value) => ordered(value, Ordering::is_lt),
            Test::Le(value) => ordered(value, Ordering::is_le),
            Test::Gt(value) => ordered(value, Ordering::is_gt),
            Test::Ge(value) => ordered(value, Ordering::is_ge),
        }
    }
}

/// The category of an event: its name up to the first dot (`api_key` for
/// `api_key.create`), or the whole name if it has no dot.
///
/// ```
/// assert_eq!(audit_core::filter::category("api_key.create"), "api_key");
/// assert_eq!(audit_core::filter::category("authorization.mfa.required"), "authorization");
/// assert_eq!(audit_core::filter::category("login"), "login");
/// ```
pub fn category(event: &str) -> &str {
    event.split_once('.').map_or(event, |(category, _)| category)
}

/// One candidate value of a field (see [`Field`]).
enum Candidate<'a> {
    Str(&'a str),
    Action(Action),
    Outcome(Outcome),
    ActorKind(ActorKind),
    Resource(&'a Resource),
    Ip(IpAddr),
    Time(OffsetDateTime),
    Json(&'a serde_json::Value),
}

type Pred<'p> = &'p mut dyn for<'a> FnMut(Candidate<'a>) -> bool;

fn some_str(value: Option<&str>, pred: Pred<'_>) -> bool {
    value.is_some_and(|s| pred(Candidate::Str(s)))
}

/// Whether `pred` holds for any candidate of `field` in `entry`.
fn any(field: &Field, entry: &AuditEvent, pred: Pred<'_>) -> bool {
    let actor = &entry.actor;
    let resources = entry.resource.iter();
    match field {
        Field::Event => pred(Candidate::Str(&entry.event)),
        Field::Category => pred(Candidate::Str(category(&entry.event))),
        Field::Action => pred(Candidate::Action(entry.action)),
        Field::Outcome => pred(Candidate::Outcome(entry.outcome)),
        Field::Reason => some_str(entry.reason.as_deref(), pred),
        Field::Actor => {
            [&actor.id, &actor.name, &actor.email]
                .into_iter()
                .flatten()
                .any(|s| pred(Candidate::Str(s)))
                || pred(Candidate::Str(&actor.to_string()))
        }
        Field::ActorKind => pred(Candidate::ActorKind(actor.kind)),
        Field::ActorId => some_str(actor.id.as_deref(), pred),
        Field::ActorName => some_str(actor.name.as_deref(), pred),
        Field::ActorEmail => some_str(actor.email.as_deref(), pred),
        Field::Tenant => some_str(entry.tenant.as_deref(), pred),
        Field::Resource => entry.resource.iter().any(|r| pred(Candidate::Resource(r))),
        Field::ResourceType => resources.into_iter().any(|r| pred(Candidate::Str(&r.kind))),
        Field::ResourceId => {
            resources.filter_map(|r| r.id.as_deref()).any(|s| pred(Candidate::Str(s)))
        }
        Field::ResourceName => {
            resources.filter_map(|r| r.name.as_deref()).any(|s| pred(Candidate::Str(s)))
        }
        Field::Ip => entry.source.ip.is_some_and(|ip| pred(Candidate::Ip(ip))),
        Field::RequestId => some_str(entry.source.request_id.as_deref(), pred),
        Field::UserAgent => some_str(entry.source.user_agent.as_deref(), pred),
        Field::Description => {
            !entry.description.is_empty() && pred(Candidate::Str(&entry.description))
        }
        Field::Time => pred(Candidate::Time(entry.time)),
        Field::Json(path) => json::any_value(entry, path, &mut |v| pred(Candidate::Json(v))),
    }
}

fn equals(candidate: &Candidate<'_>, value: &Value, now: OffsetDateTime) -> bool {
    match (candidate, value) {
        (Candidate::Str(s), Value::Text(t)) => s == t,
        (Candidate::Str(s), Value::Event(pattern)) => pattern.matches(s),
        (Candidate::Action(a), Value::Action(b)) => a == b,
        (Candidate::Outcome(a), Value::Outcome(b)) => a == b,
        (Candidate::ActorKind(a), Value::ActorKind(b)) => a == b,
        (Candidate::Resource(r), Value::Resource(want)) => {
            r.kind == want.kind && want.id.as_ref().is_none_or(|id| r.id.as_ref() == Some(id))
        }
        (Candidate::Ip(ip), Value::Ip(net)) => net.contains(ip),
        (Candidate::Time(t), Value::Time(bound)) => *t == bound.resolve(now),
        (Candidate::Json(json), value) => json_equals(json, value),
        _ => false,
    }
}

fn json_equals(json: &serde_json::Value, value: &Value) -> bool {
    use serde_json::Value as J;
    match (json, value) {
        (J::String(s), Value::Text(t)) => s == t,
        (J::Number(a), Value::Number(b)) => number_cmp(a, b) == Some(Ordering::Equal),
        (J::Bool(a), Value::Bool(b)) => a == b,
        (J::Null, Value::Null) => true,
        _ => false,
    }
}

/// Whether the pattern finds a match in the candidate's text: strings,
/// names of enum values, `type:id` (or `type`) of resources, JSON strings.
fn finds(candidate: &Candidate<'_>, pattern: &Pattern) -> bool {
    match candidate {
        Candidate::Str(s) => pattern.is_match(s),
        Candidate::Action(a) => pattern.is_match(a.as_str()),
        Candidate::Outcome(o) => pattern.is_match(o.as_str()),
        Candidate::ActorKind(k) => pattern.is_match(k.as_str()),
        Candidate::Resource(r) => match &r.id {
            Some(id) => pattern.is_match(&format!("{}:{id}", r.kind)),
            None => pattern.is_match(&r.kind),
        },
        Candidate::Json(serde_json::Value::String(s)) => pattern.is_match(s),
        Candidate::Json(_) | Candidate::Ip(_) | Candidate::Time(_) => false,
    }
}

/// The order of a candidate and a value: times with times, JSON numbers
/// with numbers; `None` for anything else.
fn compare(candidate: &Candidate<'_>, value: &Value, now: OffsetDateTime) -> Option<Ordering> {
    match (candidate, value) {
        (Candidate::Time(t), Value::Time(bound)) => Some(t.cmp(&bound.resolve(now))),
        (Candidate::Json(serde_json::Value::Number(a)), Value::Number(b)) => number_cmp(a, b),
        _ => None,
    }
}

/// Numbers by value: integers exactly, anything with a fraction as `f64`.
fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    let integer = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Free text, as [`Query::text`](crate::query::Query::text) matches it.
fn text_matches(entry: &AuditEvent, text: &str) -> bool {
    let needle = text.to_lowercase();
    let contains = |hay: &str| hay.to_lowercase().contains(&needle);
    contains(&entry.description)
        || contains(&entry.event)
        || entry.reason.as_deref().is_some_and(contains)
        || contains(&entry.actor.to_string())
        || entry.resource.iter().any(|r| {
            r.id.as_deref().is_some_and(contains) || r.name.as_deref().is_some_and(contains)
        })
}
