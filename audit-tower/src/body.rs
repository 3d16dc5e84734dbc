//! Body wrappers: the request body the inner service reads (teeing a capped
//! copy for the entry) and the response body the client reads (capturing the
//! response, watching gRPC trailers, and finishing the entry when it ends).
//!
//! Neither buffers a body: frames pass through as they come. The copy kept
//! for the entry stops at the capture cap (the layer's `max_body_bytes`,
//! 64 KiB by default); past it the copy is dropped at once and only the size
//! is counted, so a large or endless body costs no more memory than the cap.

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};

use audit_core::{Body as AuditBody, OmitReason};
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use serde_json::{Map, Value};

use crate::pending::{End, Pending, RecordTask};

/// The formats whose bodies are captured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `application/json`, `application/*+json`.
    Json,
    /// `application/x-www-form-urlencoded`, kept as an object of strings.
    Form,
}

/// The capture format of a message, from its `content-type`; `None` for
/// anything else (binary, multipart, text, missing).
pub(crate) fn capture_format(headers: &HeaderMap) -> Option<Format> {
    let ct = headers.get(http::header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next().unwrap_or("").trim();
    let (kind, sub) = essence.split_once('/')?;
    // Media types are case-insensitive.
    let ends_with = |s: &str, suffix: &str| {
        s.len() >= suffix.len()
            && s.is_char_boundary(s.len() - suffix.len())
            && s[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    if !kind.eq_ignore_ascii_case("application") {
        return None;
    }
    if sub.eq_ignore_ascii_case("json") || ends_with(sub, "+json") {
        Some(Format::Json)
    } else if sub.eq_ignore_ascii_case("x-www-form-urlencoded") {
        Some(Format::Form)
    } else {
        None
    }
}

/// The declared `content-length`, if any.
pub(crate) fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(http::header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// A capped copy of a body.
#[derive(Debug)]
pub(crate) struct Capture {
    format: Format,
    cap: usize,
    buf: Vec<u8>,
    seen: u64,
    declared: Option<u64>,
    truncated: bool,
    complete: bool,
}

impl Capture {
    pub(crate) fn new(format: Format, cap: usize, declared: Option<u64>) -> Self {
        let truncated = declared.is_some_and(|n| n > cap as u64);
        let initial = if truncated { 0 } else { declared.unwrap_or(0).min(cap as u64) as usize };
        Self {
            format,
            cap,
            buf: Vec::with_capacity(initial.min(16 * 1024)),
            seen: 0,
            declared,
            truncated,
            complete: false,
        }
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.seen += data.len() as u64;
        if self.truncated {
            return;
        }
        if self.buf.len() + data.len() > self.cap {
            // A truncated body keeps no content (see `audit_core::Body`): free it now.
            self.truncated = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(data);
        }
    }

    pub(crate) fn end(&mut self) {
        self.complete = true;
    }

    /// Bytes held right now; never more than the cap.
    #[cfg(test)]
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// What the entry records: the value, a marker, or `None` for an empty
    /// body or one the application never read.
    pub(crate) fn finish(&self) -> Option<AuditBody> {
        let size = self.seen.max(self.declared.unwrap_or(0));
        if self.truncated {
            return Some(AuditBody::omitted(OmitReason::Truncated, Some(size)));
        }
        let complete = self.complete || self.declared == Some(self.seen);
        if !complete {
            // Read in part (the handler stopped early): not the whole body.
            return (self.seen > 0).then(|| AuditBody::omitted(OmitReason::Truncated, Some(size)));
        }
        if self.buf.is_empty() {
            return None;
        }
        Some(parse(self.format, &self.buf))
    }
}

/// Parses a complete captured body; never fails, never panics.
pub(crate) fn parse(format: Format, bytes: &[u8]) -> AuditBody {
    let size = Some(bytes.len() as u64);
    let Ok(text) = std::str::from_utf8(bytes) else {
        return AuditBody::omitted(OmitReason::InvalidUtf8, size);
    };
    match format {
        Format::Json => match serde_json::from_str::<Value>(text) {
            Ok(value) => AuditBody::Json(value),
            Err(_) => AuditBody::omitted(OmitReason::InvalidJson, size),
        },
        Format::Form => {
            let mut map = Map::new();
            for (k, v) in form_urlencoded::parse(text.as_bytes()) {
                let v = Value::String(v.into_owned());
                match map.get_mut(k.as_ref()) {
                    Some(Value::Array(items)) => items.push(v),
                    Some(first) => *first = Value::Array(vec![first.take(), v]),
                    None => {
                        map.insert(k.into_owned(), v);
                    }
                }
            }
            AuditBody::Json(Value::Object(map))
        }
    }
}

pin_project! {
    /// The request body the inner service receives: the original body, with a
    /// capped copy taken for the entry when the policy level is
    /// [`Level::Request`](crate::Level::Request) or higher.
    pub struct RequestBody<B> {
        #[pin]
        inner: B,
        capture: Option<Arc<Mutex<Capture>>>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, capture: Option<Arc<Mutex<Capture>>>) -> Self {
        Self { inner, capture }
    }

    /// The original body; nothing more is captured from it.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> fmt::Debug for RequestBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBody")
            .field("inner", &std::any::type_name::<B>())
            .field("captured", &self.capture.is_some())
            .finish()
    }
}

impl<B> Body for RequestBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = ready!(this.inner.poll_frame(cx));
        if let Some(capture) = this.capture {
            let mut capture = capture.lock().unwrap_or_else(|e| e.into_inner());
            match &frame {
                Some(Ok(f)) => {
                    if let Some(data) = f.data_ref() {
                        capture.push(data);
                    }
                }
                None => capture.end(),
                Some(Err(_)) => {}
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<B> {
        Inner { #[pin] body: B },
        Full { data: Option<Bytes> },
    }
}

impl<B: Body> Kind<B> {
    fn is_end_stream(&self) -> bool {
        match self {
            Kind::Inner { body } => body.is_end_stream(),
            Kind::Full { data } => data.is_none(),
        }
    }
}

pin_project! {
    /// The response body the client receives: the inner service's body (or
    /// one the layer made, for a refused request or a panic).
    ///
    /// When the entry needs the end of the body (a gRPC status in the
    /// trailers, or a captured response body at
    /// [`Level::RequestResponse`](crate::Level::RequestResponse)) the body
    /// records it before it yields its last frame; a body dropped before its
    /// end records it on drop.
    pub struct ResponseBody<B> {
        #[pin]
        kind: Kind<B>,
        pending: Option<Pending>,
        record: Option<RecordTask>,
        held: Option<Frame<Bytes>>,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(body: B, pending: Option<Pending>) -> Self {
        Self { kind: Kind::Inner { body }, pending, record: None, held: None }
    }

    pub(crate) fn full(data: Bytes) -> Self {
        let data = (!data.is_empty()).then_some(data);
        Self { kind: Kind::Full { data }, pending: None, record: None, held: None }
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &std::any::type_name::<B>())
            .field("pending", &self.pending.is_some())
            .finish_non_exhaustive()
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        loop {
            if let Some(task) = this.record.as_mut() {
                let _ = ready!(task.poll(cx));
                *this.record = None;
                return Poll::Ready(this.held.take().map(Ok));
            }
            let frame = match this.kind.as_mut().project() {
                KindProj::Inner { body } => ready!(body.poll_frame(cx)),
                KindProj::Full { data } => data.take().map(|d| Ok(Frame::data(d))),
            };
            match frame {
                Some(Ok(frame)) => {
                    if let Some(trailers) = frame.trailers_ref() {
                        if let Some(mut pending) = this.pending.take() {
                            pending.observe_trailers(trailers);
                            *this.record = pending.finish(End::Finished).map(RecordTask::from);
                            if this.record.is_some() {
                                *this.held = Some(frame);
                                continue;
                            }
                        }
                    } else if let (Some(data), Some(pending)) =
                        (frame.data_ref(), this.pending.as_mut())
                    {
                        pending.observe_response_data(data);
                        // Servers stop polling a body that says it has ended
                        // (or whose declared length is written): finish now.
                        if this.kind.as_ref().get_ref().is_end_stream()
                            && let Some(mut pending) = this.pending.take()
                        {
                            *this.record = pending.finish(End::Finished).map(RecordTask::from);
                            if this.record.is_some() {
                                *this.held = Some(frame);
                                continue;
                            }
                        }
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Some(Err(e)) => {
                    if let Some(mut pending) = this.pending.take() {
                        pending.record_in_background(End::BodyFailed);
                    }
                    return Poll::Ready(Some(Err(e)));
                }
                None => {
                    if let Some(mut pending) = this.pending.take() {
                        *this.record = pending.finish(End::Finished).map(RecordTask::from);
                        *this.held = None;
                        continue;
                    }
                    return Poll::Ready(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        // While an entry is still to be recorded, the end must be polled for.
        if self.pending.is_some() || self.record.is_some() || self.held.is_some() {
            return false;
        }
        self.kind.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner { body } => body.size_hint(),
            Kind::Full { data } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn headers(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn formats() {
        assert_eq!(capture_format(&headers("application/json")), Some(Format::Json));
        assert_eq!(capture_format(&headers("Application/JSON; charset=utf-8")), Some(Format::Json));
        assert_eq!(capture_format(&headers("application/merge-patch+json")), Some(Format::Json));
        assert_eq!(
            capture_format(&headers("application/x-www-form-urlencoded")),
            Some(Format::Form)
        );
        assert_eq!(capture_format(&headers("multipart/form-data; boundary=x")), None);
        assert_eq!(capture_format(&headers("application/octet-stream")), None);
        assert_eq!(capture_format(&headers("text/plain")), None);
        assert_eq!(capture_format(&HeaderMap::new()), None);
        assert_eq!(capture_format(&headers(" APPLICATION/Vnd.Api+JSON ")), Some(Format::Json));
        assert_eq!(capture_format(&headers("application/jsonx")), None);
        assert_eq!(capture_format(&headers("text/json")), None);
        assert_eq!(capture_format(&headers("application/json")), Some(Format::Json));
    }

    #[test]
    fn json_and_markers() {
        assert_eq!(parse(Format::Json, br#"{"a":1}"#), AuditBody::Json(json!({"a": 1})));
        assert_eq!(
            parse(Format::Json, b"{nope"),
            AuditBody::omitted(OmitReason::InvalidJson, Some(5))
        );
        assert_eq!(
            parse(Format::Json, b"\xff\xfe{}"),
            AuditBody::omitted(OmitReason::InvalidUtf8, Some(4))
        );
        assert_eq!(
            parse(Format::Form, b"\xff=1"),
            AuditBody::omitted(OmitReason::InvalidUtf8, Some(3))
        );
    }

    #[test]
    fn forms() {
        assert_eq!(
            parse(Format::Form, b"name=Apollo+11&tag=a&tag=b&tag=c&empty=&flag&pct=%C3%A9"),
            AuditBody::Json(json!({
                "name": "Apollo 11", "tag": ["a", "b", "c"], "empty": "", "flag": "", "pct": "é"
            }))
        );
    }

    #[test]
    fn capture_is_capped_and_frees_its_copy() {
        let mut c = Capture::new(Format::Json, 1024, None);
        let chunk = [b' '; 100];
        for _ in 0..(10 * 1024 * 1024 / 100) {
            c.push(&chunk);
            assert!(c.buffered() <= 1024);
        }
        c.end();
        assert_eq!(c.buffered(), 0);
        assert_eq!(
            c.finish(),
            Some(AuditBody::omitted(OmitReason::Truncated, Some(10 * 1024 * 1024 / 100 * 100)))
        );
    }

    #[test]
    fn declared_oversize_copies_nothing() {
        let mut c = Capture::new(Format::Json, 10, Some(11));
        c.push(b"{\"a\": 1}");
        assert_eq!(c.buffered(), 0);
        assert_eq!(c.finish(), Some(AuditBody::omitted(OmitReason::Truncated, Some(11))));
    }

    #[test]
    fn exactly_the_cap_is_kept() {
        let mut c = Capture::new(Format::Json, 7, None);
        c.push(b"{\"a\":");
        c.push(b"1}");
        c.end();
        assert_eq!(c.finish(), Some(AuditBody::Json(json!({"a": 1}))));
    }

    #[test]
    fn unread_and_partial_bodies() {
        let c = Capture::new(Format::Json, 100, Some(20));
        assert_eq!(c.finish(), None);
        let mut c = Capture::new(Format::Json, 100, Some(20));
        c.push(b"{\"a\":");
        assert_eq!(c.finish(), Some(AuditBody::omitted(OmitReason::Truncated, Some(20))));
        let mut c = Capture::new(Format::Json, 100, Some(7));
        c.push(b"{\"a\":1}");
        assert_eq!(c.finish(), Some(AuditBody::Json(json!({"a": 1}))));
        let mut c = Capture::new(Format::Json, 100, None);
        c.end();
        assert_eq!(c.finish(), None);
    }
}
