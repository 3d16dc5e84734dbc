//! The operation's life: begin, after the body, finish; and what happens
//! when an entry cannot be recorded.

use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use serde_json::Value;

use super::{description::render_description, probes::Reported, probes::returned_id};
use crate::model::{AuditEvent, Body, Outcome, Resource, Response};
use crate::pipeline::{Auditor, Delivery, RecordError};
use crate::scope::AuditScope;

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

pub(super) fn record_blocking(auditor: Option<Auditor>, event: AuditEvent, delivery: Delivery) {
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

pub(super) fn block_on_own_runtime(fut: impl Future<Output = ()>) {
    match tokio::runtime::Builder::new_current_thread().enable_time().build() {
        Ok(rt) => rt.block_on(fut),
        Err(e) => {
            UNRECORDED.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %e, "cannot start a runtime to record an audit entry");
        }
    }
}

pub(super) static UNRECORDED: AtomicU64 = AtomicU64::new(0);
pub(super) static WARNED_NO_AUDITOR: AtomicBool = AtomicBool::new(false);

/// How many entries `#[audited]` functions could not record (no auditor, or
/// the auditor refused them) in this process.
pub fn unrecorded() -> u64 {
    UNRECORDED.load(Ordering::Relaxed)
}

pub(super) fn report_no_auditor(event: &str) {
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

pub(super) fn report_record_error(event: &str, error: &RecordError) {
    UNRECORDED.fetch_add(1, Ordering::Relaxed);
    tracing::error!(event, %error, "audit entry not recorded");
}
