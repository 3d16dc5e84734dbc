//! The probe levels, one trait per level (see the [module docs](super)):
//! actors, plain arguments, gRPC messages, returned values, resource ids
//! and outcomes.

use std::fmt::{Debug, Display};
use std::ops::Deref;

use serde::Serialize;
use serde_json::Value;

use super::{Probe, debug_json::debug_to_json, to_json};
use crate::model::{Actor, AsActor};

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
pub(super) fn id_of(value: &Value) -> Option<String> {
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
pub(super) fn returned_id(value: &Value) -> Option<String> {
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
