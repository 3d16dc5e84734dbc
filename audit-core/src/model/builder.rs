//! [`AuditEventBuilder`]: an entry built field by field.

use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Action, Actor, AuditEvent, Outcome, Request, Resource, Response, ServiceInfo, Source};
use crate::diff::Change;

/// Builder for [`AuditEvent`]; see [`AuditEvent::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct AuditEventBuilder {
    event: AuditEvent,
    action_overridden: bool,
}

impl AuditEventBuilder {
    pub(super) fn new(name: impl Into<String>) -> Self {
        let name = name.into();
        let action = Action::from_event_name(&name);
        Self {
            event: AuditEvent {
                id: Uuid::nil(),
                time: OffsetDateTime::UNIX_EPOCH,
                event: name,
                action,
                outcome: Outcome::Success,
                reason: None,
                actor: Actor::anonymous(),
                tenant: None,
                resource: Vec::new(),
                description: String::new(),
                source: Source::default(),
                request: None,
                response: None,
                changes: Vec::new(),
                metadata: Map::new(),
                service: ServiceInfo::default(),
                chain: None,
            },
            action_overridden: false,
        }
    }

    /// Renames the event; the action is derived again unless it was overridden.
    pub fn event(mut self, name: impl Into<String>) -> Self {
        self.event.event = name.into();
        if !self.action_overridden {
            self.event.action = Action::from_event_name(&self.event.event);
        }
        self
    }

    /// Overrides the action derived from the event name.
    pub fn action(mut self, action: Action) -> Self {
        self.event.action = action;
        self.action_overridden = true;
        self
    }

    /// Sets the outcome (default: success).
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.event.outcome = outcome;
        self
    }

    /// Sets why the operation failed or was denied.
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.event.reason = Some(reason.into());
        self
    }

    /// Sets who performed the operation (default: anonymous).
    pub fn actor(mut self, actor: impl Into<Actor>) -> Self {
        self.event.actor = actor.into();
        self
    }

    /// Sets the tenant (workspace or organization id).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.event.tenant = Some(tenant.into());
        self
    }

    /// Adds a resource that was acted on.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.event.resource.push(resource);
        self
    }

    /// Sets the one-sentence description (default: derived at record time).
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.event.description = description.into();
        self
    }

    /// Sets where the request came from.
    pub fn source(mut self, source: Source) -> Self {
        self.event.source = source;
        self
    }

    /// Sets the request.
    pub fn request(mut self, request: Request) -> Self {
        self.event.request = Some(request);
        self
    }

    /// Sets the response.
    pub fn response(mut self, response: Response) -> Self {
        self.event.response = Some(response);
        self
    }

    /// Adds a field-level change.
    pub fn change(mut self, change: Change) -> Self {
        self.event.changes.push(change);
        self
    }

    /// Adds the field-level differences between two values; see [`crate::diff`].
    pub fn changes_between<B: Serialize + ?Sized, A: Serialize + ?Sized>(
        mut self,
        before: &B,
        after: &A,
    ) -> Self {
        self.event.changes.extend(crate::diff::diff_serialize(before, after));
        self
    }

    /// Adds a metadata entry.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.event.metadata.insert(key.into(), value.into());
        self
    }

    /// Sets the time of the operation (default: when it is recorded).
    pub fn time(mut self, time: OffsetDateTime) -> Self {
        self.event.time = time;
        self
    }

    /// Sets the id (default: a new UUIDv7 when recorded).
    pub fn id(mut self, id: Uuid) -> Self {
        self.event.id = id;
        self
    }

    /// Finishes the entry.
    pub fn build(self) -> AuditEvent {
        self.event
    }
}
