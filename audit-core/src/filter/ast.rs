//! The filter model: plain data that the parser builds, `Display` prints and
//! every store answers.
//!
//! A [`Filter`] is a tree of [`Filter::And`], [`Filter::Or`] and
//! [`Filter::Not`] over [`Condition`]s (a [`Field`] and a [`Test`] of
//! [`Value`]s) and free-text [`Filter::Text`] terms. Nothing in it is a
//! closure: a store walks the tree, translates what it can and checks the
//! rest with [`Filter::matches`].

use ipnet::IpNet;

use super::pattern::Pattern;
use crate::model::{Action, ActorKind, Outcome};
use crate::query::{EventPattern, TimeBound};

/// Which entries to select: the one filter model of the read side.
///
/// Built by [`Filter::parse`] from the text syntax (see the
/// [module docs](super)), by the constructors below, or from a
/// [`Query`](crate::query::Query) with [`Filter::from_query`].
///
/// The constructors keep a filter in *normal form*: `And` and `Or` hold at
/// least two filters and never a filter of their own kind directly, and the
/// empty `And` / `Or` are written `true` / `false`. The parser builds normal
/// forms only, and for a filter in normal form
/// `Filter::parse(&filter.to_string()) == Ok(filter)`.
///
/// Serialized (serde) as its canonical text, and deserialized by parsing, so
/// a stored alert rule or a viewer URL is readable and checked on load with
/// the same limits as typed input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter {
    /// Every filter matches. The empty list matches every entry (`true`).
    And(Vec<Filter>),
    /// At least one filter matches. The empty list matches no entry (`false`).
    Or(Vec<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
    /// One field test, such as `tenant = acme`.
    Cond(Condition),
    /// Free text, as typed in a search box: the entry contains it,
    /// case-insensitively, in its description, event name, reason, actor
    /// display form, or any resource's id or name (the fields of
    /// [`Query::text`](crate::query::Query::text)). Written as a quoted
    /// string: `"rotate"`.
    Text(String),
}

impl Filter {
    /// The filter that matches every entry (`true`, or the empty text).
    pub fn all() -> Self {
        Self::And(Vec::new())
    }

    /// The filter that matches no entry (`false`).
    pub fn none() -> Self {
        Self::Or(Vec::new())
    }

    /// Whether this is [`Filter::all`], the filter that selects nothing out.
    pub fn is_all(&self) -> bool {
        matches!(self, Self::And(list) if list.is_empty())
    }

    /// All of these filters: nested `And`s are flattened, a single filter is
    /// returned as it is, and no filters give [`Filter::all`].
    pub fn and(filters: impl IntoIterator<Item = Filter>) -> Self {
        Self::flatten(filters, true)
    }

    /// Any of these filters: nested `Or`s are flattened, a single filter is
    /// returned as it is, and no filters give [`Filter::none`].
    pub fn or(filters: impl IntoIterator<Item = Filter>) -> Self {
        Self::flatten(filters, false)
    }

    fn flatten(filters: impl IntoIterator<Item = Filter>, and: bool) -> Self {
        let mut out = Vec::new();
        for filter in filters {
            match filter {
                Self::And(list) if and => out.extend(list),
                Self::Or(list) if !and => out.extend(list),
                other => out.push(other),
            }
        }
        match (out.len(), and) {
            (1, _) => out.pop().unwrap_or_else(Self::all),
            (_, true) => Self::And(out),
            (_, false) => Self::Or(out),
        }
    }

    /// The negation of this filter (also `!filter`).
    #[must_use]
    pub fn negate(self) -> Self {
        Self::Not(Box::new(self))
    }

    /// One condition: `field` passes `test`.
    pub fn cond(field: Field, test: Test) -> Self {
        Self::Cond(Condition::new(field, test))
    }

    /// Free text (see [`Filter::Text`]).
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// A copy with every relative time (`7d`) turned into the absolute time
    /// it stands for at `now`.
    ///
    /// A store calls this once per query, so that every entry and every
    /// pushed-down clause is compared with the same bounds; a SQL store binds
    /// the absolute times as parameters.
    #[must_use]
    pub fn resolved(&self, now: time::OffsetDateTime) -> Self {
        let resolve = |value: &Value| match value {
            Value::Time(bound) => Value::Time(TimeBound::Absolute(bound.resolve(now))),
            other => other.clone(),
        };
        match self {
            Self::And(list) => Self::And(list.iter().map(|f| f.resolved(now)).collect()),
            Self::Or(list) => Self::Or(list.iter().map(|f| f.resolved(now)).collect()),
            Self::Not(inner) => Self::Not(Box::new(inner.resolved(now))),
            Self::Text(text) => Self::Text(text.clone()),
            Self::Cond(cond) => {
                let test = match &cond.test {
                    Test::Eq(v) => Test::Eq(resolve(v)),
                    Test::Ne(v) => Test::Ne(resolve(v)),
                    Test::Lt(v) => Test::Lt(resolve(v)),
                    Test::Le(v) => Test::Le(resolve(v)),
                    Test::Gt(v) => Test::Gt(resolve(v)),
                    Test::Ge(v) => Test::Ge(resolve(v)),
                    Test::In(list) => Test::In(list.iter().map(resolve).collect()),
                    other @ (Test::Matches(_) | Test::Exists) => other.clone(),
                };
                Self::cond(cond.field.clone(), test)
            }
        }
    }
}

impl Default for Filter {
    /// [`Filter::all`].
    fn default() -> Self {
        Self::all()
    }
}

impl std::ops::Not for Filter {
    type Output = Filter;
    fn not(self) -> Filter {
        self.negate()
    }
}

/// One test of one field: `tenant = acme`, `ip in (10.0.0.0/8)`,
/// `time > 7d`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Condition {
    /// What part of the entry is tested.
    pub field: Field,
    /// The test it must pass.
    pub test: Test,
}

impl Condition {
    /// A condition on `field`.
    pub fn new(field: Field, test: Test) -> Self {
        Self { field, test }
    }
}

/// A part of an entry that a condition tests.
///
/// Each field has *candidates*: the values of the entry it stands for (one,
/// none, or several: `actor` has the actor's id, name, email and display
/// form, `resource.id` the id of each resource). See the
/// [module docs](super#fields) for each field's candidates and values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// `event`: the event name, tested with globs (`key.*`).
    Event,
    /// `category`: the event name up to its first dot (`api_key` for
    /// `api_key.create`); the whole name if it has no dot.
    Category,
    /// `action`: create, read, update, delete or other.
    Action,
    /// `outcome`: success, failure, denied or cancelled.
    Outcome,
    /// `reason`: why the outcome happened, where known.
    Reason,
    /// `actor`: the actor's id, name, email and display form
    /// (`api-key:ci-deploy`), as [`Query::actor`](crate::query::Query::actor).
    Actor,
    /// `actor.kind`: user, api_key, service, system or anonymous.
    ActorKind,
    /// `actor.id`.
    ActorId,
    /// `actor.name`.
    ActorName,
    /// `actor.email`.
    ActorEmail,
    /// `tenant`.
    Tenant,
    /// `resource`: each resource, tested with `type` or `type:id`.
    Resource,
    /// `resource.type`: each resource's type.
    ResourceType,
    /// `resource.id`: each resource's id.
    ResourceId,
    /// `resource.name`: each resource's display name.
    ResourceName,
    /// `ip`: the client address, tested with addresses and CIDRs.
    Ip,
    /// `request_id`.
    RequestId,
    /// `user_agent`.
    UserAgent,
    /// `description`: the entry's sentence (absent when empty).
    Description,
    /// `time`: when the entry happened, compared with `<`, `<=`, `>`, `>=`
    /// and ranges.
    Time,
    /// A path into the entry's JSON: `request.body.role`,
    /// `changes.path`, `metadata.plan`.
    Json(JsonPath),
}

impl Field {
    /// Every field with a fixed name, and that name, in the order error
    /// messages list them.
    pub const NAMED: &'static [(&'static str, Field)] = &[
        ("event", Field::Event),
        ("category", Field::Category),
        ("action", Field::Action),
        ("outcome", Field::Outcome),
        ("reason", Field::Reason),
        ("actor", Field::Actor),
        ("actor.kind", Field::ActorKind),
        ("actor.id", Field::ActorId),
        ("actor.name", Field::ActorName),
        ("actor.email", Field::ActorEmail),
        ("tenant", Field::Tenant),
        ("resource", Field::Resource),
        ("resource.type", Field::ResourceType),
        ("resource.id", Field::ResourceId),
        ("resource.name", Field::ResourceName),
        ("ip", Field::Ip),
        ("request_id", Field::RequestId),
        ("user_agent", Field::UserAgent),
        ("description", Field::Description),
        ("time", Field::Time),
    ];

    /// The field a name stands for: a fixed name (`actor.kind`) or a JSON
    /// path (`request.body.role`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, field)| field.clone())
            .or_else(|| JsonPath::parse(name).map(Self::Json))
    }
}

/// A path into one of the JSON parts of an entry.
///
/// Keys are object keys, separated by dots in the text form:
/// `request.body.role` is the key `body`, then `role`, of the request. An
/// array on the way (or at the end) stands for each of its elements, so
/// `request.body.members.role` reaches the role of every member. Keys are
/// not empty and contain no whitespace, control characters, dots or the
/// characters `( ) , " ' = ! ~ < >`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonPath {
    root: JsonRoot,
    keys: Vec<String>,
}

impl JsonPath {
    /// A path of `keys` below `root`; `None` if a key cannot be written in
    /// the text syntax (see the type docs).
    pub fn new<K: Into<String>>(root: JsonRoot, keys: impl IntoIterator<Item = K>) -> Option<Self> {
        let keys: Vec<String> = keys.into_iter().map(Into::into).collect();
        keys.iter().all(|k| is_key(k)).then_some(Self { root, keys })
    }

    /// Reads the text form, `request.body.role`; `None` if it does not start
    /// with a root or has an empty or invalid key.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('.');
        let root = JsonRoot::from_name(parts.next()?)?;
        Self::new(root, parts)
    }

    /// The part of the entry the path starts in.
    pub fn root(&self) -> JsonRoot {
        self.root
    }

    /// The keys below the root, outermost first.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }
}

fn is_key(key: &str) -> bool {
    !key.is_empty() && key.chars().all(|c| super::lex::is_word_char(c) && c != '.')
}

/// The JSON parts of an entry that a [`JsonPath`] can start in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JsonRoot {
    /// `request`: HTTP `{method, route, path, query, headers, body}` or gRPC
    /// `{service, method, message}`.
    Request,
    /// `response`: `{status, grpc_status, body, duration_us}`.
    Response,
    /// `changes`: each change, `{path, before, after}`.
    Changes,
    /// `metadata`: the application's map.
    Metadata,
}

impl JsonRoot {
    /// Every root.
    pub const ALL: [JsonRoot; 4] = [Self::Request, Self::Response, Self::Changes, Self::Metadata];

    /// The name in the text form and in the entry's JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Changes => "changes",
            Self::Metadata => "metadata",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|root| root.as_str() == name)
    }
}

/// The test a field must pass. Every test except [`Test::Ne`] holds when
/// *any* candidate of the field passes it (see [`Field`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Test {
    /// `= value`: a candidate equals the value (for globs, CIDRs and
    /// `type`-only resources: is matched by it).
    Eq(Value),
    /// `!= value`: exactly `not (field = value)`, so an entry without the
    /// field passes. Stores must keep this: in SQL, `NULL` passes.
    Ne(Value),
    /// `~ pattern`: a regular expression finds a match in a candidate
    /// (unanchored; see [`Pattern`]).
    Matches(Pattern),
    /// `in (a, b)`: a candidate equals one of the values.
    In(Vec<Value>),
    /// `exists`: the field has at least one candidate.
    Exists,
    /// `< value`: a candidate is less than the value (times, numbers).
    Lt(Value),
    /// `<= value`.
    Le(Value),
    /// `> value`.
    Gt(Value),
    /// `>= value`.
    Ge(Value),
}

/// A value in a condition, typed by the field it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Value {
    /// Text, compared exactly (case-sensitive).
    Text(String),
    /// A JSON number, for JSON paths.
    Number(serde_json::Number),
    /// A JSON `true` or `false`, for JSON paths.
    Bool(bool),
    /// A JSON `null`, for JSON paths.
    Null,
    /// An event name or glob, for `event`.
    Event(EventPattern),
    /// For `action`.
    Action(Action),
    /// For `outcome`.
    Outcome(Outcome),
    /// For `actor.kind`.
    ActorKind(ActorKind),
    /// A resource type, or type and id, for `resource`.
    Resource(ResourceRef),
    /// An address (a network of one: `/32` or `/128`) or a CIDR, for `ip`.
    Ip(IpNet),
    /// A point in time, for `time`; a relative bound (`7d`) stands for that
    /// long before now.
    Time(TimeBound),
}

/// A resource in a condition: a type (`project`) or a type and an id
/// (`project:p_42`), both of the same resource.
///
/// The text form splits at the first `:`, so a type containing `:` (which
/// [`Query::parse_resource`](crate::query::Query::parse_resource) never
/// gives) does not print back to the same value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ResourceRef {
    /// The resource type.
    pub kind: String,
    /// The id, if the condition names one.
    pub id: Option<String>,
}

impl ResourceRef {
    /// Any resource of this type.
    pub fn of_type(kind: impl Into<String>) -> Self {
        Self { kind: kind.into(), id: None }
    }

    /// The resource of this type and id.
    pub fn new(kind: impl Into<String>, id: impl Into<String>) -> Self {
        Self { kind: kind.into(), id: Some(id.into()) }
    }
}
