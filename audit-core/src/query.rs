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

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::{Action, AuditEvent, Outcome};

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
    /// [`Duration`] before now, or a [`TimeBound`].
    #[must_use]
    pub fn since(mut self, bound: impl Into<TimeBound>) -> Self {
        self.since = Some(bound.into());
        self
    }

    /// Only entries before this time: an [`OffsetDateTime`], a [`Duration`]
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
fn push_like_escaped(out: &mut String, literal: &str) {
    for c in literal.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

fn actor_matches(event: &AuditEvent, wanted: &str) -> bool {
    let actor = &event.actor;
    actor.id.as_deref() == Some(wanted)
        || actor.name.as_deref() == Some(wanted)
        || actor.email.as_deref() == Some(wanted)
        || actor.to_string() == wanted
}

fn text_matches(event: &AuditEvent, text: &str) -> bool {
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

/// The order of query results.
///
/// Entries are ordered by `(time, id)`; the id breaks ties between entries
/// with the same time. Not `#[non_exhaustive]`: there are exactly two
/// directions, and stores match on them to build `ORDER BY`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Latest entries first: `(time DESC, id DESC)`.
    #[default]
    NewestFirst,
    /// Earliest entries first: `(time ASC, id ASC)`.
    OldestFirst,
}

impl Order {
    /// Compares two entries in this order: `Less` means `a` comes first.
    pub fn compare(self, a: &AuditEvent, b: &AuditEvent) -> Ordering {
        let ascending = Cursor::after(a).cmp(&Cursor::after(b));
        match self {
            Self::NewestFirst => ascending.reverse(),
            Self::OldestFirst => ascending,
        }
    }
}

/// A lower or upper time bound: a point in time, or a span before now.
///
/// Parses `90s`, `30m`, `24h`, `7d`, `2w` (relative), RFC 3339 times such as
/// `2026-01-31T09:30:00Z`, and dates such as `2026-01-31` (midnight UTC).
///
/// ```
/// use std::time::Duration;
/// use audit_core::query::TimeBound;
/// use time::macros::datetime;
///
/// assert_eq!(TimeBound::parse("7d").unwrap(), TimeBound::Relative(Duration::from_secs(7 * 86_400)));
/// assert_eq!(
///     TimeBound::parse("2026-01-31").unwrap(),
///     TimeBound::Absolute(datetime!(2026-01-31 00:00 UTC))
/// );
/// let now = datetime!(2026-02-01 12:00 UTC);
/// assert_eq!(TimeBound::parse("12h").unwrap().resolve(now), datetime!(2026-02-01 00:00 UTC));
/// assert!(TimeBound::parse("99999999999999d").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeBound {
    /// This point in time.
    Absolute(OffsetDateTime),
    /// Now minus this span.
    Relative(Duration),
}

impl TimeBound {
    /// The longest relative span that parses: 100 years (`36500d`).
    pub const MAX_RELATIVE: Duration = Duration::from_secs(36_500 * 86_400);

    /// Parses a relative span (`90s`, `30m`, `24h`, `7d`, `2w`), an RFC 3339
    /// time, or a date (`2026-01-31`, meaning midnight UTC). Surrounding
    /// whitespace is ignored.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ParseError::time(input, "it is empty"));
        }
        if let Some(relative) = parse_relative(input, s) {
            return relative.map(Self::Relative);
        }
        if is_date_shaped(s) {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            return time::Date::parse(s, &format)
                .map(|date| Self::Absolute(date.midnight().assume_utc()))
                .map_err(|e| ParseError::time(input, format!("not a valid date ({e})")));
        }
        if s.contains(':') {
            let t = OffsetDateTime::parse(s, &Rfc3339)
                .map_err(|e| ParseError::time(input, format!("not a valid RFC 3339 time ({e})")))?;
            return checked_utc(t)
                .map(Self::Absolute)
                .ok_or_else(|| ParseError::time(input, "it is out of range in UTC"));
        }
        Err(ParseError::time(input, "it is neither a span, an RFC 3339 time nor a date"))
    }

    /// The absolute time this bound stands for, relative spans counted back
    /// from `now`. Never panics: a span reaching before the earliest
    /// representable time gives that time.
    pub fn resolve(self, now: OffsetDateTime) -> OffsetDateTime {
        match self {
            Self::Absolute(t) => t,
            Self::Relative(span) => {
                let span = time::Duration::try_from(span).unwrap_or(time::Duration::MAX);
                now.saturating_sub(span)
            }
        }
    }
}

/// `Some` when `s` looks like a span (starts with digits, or `-` and digits),
/// `None` when it may be a date or time.
fn parse_relative(input: &str, s: &str) -> Option<Result<Duration, ParseError>> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let digits = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let (number, unit) = unsigned.split_at(digits);
    if unit.starts_with(['-', ':', 'T', 't']) {
        return None; // a date or time
    }
    if s.starts_with('-') {
        return Some(Err(ParseError::time(
            input,
            "a span counts back from now and cannot be negative",
        )));
    }
    let unit_secs: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Some(Err(ParseError::time(input, "the number has no unit"))),
        _ if unit.starts_with(['.', ',']) => {
            return Some(Err(ParseError::time(
                input,
                "fractions are not supported; use a smaller unit, as in `90m`",
            )));
        }
        _ => {
            return Some(Err(ParseError::time(
                input,
                format!("unknown unit `{}`; use s, m, h, d or w", truncate(unit)),
            )));
        }
    };
    let too_large = || ParseError::time(input, "the span reaches back more than 100 years");
    let secs = number.parse::<u64>().ok().and_then(|n| n.checked_mul(unit_secs));
    Some(match secs {
        Some(secs) if secs <= TimeBound::MAX_RELATIVE.as_secs() => Ok(Duration::from_secs(secs)),
        _ => Err(too_large()),
    })
}

/// The same instant in UTC; unchanged if UTC cannot represent it (where
/// `to_offset` would panic).
fn to_utc(time: OffsetDateTime) -> OffsetDateTime {
    checked_utc(time).unwrap_or(time)
}

/// The same instant in UTC, if UTC can represent it.
fn checked_utc(time: OffsetDateTime) -> Option<OffsetDateTime> {
    if time.offset().is_utc() {
        return Some(time);
    }
    OffsetDateTime::from_unix_timestamp_nanos(time.unix_timestamp_nanos()).ok()
}

fn is_date_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter()
            .enumerate()
            .all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

impl FromStr for TimeBound {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<OffsetDateTime> for TimeBound {
    fn from(time: OffsetDateTime) -> Self {
        Self::Absolute(time)
    }
}

impl From<Duration> for TimeBound {
    fn from(span: Duration) -> Self {
        Self::Relative(span)
    }
}

impl fmt::Display for TimeBound {
    /// Relative spans in the largest whole unit up to days (`7d`, `90m`, `14d`
    /// for `2w`), absolute times
    /// as RFC 3339; both parse back to the same bound. Spans with a fraction
    /// of a second are shown in milliseconds (`1500ms`), which does not parse.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Absolute(t) => match t.format(&Rfc3339) {
                Ok(s) => f.write_str(&s),
                Err(_) => f.write_str(&crate::json::rfc3339_micros::format(*t)),
            },
            Self::Relative(span) if span.subsec_nanos() != 0 => {
                write!(f, "{}ms", span.as_millis())
            }
            Self::Relative(span) => {
                let secs = span.as_secs();
                let units = [(86_400, 'd'), (3_600, 'h'), (60, 'm')];
                match units.iter().find(|(n, _)| secs != 0 && secs.is_multiple_of(*n)) {
                    Some((n, unit)) => write!(f, "{}{unit}", secs / n),
                    None => write!(f, "{secs}s"),
                }
            }
        }
    }
}

/// An event name or a glob over event names.
///
/// `*` matches any run of characters, dots included: `key.*`,
/// `authorization.*`, `*.delete`, `api_key.*e`. Without `*` the pattern
/// matches one event name exactly. Matching is case-sensitive.
///
/// ```
/// use audit_core::query::EventPattern;
///
/// let p: EventPattern = "api_key.*".parse().unwrap();
/// assert!(p.matches("api_key.create"));
/// assert!(!p.matches("project.create"));
/// assert!(p.is_prefix());
/// assert_eq!(p.to_sql_like(), r"api\_key.%"); // use with LIKE ... ESCAPE '\'
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventPattern {
    pattern: String,
}

impl EventPattern {
    /// Parses a pattern: not empty, no whitespace or control characters.
    pub fn parse(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::event_pattern(input, "it is empty"));
        }
        if input.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ParseError::event_pattern(
                input,
                "it contains whitespace or control characters",
            ));
        }
        Ok(Self { pattern: input.to_owned() })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Whether the pattern has no `*` and matches one event name.
    pub fn is_exact(&self) -> bool {
        !self.pattern.contains('*')
    }

    /// Whether the pattern is a literal prefix followed by one trailing `*`
    /// (`key.*`), which a store can answer with a prefix (index) scan.
    pub fn is_prefix(&self) -> bool {
        self.prefix().is_some()
    }

    /// The literal prefix of a prefix pattern: `key.` for `key.*`.
    pub fn prefix(&self) -> Option<&str> {
        self.pattern.strip_suffix('*').filter(|p| !p.contains('*'))
    }

    /// Whether an event name matches.
    pub fn matches(&self, event: &str) -> bool {
        let mut parts = self.pattern.split('*');
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = event.strip_prefix(first) else {
            return false;
        };
        let Some(last) = parts.next_back() else {
            return rest.is_empty(); // no `*`: exact
        };
        for middle in parts {
            match rest.find(middle) {
                Some(at) => rest = &rest[at + middle.len()..],
                None => return false,
            }
        }
        rest.ends_with(last)
    }

    /// The pattern for SQL `LIKE ... ESCAPE '\'`: `*` becomes `%`, and `%`,
    /// `_` and `\` are escaped with `\`.
    pub fn to_sql_like(&self) -> String {
        let mut out = String::with_capacity(self.pattern.len() + 4);
        for part in self.pattern.split_inclusive('*') {
            match part.strip_suffix('*') {
                Some(literal) => {
                    push_like_escaped(&mut out, literal);
                    out.push('%');
                }
                None => push_like_escaped(&mut out, part),
            }
        }
        out
    }
}

impl FromStr for EventPattern {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for EventPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// A keyset cursor: the `(time, id)` of the last entry of a page.
///
/// The next page holds the entries that come after it in the query's order
/// (for newest first: `(time, id) < (cursor.time, cursor.id)`). Clients treat
/// it as an opaque URL-safe string ([`Cursor::encode`]); stores read
/// [`Cursor::time`] and [`Cursor::id`]. Cursors order as `(time, id)`.
///
/// ```
/// use audit_core::query::Cursor;
/// use audit_core::AuditEvent;
///
/// let entry = AuditEvent::builder("project.update").id(uuid::Uuid::now_v7()).build();
/// let cursor = Cursor::after(&entry);
/// let text = cursor.encode();
/// assert_eq!(Cursor::decode(&text).unwrap(), cursor);
/// assert!(Cursor::decode("not a cursor").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cursor {
    time: OffsetDateTime,
    id: Uuid,
}

impl Cursor {
    /// Longest encoded cursor that [`Cursor::decode`] looks at.
    const MAX_ENCODED: usize = 128;

    /// A cursor at an entry's `(time, id)`.
    pub fn new(time: OffsetDateTime, id: Uuid) -> Self {
        Self { time: to_utc(time), id }
    }

    /// A cursor pointing at an entry: the next page starts after it.
    pub fn after(event: &AuditEvent) -> Self {
        Self::new(event.time, event.id)
    }

    /// The time of the entry the cursor points at.
    pub fn time(&self) -> OffsetDateTime {
        self.time
    }

    /// The id of the entry the cursor points at.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The opaque, URL-safe text form.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.time.unix_timestamp_nanos(), self.id))
    }

    /// Reads the text form made by [`Cursor::encode`].
    pub fn decode(input: &str) -> Result<Self, ParseError> {
        if input.is_empty() {
            return Err(ParseError::cursor("it is empty"));
        }
        if input.len() > Self::MAX_ENCODED {
            return Err(ParseError::cursor("it is too long"));
        }
        let bytes =
            URL_SAFE_NO_PAD.decode(input).map_err(|_| ParseError::cursor("it is not base64url"))?;
        let text = String::from_utf8(bytes).map_err(|_| ParseError::cursor("it is not text"))?;
        let (nanos, id) =
            text.split_once(':').ok_or_else(|| ParseError::cursor("it has no time and id"))?;
        let nanos: i128 =
            nanos.parse().map_err(|_| ParseError::cursor("its time is not a number"))?;
        let time = OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_err(|_| ParseError::cursor("its time is out of range"))?;
        let id = Uuid::try_parse(id).map_err(|_| ParseError::cursor("its id is not a UUID"))?;
        Ok(Self { time, id })
    }
}

impl fmt::Display for Cursor {
    /// The same text as [`Cursor::encode`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl FromStr for Cursor {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::decode(s)
    }
}

/// A query argument that could not be parsed: what was wrong and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// A time bound (`--since`, `--until`).
    #[error(
        "invalid time `{input}`: {reason}; expected a span before now such as `90s`, `30m`, \
         `24h`, `7d` or `2w`, an RFC 3339 time such as `2026-01-31T09:30:00Z`, or a date such \
         as `2026-01-31` (midnight UTC)"
    )]
    Time {
        /// The input (shortened if long).
        input: String,
        /// What was wrong with it.
        reason: String,
    },
    /// An event pattern (`--event`).
    #[error(
        "invalid event pattern `{input}`: {reason}; expected an event name such as \
         `project.update`, or a pattern with `*` such as `key.*` or `*.delete`"
    )]
    EventPattern {
        /// The input (shortened if long).
        input: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A pagination cursor.
    #[error("invalid cursor: {reason}; pass the cursor back exactly as a previous page gave it")]
    Cursor {
        /// What was wrong with it.
        reason: String,
    },
    /// A resource filter (`--resource`).
    #[error(
        "invalid resource `{input}`: {reason}; expected `<type>` or `<type>:<id>`, such as \
         `project` or `project:p_42`"
    )]
    Resource {
        /// The input (shortened if long).
        input: String,
        /// What was wrong with it.
        reason: String,
    },
}

impl ParseError {
    fn time(input: &str, reason: impl Into<String>) -> Self {
        Self::Time { input: truncate(input), reason: reason.into() }
    }

    fn event_pattern(input: &str, reason: impl Into<String>) -> Self {
        Self::EventPattern { input: truncate(input), reason: reason.into() }
    }

    fn cursor(reason: impl Into<String>) -> Self {
        Self::Cursor { reason: reason.into() }
    }

    fn resource(input: &str, reason: impl Into<String>) -> Self {
        Self::Resource { input: truncate(input), reason: reason.into() }
    }
}

/// Shortens user input quoted in an error to at most 64 characters.
fn truncate(input: &str) -> String {
    const MAX: usize = 64;
    match input.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &input[..at]),
        None => input.to_owned(),
    }
}
