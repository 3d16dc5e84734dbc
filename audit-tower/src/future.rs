//! [`ResponseFuture`]: waits for the inner service and finishes the entry.

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use audit_core::{AuditScope, Body as AuditBody, Delivery, OmitReason};
use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::capture::{capture_format, content_length};
use crate::classify::{ClassifyOutcome, DefaultClassifier};
use crate::entry::{End, InFlightEntry};
use crate::make_entry::X_REQUEST_ID;
use crate::policy::{Level, Protocol};
use crate::record::RecordTask;

type Call<F> = Box<dyn FnOnce() -> Result<F, String> + Send>;

pin_project! {
    /// The response future of [`AuditService`](crate::AuditService).
    ///
    /// It polls the inner future with the request's [`AuditScope`] as the
    /// current scope, catches a panic (answered with a 500, or gRPC
    /// `INTERNAL`), and records the entry when the response is ready, unless
    /// the entry needs the end of the body. Dropped before that, the entry is
    /// recorded as `cancelled`. `C` is the layer's outcome classifier.
    pub struct ResponseFuture<F, ResBody, E, C: ClassifyOutcome = DefaultClassifier> {
        #[pin]
        state: State<F, ResBody, E, C>,
        entry: Option<InFlightEntry<C>>,
        scope: AuditScope,
        request_id: HeaderValue,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F, ResBody, E, C: ClassifyOutcome> {
        // Strict delivery: the `received` entry is being written.
        Received { record: RecordTask, call: Option<Call<F>> },
        Inner { #[pin] future: F },
        // The final entry is being recorded; then `output` is returned.
        Finishing {
            record: Option<RecordTask>,
            output: Option<Result<Response<ResponseBody<ResBody, C>>, E>>,
        },
        Done,
    }
}

impl<F, ResBody, E, C: ClassifyOutcome> fmt::Debug for ResponseFuture<F, ResBody, E, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("entry", &self.entry)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E, C: ClassifyOutcome> ResponseFuture<F, ResBody, E, C> {
    pub(crate) fn inner(
        future: F,
        entry: InFlightEntry<C>,
        scope: AuditScope,
        request_id: HeaderValue,
    ) -> Self {
        Self { state: State::Inner { future }, entry: Some(entry), scope, request_id }
    }

    pub(crate) fn received(
        record: RecordTask,
        call: Call<F>,
        entry: InFlightEntry<C>,
        scope: AuditScope,
        request_id: HeaderValue,
    ) -> Self {
        Self {
            state: State::Received { record, call: Some(call) },
            entry: Some(entry),
            scope,
            request_id,
        }
    }

    pub(crate) fn panicked(
        message: String,
        mut entry: InFlightEntry<C>,
        scope: AuditScope,
        request_id: HeaderValue,
    ) -> Self {
        let (response, record) = on_panic(&mut entry, message, &request_id);
        Self {
            state: State::Finishing { record, output: Some(Ok(response)) },
            entry: None,
            scope,
            request_id,
        }
    }
}

impl<F, ResBody, E, C> Future for ResponseFuture<F, ResBody, E, C>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: fmt::Display,
    ResBody: http_body::Body<Data = Bytes>,
    C: ClassifyOutcome,
{
    type Output = Result<Response<ResponseBody<ResBody, C>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Received { record, call } => {
                    let received = ready!(record.poll(cx));
                    let call = call.take();
                    match (received, call) {
                        (Ok(receipt), Some(call)) => {
                            if let Some(entry) = this.entry.as_mut() {
                                entry.set_received(receipt.id);
                            }
                            match call() {
                                Ok(future) => this.state.set(State::Inner { future }),
                                Err(message) => {
                                    let (response, record) = match this.entry.take() {
                                        Some(mut entry) => {
                                            on_panic(&mut entry, message, this.request_id)
                                        }
                                        None => {
                                            (internal_error(Protocol::Http, this.request_id), None)
                                        }
                                    };
                                    this.state.set(State::Finishing {
                                        record,
                                        output: Some(Ok(response)),
                                    });
                                }
                            }
                        }
                        (Err(()), _) | (_, None) => {
                            // Fail closed: the handler never runs.
                            let protocol =
                                this.entry.as_ref().map_or(Protocol::Http, |e| e.protocol());
                            if let Some(mut entry) = this.entry.take() {
                                entry.observe_head(
                                    refusal_status(protocol),
                                    &refusal_headers(protocol),
                                );
                                entry.finish_in_background(End::Refused(
                                    "the `received` entry was not written (strict delivery)"
                                        .to_owned(),
                                ));
                            }
                            let response = refusal(protocol, this.request_id);
                            this.state
                                .set(State::Finishing { record: None, output: Some(Ok(response)) });
                        }
                    }
                }
                StateProj::Inner { future } => {
                    let polled = catch_unwind(AssertUnwindSafe(|| {
                        this.scope.clone().sync_scope(|| future.poll(cx))
                    }));
                    let (output, record) = match polled {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(response))) => {
                            let (response, record) =
                                on_response(this.entry.take(), response, this.request_id);
                            (Ok(response), record)
                        }
                        Ok(Poll::Ready(Err(error))) => {
                            let record = this
                                .entry
                                .take()
                                .and_then(|mut entry| entry.finish(End::Error(error.to_string())));
                            (Err(error), record)
                        }
                        Err(payload) => {
                            let message = panic_message(payload);
                            let (response, record) = match this.entry.take() {
                                Some(mut entry) => on_panic(&mut entry, message, this.request_id),
                                None => (internal_error(Protocol::Http, this.request_id), None),
                            };
                            (Ok(response), record)
                        }
                    };
                    this.state.set(State::Finishing { record, output: Some(output) });
                }
                StateProj::Finishing { record, output } => {
                    if let Some(task) = record.as_mut() {
                        // Errors are logged (and lost entries counted) by the
                        // task; the response goes out either way, since the
                        // operation has already happened.
                        let _ = ready!(task.poll(cx));
                        *record = None;
                    }
                    let output = output.take();
                    this.state.set(State::Done);
                    match output {
                        Some(output) => return Poll::Ready(output),
                        None => return Poll::Pending,
                    }
                }
                // Polled after completion.
                StateProj::Done => return Poll::Pending,
            }
        }
    }
}

/// The response is there: record now, or hand the entry to the body when it
/// needs the end of the body (gRPC trailers, a captured response body).
fn on_response<B: http_body::Body, C: ClassifyOutcome>(
    entry: Option<InFlightEntry<C>>,
    response: Response<B>,
    request_id: &HeaderValue,
) -> (Response<ResponseBody<B, C>>, Option<RecordTask>) {
    let (mut parts, body) = response.into_parts();
    parts.headers.entry(X_REQUEST_ID).or_insert_with(|| request_id.clone());
    let Some(mut entry) = entry else {
        return (Response::from_parts(parts, ResponseBody::new(body, None)), None);
    };
    if !entry.is_audited() {
        entry.disarm();
        return (Response::from_parts(parts, ResponseBody::new(body, None)), None);
    }
    entry.observe_head(parts.status, &parts.headers);
    // Strict delivery records before the response goes out, with what the
    // head says; a body-dependent entry would come too late.
    let strict = entry.final_delivery() == Delivery::Strict;
    let mut defer = !strict && entry.protocol() == Protocol::Grpc && !entry.grpc_status_known();
    if entry.level() >= Level::RequestResponse && entry.protocol() == Protocol::Http {
        let declared = content_length(&parts.headers).or(body.size_hint().exact());
        match capture_format(&parts.headers) {
            Some(format) if !strict => {
                // A handler that returned a value (`#[audited]`) has set the
                // response body already: nothing to copy, but the entry still
                // waits for the end of the body, to tell if it was sent.
                entry.capture_response(format, declared);
                defer = true;
            }
            Some(_) => {}
            None if declared != Some(0)
                && !(parts.status.is_informational() || parts.status == StatusCode::NO_CONTENT) =>
            {
                entry.mark_response(AuditBody::omitted(
                    OmitReason::UnsupportedContentType,
                    declared,
                ));
            }
            None => {}
        }
    }
    // A body that has already ended is never polled: nothing to wait for.
    if defer && !body.is_end_stream() {
        return (Response::from_parts(parts, ResponseBody::new(body, Some(entry))), None);
    }
    let record = entry.finish(End::Response);
    (Response::from_parts(parts, ResponseBody::new(body, None)), record)
}

/// Answers a panic: a 500 (gRPC `INTERNAL`), and a `failure` entry whose
/// reason is fixed. The panic's message may carry a secret
/// (`panic!("bad token {token}")`) and the entry's `reason` is not redacted,
/// so the message goes to the application's logs (`tracing`, at error level,
/// with the request id), never to the audit trail.
fn on_panic<B, C: ClassifyOutcome>(
    entry: &mut InFlightEntry<C>,
    message: String,
    request_id: &HeaderValue,
) -> (Response<ResponseBody<B, C>>, Option<RecordTask>) {
    tracing::error!(
        request_id = %String::from_utf8_lossy(request_id.as_bytes()),
        panic = %message,
        "audit-tower: the handler panicked; answered with an internal error"
    );
    let response = internal_error(entry.protocol(), request_id);
    entry.observe_head(response.status(), response.headers());
    (response, entry.finish(End::Panic))
}

/// The panic's message, shortened, for the application's log.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    };
    // For the application's log only (never the entry: see `on_panic`).
    // A panic message is free text: keep it short.
    match msg.char_indices().nth(200) {
        Some((i, _)) => format!("{}...", &msg[..i]),
        None => msg,
    }
}

/// 500, or for gRPC `INTERNAL`, as tower-http's `CatchPanic` answers.
fn internal_error<B, C: ClassifyOutcome>(
    protocol: Protocol,
    request_id: &HeaderValue,
) -> Response<ResponseBody<B, C>> {
    match protocol {
        Protocol::Grpc => grpc_status_response(13, "internal error", request_id),
        Protocol::Http => {
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n", request_id)
        }
    }
}

/// 503, or for gRPC `UNAVAILABLE`: the request could not be audited.
fn refusal<B, C: ClassifyOutcome>(
    protocol: Protocol,
    request_id: &HeaderValue,
) -> Response<ResponseBody<B, C>> {
    match protocol {
        Protocol::Grpc => grpc_status_response(14, "audit trail unavailable", request_id),
        Protocol::Http => text_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "service unavailable: the request could not be audited\n",
            request_id,
        ),
    }
}

fn refusal_status(protocol: Protocol) -> StatusCode {
    match protocol {
        Protocol::Grpc => StatusCode::OK,
        Protocol::Http => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn refusal_headers(protocol: Protocol) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    if protocol == Protocol::Grpc {
        h.insert("grpc-status", HeaderValue::from_static("14"));
    }
    h
}

fn text_response<B, C: ClassifyOutcome>(
    status: StatusCode,
    text: &'static str,
    request_id: &HeaderValue,
) -> Response<ResponseBody<B, C>> {
    let mut response = Response::new(ResponseBody::full(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(X_REQUEST_ID, request_id.clone());
    response
}

/// A trailers-only gRPC response.
fn grpc_status_response<B, C: ClassifyOutcome>(
    code: u16,
    message: &'static str,
    request_id: &HeaderValue,
) -> Response<ResponseBody<B, C>> {
    let mut response = Response::new(ResponseBody::full(Bytes::new()));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    h.insert("grpc-status", HeaderValue::from(code));
    h.insert("grpc-message", HeaderValue::from_static(message));
    h.insert(X_REQUEST_ID, request_id.clone());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_short() {
        assert_eq!(panic_message(Box::new("boom")), "boom");
        assert_eq!(panic_message(Box::new(String::from("bang"))), "bang");
        assert_eq!(panic_message(Box::new(42)), "(no message)");
        assert_eq!(panic_message(Box::new("é".repeat(300))).chars().count(), 203);
    }
}
