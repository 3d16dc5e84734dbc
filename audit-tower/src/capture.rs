//! Request-body capture: the capped copy of a body kept for the entry, its
//! parsing, and [`RequestBody`], which takes that copy as the inner service
//! reads the request.
//!
//! Nothing is buffered beyond the copy: frames pass through as they come.
//! The copy stops at the capture cap (the layer's `max_body_bytes`); past it
//! the copy is dropped at once and only the size is counted, so a large or
//! endless body costs no more memory than the cap. The response body
//! ([`ResponseBody`](crate::ResponseBody)) uses the same `BodyCapture`.

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

/// A capped copy of a body, request or response.
#[derive(Debug)]
pub(crate) struct BodyCapture {
    format: Format,
    cap: usize,
    buf: Vec<u8>,
    seen: u64,
    declared: Option<u64>,
    truncated: bool,
    complete: bool,
}

impl BodyCapture {
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

/// A capture the [`RequestBody`] fills while the entry waits for it.
pub(crate) type LiveCapture = Arc<Mutex<BodyCapture>>;

/// What the entry keeps of the request body.
#[derive(Debug)]
pub(crate) enum RequestBodyCapture {
    /// Not captured: the level is below [`Level::Request`](crate::Level::Request),
    /// a gRPC request, or a body that is empty.
    None,
    /// Known without reading the body (e.g. an unsupported content type).
    Marker(AuditBody),
    /// Filled by the [`RequestBody`] as the inner service reads it.
    Live(LiveCapture),
}

impl RequestBodyCapture {
    /// The capture the [`RequestBody`] fills, if any.
    pub(crate) fn live(&self) -> Option<LiveCapture> {
        match self {
            Self::Live(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// What the entry records of the request body.
    pub(crate) fn finish(&self) -> Option<AuditBody> {
        match self {
            Self::None => None,
            Self::Marker(b) => Some(b.clone()),
            Self::Live(c) => c.lock().unwrap_or_else(|e| e.into_inner()).finish(),
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
        capture: Option<LiveCapture>,
    }
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, capture: Option<LiveCapture>) -> Self {
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
        let mut c = BodyCapture::new(Format::Json, 1024, None);
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
        let mut c = BodyCapture::new(Format::Json, 10, Some(11));
        c.push(b"{\"a\": 1}");
        assert_eq!(c.buffered(), 0);
        assert_eq!(c.finish(), Some(AuditBody::omitted(OmitReason::Truncated, Some(11))));
    }

    #[test]
    fn exactly_the_cap_is_kept() {
        let mut c = BodyCapture::new(Format::Json, 7, None);
        c.push(b"{\"a\":");
        c.push(b"1}");
        c.end();
        assert_eq!(c.finish(), Some(AuditBody::Json(json!({"a": 1}))));
    }

    #[test]
    fn unread_and_partial_bodies() {
        let c = BodyCapture::new(Format::Json, 100, Some(20));
        assert_eq!(c.finish(), None);
        let mut c = BodyCapture::new(Format::Json, 100, Some(20));
        c.push(b"{\"a\":");
        assert_eq!(c.finish(), Some(AuditBody::omitted(OmitReason::Truncated, Some(20))));
        let mut c = BodyCapture::new(Format::Json, 100, Some(7));
        c.push(b"{\"a\":1}");
        assert_eq!(c.finish(), Some(AuditBody::Json(json!({"a": 1}))));
        let mut c = BodyCapture::new(Format::Json, 100, None);
        c.end();
        assert_eq!(c.finish(), None);
    }
}
