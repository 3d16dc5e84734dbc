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

use serde::Serialize;
use serde_json::Value;

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

pub(super) fn to_json<T: Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| Value::String(format!("[unserializable: {e}]")))
}

mod capture;
mod debug_json;
mod description;
mod operation;
mod probes;

pub use capture::ArgsCapture;
pub use debug_json::{UNPARSEABLE_DEBUG, debug_to_json};
pub use description::render_description;
pub use operation::{
    After, Begin, OwnedEntry, after, auditor_of, begin, global_auditor, grpc_outcome, resource_id,
    unrecorded,
};
pub use probes::*;

#[cfg(test)]
mod tests;
