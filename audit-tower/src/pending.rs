//! The entry of one request, from the moment the layer opens its scope until
//! it is handed to the auditor: exactly once, whichever way the request ends.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use audit_core::{
    AuditEvent, AuditScope, Body as AuditBody, Delivery, Outcome, Receipt, RecordError, Response,
};
use http::{HeaderMap, StatusCode};
use uuid::Uuid;

use crate::capture::{BodyCapture, RequestBodyCapture};
use crate::classify::{ResponseInfo, grpc_reason, grpc_status, http_reason};
use crate::layer::Shared;
use crate::policy::{Level, Protocol};

/// The `reason` of an entry whose handler panicked: fixed, without the
/// panic's message (which may carry a secret and would not be redacted).
pub(crate) const PANIC_REASON: &str = "the handler panicked";

/// What is known of the response.
#[derive(Debug)]
struct Head {
    status: StatusCode,
    grpc_status: Option<i32>,
    grpc_message: Option<String>,
}

/// How the request ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The response head is there; the body is yet to come (the status is
    /// final for HTTP; for gRPC the trailers have not been seen).
    Head,
    /// The response body ended (after its trailers, if any).
    Finished,
    /// The response body failed.
    BodyFailed,
    /// The inner service returned an error.
    Error(String),
    /// The handler panicked. Its message is not kept: it is free text that
    /// may carry a secret (`panic!("bad token {token}")`), and the entry's
    /// `reason` is not redacted; the layer logs it instead.
    Panic,
    /// Strict delivery: the `received` entry could not be written.
    Refused(String),
    /// Dropped before the end: the client went away.
    Dropped,
}

pub(crate) struct Pending {
    pub(crate) shared: Arc<Shared>,
    pub(crate) scope: AuditScope,
    pub(crate) start: Instant,
    pub(crate) event: String,
    pub(crate) level: Level,
    pub(crate) delivery: Delivery,
    pub(crate) protocol: Protocol,
    pub(crate) request_body: RequestBodyCapture,
    /// Whether a `received` entry was recorded first (strict delivery).
    pub(crate) strict: bool,
    received_id: Option<Uuid>,
    head: Option<Head>,
    response_capture: Option<BodyCapture>,
    response_marker: Option<AuditBody>,
    armed: bool,
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pending")
            .field("event", &self.event)
            .field("level", &self.level)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

impl Pending {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Arc<Shared>,
        scope: AuditScope,
        start: Instant,
        event: String,
        level: Level,
        delivery: Delivery,
        protocol: Protocol,
        request_body: RequestBodyCapture,
        strict: bool,
    ) -> Self {
        Self {
            shared,
            scope,
            start,
            event,
            level,
            delivery,
            protocol,
            request_body,
            strict,
            received_id: None,
            head: None,
            response_capture: None,
            response_marker: None,
            armed: true,
        }
    }

    /// Whether an entry is due: by policy, or because the handler is `#[audited]`.
    pub(crate) fn is_audited(&self) -> bool {
        self.level > Level::None || self.scope.is_audited()
    }

    /// The delivery of the final entry: what the handler asked for, else the
    /// rule's or the auditor's.
    pub(crate) fn final_delivery(&self) -> Delivery {
        self.scope.delivery().unwrap_or(self.delivery)
    }

    pub(crate) fn set_received(&mut self, id: Uuid) {
        self.received_id = Some(id);
    }

    /// Not audited after all: forget it without recording anything.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }

    pub(crate) fn observe_head(&mut self, status: StatusCode, headers: &HeaderMap) {
        let (grpc_status, grpc_message) = match self.protocol {
            Protocol::Grpc => grpc_status(headers),
            Protocol::Http => (None, None),
        };
        self.head = Some(Head { status, grpc_status, grpc_message });
    }

    pub(crate) fn observe_trailers(&mut self, trailers: &HeaderMap) {
        let (code, message) = grpc_status(trailers);
        if let (Some(head), Some(code)) = (self.head.as_mut(), code) {
            head.grpc_status = Some(code);
            head.grpc_message = message;
        }
    }

    pub(crate) fn grpc_status_known(&self) -> bool {
        self.head.as_ref().is_some_and(|h| h.grpc_status.is_some())
    }

    pub(crate) fn capture_response(&mut self, capture: BodyCapture) {
        self.response_capture = Some(capture);
    }

    pub(crate) fn mark_response(&mut self, marker: AuditBody) {
        self.response_marker = Some(marker);
    }

    pub(crate) fn observe_response_data(&mut self, data: &[u8]) {
        if let Some(c) = self.response_capture.as_mut() {
            c.push(data);
        }
    }

    /// Builds the entry, once; `None` when the request is not audited.
    pub(crate) fn finish(&mut self, end: End) -> Option<(AuditEvent, Delivery, Arc<Shared>)> {
        if !std::mem::replace(&mut self.armed, false) || !self.is_audited() {
            return None;
        }
        let scope = &self.scope;
        if self.level >= Level::Request
            && !scope.has_request_body()
            && let Some(body) = self.request_body.finish()
        {
            scope.set_request_body(body);
        }
        if self.level >= Level::RequestResponse && !scope.has_response_body() {
            if let Some(c) = self.response_capture.as_mut()
                && matches!(end, End::Finished)
            {
                c.end();
            }
            let body = match &self.response_capture {
                Some(c) => c.finish(),
                None => self.response_marker.clone(),
            };
            if let Some(body) = body {
                scope.set_response_body(body);
            }
        }
        let mut event = scope.take_event(&self.event);
        let explicit = scope.outcome();
        let response = event.response.get_or_insert_with(Response::default);
        response.duration_us =
            Some(u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX));
        if let Some(head) = &self.head {
            response.status = Some(head.status.as_u16());
            response.grpc_status = head.grpc_status;
        }

        let end_kind = match end {
            End::Panic => EndKind::Overriding,
            End::Refused(_) => EndKind::Refusal,
            _ => EndKind::Normal,
        };
        let (outcome, reason) = match end {
            End::Head | End::Finished => self.classify(&end, explicit),
            End::BodyFailed => (Outcome::Failure, Some("the response body failed".to_owned())),
            End::Error(e) => (Outcome::Failure, Some(format!("the service failed: {e}"))),
            End::Panic => (Outcome::Failure, Some(PANIC_REASON.to_owned())),
            End::Refused(e) => {
                event.metadata.insert("stage".into(), "refused".into());
                (Outcome::Failure, Some(format!("refused: the audit trail is unavailable: {e}")))
            }
            End::Dropped => match &self.head {
                Some(h) if self.protocol == Protocol::Grpc && h.grpc_status.is_none() => (
                    Outcome::Cancelled,
                    Some("the client went away before the call completed".to_owned()),
                ),
                Some(_) => self.classify(&end, explicit),
                None => (
                    Outcome::Cancelled,
                    Some("the client went away before the response was ready".to_owned()),
                ),
            },
        };
        // The handler's reason wins, except over a panic, a refusal or a cancellation.
        let overriding = !matches!(end_kind, EndKind::Normal) || outcome == Outcome::Cancelled;
        let scope_reason = event.reason.take();
        event.outcome = outcome;
        event.reason = if overriding { reason.or(scope_reason) } else { scope_reason.or(reason) };
        if self.strict {
            event.metadata.entry("stage").or_insert_with(|| "completed".into());
            if let Some(id) = self.received_id {
                event.metadata.insert("received_id".into(), id.to_string().into());
            }
        }
        // A refusal happens because strict delivery just failed: queue it.
        let delivery = match end_kind {
            EndKind::Refusal => Delivery::Buffered,
            _ => self.final_delivery(),
        };
        Some((event, delivery, self.shared.clone()))
    }

    /// Classifies a response; the precedence: `denied` from the response,
    /// then the handler's explicit outcome, then the classifier's.
    fn classify(&self, end: &End, explicit: Option<Outcome>) -> (Outcome, Option<String>) {
        let Some(head) = &self.head else {
            return (explicit.unwrap_or(Outcome::Success), None);
        };
        if self.protocol == Protocol::Grpc
            && head.grpc_status.is_none()
            && head.status == StatusCode::OK
        {
            return match end {
                // Strict delivery records at the head: the handler returned Ok.
                End::Head => (explicit.unwrap_or(Outcome::Success), None),
                _ => {
                    (Outcome::Failure, Some("the gRPC response ended without a status".to_owned()))
                }
            };
        }
        let info = ResponseInfo {
            protocol: self.protocol,
            status: head.status,
            grpc_status: head.grpc_status,
            grpc_message: head.grpc_message.as_deref(),
        };
        let c = self.shared.classify.classify(&info);
        let outcome = match (c.outcome, explicit) {
            (Outcome::Denied, _) => Outcome::Denied,
            (_, Some(explicit)) => explicit,
            (classified, None) => classified,
        };
        let reason = match outcome {
            Outcome::Success => None,
            _ => c.reason.or_else(|| {
                Some(match head.grpc_status {
                    Some(code) if self.protocol == Protocol::Grpc => {
                        grpc_reason(code, head.grpc_message.as_deref())
                    }
                    _ => http_reason(head.status),
                })
            }),
        };
        (outcome, reason)
    }

    /// Finishes and records in a spawned task (for paths that cannot wait).
    pub(crate) fn record_in_background(&mut self, end: End) {
        if let Some((event, delivery, shared)) = self.finish(end) {
            spawn_record(&shared, event, delivery);
        }
    }
}

enum EndKind {
    Normal,
    Overriding,
    Refusal,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.armed {
            self.record_in_background(End::Dropped);
        }
    }
}

type RecordFuture = Pin<Box<dyn Future<Output = Result<Receipt, RecordError>> + Send>>;

/// An entry being recorded. Dropped before it is done, it finishes in a
/// spawned task, so an entry is never lost to a client going away.
pub(crate) struct RecordTask {
    future: Option<RecordFuture>,
    shared: Arc<Shared>,
}

impl fmt::Debug for RecordTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordTask").field("done", &self.future.is_none()).finish()
    }
}

impl From<(AuditEvent, Delivery, Arc<Shared>)> for RecordTask {
    fn from((event, delivery, shared): (AuditEvent, Delivery, Arc<Shared>)) -> Self {
        Self::new(shared, event, delivery)
    }
}

impl RecordTask {
    pub(crate) fn new(shared: Arc<Shared>, event: AuditEvent, delivery: Delivery) -> Self {
        let auditor = shared.auditor.clone();
        let future = Box::pin(async move { auditor.record_with(event, delivery).await });
        Self { future: Some(future), shared }
    }

    /// Polls the recording; errors are reported (logged and counted) here.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Receipt, ()>> {
        let Some(future) = self.future.as_mut() else { return Poll::Ready(Err(())) };
        let result = match future.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(result) => result,
        };
        self.future = None;
        Poll::Ready(result.map_err(|e| report(&self.shared, &e)))
    }
}

impl Drop for RecordTask {
    fn drop(&mut self) {
        let Some(future) = self.future.take() else { return };
        let shared = self.shared.clone();
        spawn_or_lose(&self.shared, async move {
            if let Err(e) = future.await {
                report(&shared, &e);
            }
        });
    }
}

/// Records an entry in a spawned task.
pub(crate) fn spawn_record(shared: &Arc<Shared>, event: AuditEvent, delivery: Delivery) {
    let task = RecordTask::new(shared.clone(), event, delivery);
    // Dropping an unpolled task spawns it.
    drop(task);
}

fn spawn_or_lose(shared: &Arc<Shared>, future: impl Future<Output = ()> + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(future);
        }
        Err(_) => {
            let n = shared.lost.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!(
                "audit-tower: an audit entry was lost: the request ended outside a Tokio runtime, \
                 so there was nowhere to record it ({n} lost so far)"
            );
        }
    }
}

/// Logs a failed `record`; counts entries that are gone for good.
pub(crate) fn report(shared: &Shared, error: &RecordError) {
    match error {
        RecordError::NotDurable { .. } | RecordError::Timeout { .. } => {
            tracing::error!(error = %error, "audit-tower: a strict audit entry was not confirmed");
        }
        // The request is refused, and its `refused` entry recorded instead.
        RecordError::Backlog { .. } | RecordError::Busy { .. } => {
            tracing::error!(error = %error, "audit-tower: a strict audit entry was refused");
        }
        _ => {
            shared.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!(error = %error, "audit-tower: an audit entry could not be recorded");
        }
    }
}
