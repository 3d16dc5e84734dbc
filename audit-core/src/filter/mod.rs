//! The filter language of the read side: one model ([`Filter`]) and one
//! text syntax for everything that selects entries (the CLI's `--where` and
//! flags, the viewer's search box and URLs, alert rules).
//!
//! ```
//! use audit_core::filter::Filter;
//! use audit_core::{Actor, AuditEvent, HttpRequest, Outcome, Request, Resource, Source, Body};
//! use serde_json::json;
//! use time::macros::datetime;
//!
//! let filter: Filter = r#"
//!     event in (key.*, api_key.*) and outcome != success
//!     and (actor.kind = api_key or ip in (10.0.0.0/8, 192.168.0.0/16))
//!     and request.body.role = "admin" and time > 7d
//! "#
//! .parse()?;
//!
//! let mut request = HttpRequest::new("POST", "/keys");
//! request.body = Some(Body::Json(json!({"role": "admin"})));
//! let entry = AuditEvent::builder("api_key.create")
//!     .actor(Actor::api_key("k_1").name("ci-deploy"))
//!     .outcome(Outcome::Denied)
//!     .resource(Resource::new("api_key", "k_2"))
//!     .source(Source::new().ip("10.1.2.3".parse()?))
//!     .request(Request::Http(request))
//!     .time(datetime!(2026-03-01 12:00 UTC))
//!     .build();
//! assert!(filter.matches(&entry, datetime!(2026-03-02 00:00 UTC)));
//!
//! // The canonical text form, which parses back to the same filter.
//! assert_eq!(
//!     filter.to_string(),
//!     "event in (key.*, api_key.*) and outcome != success \
//!      and (actor.kind = api_key or ip in (10.0.0.0/8, 192.168.0.0/16)) \
//!      and request.body.role = admin and time > 7d"
//! );
//!
//! // Errors say where and what was expected.
//! let err = Filter::parse("actor = ").unwrap_err();
//! assert_eq!(err.to_string(), r#"expected a value after "=" at column 9"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Grammar
//!
//! ```text
//! filter    = [ or ]                      the empty text matches every entry
//! or        = and { "or" and }
//! and       = unary { "and" unary }
//! unary     = "not" unary | primary
//! primary   = "(" or ")" | "true" | "false" | string | condition
//! condition = field ( "=" value | "!=" value | "~" value
//!                   | "in" "(" value { "," value } ")"
//!                   | "in" [ value ] ".." [ value ]           time only
//!                   | ( "<" | "<=" | ">" | ">=" ) value       time and JSON paths
//!                   | "exists" )
//! field     = a name from the table below | json-path
//! json-path = ( "request" | "response" | "changes" | "metadata" ) { "." key }
//! value     = word | string
//! string    = '"' { character | escape } '"'                  \" \\ \n \r \t \u{1F600}
//!           | "'" { character | "''" } "'"                    as written; '' is one '
//! word      = a run of characters other than whitespace, control characters
//!             and ( ) , " ' = ! ~ < >; a ".." ends it too
//! ```
//!
//! `not` binds tighter than `and`, which binds tighter than `or`:
//! `not a and b or c` is `((not a) and b) or c`. The keywords `and`, `or`,
//! `not`, `in`, `exists`, `true` and `false` are case-insensitive; field
//! names and values are case-sensitive. A quoted string on its own is free
//! text ([`Filter::Text`]), as a search box takes it. To use `and`, `or` or
//! `not` as a value, quote it.
//!
//! # Fields
//!
//! Each field has *candidates*, the values of the entry it stands for; a
//! test holds when any candidate passes it (see [Semantics](#semantics)).
//!
//! | field | candidates | values |
//! |---|---|---|
//! | `event` | the event name | a name or glob: `key.*`, `*.delete` |
//! | `category` | the event name up to its first dot ([`category`]) | text: `api_key` |
//! | `action` | the action | `create`, `read`, `update`, `delete`, `other` |
//! | `outcome` | the outcome | `success`, `failure`, `denied`, `cancelled` |
//! | `reason` | the outcome's reason, if any | text |
//! | `actor` | the actor's id, name, email and display form | text: `alice@example.com`, `api-key:ci-deploy` |
//! | `actor.kind` | the actor's kind | `user`, `api_key`, `service`, `system`, `anonymous` |
//! | `actor.id`, `actor.name`, `actor.email` | that part of the actor, if set | text |
//! | `tenant` | the tenant, if any | text |
//! | `resource` | each resource | `type` or `type:id`: `project`, `project:p_42` |
//! | `resource.type`, `resource.id`, `resource.name` | that part of each resource | text |
//! | `ip` | the client address, if known | an address or a CIDR: `10.0.0.1`, `10.0.0.0/8`, `2001:db8::/32` |
//! | `request_id`, `user_agent` | that part of the source, if known | text |
//! | `description` | the description, if not empty | text |
//! | `time` | when the entry happened | a time: `2026-01-31T09:30:00Z`, `2026-01-31` (midnight UTC), or a span before now: `90s`, `30m`, `24h`, `7d`, `2w` (also `ms`, `us`, `ns`) |
//! | `request.…`, `response.…`, `changes.…`, `metadata.…` | every JSON value at the path ([`JsonPath`]) | a JSON scalar: `"admin"` or `admin`, `200`, `-1.5`, `true`, `false`, `null` |
//!
//! JSON paths follow the entry's JSON: `request.method`,
//! `request.headers.user-agent`, `request.body.role` (HTTP),
//! `request.service`, `request.message.id` (gRPC), `response.status`,
//! `response.body.error`, `changes.path`, `changes.after`,
//! `metadata.plan`. For JSON paths, a bare word that is a JSON number is a
//! number and `true`, `false` and `null` are themselves; a quoted string is
//! always text. For every other field a value is read as that field's type,
//! quoted or not.
//!
//! # Semantics
//!
//! These are the plain scan semantics of [`Filter::matches`]; every store
//! gives the same answers.
//!
//! - `field = v` holds when a candidate equals `v`: text exactly
//!   (case-sensitive); an event name when the glob matches it; a resource
//!   when its type (and id, if given) are `v`'s; an address when the CIDR
//!   contains it (same address family); JSON numbers by value (`200 = 200.0`).
//! - `field in (a, b)` is `field = a or field = b`.
//! - `field != v` is exactly `not (field = v)`: an entry without the field
//!   passes, and for several candidates no candidate may equal `v`. SQL's
//!   `<>` differs on `NULL`; a SQL store writes `IS DISTINCT FROM` or
//!   `NOT (...)` over a `COALESCE`d test to give these answers.
//! - `field ~ re` holds when the regular expression finds a match in a
//!   candidate's text (unanchored, case-sensitive; see [`Pattern`]). It
//!   applies to text, names of enum values, resources as `type:id`, and JSON
//!   strings; not to `ip` or `time`.
//! - `field exists` holds when the field has a candidate. `event`,
//!   `category`, `action`, `outcome`, `actor`, `actor.kind` and `time` always
//!   do. A JSON path exists when it reaches a value; `null` counts, an empty
//!   array does not.
//! - `<`, `<=`, `>`, `>=` compare times with times and JSON numbers with
//!   numbers; anything else (a JSON string, a missing value) does not pass.
//!   A span stands for the moment that long before now: `time > 7d` is
//!   "in the last 7 days", `time < 24h` "more than a day ago".
//!   `time in a..b` is `time >= a and time < b`, either end optional
//!   (`time in 7d..1d`: from a week ago until a day ago).
//! - A JSON array stands for each of its elements, on the way and at the
//!   end: `request.body.tags = urgent` holds if any tag is `urgent`, and
//!   `changes.path = enabled` if any change has that path. There is no
//!   indexing into arrays.
//! - Free text (`"rotate"`) holds when the description, event name, reason,
//!   actor display form or a resource's id or name contains it,
//!   case-insensitively, as [`Query::text`](crate::query::Query::text).
//!
//! # Limits
//!
//! Against hostile input, the parser refuses text longer than
//! [`Filter::MAX_LEN`] bytes, nesting of parentheses and `not` deeper than
//! [`Filter::MAX_DEPTH`], more than [`Filter::MAX_TERMS`] conditions and
//! listed values, and regular expressions longer than [`Pattern::MAX_LEN`]
//! or larger than a fixed size once compiled. Each is a [`ParseError`] with
//! its own [`ParseErrorKind`]. Matching a regular expression takes time
//! linear in the text (no backtracking).
//!
//! # For stores
//!
//! A store calls [`Filter::resolved`] once per query (relative times become
//! absolute), translates the conditions it can (walking the tree; every enum
//! is `#[non_exhaustive]`, so a store treats what it does not know as "not
//! translated"), and checks every entry the translated part selects with
//! [`Filter::matches`] when anything was left out. Under `not`, only a part
//! translated exactly may be pushed down. [`Filter::from_query`] turns the
//! flag filters of a [`Query`](crate::query::Query) into a filter.
//!
//! The text form ([`Display`](std::fmt::Display)) is canonical, and serde
//! carries a filter as that text: `{"where": "tenant = acme"}`.

mod ast;
mod display;
mod error;
mod eval;
mod from_query;
mod json;
mod lex;
mod literal;
mod parse;
mod pattern;

#[cfg(test)]
mod tests;

pub use ast::{Condition, Field, Filter, JsonPath, JsonRoot, ResourceRef, Test, Value};
pub use error::{ParseError, ParseErrorKind};
pub use eval::category;
pub use pattern::{Pattern, PatternError};
