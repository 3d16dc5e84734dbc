//! Whether a request worked: the [`ClassifyOutcome`] extension point.

use audit_core::Outcome;
use http::{HeaderMap, StatusCode};
use percent_encoding::percent_decode;

use crate::policy::Protocol;

/// What the classifier sees of a response.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ResponseInfo<'a> {
    /// The protocol of the request.
    pub protocol: Protocol,
    /// The HTTP status.
    pub status: StatusCode,
    /// The gRPC status code, from the response headers (trailers-only
    /// responses) or trailers.
    pub grpc_status: Option<i32>,
    /// The gRPC status message, percent-decoded.
    pub grpc_message: Option<&'a str>,
}

/// An outcome, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Classification {
    /// The outcome.
    pub outcome: Outcome,
    /// Why it failed or was denied (e.g. `HTTP 500 Internal Server Error`).
    pub reason: Option<String>,
}

impl Classification {
    /// An outcome without a reason.
    pub fn new(outcome: Outcome) -> Self {
        Self { outcome, reason: None }
    }

    /// Adds a reason.
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

impl From<Outcome> for Classification {
    fn from(outcome: Outcome) -> Self {
        Self::new(outcome)
    }
}

/// Classifies a response: the outcome extension point.
///
/// The layer asks its classifier once the response status is known: when the
/// response head arrives, or for gRPC calls whose status comes in the
/// trailers, when the response body ends. The inner service's `Err`, a panic
/// and a dropped request are classified by the layer itself (`failure`,
/// `failure`, `cancelled`). A `denied` classification always wins; otherwise
/// an outcome the handler set on the scope takes precedence.
///
/// Implemented by [`DefaultClassifier`], by `()` (everything that produced a
/// response is a success), and by closures
/// `Fn(&ResponseInfo<'_>) -> Classification` (or `-> Outcome`; when such a
/// closure returns no reason the layer fills in the status).
///
/// Set with [`AuditLayer::classify`](crate::AuditLayer::classify), which
/// makes it a type parameter of the layer, as
/// [`AuditLayer::make_actor`](crate::AuditLayer::make_actor) does for
/// [`MakeActor`](crate::MakeActor). One classifier serves every request of a
/// service, and it runs wherever a request ends (the response future, the
/// response body, or a spawned task for a dropped request): hence `&self`
/// and `Send + Sync + 'static`.
pub trait ClassifyOutcome: Send + Sync + 'static {
    /// The outcome of a response.
    fn classify(&self, response: &ResponseInfo<'_>) -> Classification;
}

/// HTTP: 1xx, 2xx and 3xx are `success`; 401 and 403 `denied`; any other 4xx
/// and 5xx `failure`. gRPC: `grpc-status` 0 is `success`; 7
/// (`PERMISSION_DENIED`) and 16 (`UNAUTHENTICATED`) `denied`; anything else
/// `failure`. A gRPC response without a status is classified by its HTTP
/// status.
///
/// ```
/// use audit_core::Outcome;
/// use audit_tower::{ClassifyOutcome, DefaultClassifier};
///
/// assert_eq!(DefaultClassifier.classify_http(http::StatusCode::FORBIDDEN).outcome, Outcome::Denied);
/// assert_eq!(DefaultClassifier.classify_grpc(5, None).outcome, Outcome::Failure);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultClassifier;

impl DefaultClassifier {
    /// Classifies an HTTP status.
    pub fn classify_http(&self, status: StatusCode) -> Classification {
        let outcome = match status.as_u16() {
            401 | 403 => Outcome::Denied,
            400..=599 => Outcome::Failure,
            _ => Outcome::Success,
        };
        match outcome {
            Outcome::Success => Classification::new(outcome),
            _ => Classification::new(outcome).reason(http_reason(status)),
        }
    }

    /// Classifies a gRPC status code and message.
    pub fn classify_grpc(&self, code: i32, message: Option<&str>) -> Classification {
        let outcome = match code {
            0 => return Classification::new(Outcome::Success),
            7 | 16 => Outcome::Denied,
            _ => Outcome::Failure,
        };
        Classification::new(outcome).reason(grpc_reason(code, message))
    }
}

impl ClassifyOutcome for DefaultClassifier {
    fn classify(&self, r: &ResponseInfo<'_>) -> Classification {
        match (r.protocol, r.grpc_status) {
            (Protocol::Grpc, Some(code)) => self.classify_grpc(code, r.grpc_message),
            _ => self.classify_http(r.status),
        }
    }
}

impl ClassifyOutcome for () {
    fn classify(&self, _: &ResponseInfo<'_>) -> Classification {
        Classification::new(Outcome::Success)
    }
}

impl<F, T> ClassifyOutcome for F
where
    F: Fn(&ResponseInfo<'_>) -> T + Send + Sync + 'static,
    T: Into<Classification>,
{
    fn classify(&self, response: &ResponseInfo<'_>) -> Classification {
        self(response).into()
    }
}

/// `HTTP 404 Not Found`.
pub(crate) fn http_reason(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(text) => format!("HTTP {} {text}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The message, or `gRPC status 5 (NOT_FOUND)`.
pub(crate) fn grpc_reason(code: i32, message: Option<&str>) -> String {
    match message.filter(|m| !m.is_empty()) {
        Some(m) => format!("{m} (gRPC {})", grpc_code_name(code)),
        None => format!("gRPC status {code} ({})", grpc_code_name(code)),
    }
}

/// The gRPC status of a response, from its headers (a trailers-only
/// response) or its trailers: the `grpc-status` code and, when there is a
/// code, the `grpc-message`, percent-decoded.
pub(crate) fn grpc_status(headers: &HeaderMap) -> (Option<i32>, Option<String>) {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i32>().ok());
    let message = code.and(headers.get("grpc-message")).map(|v| grpc_message(v.as_bytes()));
    (code, message)
}

/// Decodes a `grpc-message` as the gRPC spec encodes it: `%XX` escapes of
/// UTF-8 bytes. `+` is a plus sign, not a space (this is not form encoding);
/// a `%` not followed by two hex digits is kept as it is; bytes that are not
/// UTF-8 after decoding become U+FFFD. The message is read, never rejected:
/// it only explains an outcome.
fn grpc_message(raw: &[u8]) -> String {
    percent_decode(raw).decode_utf8_lossy().into_owned()
}

fn grpc_code_name(code: i32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN_CODE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16) -> Outcome {
        DefaultClassifier.classify_http(StatusCode::from_u16(status).unwrap()).outcome
    }

    #[test]
    fn http_classes() {
        for s in [100, 200, 201, 204, 301, 304] {
            assert_eq!(http(s), Outcome::Success, "{s}");
        }
        for s in [401, 403] {
            assert_eq!(http(s), Outcome::Denied, "{s}");
        }
        for s in [400, 404, 409, 422, 429, 500, 502, 503] {
            assert_eq!(http(s), Outcome::Failure, "{s}");
        }
        assert_eq!(
            DefaultClassifier.classify_http(StatusCode::NOT_FOUND).reason.as_deref(),
            Some("HTTP 404 Not Found")
        );
    }

    #[test]
    fn grpc_classes() {
        for code in 0..=16 {
            let expected = match code {
                0 => Outcome::Success,
                7 | 16 => Outcome::Denied,
                _ => Outcome::Failure,
            };
            assert_eq!(DefaultClassifier.classify_grpc(code, None).outcome, expected, "{code}");
        }
        assert_eq!(
            DefaultClassifier.classify_grpc(5, Some("no such project")).reason.as_deref(),
            Some("no such project (gRPC NOT_FOUND)")
        );
        let info = ResponseInfo {
            protocol: Protocol::Grpc,
            status: StatusCode::SERVICE_UNAVAILABLE,
            grpc_status: None,
            grpc_message: None,
        };
        assert_eq!(DefaultClassifier.classify(&info).outcome, Outcome::Failure);
    }

    #[test]
    fn closures_and_unit() {
        let info = ResponseInfo {
            protocol: Protocol::Http,
            status: StatusCode::NOT_FOUND,
            grpc_status: None,
            grpc_message: None,
        };
        let lenient = |r: &ResponseInfo<'_>| {
            if r.status == StatusCode::NOT_FOUND { Outcome::Success } else { Outcome::Failure }
        };
        assert_eq!(lenient.classify(&info).outcome, Outcome::Success);
        assert_eq!(().classify(&info).outcome, Outcome::Success);
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(grpc_message(b"no%20such%20project"), "no such project");
        assert_eq!(grpc_message(b"caf%C3%A9"), "café");
        assert_eq!(grpc_message(b"caf%c3%a9"), "café", "hex digits in either case");
        assert_eq!(grpc_message(b"a+b"), "a+b", "`+` is not a space");
        assert_eq!(grpc_message(b"100%"), "100%");
        assert_eq!(grpc_message(b"%zz%4"), "%zz%4", "invalid escapes are kept");
        assert_eq!(grpc_message(b"%%41"), "%A", "a `%` that starts no escape is kept");
        assert_eq!(grpc_message(b"%4"), "%4");
        assert_eq!(grpc_message(b"%FF ok"), "\u{FFFD} ok", "non-UTF-8 is replaced");
        assert_eq!(grpc_message(b"\xff"), "\u{FFFD}");
        assert_eq!(grpc_message(b""), "");
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn grpc_status_from_headers() {
        let h = headers(&[("grpc-status", " 5 "), ("grpc-message", "no%20such%20project")]);
        assert_eq!(grpc_status(&h), (Some(5), Some("no such project".to_owned())));
        assert_eq!(grpc_status(&headers(&[("grpc-status", "0")])), (Some(0), None));
        // A message without a code is not a status.
        assert_eq!(grpc_status(&headers(&[("grpc-message", "x")])), (None, None));
        assert_eq!(
            grpc_status(&headers(&[("grpc-status", "ok"), ("grpc-message", "x")])),
            (None, None)
        );
        assert_eq!(grpc_status(&HeaderMap::new()), (None, None));
    }
}
