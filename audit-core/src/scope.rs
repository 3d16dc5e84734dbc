//! The per-operation scope that collects one entry.
//!
//! An [`AuditScope`] is the entry being assembled for one operation. The
//! `AuditLayer` opens one per request, pre-fills what it knows (client IP,
//! route, request id, actor) and makes it available in the request extensions
//! and as the *current* scope of the request's task; the `#[audited]` macro,
//! an extractor or plain code in the handler add to it through
//! [`AuditScope::current`]. When the operation ends, whoever opened the scope
//! turns it into an [`AuditEvent`] and records it: one operation, one entry.
//!
//! ```
//! use audit_core::{AuditScope, Resource};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let scope = AuditScope::new();
//! scope
//!     .clone()
//!     .scope(async {
//!         // deep inside the handler
//!         if let Some(s) = AuditScope::current() {
//!             s.add_resource(Resource::new("project", "p_42"));
//!             s.record_changes(&serde_json::json!({"name": "a"}), &serde_json::json!({"name": "b"}));
//!         }
//!     })
//!     .await;
//! let event = scope.build_event("project.update");
//! assert_eq!(event.resource[0].id.as_deref(), Some("p_42"));
//! assert_eq!(event.changes[0].path, "name");
//! # }
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::diff::Change;
use crate::model::{
    Action, Actor, AsActor, AuditEvent, Body, Outcome, Request, Resource, Response, Source,
};
use crate::pipeline::Delivery;

tokio::task_local! {
    static CURRENT: AuditScope;
}

/// The entry being assembled for one operation; cheap to clone (clones share
/// the same entry).
#[derive(Clone, Default)]
pub struct AuditScope {
    inner: Arc<Mutex<ScopeState>>,
}

#[derive(Debug, Default, Clone)]
struct ScopeState {
    event: Option<String>,
    action: Option<Action>,
    outcome: Option<Outcome>,
    reason: Option<String>,
    actor: Option<Actor>,
    tenant: Option<String>,
    resources: Vec<Resource>,
    description: Option<String>,
    source: Source,
    request: Option<Request>,
    request_body: Option<Body>,
    response: Option<Response>,
    response_body: Option<Body>,
    changes: Vec<Change>,
    metadata: Map<String, Value>,
    audited: bool,
    claimed: bool,
    delivery: Option<Delivery>,
}

impl fmt::Debug for AuditScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.lock();
        f.debug_struct("AuditScope")
            .field("event", &s.event)
            .field("actor", &s.actor)
            .field("outcome", &s.outcome)
            .field("audited", &s.audited)
            .finish_non_exhaustive()
    }
}

impl AuditScope {
    /// An empty scope.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, ScopeState> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The scope of the operation the current task is running, if any.
    pub fn current() -> Option<Self> {
        CURRENT.try_with(Self::clone).ok()
    }

    /// Runs a future with this scope as the current one.
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// Runs a closure with this scope as the current one.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        CURRENT.sync_scope(self, f)
    }

    /// Claims the scope for an `#[audited]` function: returns `true` for the
    /// first claimant only. A function that cannot claim the current scope
    /// (because an outer audited function already did) records its own entry.
    pub fn claim(&self) -> bool {
        let mut s = self.lock();
        !std::mem::replace(&mut s.claimed, true)
    }

    /// Marks the operation as audited whatever the policy says (set by
    /// `#[audited]`).
    pub fn mark_audited(&self) {
        self.lock().audited = true;
    }

    /// Whether the operation must be audited whatever the policy says.
    pub fn is_audited(&self) -> bool {
        self.lock().audited
    }

    /// Sets the event name, e.g. `project.update`.
    pub fn set_event(&self, name: impl Into<String>) {
        self.lock().event = Some(name.into());
    }

    /// The event name, if set.
    pub fn event(&self) -> Option<String> {
        self.lock().event.clone()
    }

    /// Overrides the action derived from the event name.
    pub fn set_action(&self, action: Action) {
        self.lock().action = Some(action);
    }

    /// Sets who performed the operation.
    pub fn set_actor(&self, actor: impl AsActor) {
        self.lock().actor = Some(actor.as_actor());
    }

    /// Sets the actor unless one is already known.
    pub fn set_actor_if_unset(&self, actor: impl AsActor) {
        let mut s = self.lock();
        if s.actor.is_none() {
            s.actor = Some(actor.as_actor());
        }
    }

    /// The actor, if known.
    pub fn actor(&self) -> Option<Actor> {
        self.lock().actor.clone()
    }

    /// Sets the tenant.
    pub fn set_tenant(&self, tenant: impl Into<String>) {
        self.lock().tenant = Some(tenant.into());
    }

    /// Adds a resource that was acted on.
    pub fn add_resource(&self, resource: Resource) {
        self.lock().resources.push(resource);
    }

    /// Sets the id of the first resource, adding one of `default_type` if there
    /// is none yet.
    pub fn set_resource_id(&self, default_type: &str, id: impl Into<String>) {
        let mut s = self.lock();
        let id = id.into();
        match s.resources.first_mut() {
            Some(r) => r.id = Some(id),
            None => s.resources.push(Resource::new(default_type, id)),
        }
    }

    /// The resources added so far.
    pub fn resources(&self) -> Vec<Resource> {
        self.lock().resources.clone()
    }

    /// Sets the one-sentence description.
    pub fn set_description(&self, description: impl Into<String>) {
        self.lock().description = Some(description.into());
    }

    /// Adds a metadata entry; a value that cannot be serialized is stored as
    /// a string saying why.
    pub fn set_metadata(&self, key: impl Into<String>, value: impl Serialize) {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| Value::String(format!("[unserializable: {e}]")));
        self.lock().metadata.insert(key.into(), value);
    }

    /// Adds a field-level change.
    pub fn add_change(&self, change: Change) {
        self.lock().changes.push(change);
    }

    /// Adds the field-level differences between two values (redacted later,
    /// like everything else in the entry).
    pub fn record_changes<B: Serialize + ?Sized, A: Serialize + ?Sized>(
        &self,
        before: &B,
        after: &A,
    ) {
        let changes = crate::diff::diff_serialize(before, after);
        self.lock().changes.extend(changes);
    }

    /// Sets the outcome explicitly; it takes precedence over what the layer
    /// derives from the response, except that a `denied` response stays denied.
    pub fn set_outcome(&self, outcome: Outcome) {
        self.lock().outcome = Some(outcome);
    }

    /// The outcome set so far, if any.
    pub fn outcome(&self) -> Option<Outcome> {
        self.lock().outcome
    }

    /// Sets why the operation failed or was denied.
    pub fn set_reason(&self, reason: impl Into<String>) {
        self.lock().reason = Some(reason.into());
    }

    /// Marks the operation failed, with a reason.
    pub fn fail(&self, reason: impl Into<String>) {
        let mut s = self.lock();
        s.outcome = Some(Outcome::Failure);
        s.reason = Some(reason.into());
    }

    /// Marks the operation denied, with a reason.
    pub fn deny(&self, reason: impl Into<String>) {
        let mut s = self.lock();
        s.outcome = Some(Outcome::Denied);
        s.reason = Some(reason.into());
    }

    /// Sets where the request came from.
    pub fn set_source(&self, source: Source) {
        self.lock().source = source;
    }

    /// Sets the request (method, route, headers...).
    pub fn set_request(&self, request: Request) {
        self.lock().request = Some(request);
    }

    /// Sets the captured request body (or gRPC message); it is placed into the
    /// request when the entry is built.
    pub fn set_request_body(&self, body: Body) {
        self.lock().request_body = Some(body);
    }

    /// Whether a request body was captured.
    pub fn has_request_body(&self) -> bool {
        self.lock().request_body.is_some()
    }

    /// Sets the response (status, duration...).
    pub fn set_response(&self, response: Response) {
        self.lock().response = Some(response);
    }

    /// Sets the captured response body.
    pub fn set_response_body(&self, body: Body) {
        self.lock().response_body = Some(body);
    }

    /// Whether a response body was captured.
    pub fn has_response_body(&self) -> bool {
        self.lock().response_body.is_some()
    }

    /// Requests a delivery mode for this operation's entry (e.g. `Strict` from
    /// `#[audited(delivery = "strict")]`).
    pub fn set_delivery(&self, delivery: Delivery) {
        self.lock().delivery = Some(delivery);
    }

    /// The delivery mode requested for this operation, if any.
    pub fn delivery(&self) -> Option<Delivery> {
        self.lock().delivery
    }

    /// Builds the entry collected so far, using `default_event` when no event
    /// name was set. The scope keeps its contents.
    pub fn build_event(&self, default_event: &str) -> AuditEvent {
        let s = self.lock();
        assemble(default_event, s.clone())
    }

    /// Builds the entry collected so far, as [`build_event`](Self::build_event)
    /// does, and moves the entry's contents out of the scope instead of
    /// copying them: the actor, tenant, resources, description, source,
    /// request, response, bodies, changes and metadata. What decides how the
    /// entry is recorded (event name, action, outcome, reason, delivery,
    /// whether it is audited) stays.
    ///
    /// For whoever finishes the operation (the layer, the macro): one entry
    /// per scope, built once, with no copy of the bodies. Whatever is added to
    /// the scope afterwards belongs to no entry.
    pub fn take_event(&self, default_event: &str) -> AuditEvent {
        let mut s = self.lock();
        let taken = ScopeState {
            event: s.event.clone(),
            action: s.action,
            outcome: s.outcome,
            reason: s.reason.clone(),
            actor: s.actor.take(),
            tenant: s.tenant.take(),
            resources: std::mem::take(&mut s.resources),
            description: s.description.take(),
            source: std::mem::take(&mut s.source),
            request: s.request.take(),
            request_body: s.request_body.take(),
            response: s.response.take(),
            response_body: s.response_body.take(),
            changes: std::mem::take(&mut s.changes),
            metadata: std::mem::take(&mut s.metadata),
            audited: s.audited,
            claimed: s.claimed,
            delivery: s.delivery,
        };
        drop(s);
        assemble(default_event, taken)
    }
}

/// The entry of a scope's contents.
fn assemble(default_event: &str, s: ScopeState) -> AuditEvent {
    let name = s.event.unwrap_or_else(|| default_event.to_owned());
    let mut b = AuditEvent::builder(name);
    if let Some(a) = s.action {
        b = b.action(a);
    }
    if let Some(o) = s.outcome {
        b = b.outcome(o);
    }
    if let Some(r) = s.reason {
        b = b.reason(r);
    }
    if let Some(a) = s.actor {
        b = b.actor(a);
    }
    if let Some(t) = s.tenant {
        b = b.tenant(t);
    }
    for r in s.resources {
        b = b.resource(r);
    }
    if let Some(d) = s.description {
        b = b.description(d);
    }
    b = b.source(s.source);
    let mut request = s.request;
    if let Some(body) = s.request_body {
        match request.get_or_insert_with(|| Request::Http(Default::default())) {
            Request::Http(h) => h.body = Some(body),
            Request::Grpc(g) => g.message = Some(body),
        }
    }
    if let Some(r) = request {
        b = b.request(r);
    }
    let mut response = s.response;
    if let Some(body) = s.response_body {
        response.get_or_insert_with(Response::default).body = Some(body);
    }
    if let Some(r) = response {
        b = b.response(r);
    }
    let mut e = b.build();
    e.changes = s.changes;
    e.metadata = s.metadata;
    e
}
