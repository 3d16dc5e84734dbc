//! Runtime support for the code that `#[audited]` generates.
//!
//! Not public API: everything here may change in any release. The attribute's
//! documentation describes the behaviour; this module is how it is done.
//!
//! # Probes (autoref specialization)
//!
//! The macro does not know the types of a function's arguments and return
//! value beyond their syntax, so it asks the compiler: it wraps a reference in
//! [`Probe`] and calls a method through several layers of `&`, e.g.
//! `(&&&Probe(&arg)).__audit_actor()`. Method resolution tries the receiver
//! `&&&Probe<T>` first, then `&&Probe<T>`, `&Probe<T>` and `Probe<T>`; each
//! level is a separate trait with a stricter bound than the next, so the first
//! level whose bound holds wins (`T: AsActor`, else `Option<T: AsActor>`, else
//! `T: Deref<Target: AsActor>`, else nothing). Resolution happens where the
//! generated code is written, so for a generic parameter only the bounds the
//! function declares count.

use std::fmt::{Debug, Display};
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::{Actor, AsActor, AuditEvent, Body, Outcome, Resource, Response};
use crate::pipeline::{Auditor, Delivery, RecordError};
use crate::redact::REDACTED;
use crate::scope::AuditScope;

pub use crate::model::Action;

/// A reference under examination; see the [module docs](self).
#[derive(Debug)]
pub struct Probe<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Clone for Probe<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ?Sized> Copy for Probe<'_, T> {}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("[unserializable: {e}]")))
}

// ---------------------------------------------------------------------------
// Actor: `T: AsActor`, `Option<T: AsActor>`, `T: Deref<Target: AsActor>`.

/// Probe level: the value is an actor.
pub trait ActorDirect {
    /// The actor, if the value stands for one.
    fn __audit_actor(self) -> Option<Actor>;
}
impl<T: AsActor + ?Sized> ActorDirect for &&&Probe<'_, T> {
    fn __audit_actor(self) -> Option<Actor> {
        Some(self.0.as_actor())
    }
}
/// Probe level: the value is an optional actor.
pub trait ActorOption {
    /// The actor, if the value stands for one.
    fn __audit_actor(self) -> Option<Actor>;
}
impl<T: AsActor> ActorOption for &&Probe<'_, Option<T>> {
    fn __audit_actor(self) -> Option<Actor> {
        self.0.as_ref().map(AsActor::as_actor)
    }
}
/// Probe level: the value wraps an actor (`Extension<User>`).
pub trait ActorDeref {
    /// The actor, if the value stands for one.
    fn __audit_actor(self) -> Option<Actor>;
}
impl<T: Deref + ?Sized> ActorDeref for &Probe<'_, T>
where
    T::Target: AsActor,
{
    fn __audit_actor(self) -> Option<Actor> {
        Some((**self.0).as_actor())
    }
}
/// Probe level: not an actor.
pub trait ActorNone {
    /// The actor, if the value stands for one.
    fn __audit_actor(self) -> Option<Actor>;
}
impl<T: ?Sized> ActorNone for Probe<'_, T> {
    fn __audit_actor(self) -> Option<Actor> {
        None
    }
}

// ---------------------------------------------------------------------------
// Plain arguments: actors are not request data; then `Serialize`, then
// `Deref<Target: Serialize>` (`Json<T>`), else nothing.

/// Probe level: an argument that is the actor is not captured.
pub trait ArgActor {
    /// The argument's value.
    fn __audit_arg(self) -> Option<Value>;
}
impl<T: AsActor + ?Sized> ArgActor for &&&Probe<'_, T> {
    fn __audit_arg(self) -> Option<Value> {
        None
    }
}
/// Probe level: a serializable argument.
pub trait ArgSerialize {
    /// The argument's value.
    fn __audit_arg(self) -> Option<Value>;
}
impl<T: Serialize + ?Sized> ArgSerialize for &&Probe<'_, T> {
    fn __audit_arg(self) -> Option<Value> {
        Some(to_json(self.0))
    }
}
/// Probe level: a wrapper of a serializable value.
pub trait ArgDeref {
    /// The argument's value.
    fn __audit_arg(self) -> Option<Value>;
}
impl<T: Deref + ?Sized> ArgDeref for &Probe<'_, T>
where
    T::Target: Serialize,
{
    fn __audit_arg(self) -> Option<Value> {
        Some(to_json(&**self.0))
    }
}
/// Probe level: not captured.
pub trait ArgNone {
    /// The argument's value.
    fn __audit_arg(self) -> Option<Value>;
}
impl<T: ?Sized> ArgNone for Probe<'_, T> {
    fn __audit_arg(self) -> Option<Value> {
        None
    }
}

// ---------------------------------------------------------------------------
// gRPC messages: `Serialize`, `Deref<Target: Serialize>`, then `Debug`.

/// Probe level: a serializable message.
pub trait MessageSerialize {
    /// The message's value.
    fn __audit_message(self) -> Option<Value>;
}
impl<T: Serialize + ?Sized> MessageSerialize for &&&Probe<'_, T> {
    fn __audit_message(self) -> Option<Value> {
        Some(to_json(self.0))
    }
}
/// Probe level: a wrapper of a serializable message.
pub trait MessageDeref {
    /// The message's value.
    fn __audit_message(self) -> Option<Value>;
}
impl<T: Deref + ?Sized> MessageDeref for &&Probe<'_, T>
where
    T::Target: Serialize,
{
    fn __audit_message(self) -> Option<Value> {
        Some(to_json(&**self.0))
    }
}
/// Probe level: a message that only implements `Debug` (prost's default):
/// its `Debug` text read back as JSON (see [`debug_to_json`]), so that it is
/// redacted like any JSON.
pub trait MessageDebug {
    /// The message's value.
    fn __audit_message(self) -> Option<Value>;
}
impl<T: Debug + ?Sized> MessageDebug for &Probe<'_, T> {
    fn __audit_message(self) -> Option<Value> {
        Some(debug_to_json(&format!("{:?}", self.0)))
    }
}
/// Probe level: not captured.
pub trait MessageNone {
    /// The message's value.
    fn __audit_message(self) -> Option<Value>;
}
impl<T: ?Sized> MessageNone for Probe<'_, T> {
    fn __audit_message(self) -> Option<Value> {
        None
    }
}

/// Reads `Debug` output (`{:?}` of structs, tuples, enums, options, lists,
/// maps, strings, numbers) back as JSON, so that a message that is not
/// `Serialize` is still redacted field by field: `Req { name: "a", tags: ["x"],
/// parent: Some(Ref { id: 7 }), kind: Admin }` becomes `{"name": "a", "tags":
/// ["x"], "parent": {"id": 7}, "kind": "Admin"}`. Type names are dropped,
/// `None` and `()` are `null`, a newtype is its field, another tuple struct
/// or a tuple an array.
///
/// Text that does not parse is never stored as it is (it could hold a
/// secret that no key marks): it becomes the string
/// `"[omitted: unparseable Debug output]"`.
pub fn debug_to_json(text: &str) -> Value {
    let mut p = DebugParser { s: text.as_bytes(), i: 0, depth: 0 };
    match p.value() {
        Some(v) if p.at_end() => v,
        _ => Value::String(UNPARSEABLE_DEBUG.to_owned()),
    }
}

/// What [`debug_to_json`] stores for text it cannot read.
pub const UNPARSEABLE_DEBUG: &str = "[omitted: unparseable Debug output]";

struct DebugParser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl DebugParser<'_> {
    const MAX_DEPTH: usize = 64;

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(u8::is_ascii_whitespace) {
            self.i += 1;
        }
    }

    fn at_end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > Self::MAX_DEPTH {
            return None;
        }
        let v = match self.peek()? {
            b'"' => self.string().map(Value::String),
            b'\'' => self.char().map(Value::String),
            b'[' => {
                self.i += 1;
                self.list(b']').map(Value::Array)
            }
            b'(' => {
                self.i += 1;
                self.list(b')').map(|items| match items.len() {
                    0 => Value::Null,
                    _ => Value::Array(items),
                })
            }
            b'{' => {
                self.i += 1;
                self.map()
            }
            c if c == b'-' || c.is_ascii_digit() => self.number(),
            c if c.is_ascii_alphabetic() || c == b'_' => self.named(),
            _ => None,
        };
        self.depth -= 1;
        v
    }

    /// `Name`, `Name { .. }`, `Name(..)`, `true`, `None`, `inf`...
    fn named(&mut self) -> Option<Value> {
        let name = self.ident()?;
        match self.peek() {
            Some(b'{') => {
                self.i += 1;
                self.fields()
            }
            Some(b'(') => {
                self.i += 1;
                let mut items = self.list(b')')?;
                Some(match items.len() {
                    0 => Value::Null,
                    1 => items.pop().unwrap_or(Value::Null),
                    _ => Value::Array(items),
                })
            }
            _ => Some(match name.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "None" => Value::Null,
                _ => Value::String(name),
            }),
        }
    }

    /// An identifier, or a path (`a::B`).
    fn ident(&mut self) -> Option<String> {
        self.ws();
        let start = self.i;
        loop {
            while self.s.get(self.i).is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') {
                self.i += 1;
            }
            if self.i > start && self.s[self.i..].starts_with(b"::") {
                self.i += 2;
            } else {
                break;
            }
        }
        (self.i > start).then(|| String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    /// `{ a: 1, b: "x", .. }` after the `{`.
    fn fields(&mut self) -> Option<Value> {
        let mut map = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            if self.eat(b'.') {
                if !self.eat(b'.') || !self.eat(b'}') {
                    return None;
                }
                return Some(Value::Object(map));
            }
            let key = self.ident()?;
            if !self.eat(b':') {
                return None;
            }
            let value = self.value()?;
            map.insert(key.trim_start_matches("r#").to_owned(), value);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
        }
    }

    /// `{k: v, ..}` (a map) after the `{`; keys become strings.
    fn map(&mut self) -> Option<Value> {
        let mut map = Map::new();
        loop {
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            let key = match self.value()? {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if !self.eat(b':') {
                return None;
            }
            map.insert(key, self.value()?);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
        }
    }

    fn list(&mut self, close: u8) -> Option<Vec<Value>> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Some(items);
            }
            items.push(self.value()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(items);
            }
        }
    }

    fn number(&mut self) -> Option<Value> {
        self.ws();
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
            if self.s[self.i..].starts_with(b"inf") {
                self.i += 3;
                return Some(Value::String("-inf".into()));
            }
        }
        while self
            .s
            .get(self.i)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).ok()?;
        if let Ok(n) = text.parse::<i64>() {
            return Some(Value::from(n));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Some(Value::from(n));
        }
        let f = text.parse::<f64>().ok()?;
        Some(
            serde_json::Number::from_f64(f)
                .map_or_else(|| Value::String(text.to_owned()), Value::Number),
        )
    }

    fn string(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => self.escape(&mut out)?,
                _ => out.push(c),
            }
        }
    }

    fn char(&mut self) -> Option<String> {
        self.i += 1; // the opening quote
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i)?;
            self.i += 1;
            match c {
                b'\'' if !out.is_empty() => return String::from_utf8(out).ok(),
                b'\\' => self.escape(&mut out)?,
                _ => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Option<()> {
        let c = *self.s.get(self.i)?;
        self.i += 1;
        let ch = match c {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'0' => '\0',
            b'\\' | b'"' | b'\'' => char::from(c),
            b'u' => {
                if self.s.get(self.i) != Some(&b'{') {
                    return None;
                }
                let end = self.i + self.s[self.i..].iter().position(|&b| b == b'}')?;
                let hex = std::str::from_utf8(&self.s[self.i + 1..end]).ok()?;
                self.i = end + 1;
                char::from_u32(u32::from_str_radix(hex, 16).ok()?)?
            }
            _ => return None,
        };
        let mut buf = [0; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Some(())
    }
}

// ---------------------------------------------------------------------------
// Returned values: `Serialize`, then `Deref<Target: Serialize>` (`Json<T>`).

/// Probe level: a serializable value.
pub trait ValueSerialize {
    /// The value as JSON.
    fn __audit_value(self) -> Option<Value>;
}
impl<T: Serialize + ?Sized> ValueSerialize for &&Probe<'_, T> {
    fn __audit_value(self) -> Option<Value> {
        Some(to_json(self.0))
    }
}
/// Probe level: a wrapper of a serializable value.
pub trait ValueDeref {
    /// The value as JSON.
    fn __audit_value(self) -> Option<Value>;
}
impl<T: Deref + ?Sized> ValueDeref for &Probe<'_, T>
where
    T::Target: Serialize,
{
    fn __audit_value(self) -> Option<Value> {
        Some(to_json(&**self.0))
    }
}
/// Probe level: not captured.
pub trait ValueNone {
    /// The value as JSON.
    fn __audit_value(self) -> Option<Value>;
}
impl<T: ?Sized> ValueNone for Probe<'_, T> {
    fn __audit_value(self) -> Option<Value> {
        None
    }
}

// ---------------------------------------------------------------------------
// Resource ids: `Display`, `Deref<Target: Display>` (`Path<String>`), then a
// serializable scalar or an object's `id` field, directly or through `Deref`
// (`Path<Params>`).

/// Probe level: a displayable id.
pub trait IdDisplay {
    /// The id as a string.
    fn __audit_id(self) -> Option<String>;
}
impl<T: Display + ?Sized> IdDisplay for &&&&Probe<'_, T> {
    fn __audit_id(self) -> Option<String> {
        Some(self.0.to_string())
    }
}
/// Probe level: a wrapper of a displayable id.
pub trait IdDeref {
    /// The id as a string.
    fn __audit_id(self) -> Option<String>;
}
impl<T: Deref + ?Sized> IdDeref for &&&Probe<'_, T>
where
    T::Target: Display,
{
    fn __audit_id(self) -> Option<String> {
        Some((**self.0).to_string())
    }
}
/// Probe level: a serializable id, or a struct of path parameters.
pub trait IdSerialize {
    /// The id as a string.
    fn __audit_id(self) -> Option<String>;
}
impl<T: Serialize + ?Sized> IdSerialize for &&Probe<'_, T> {
    fn __audit_id(self) -> Option<String> {
        id_of(&to_json(self.0))
    }
}
/// Probe level: a wrapper of a serializable id or struct of path parameters.
pub trait IdDerefSerialize {
    /// The id as a string.
    fn __audit_id(self) -> Option<String>;
}
impl<T: Deref + ?Sized> IdDerefSerialize for &Probe<'_, T>
where
    T::Target: Serialize,
{
    fn __audit_id(self) -> Option<String> {
        id_of(&to_json(&**self.0))
    }
}
/// Probe level: no id.
pub trait IdNone {
    /// The id as a string.
    fn __audit_id(self) -> Option<String>;
}
impl<T: ?Sized> IdNone for Probe<'_, T> {
    fn __audit_id(self) -> Option<String> {
        None
    }
}

/// A scalar as an id; an object's `id` field, or its only field.
fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Object(map) => match map.get("id") {
            Some(v @ (Value::String(_) | Value::Number(_))) => id_of(v),
            Some(_) => None,
            None if map.len() == 1 => map.values().next().and_then(|v| match v {
                Value::String(_) | Value::Number(_) => id_of(v),
                _ => None,
            }),
            None => None,
        },
        _ => None,
    }
}

/// The `id` field of a returned object (`Json<Project>` from a create handler).
fn returned_id(value: &Value) -> Option<String> {
    match value.as_object()?.get("id")? {
        v @ (Value::String(_) | Value::Number(_)) => id_of(v),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Outcome: `Result<T, E>` with `E: Display`, `E: Debug`, any `E`, or not a
// `Result` at all.

/// What the function's return value says about the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reported {
    /// Not a `Result`: the value says nothing.
    Value,
    /// `Ok(_)`.
    Ok,
    /// `Err(e)`, with the error's `Display` (or `Debug`) text when it has one.
    Err(Option<String>),
    /// `Err(status)` of a tonic method: the gRPC code and message.
    Grpc {
        /// The gRPC status code.
        code: i32,
        /// The status message.
        message: String,
    },
}

impl Reported {
    /// A gRPC error status.
    pub fn grpc(code: impl Into<i32>, message: &str) -> Self {
        Self::Grpc { code: code.into(), message: message.to_owned() }
    }
}

/// Probe level: a `Result` whose error is `Display`.
pub trait OutcomeDisplay {
    /// The outcome of the value.
    fn __audit_outcome(self) -> Reported;
}
impl<T, E: Display> OutcomeDisplay for &&&Probe<'_, Result<T, E>> {
    fn __audit_outcome(self) -> Reported {
        match self.0 {
            Ok(_) => Reported::Ok,
            Err(e) => Reported::Err(Some(e.to_string())),
        }
    }
}
/// Probe level: a `Result` whose error is `Debug`.
pub trait OutcomeDebug {
    /// The outcome of the value.
    fn __audit_outcome(self) -> Reported;
}
impl<T, E: Debug> OutcomeDebug for &&Probe<'_, Result<T, E>> {
    fn __audit_outcome(self) -> Reported {
        match self.0 {
            Ok(_) => Reported::Ok,
            Err(e) => Reported::Err(Some(format!("{e:?}"))),
        }
    }
}
/// Probe level: any `Result`.
pub trait OutcomeResult {
    /// The outcome of the value.
    fn __audit_outcome(self) -> Reported;
}
impl<T, E> OutcomeResult for &Probe<'_, Result<T, E>> {
    fn __audit_outcome(self) -> Reported {
        match self.0 {
            Ok(_) => Reported::Ok,
            Err(_) => Reported::Err(None),
        }
    }
}
/// Probe level: not a `Result`.
pub trait OutcomeValue {
    /// The outcome of the value.
    fn __audit_outcome(self) -> Reported;
}
impl<T: ?Sized> OutcomeValue for Probe<'_, T> {
    fn __audit_outcome(self) -> Reported {
        Reported::Value
    }
}

/// Probe level: the `Ok` value of a `Result`.
pub trait OkOfResult<'a> {
    /// The `Ok` value.
    type Ok: ?Sized;
    /// The value that stands for the response: the `Ok` value of a `Result`,
    /// the value itself otherwise.
    fn __audit_ok(self) -> Option<&'a Self::Ok>;
}
impl<'a, T, E> OkOfResult<'a> for &Probe<'a, Result<T, E>> {
    type Ok = T;
    fn __audit_ok(self) -> Option<&'a T> {
        self.0.as_ref().ok()
    }
}
/// Probe level: any value stands for itself.
pub trait OkOfValue<'a> {
    /// The value.
    type Ok: ?Sized;
    /// The value that stands for the response: the `Ok` value of a `Result`,
    /// the value itself otherwise.
    fn __audit_ok(self) -> Option<&'a Self::Ok>;
}
impl<'a, T: ?Sized> OkOfValue<'a> for Probe<'a, T> {
    type Ok = T;
    fn __audit_ok(self) -> Option<&'a T> {
        Some(self.0)
    }
}

// ---------------------------------------------------------------------------
// Request capture.

/// The arguments captured as the request: one value directly, or an object
/// keyed by argument name.
#[derive(Debug, Default)]
pub struct RequestCapture {
    direct: bool,
    entries: Vec<(&'static str, Value)>,
}

impl RequestCapture {
    /// `direct`: the request is the one captured value itself (a `Json` body,
    /// a gRPC message), not an object keyed by argument name.
    pub fn new(direct: bool) -> Self {
        Self { direct, entries: Vec::new() }
    }

    /// Adds an argument, if it could be captured.
    pub fn add(&mut self, name: &'static str, value: Option<Value>) {
        if let Some(v) = value {
            self.entries.push((name, v));
        }
    }

    /// Replaces the value at `path` (`[argument, field, field...]`) with
    /// `"[REDACTED]"`. A field inside an array applies to every element.
    pub fn redact(&mut self, path: &[&str]) {
        let Some((arg, fields)) = path.split_first() else { return };
        for (name, value) in &mut self.entries {
            if name == arg {
                redact_path(value, fields);
            }
        }
    }

    /// The request body, if anything was captured.
    pub fn finish(self) -> Option<Body> {
        if self.entries.is_empty() {
            return None;
        }
        if self.direct && self.entries.len() == 1 {
            return self.entries.into_iter().next().map(|(_, v)| Body::Json(v));
        }
        let map: Map<String, Value> =
            self.entries.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Some(Body::Json(Value::Object(map)))
    }
}

fn redact_path(value: &mut Value, path: &[&str]) {
    let Some((first, rest)) = path.split_first() else {
        *value = Value::String(REDACTED.to_owned());
        return;
    };
    match value {
        Value::Object(map) => {
            if let Some(v) = map.get_mut(*first) {
                redact_path(v, rest);
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_path(item, path);
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Description templates.

/// Renders a description template against an entry: `{actor}`,
/// `{actor.id|name|email|kind}`, `{resource}`, `{resource.type|id|name}`,
/// `{tenant}`, `{event}`, `{action}`, `{metadata.KEY}`; `{{` and `}}` are
/// braces. Unknown values render as nothing (the macro checks the names at
/// compile time).
pub fn render_description(template: &str, event: &AuditEvent) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let (true, Some(end)) = (tail.starts_with('{'), tail.find('}')) {
            out.push_str(&placeholder(&tail[1..end], event));
            rest = &tail[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn placeholder(name: &str, e: &AuditEvent) -> String {
    let resource = e.primary_resource();
    let opt = |v: Option<&String>| v.cloned().unwrap_or_default();
    match name.trim() {
        "actor" => e.actor.to_string(),
        "actor.id" => opt(e.actor.id.as_ref()),
        "actor.name" => opt(e.actor.name.as_ref()),
        "actor.email" => opt(e.actor.email.as_ref()),
        "actor.kind" => e.actor.kind.to_string(),
        "resource" => resource.map(Resource::to_string).unwrap_or_default(),
        "resource.type" => resource.map(|r| r.kind.clone()).unwrap_or_default(),
        "resource.id" => opt(resource.and_then(|r| r.id.as_ref())),
        "resource.name" => opt(resource.and_then(|r| r.name.as_ref())),
        "tenant" => opt(e.tenant.as_ref()),
        "event" => e.event.clone(),
        "action" => e.action.as_str().to_owned(),
        other => match other.strip_prefix("metadata.").and_then(|k| e.metadata.get(k)) {
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        },
    }
}

// ---------------------------------------------------------------------------
// The operation's life: begin, after the body, finish.

/// Converts the value of `auditor = <expr>`.
pub fn auditor_of(auditor: &Auditor) -> Auditor {
    auditor.clone()
}

/// The process-wide default auditor, if one is set.
pub fn global_auditor() -> Option<Auditor> {
    crate::global_auditor().cloned()
}

/// The scope an audited function fills, and whether it records the entry
/// itself.
#[derive(Debug)]
pub struct Begin {
    /// The scope: the layer's, or one of its own.
    pub scope: AuditScope,
    /// Present when the function records its own entry (no unclaimed scope).
    pub owned: Option<OwnedEntry>,
}

/// Claims the current scope, or opens one of the function's own.
///
/// `auditor` is only called when the function records its own entry.
pub fn begin(
    event: &'static str,
    delivery: Option<Delivery>,
    auditor: impl FnOnce() -> Option<Auditor>,
) -> Begin {
    let parent = AuditScope::current();
    let (scope, owned) = match parent.as_ref().filter(|s| s.claim()) {
        Some(scope) => (scope.clone(), None),
        None => {
            let scope = AuditScope::new();
            scope.claim();
            // A nested operation was done by whoever did the outer one.
            if let Some(actor) = parent.as_ref().and_then(AuditScope::actor) {
                scope.set_actor(actor);
            }
            let owned = OwnedEntry {
                scope: scope.clone(),
                auditor: auditor(),
                event,
                start: Instant::now(),
                armed: true,
            };
            (scope, Some(owned))
        }
    };
    scope.mark_audited();
    scope.set_event(event);
    if let Some(d) = delivery {
        scope.set_delivery(d);
    }
    Begin { scope, owned }
}

/// Sets the first resource's id, unless the body already added resources.
pub fn resource_id(scope: &AuditScope, default_type: &str, id: Option<String>) {
    if let Some(id) = id {
        scope.set_resource_id(default_type, id);
    }
}

/// What the generated code learned from the return value.
#[derive(Debug)]
pub struct After<'a> {
    /// The outcome the return value reports.
    pub reported: Reported,
    /// The captured response value.
    pub response: Option<Value>,
    /// The resource type for a resource the body did not name.
    pub resource_type: Option<&'a str>,
    /// The description template.
    pub description: Option<&'a str>,
}

/// Fills the scope from the return value.
///
/// Inside a layer (`owned == false`) only an error sets the outcome: the layer
/// derives the rest from the response status. An outcome the body set itself
/// is kept.
pub fn after(scope: &AuditScope, owned: bool, after: After<'_>) {
    let After { reported, response, resource_type, description } = after;
    if scope.outcome().is_none() {
        match reported {
            Reported::Value | Reported::Ok if owned => scope.set_outcome(Outcome::Success),
            Reported::Value | Reported::Ok => {}
            Reported::Err(reason) => {
                scope.set_outcome(Outcome::Failure);
                if let Some(r) = reason {
                    scope.set_reason(r);
                }
            }
            Reported::Grpc { code, message } => {
                scope.set_outcome(grpc_outcome(code));
                if !message.is_empty() {
                    scope.set_reason(message);
                }
                if owned {
                    scope.set_response(Response { grpc_status: Some(code), ..Response::default() });
                }
            }
        }
    }
    let response = response.filter(|v| !v.is_null());
    if let Some(ty) = resource_type {
        let resources = scope.resources();
        let returned = response.as_ref().and_then(returned_id);
        match (resources.first(), returned) {
            (None, Some(id)) => scope.set_resource_id(ty, id),
            (None, None) => scope.add_resource(Resource::of_type(ty)),
            (Some(first), Some(id)) if first.id.is_none() => scope.set_resource_id(ty, id),
            _ => {}
        }
    }
    if let Some(v) = response {
        scope.set_response_body(Body::Json(v));
    }
    if let Some(template) = description {
        let snapshot = scope.build_event("");
        scope.set_description(render_description(template, &snapshot));
    }
}

/// The outcome of a gRPC error code: `PERMISSION_DENIED` (7) and
/// `UNAUTHENTICATED` (16) are denied, `CANCELLED` (1) is cancelled.
pub fn grpc_outcome(code: i32) -> Outcome {
    match code {
        7 | 16 => Outcome::Denied,
        1 => Outcome::Cancelled,
        _ => Outcome::Failure,
    }
}

/// The entry of a function that runs outside any unclaimed scope; it records
/// itself through its auditor when finished, and as `cancelled` (or `failure`
/// when panicking) when dropped unfinished.
#[derive(Debug)]
pub struct OwnedEntry {
    scope: AuditScope,
    auditor: Option<Auditor>,
    event: &'static str,
    start: Instant,
    armed: bool,
}

impl OwnedEntry {
    fn take(&mut self) -> (AuditEvent, Option<Auditor>, Delivery) {
        self.armed = false;
        let mut event = self.scope.take_event(self.event);
        let micros = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        event.response.get_or_insert_with(Response::default).duration_us = Some(micros);
        let auditor = self.auditor.take();
        let delivery = self
            .scope
            .delivery()
            .or_else(|| auditor.as_ref().map(Auditor::delivery))
            .unwrap_or_default();
        (event, auditor, delivery)
    }

    /// Records the entry (async functions).
    pub async fn finish(mut self) {
        let (event, auditor, delivery) = self.take();
        record(auditor, event, delivery).await;
    }

    /// Records the entry from a synchronous function.
    ///
    /// On a multi-threaded Tokio runtime the calling thread waits while a
    /// helper thread drives the write on that runtime; on a current-thread
    /// runtime (which cannot be blocked) the write is spawned onto it and
    /// happens once the caller yields; outside any runtime a small
    /// current-thread runtime drives it to completion.
    pub fn finish_blocking(mut self) {
        let (event, auditor, delivery) = self.take();
        record_blocking(auditor, event, delivery);
    }
}

impl Drop for OwnedEntry {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if std::thread::panicking() {
            self.scope.fail("panicked");
        } else {
            self.scope.set_outcome(Outcome::Cancelled);
        }
        let (event, auditor, delivery) = self.take();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(record(auditor, event, delivery));
            }
            Err(_) => record_blocking(auditor, event, delivery),
        }
    }
}

async fn record(auditor: Option<Auditor>, event: AuditEvent, delivery: Delivery) {
    let Some(auditor) = auditor else {
        report_no_auditor(&event.event);
        return;
    };
    if let Err(e) = auditor.record_with(event.clone(), delivery).await {
        report_record_error(&event.event, &e);
    }
}

fn record_blocking(auditor: Option<Auditor>, event: AuditEvent, delivery: Delivery) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let fut = record(auditor, event, delivery);
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            std::thread::scope(|s| {
                if s.spawn(|| handle.block_on(fut)).join().is_err() {
                    tracing::error!("recording an audit entry panicked");
                }
            });
        }
        Ok(handle) => {
            handle.spawn(fut);
        }
        Err(_) => block_on_own_runtime(fut),
    }
}

fn block_on_own_runtime(fut: impl Future<Output = ()>) {
    match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            UNRECORDED.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "cannot start a runtime to record an audit entry");
        }
    }
}

static UNRECORDED: AtomicU64 = AtomicU64::new(0);
static WARNED_NO_AUDITOR: AtomicBool = AtomicBool::new(false);

/// How many entries `#[audited]` functions could not record (no auditor, or
/// the auditor refused them) in this process.
pub fn unrecorded() -> u64 {
    UNRECORDED.load(Ordering::Relaxed)
}

fn report_no_auditor(event: &str) {
    UNRECORDED.fetch_add(1, Ordering::Relaxed);
    tracing::error!(
        event,
        "audit entry not recorded: no auditor. This `#[audited]` function ran outside an \
         `AuditLayer`, names no `auditor = ...`, and no global default is set \
         (`audit_core::set_global_auditor`)"
    );
    if !WARNED_NO_AUDITOR.swap(true, Ordering::Relaxed) {
        eprintln!(
            "audit: entry `{event}` not recorded: no auditor (outside an AuditLayer, no \
             `auditor = ...`, no global default set with audit_core::set_global_auditor); \
             further occurrences are logged through `tracing` only"
        );
    }
}

fn report_record_error(event: &str, error: &RecordError) {
    UNRECORDED.fetch_add(1, Ordering::Relaxed);
    tracing::error!(event, %error, "audit entry not recorded");
}

#[cfg(test)]
// The extra `&`s are the point: they pick the probe level.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn probes_pick_the_most_specific_level() {
        let actor = Actor::user("u1");
        assert_eq!((&&&Probe(&actor)).__audit_actor(), Some(Actor::user("u1")));
        assert_eq!((&&&Probe(&Some(actor.clone()))).__audit_actor(), Some(Actor::user("u1")));
        assert_eq!((&&&Probe(&Box::new(actor.clone()))).__audit_actor(), Some(Actor::user("u1")));
        assert_eq!((&&&Probe(&5)).__audit_actor(), None);

        assert_eq!((&&&Probe(&actor)).__audit_arg(), None, "actors are not request data");
        assert_eq!((&&&Probe(&"x")).__audit_arg(), Some(json!("x")));
        assert_eq!((&&&Probe(&Box::new(1))).__audit_arg(), Some(json!(1)));
        struct Opaque;
        assert_eq!((&&&Probe(&Opaque)).__audit_arg(), None);

        #[derive(Debug)]
        struct Msg {
            #[allow(dead_code)]
            a: u8,
        }
        assert_eq!((&&&Probe(&Msg { a: 1 })).__audit_message(), Some(json!({"a": 1})));
        assert_eq!((&&&Probe(&json!({"a": 1}))).__audit_message(), Some(json!({"a": 1})));

        let ok: Result<u8, std::io::Error> = Ok(1);
        assert_eq!((&&&Probe(&ok)).__audit_outcome(), Reported::Ok);
        let err: Result<u8, String> = Err("boom".into());
        assert_eq!((&&&Probe(&err)).__audit_outcome(), Reported::Err(Some("boom".into())));
        #[derive(Debug)]
        struct DebugOnly;
        let err: Result<u8, DebugOnly> = Err(DebugOnly);
        assert_eq!((&&&Probe(&err)).__audit_outcome(), Reported::Err(Some("DebugOnly".into())));
        let err: Result<u8, Opaque> = Err(Opaque);
        assert_eq!((&&&Probe(&err)).__audit_outcome(), Reported::Err(None));
        assert_eq!((&&&Probe(&5)).__audit_outcome(), Reported::Value);

        let ok: Result<u8, Opaque> = Ok(7);
        let v = (&Probe(&ok)).__audit_ok().and_then(|v| (&&Probe(v)).__audit_value());
        assert_eq!(v, Some(json!(7)));
        let v = (&Probe(&"s")).__audit_ok().and_then(|v| (&&Probe(v)).__audit_value());
        assert_eq!(v, Some(json!("s")));

        assert_eq!((&&&&Probe(&42)).__audit_id(), Some("42".into()));
        assert_eq!((&&&&Probe(&Box::new("p_1"))).__audit_id(), Some("p_1".into()));
        #[derive(Serialize)]
        struct PathParams {
            org: &'static str,
            id: &'static str,
        }
        assert_eq!(
            (&&&&Probe(&PathParams { org: "o", id: "p_2" })).__audit_id(),
            Some("p_2".into())
        );
        assert_eq!((&&&&Probe(&Opaque)).__audit_id(), None);
    }

    #[test]
    fn debug_output_reads_back_as_json() {
        #[derive(Debug)]
        #[allow(dead_code)]
        enum Role {
            Admin,
            Custom(String),
        }
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Inner {
            id: u64,
            ratio: f64,
        }
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Msg {
            name: String,
            password: String,
            tags: Vec<&'static str>,
            parent: Option<Inner>,
            none: Option<u8>,
            role: Role,
            custom: Role,
            pair: (i32, char),
            unit: (),
            map: std::collections::BTreeMap<u8, bool>,
            bytes: Vec<u8>,
            r#type: i64,
        }
        let msg = Msg {
            name: "a \"quoted\" \\ name\n\u{1F600}".into(),
            password: "hunter2".into(),
            tags: vec!["x", "y"],
            parent: Some(Inner { id: 7, ratio: -0.5 }),
            none: None,
            role: Role::Admin,
            custom: Role::Custom("ops".into()),
            pair: (-3, '\''),
            unit: (),
            map: [(1, true), (2, false)].into_iter().collect(),
            bytes: vec![1, 2],
            r#type: -9,
        };
        assert_eq!(
            debug_to_json(&format!("{msg:?}")),
            json!({
                "name": "a \"quoted\" \\ name\n\u{1F600}",
                "password": "hunter2",
                "tags": ["x", "y"],
                "parent": {"id": 7, "ratio": -0.5},
                "none": null,
                "role": "Admin",
                "custom": "ops",
                "pair": [-3, "'"],
                "unit": null,
                "map": {"1": true, "2": false},
                "bytes": [1, 2],
                "type": -9,
            })
        );
        assert_eq!(debug_to_json("Opaque { .. }"), json!({}));
        assert_eq!(debug_to_json("Secret(sk_live) trailing garbage {"), json!(UNPARSEABLE_DEBUG));
        assert_eq!(debug_to_json("Unclosed { a: \"x"), json!(UNPARSEABLE_DEBUG));
        assert_eq!(debug_to_json(&"[".repeat(500)), json!(UNPARSEABLE_DEBUG));
    }

    #[test]
    fn request_capture_is_direct_or_keyed_and_redacted() {
        let mut c = RequestCapture::new(true);
        c.add("body", Some(json!({"name": "a", "card": {"number": "4242"}})));
        c.redact(&["body", "card", "number"]);
        assert_eq!(
            c.finish(),
            Some(Body::Json(json!({"name": "a", "card": {"number": "[REDACTED]"}})))
        );

        let mut c = RequestCapture::new(false);
        c.add("a", Some(json!([{"pw": 1}, {"pw": 2}])));
        c.add("b", Some(debug_to_json("B { pw: 3 }")));
        c.add("c", None);
        c.redact(&["a", "pw"]);
        c.redact(&["b", "pw"]);
        assert_eq!(
            c.finish(),
            Some(Body::Json(
                json!({"a": [{"pw": "[REDACTED]"}, {"pw": "[REDACTED]"}], "b": {"pw": "[REDACTED]"}})
            ))
        );
        assert_eq!(RequestCapture::new(true).finish(), None);
    }

    #[test]
    fn description_templates_render() {
        let e = AuditEvent::builder("project.update")
            .actor(Actor::user("u1").email("alice@example.com"))
            .resource(Resource::new("project", "p_42"))
            .tenant("acme")
            .metadata("region", "eu")
            .metadata("n", 3)
            .build();
        assert_eq!(
            render_description(
                "{actor} renamed {resource.type} {resource.id} in {tenant} ({metadata.region}, {metadata.n}) {{x}}",
                &e
            ),
            "alice@example.com renamed project p_42 in acme (eu, 3) {x}"
        );
        assert_eq!(
            render_description("{action} {event} {missing", &e),
            "update project.update {missing"
        );
    }

    #[test]
    fn grpc_codes_map_to_outcomes() {
        assert_eq!(grpc_outcome(7), Outcome::Denied);
        assert_eq!(grpc_outcome(16), Outcome::Denied);
        assert_eq!(grpc_outcome(1), Outcome::Cancelled);
        assert_eq!(grpc_outcome(5), Outcome::Failure);
    }

    #[test]
    fn after_fills_outcome_resource_and_response() {
        let s = AuditScope::new();
        s.set_event("project.create");
        after(
            &s,
            true,
            After {
                reported: Reported::Ok,
                response: Some(json!({"id": "p_9", "name": "x"})),
                resource_type: Some("project"),
                description: Some("{actor} made {resource}"),
            },
        );
        let e = s.build_event("");
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(e.resource, vec![Resource::new("project", "p_9")]);
        assert_eq!(e.description, "anonymous made project p_9");

        // inside a layer, success is the layer's to decide; an error is ours
        let s = AuditScope::new();
        after(
            &s,
            false,
            After {
                reported: Reported::Ok,
                response: None,
                resource_type: None,
                description: None,
            },
        );
        assert_eq!(s.outcome(), None);
        after(
            &s,
            false,
            After {
                reported: Reported::Err(Some("nope".into())),
                response: None,
                resource_type: None,
                description: None,
            },
        );
        let e = s.build_event("x.y");
        assert_eq!((e.outcome, e.reason.as_deref()), (Outcome::Failure, Some("nope")));
    }
}
