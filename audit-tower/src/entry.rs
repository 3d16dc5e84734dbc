//! [`InFlightEntry`]: the entry of one request, from the moment the layer
//! opens its scope until it is handed to the auditor, finished exactly once
//! whichever way the request ends.
//!
//! The service creates it from the [`EntryStart`] that `make_entry` maps
//! the request to; the response future owns it until the
//! response head is there, and hands it to the response body when the entry
//! needs the end of the body. Whoever holds it last calls
//! [`finish`](InFlightEntry::finish) with how the request [`End`]ed; dropped
//! unfinished, it records itself as `cancelled`.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use audit_core::{AuditEvent, AuditScope, Body as AuditBody, Delivery, Outcome, Response};
use http::{HeaderMap, StatusCode};
use uuid::Uuid;

use crate::capture::{BodyCapture, Format, RequestBodyCapture};
use crate::classify::{ClassifyOutcome, ResponseInfo, grpc_reason, grpc_status, http_reason};
use crate::config::ServiceConfig;
use crate::policy::{Level, Protocol};
use crate::record::RecordTask;

/// The `reason` of an entry whose handler panicked: fixed, without the
/// panic's message (which may carry a secret and would not be redacted).
const PANIC_REASON: &str = "the handler panicked";

/// How an entry starts: the request's scope, pre-filled from the request,
/// and what the policy decided for it.
#[derive(Debug)]
pub(crate) struct EntryStart {
    /// The request's scope, already in its extensions.
    pub(crate) scope: AuditScope,
    /// When the layer saw the request.
    pub(crate) started: Instant,
    /// The event name, unless the handler names it.
    pub(crate) event: String,
    pub(crate) level: Level,
    /// The rule's delivery mode, else the auditor's.
    pub(crate) delivery: Delivery,
    pub(crate) protocol: Protocol,
    pub(crate) request_body: RequestBodyCapture,
}

/// What is known of the response head (and, for gRPC, of its trailers).
#[derive(Debug)]
struct ResponseHead {
    status: StatusCode,
    grpc_status: Option<i32>,
    grpc_message: Option<String>,
}

/// How the request ended.
#[derive(Debug)]
pub(crate) enum End {
    /// The response head is there and the entry does not wait for the body
    /// (the status is final for HTTP; for gRPC the trailers have not been
    /// seen).
    Response,
    /// The response body ended (after its trailers, if any).
    BodyEnded,
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

/// The entry of one request until it is finished.
pub(crate) struct InFlightEntry<C: ClassifyOutcome> {
    config: Arc<ServiceConfig<C>>,
    scope: AuditScope,
    started: Instant,
    event: String,
    level: Level,
    delivery: Delivery,
    protocol: Protocol,
    request_body: RequestBodyCapture,
    /// Whether a `received` entry is recorded first (strict delivery).
    strict: bool,
    received_id: Option<Uuid>,
    head: Option<ResponseHead>,
    response_capture: Option<BodyCapture>,
    response_marker: Option<AuditBody>,
    /// Not finished yet: cleared by `finish` and `disarm`.
    armed: bool,
}

impl<C: ClassifyOutcome> fmt::Debug for InFlightEntry<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlightEntry")
            .field("event", &self.event)
            .field("level", &self.level)
            .field("armed", &self.armed)
            .finish_non_exhaustive()
    }
}

impl<C: ClassifyOutcome> InFlightEntry<C> {
    pub(crate) fn new(config: Arc<ServiceConfig<C>>, start: EntryStart) -> Self {
        let EntryStart { scope, started, event, level, delivery, protocol, request_body } = start;
        Self {
            config,
            scope,
            started,
            event,
            level,
            delivery,
            protocol,
            request_body,
            strict: delivery == Delivery::Strict && level > Level::None,
            received_id: None,
            head: None,
            response_capture: None,
            response_marker: None,
            armed: true,
        }
    }

    pub(crate) fn level(&self) -> Level {
        self.level
    }

    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Whether a `received` entry is to be confirmed before the inner service
    /// is called (strict delivery, by rule or by the auditor).
    pub(crate) fn is_strict(&self) -> bool {
        self.strict
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

    /// Strict delivery: starts recording the `received` entry, from what the
    /// scope holds before the handler runs.
    pub(crate) fn record_received(&self) -> RecordTask {
        let mut received = self.scope.build_event(&self.event);
        received.metadata.insert("stage".into(), "received".into());
        received.description =
            format!("{} (received, not yet completed)", received.default_description());
        self.config.recorder.record(received, Delivery::Strict)
    }

    /// The `received` entry was confirmed with this id.
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
        self.head = Some(ResponseHead { status, grpc_status, grpc_message });
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

    /// Copies the response body as it streams, up to the capture cap, unless
    /// the handler has set the response body already (`#[audited]` records
    /// the value it returned).
    pub(crate) fn capture_response(&mut self, format: Format, declared: Option<u64>) {
        if !self.scope.has_response_body() {
            self.response_capture = Some(BodyCapture::new(format, self.config.max_body, declared));
        }
    }

    /// Records this marker as the response body.
    pub(crate) fn mark_response(&mut self, marker: AuditBody) {
        self.response_marker = Some(marker);
    }

    pub(crate) fn observe_response_data(&mut self, data: &[u8]) {
        if let Some(c) = self.response_capture.as_mut() {
            c.push(data);
        }
    }

    /// Finishes the entry, once, and starts recording it; `None` when the
    /// request is not audited or the entry was finished already.
    pub(crate) fn finish(&mut self, end: End) -> Option<RecordTask> {
        let (event, delivery) = self.build(end)?;
        Some(self.config.recorder.record(event, delivery))
    }

    /// Finishes the entry and records it in a spawned task (for paths that
    /// cannot wait).
    pub(crate) fn finish_in_background(&mut self, end: End) {
        if let Some((event, delivery)) = self.build(end) {
            self.config.recorder.spawn(event, delivery);
        }
    }

    /// Builds the entry, once; `None` when the request is not audited.
    fn build(&mut self, end: End) -> Option<(AuditEvent, Delivery)> {
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
                && matches!(end, End::BodyEnded)
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
            Some(u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX));
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
            End::Response | End::BodyEnded => self.classify(&end, explicit),
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
        Some((event, delivery))
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
                End::Response => (explicit.unwrap_or(Outcome::Success), None),
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
        let c = self.config.classify.classify(&info);
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
}

/// Whose reason an entry keeps, and how it is delivered.
enum EndKind {
    /// The handler's reason wins over the layer's.
    Normal,
    /// The layer's reason wins (a panic).
    Overriding,
    /// The layer's reason wins, and the entry is queued (a refusal).
    Refusal,
}

impl<C: ClassifyOutcome> Drop for InFlightEntry<C> {
    fn drop(&mut self) {
        if self.armed {
            self.finish_in_background(End::Dropped);
        }
    }
}
