//! The audit event, schema version 1: the entry and its parts.
//!
//! One [`AuditEvent`] is one entry of the audit trail. Its JSON form is the
//! public contract shared by every sink and store: field names and value
//! formats do not change within a schema version. Optional fields that are
//! empty are left out of the JSON, and unknown fields are ignored when an entry
//! is read back, so newer writers stay readable by older readers.
//!
//! This layer sits on the JSON utilities and the diff (which owns
//! [`Change`](crate::diff::Change)); everything else in the crate builds on it.

mod action;
mod actor;
mod builder;
mod event;
mod request;
mod resource;

pub use action::{Action, Outcome, ParseEnumError};
pub use actor::{Actor, ActorKind, AsActor};
pub use builder::AuditEventBuilder;
pub use event::{AuditEvent, ChainLink, ServiceInfo};
pub use request::{
    Body, GrpcRequest, HttpRequest, OmitReason, OmittedBody, Request, Response, Source,
};
pub use resource::Resource;

/// The version of the entry schema that this crate reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

#[cfg(test)]
mod tests;
