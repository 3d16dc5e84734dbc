//! The entry itself: [`AuditEvent`], and the parts the pipeline fills in
//! ([`ServiceInfo`], [`ChainLink`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Action, Actor, AuditEventBuilder, Outcome, Request, Resource, Response, Source};
use crate::diff::Change;
use crate::json::rfc3339_micros;

/// One entry of the audit trail: who did what to which resource, when, from
/// where, and whether it worked.
///
/// Build one with [`AuditEvent::builder`]; the [`Auditor`](crate::Auditor)
/// fills `id`, `time`, `service`, `description` and `chain` when it records it.
///
/// ```
/// use audit_core::{Actor, AuditEvent, Outcome, Resource};
///
/// let event = AuditEvent::builder("project.update")
///     .actor(Actor::user("u_1").email("alice@example.com"))
///     .tenant("acme")
///     .resource(Resource::new("project", "p_42"))
///     .outcome(Outcome::Success)
///     .build();
/// assert_eq!(event.action, audit_core::Action::Update);
/// assert_eq!(event.actor.to_string(), "alice@example.com");
/// ```
///
/// # Field order
///
/// The fields of this struct, and of every struct of the model below it,
/// are declared in sorted key order, so that serde_json's compact output of
/// an entry is already its canonical (RFC 8785) form and is hashed without a
/// second serialization (see [`crate::canonical`]). `chain` is the third key,
/// after `action` and `actor`, whose values hold only strings: the hashing
/// path finds the entry's own `"chain":{"hash":"..."}` as the first such run
/// of bytes. Adding a field means adding it in its sorted place; the test
/// `entry_fields_are_declared_in_sorted_key_order_with_chain_third` fails
/// otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AuditEvent {
    /// What kind of operation this was; derived from the verb unless overridden.
    pub action: Action,
    /// Who performed the operation.
    pub actor: Actor,
    /// The entry's place in its tamper-evident chain; set by the sequencer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainLink>,
    /// Field-level before/after values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// One human sentence, e.g. `alice@example.com updated project p_42`.
    #[serde(default)]
    pub description: String,
    /// Dotted name `<resource>.<verb>`, e.g. `project.update`.
    pub event: String,
    /// UUIDv7: unique and time-ordered; the idempotency key in every sink.
    pub id: Uuid,
    /// Free JSON map from the application.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// Whether the operation worked.
    pub outcome: Outcome,
    /// Why the operation failed or was denied, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The request, redacted and size-capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// What was acted on; usually one resource, sometimes more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resource: Vec<Resource>,
    /// The response, redacted and size-capped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// The service that recorded the entry.
    #[serde(default, skip_serializing_if = "ServiceInfo::is_empty")]
    pub service: ServiceInfo,
    /// Where the request came from.
    #[serde(default, skip_serializing_if = "Source::is_empty")]
    pub source: Source,
    /// The workspace or organization the operation belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// When the operation happened, UTC, serialized as RFC 3339 with microseconds.
    #[serde(with = "rfc3339_micros")]
    pub time: OffsetDateTime,
}

impl AuditEvent {
    /// Starts building an entry for the dotted event name, e.g. `project.update`.
    pub fn builder(event: impl Into<String>) -> AuditEventBuilder {
        AuditEventBuilder::new(event)
    }

    /// The resource type named by the event, the part before the last dot
    /// (`project` for `project.update`), if there is one.
    pub fn resource_type_from_name(event: &str) -> Option<&str> {
        event.rsplit_once('.').map(|(ty, _)| ty).filter(|ty| !ty.is_empty())
    }

    /// The first resource, if any.
    pub fn primary_resource(&self) -> Option<&Resource> {
        self.resource.first()
    }

    /// The one-sentence description derived from actor, action and resource,
    /// used when the application gives none: `alice@example.com updated project p_42`.
    pub fn default_description(&self) -> String {
        // One allocation, sized for a typical sentence.
        let mut out = String::with_capacity(96);
        self.write_default_description(&mut out);
        out
    }

    /// [`default_description`](Self::default_description), appended to `out`.
    pub(crate) fn write_default_description(&self, out: &mut String) {
        let verb = match self.action {
            Action::Create => "created",
            Action::Read => "read",
            Action::Update => "updated",
            Action::Delete => "deleted",
            Action::Other => "performed",
        };
        // Pieces pushed without the formatting machinery: every entry gets
        // a description, so this runs on the recording path.
        let push_all =
            |out: &mut String, pieces: &[&str]| pieces.iter().for_each(|p| out.push_str(p));
        push_all(out, &self.actor.display_pieces());
        out.push(' ');
        out.push_str(verb);
        match (self.action, self.resource.first()) {
            (Action::Other, Some(r)) => {
                push_all(out, &[" ", &self.event, " on "]);
                push_all(out, &r.display_pieces());
            }
            (Action::Other, None) => {
                out.push(' ');
                out.push_str(&self.event);
            }
            (_, Some(r)) => {
                out.push(' ');
                push_all(out, &r.display_pieces());
            }
            (_, None) => {
                out.push(' ');
                out.push_str(Self::resource_type_from_name(&self.event).unwrap_or(&self.event));
            }
        }
        match self.outcome {
            Outcome::Success => {}
            Outcome::Failure => out.push_str(" (failed)"),
            Outcome::Denied => out.push_str(" (denied)"),
            Outcome::Cancelled => out.push_str(" (cancelled)"),
        }
    }
}

/// The service that recorded an entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ServiceInfo {
    /// The instance (host, pod) that recorded the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The service name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl ServiceInfo {
    /// A service by name.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into(), version: None, instance: None }
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.name.is_empty() && self.version.is_none() && self.instance.is_none()
    }
}

/// An entry's place in its tamper-evident chain; see [`crate::integrity`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChainLink {
    /// SHA-256 (hex) over the previous hash and the canonical JSON of this
    /// entry without `chain.hash`. Empty only while the entry is being hashed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    /// The chain: one per `Auditor` run.
    pub id: Uuid,
    /// The hash of the previous entry (hex), or 64 zeros for the genesis entry.
    pub prev: String,
    /// Position in the chain, from 0 (the genesis entry).
    pub seq: u64,
}
