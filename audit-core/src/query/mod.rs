//! The query model shared by every [`AuditStore`](crate::AuditStore), the CLI
//! and the HTTP APIs built on top of them.
//!
//! A [`Query`] is plain data: every filter is a typed value (no closures), so
//! the in-memory and file stores can evaluate it with [`Query::matches`] while
//! the Postgres store translates it to SQL with bound parameters
//! ([`EventPattern::to_sql_like`] gives the `LIKE` pattern for event globs).
//!
//! ```
//! use audit_core::query::{EventPattern, Order, Query, TimeBound};
//! use audit_core::Outcome;
//!
//! # fn main() -> Result<(), audit_core::query::ParseError> {
//! let query = Query::new()
//!     .tenant("acme")
//!     .event("key.*".parse()?)
//!     .outcome(Outcome::Denied)
//!     .since("7d".parse::<TimeBound>()?)
//!     .limit(50)
//!     .order(Order::NewestFirst);
//! assert_eq!(query.events[0].to_sql_like(), "key.%");
//! # Ok(()) }
//! ```
//!
//! # Semantics
//!
//! - All filters that are set must match (AND); `events` matches if any of its
//!   patterns does (OR). An unset filter matches everything.
//! - `since` is inclusive and `until` exclusive: `since <= time < until`.
//!   Relative bounds (`7d`) count back from the moment the store runs the query.
//! - Results are ordered by `(time, id)`, newest first by default. The
//!   [`Cursor`] is a keyset cursor over that pair, so pages never skip or repeat
//!   entries, even while new entries are written.

use time::OffsetDateTime;

use crate::model::{Action, AuditEvent, Outcome};

mod cursor;
mod error;
mod event_pattern;
mod order;
mod time_bound;

pub use cursor::Cursor;
pub use error::ParseError;
pub use event_pattern::EventPattern;
pub use order::Order;
pub use time_bound::TimeBound;

/// A query over stored entries: filters, order and pagination.
///
/// Build one with [`Query::new`] and the builder-style setters; every field is
/// also public for stores to read. See the [module docs](self) for the
/// semantics every store implements.
///
/// ```
/// use audit_core::query::Query;
/// use audit_core::{Actor, AuditEvent, Resource};
///
/// let (kind, id) = Query::parse_resource("project:p_42").unwrap();
/// let query = Query::new().actor("alice@example.com").resource_type(kind).resource_id(id.unwrap());
///
/// let entry = AuditEvent::builder("project.update")
///     .actor(Actor::user("u_1").email("alice@example.com"))
///     .resource(Resource::new("project", "p_42"))
///     .build();
/// assert!(query.matches(&entry));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Query {
    /// Only entries of this tenant.
    pub tenant: Option<String>,
    /// Only entries whose actor has this id, name or email, or is displayed
    /// like this (`alice@example.com`, `api-key:ci-deploy`); exact match.
    pub actor: Option<String>,
    /// Only entries whose event matches any of these patterns (none: all events).
    pub events: Vec<EventPattern>,
    /// Only entries with a resource of this type.
    pub resource_type: Option<String>,
    /// Only entries with a resource of this id. Together with
    /// `resource_type`, both must hold for the same resource.
    pub resource_id: Option<String>,
    /// Only entries with this outcome.
    pub outcome: Option<Outcome>,
    /// Only entries with this action.
    pub action: Option<Action>,
    /// Only entries at or after this time (inclusive).
    pub since: Option<TimeBound>,
    /// Only entries before this time (exclusive).
    pub until: Option<TimeBound>,
    /// Only entries containing this text, case-insensitively, in the
    /// description, event name, reason, actor display form, or any resource's
    /// id or name.
    pub text: Option<String>,
    /// At most this many entries per page; see [`Query::effective_limit`].
    pub limit: Option<usize>,
    /// Continue after the last entry of a previous page.
    pub cursor: Option<Cursor>,
    /// The order of results (newest first by default).
    pub order: Order,
}

impl Query {
    /// The page size when [`Query::limit`] is not set.
    pub const DEFAULT_LIMIT: usize = 100;
    /// The largest page a store returns; larger limits are reduced to this.
    pub const MAX_LIMIT: usize = 10_000;

    /// A query that matches every entry, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only entries of this tenant.
    #[must_use]
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Only entries of this actor: id, name, email or display form
    /// (`api-key:ci-deploy`), matched exactly.
    #[must_use]
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Adds an event pattern; an entry matches if any pattern matches.
    #[must_use]
    pub fn event(mut self, pattern: EventPattern) -> Self {
        self.events.push(pattern);
        self
    }

    /// Adds several event patterns; an entry matches if any pattern matches.
    #[must_use]
    pub fn events(mut self, patterns: impl IntoIterator<Item = EventPattern>) -> Self {
        self.events.extend(patterns);
        self
    }

    /// Only entries with a resource of this type.
    #[must_use]
    pub fn resource_type(mut self, kind: impl Into<String>) -> Self {
        self.resource_type = Some(kind.into());
        self
    }

    /// Only entries with a resource of this id (of the type set with
    /// [`Query::resource_type`], if any).
    #[must_use]
    pub fn resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// Only entries with this outcome.
    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = Some(outcome);
        self
    }

    /// Only entries with this action.
    #[must_use]
    pub fn action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    /// Only entries at or after this time: an [`OffsetDateTime`], a
    /// [`Duration`](std::time::Duration) before now, or a [`TimeBound`].
    #[must_use]
    pub fn since(mut self, bound: impl Into<TimeBound>) -> Self {
        self.since = Some(bound.into());
        self
    }

    /// Only entries before this time: an [`OffsetDateTime`], a [`Duration`](std::time::Duration)
    /// before now, or a [`TimeBound`].
    #[must_use]
    pub fn until(mut self, bound: impl Into<TimeBound>) -> Self {
        self.until = Some(bound.into());
        self
    }

    /// Only entries containing this text (case-insensitive).
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// At most this many entries per page.
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Continue after the entry the cursor points at.
    #[must_use]
    pub fn cursor(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }

    /// The order of results.
    #[must_use]
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// The page size a store uses: `limit`, or [`Query::DEFAULT_LIMIT`] when
    /// unset, kept within `1..=`[`Query::MAX_LIMIT`].
    pub fn effective_limit(&self) -> usize {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT)
    }

    /// Parses a resource filter as the CLI takes it: `<type>` or `<type>:<id>`,
    /// e.g. `project` or `project:p_42`. The id is everything after the first `:`.
    ///
    /// ```
    /// use audit_core::query::Query;
    /// assert_eq!(Query::parse_resource("project").unwrap(), ("project".to_owned(), None));
    /// assert_eq!(
    ///     Query::parse_resource("project:p_42").unwrap(),
    ///     ("project".to_owned(), Some("p_42".to_owned()))
    /// );
    /// assert!(Query::parse_resource(":p_42").is_err());
    /// ```
    pub fn parse_resource(input: &str) -> Result<(String, Option<String>), ParseError> {
        let (kind, id) = match input.split_once(':') {
            Some((kind, id)) => (kind, Some(id)),
            None => (input, None),
        };
        if kind.trim().is_empty() {
            return Err(ParseError::resource(input, "the type is empty"));
        }
        if kind.chars().any(char::is_whitespace) {
            return Err(ParseError::resource(input, "the type contains whitespace"));
        }
        match id {
            Some("") => Err(ParseError::resource(input, "the id after `:` is empty")),
            id => Ok((kind.to_owned(), id.map(str::to_owned))),
        }
    }

    /// The time bounds as absolute times, relative ones counted back from `now`.
    pub fn resolve_times(
        &self,
        now: OffsetDateTime,
    ) -> (Option<OffsetDateTime>, Option<OffsetDateTime>) {
        (self.since.map(|b| b.resolve(now)), self.until.map(|b| b.resolve(now)))
    }

    /// A copy of this query with relative time bounds resolved against `now`.
    ///
    /// A store calls this once per query or scan so that every entry is
    /// compared with the same bounds.
    #[must_use]
    pub fn resolved(&self, now: OffsetDateTime) -> Self {
        let (since, until) = self.resolve_times(now);
        Self {
            since: since.map(TimeBound::Absolute),
            until: until.map(TimeBound::Absolute),
            ..self.clone()
        }
    }

    /// Whether an entry passes every filter (cursor and limit aside), with
    /// relative time bounds counted back from the current time.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        let now = match (&self.since, &self.until) {
            (Some(TimeBound::Relative(_)), _) | (_, Some(TimeBound::Relative(_))) => {
                OffsetDateTime::now_utc()
            }
            _ => OffsetDateTime::UNIX_EPOCH,
        };
        self.matches_at(event, now)
    }

    /// Whether an entry passes every filter (cursor and limit aside), with
    /// relative time bounds counted back from `now`.
    pub fn matches_at(&self, event: &AuditEvent, now: OffsetDateTime) -> bool {
        let (since, until) = self.resolve_times(now);
        since.is_none_or(|since| event.time >= since)
            && until.is_none_or(|until| event.time < until)
            && self.tenant.as_ref().is_none_or(|t| event.tenant.as_ref() == Some(t))
            && self.outcome.is_none_or(|o| event.outcome == o)
            && self.action.is_none_or(|a| event.action == a)
            && (self.events.is_empty() || self.events.iter().any(|p| p.matches(&event.event)))
            && self.matches_resource(event)
            && self.actor.as_deref().is_none_or(|a| actor_matches(event, a))
            && self.text.as_deref().is_none_or(|t| text_matches(event, t))
    }

    fn matches_resource(&self, event: &AuditEvent) -> bool {
        if self.resource_type.is_none() && self.resource_id.is_none() {
            return true;
        }
        event.resource.iter().any(|r| {
            self.resource_type.as_ref().is_none_or(|t| &r.kind == t)
                && self.resource_id.as_ref().is_none_or(|id| r.id.as_ref() == Some(id))
        })
    }

    /// The text filter as a SQL pattern for `ILIKE ... ESCAPE '\'`:
    /// `%<text>%` with `%`, `_` and `\` escaped. A SQL store applies it to
    /// each searched field (see [`Query::text`]).
    ///
    /// ```
    /// use audit_core::query::Query;
    /// assert_eq!(Query::new().text("50%_off").text_sql_like().as_deref(), Some(r"%50\%\_off%"));
    /// ```
    pub fn text_sql_like(&self) -> Option<String> {
        self.text.as_deref().map(|text| {
            let mut out = String::with_capacity(text.len() + 4);
            out.push('%');
            push_like_escaped(&mut out, text);
            out.push('%');
            out
        })
    }

    /// Whether an entry comes after the cursor in this query's order (always
    /// true without a cursor). In-memory stores filter with it.
    pub fn is_after_cursor(&self, event: &AuditEvent) -> bool {
        self.cursor.as_ref().is_none_or(|cursor| {
            let key = Cursor::after(event);
            match self.order {
                Order::NewestFirst => key < *cursor,
                Order::OldestFirst => key > *cursor,
            }
        })
    }
}

/// Appends `literal` with the SQL `LIKE` wildcards `%` and `_` and the escape
/// character `\` escaped by `\`.
pub(super) fn push_like_escaped(out: &mut String, literal: &str) {
    for c in literal.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

pub(super) fn actor_matches(event: &AuditEvent, wanted: &str) -> bool {
    let actor = &event.actor;
    actor.id.as_deref() == Some(wanted)
        || actor.name.as_deref() == Some(wanted)
        || actor.email.as_deref() == Some(wanted)
        || actor.to_string() == wanted
}

pub(super) fn text_matches(event: &AuditEvent, text: &str) -> bool {
    let needle = text.to_lowercase();
    let contains = |hay: &str| hay.to_lowercase().contains(&needle);
    contains(&event.description)
        || contains(&event.event)
        || event.reason.as_deref().is_some_and(contains)
        || contains(&event.actor.to_string())
        || event.resource.iter().any(|r| {
            r.id.as_deref().is_some_and(contains) || r.name.as_deref().is_some_and(contains)
        })
}
