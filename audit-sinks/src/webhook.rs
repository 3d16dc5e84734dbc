//! Signed JSON batches POSTed to a URL (feature `webhook`): for SIEMs,
//! Splunk HEC-style collectors and your own receivers.
//!
//! # What the receiver gets
//!
//! One `POST` per batch, with a body that is a JSON array of entries (each in
//! the entry's JSON form, schema version 1) and these headers:
//!
//! | header | value |
//! |---|---|
//! | `Content-Type` | `application/json` |
//! | `X-Audit-Signature` | `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` |
//! | `Idempotency-Key` | `<id of the first entry>:<number of entries>`: the same on every retry of a batch |
//! | your headers | e.g. `Authorization: Splunk <token>`, set with [`WebhookSinkBuilder::header`] |
//!
//! The signature is computed over the raw body bytes with the shared secret
//! and a fresh timestamp on every attempt, so a receiver can check both that
//! the batch comes from this service and that it is not an old request
//! replayed. Entries carry unique ids, so a receiver that sees a batch twice
//! (after a lost response, or a replay from the spool) can drop the repeats.
//!
//! # Delivery
//!
//! | response | returned to the pipeline as | what happens |
//! |---|---|---|
//! | 2xx | success | |
//! | 5xx, 408, 429, timeout, connection or TLS error | transient | retried with backoff; entries wait in the spool meanwhile |
//! | other 4xx, 3xx (redirects are not followed) | permanent | not retried; the batch goes to the spool's dead-letter file |
//!
//! # Verifying the signature
//!
//! In Rust, with this crate's [`verify_signature`]:
//!
//! ```
//! use std::time::Duration;
//! use audit_sinks::webhook::{signature_header, verify_signature};
//!
//! let secret = b"whsec_example";
//! let body = br#"[{"id":"0190b8a0-0000-7000-8000-000000000000"}]"#;
//! # let header = signature_header(secret, std::time::SystemTime::now(), body);
//! // `header` is the request's `X-Audit-Signature`, `body` its raw bytes.
//! verify_signature(secret, &header, body, Duration::from_secs(300))?;
//! # Ok::<(), audit_sinks::webhook::SignatureError>(())
//! ```
//!
//! In Python (compare in constant time, and use the raw body, not re-encoded JSON):
//!
//! ```python
//! import hashlib, hmac, time
//!
//! def verify_signature(secret: bytes, header: str, body: bytes, tolerance: int = 300) -> bool:
//!     items = [p.strip().split("=", 1) for p in header.split(",") if "=" in p]
//!     ts = [v for k, v in items if k == "t"]
//!     sigs = [v for k, v in items if k == "v1"]
//!     if len(ts) != 1 or not ts[0].isdigit() or not sigs:
//!         return False
//!     if abs(time.time() - int(ts[0])) > tolerance:
//!         return False
//!     expected = hmac.new(secret, ts[0].encode() + b"." + body, hashlib.sha256).hexdigest()
//!     return any(hmac.compare_digest(expected, s) for s in sigs)
//! ```
//!
//! # Example
//!
//! ```no_run
//! use std::time::Duration;
//! use audit_core::Auditor;
//! use audit_sinks::webhook::WebhookSink;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = WebhookSink::builder("https://siem.example.com/audit", "whsec_…")
//!     .header("Authorization", "Splunk 0000-…")
//!     .timeout(Duration::from_secs(10))
//!     .build()?;
//! let auditor = Auditor::builder()
//!     .service("projects-api", "1.4.2")
//!     .spool_dir("/var/lib/projects-api/audit-spool")
//!     .sink(sink)
//!     .build()?;
//! # auditor.shutdown(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use audit_core::{Batch, Sink, SinkError};
use hmac::{Hmac, Mac};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

use crate::http_util;
use audit_core::SinkInput;

/// The signature header's name.
pub const SIGNATURE_HEADER: &str = "X-Audit-Signature";

/// The idempotency header's name.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// The default timeout of one POST, connecting included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

type HmacSha256 = Hmac<Sha256>;

/// POSTs batches of entries as signed JSON arrays; see the [module docs](self).
pub struct WebhookSink {
    name: String,
    url: Url,
    secret: Vec<u8>,
    headers: HeaderMap,
    client: reqwest::Client,
    timeout: Duration,
}

impl fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSink")
            .field("name", &self.name)
            .field("url", &redacted_url(&self.url))
            .field("secret", &"[REDACTED]")
            .field("headers", &self.headers.keys().map(|k| (k, "[REDACTED]")).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The URL's origin only: paths and queries of webhook URLs often hold tokens.
fn redacted_url(url: &Url) -> String {
    let has_more = url.path() != "/" || url.query().is_some();
    format!("{}{}", url.origin().ascii_serialization(), if has_more { "/[REDACTED]" } else { "" })
}

/// Builder for [`WebhookSink`]; see [`WebhookSink::builder`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct WebhookSinkBuilder {
    url: String,
    secret: Vec<u8>,
    headers: Vec<(String, String)>,
    timeout: Duration,
    name: String,
    ca_certificate: Option<Vec<u8>>,
}

impl fmt::Debug for WebhookSinkBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = Url::parse(&self.url).map(|u| redacted_url(&u)).unwrap_or_default();
        f.debug_struct("WebhookSinkBuilder")
            .field("url", &url)
            .field("secret", &"[REDACTED]")
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| (k, "[REDACTED]")).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("name", &self.name)
            .field("ca_certificate", &self.ca_certificate.is_some())
            .finish()
    }
}

impl WebhookSink {
    /// Starts configuring a sink that POSTs to `url` and signs with `secret`
    /// (share it with the receiver; at least 16 random bytes).
    pub fn builder(url: impl Into<String>, secret: impl Into<Vec<u8>>) -> WebhookSinkBuilder {
        WebhookSinkBuilder {
            url: url.into(),
            secret: secret.into(),
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            name: "webhook".to_owned(),
            ca_certificate: None,
        }
    }
}

impl WebhookSinkBuilder {
    /// Adds a header sent with every request, e.g. `Authorization`. Its value
    /// is never printed by `Debug`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The time one POST may take, connecting included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Renames the sink (default `webhook`); sink names must be unique per auditor.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Trusts this CA certificate (PEM) instead of the built-in Mozilla roots.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
        self
    }

    /// Checks the URL, secret and headers and makes the sink.
    pub fn build(self) -> Result<WebhookSink, WebhookConfigError> {
        let url = Url::parse(&self.url)
            .map_err(|e| WebhookConfigError::InvalidUrl(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookConfigError::InvalidUrl(format!(
                "the scheme must be `https://` (or `http://`), not `{}://`",
                url.scheme()
            )));
        }
        if self.secret.is_empty() {
            return Err(WebhookConfigError::EmptySecret);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let invalid = |reason: &str| WebhookConfigError::InvalidHeader {
                name: name.clone(),
                reason: reason.to_owned(),
            };
            let key = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("not a valid HTTP header name"))?;
            if key == CONTENT_TYPE
                || key.as_str().eq_ignore_ascii_case(SIGNATURE_HEADER)
                || key.as_str().eq_ignore_ascii_case(IDEMPOTENCY_KEY_HEADER)
            {
                return Err(invalid("the sink sets this header itself"));
            }
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| invalid("the value must be visible ASCII"))?;
            value.set_sensitive(true);
            headers.append(key, value);
        }
        let client = http_util::client(self.timeout, self.ca_certificate.as_deref(), None)
            .map_err(|e| WebhookConfigError::Tls(http_util::error_chain(&e)))?;
        Ok(WebhookSink {
            name: self.name,
            url,
            secret: self.secret,
            headers,
            client,
            timeout: self.timeout,
        })
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn input(&self) -> SinkInput {
        SinkInput::Json
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        if batch.is_empty() {
            return Ok(());
        }
        // A JSON array of the entries, from the pipeline's JSON of each.
        let mut body = Vec::with_capacity(batch.len() * 1024 + 2);
        body.push(b'[');
        for i in 0..batch.len() {
            if i > 0 {
                body.push(b',');
            }
            batch.write_json(i, &mut body).map_err(|e| {
                SinkError::permanent(format!("cannot encode the batch as JSON: {e}")).with_source(e)
            })?;
        }
        body.push(b']');
        let signature = signature_header(&self.secret, SystemTime::now(), &body);
        let idempotency_key = format!("{}:{}", batch.id(0), batch.len());
        let response = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(IDEMPOTENCY_KEY_HEADER, idempotency_key)
            .body(body)
            .send()
            .await
            .map_err(|e| http_util::classify_send_error("the webhook POST", e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let detail = http_util::snippet(&String::from_utf8_lossy(
            &http_util::read_capped(response, 4096).await,
        ));
        Err(classify(status, &detail))
    }
}

fn classify(status: reqwest::StatusCode, detail: &str) -> SinkError {
    let code = status.as_u16();
    if status.is_server_error() || code == 408 || code == 429 {
        SinkError::transient(format!(
            "the webhook receiver answered {status} ({detail}); the pipeline retries"
        ))
    } else if status.is_redirection() {
        SinkError::permanent(format!(
            "the webhook receiver answered {status}: redirects are not followed (a POST would \
             lose its body); configure the final URL. The batch goes to the dead-letter file"
        ))
    } else {
        SinkError::permanent(format!(
            "the webhook receiver rejected the batch with {status} ({detail}); it is not retried \
             and goes to the dead-letter file. Check the URL, the headers (credentials) and the \
             receiver's limits"
        ))
    }
}

fn mac(secret: &[u8], timestamp: u64, body: &[u8]) -> Option<HmacSha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The `X-Audit-Signature` value for a body sent at `time`:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature_header(secret: &[u8], time: SystemTime, body: &[u8]) -> String {
    let t = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let sig = mac(secret, t, body).map(|m| hex::encode(m.finalize().into_bytes()));
    format!("t={t},v1={}", sig.unwrap_or_default())
}

/// Checks an `X-Audit-Signature` header against the raw request body and the
/// shared secret, and that its timestamp is within `tolerance` of now (300 s
/// is a common choice). Several `v1=` values are accepted (any may match),
/// so a sender can sign with an old and a new secret while rotating.
pub fn verify_signature(
    secret: &[u8],
    header: &str,
    body: &[u8],
    tolerance: Duration,
) -> Result<(), SignatureError> {
    verify_signature_at(secret, header, body, tolerance, SystemTime::now())
}

/// [`verify_signature`] with an explicit current time.
pub fn verify_signature_at(
    secret: &[u8],
    header: &str,
    body: &[u8],
    tolerance: Duration,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else {
            return Err(SignatureError::Malformed("expected `t=<unix>,v1=<hex>`"));
        };
        match key {
            "t" if timestamp.is_some() => {
                return Err(SignatureError::Malformed("more than one `t=`"));
            }
            "t" => {
                timestamp = Some(
                    value
                        .parse::<u64>()
                        .map_err(|_| SignatureError::Malformed("`t=` is not a Unix time"))?,
                );
            }
            "v1" => signatures.push(
                hex::decode(value).map_err(|_| SignatureError::Malformed("`v1=` is not hex"))?,
            ),
            // Other schemes (a future `v2=`) are ignored.
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed("no `t=`"))?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed("no `v1=`"));
    }
    let now_secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    if now_secs.abs_diff(t) > tolerance.as_secs() {
        return Err(SignatureError::OutsideTolerance { timestamp: t, now: now_secs, tolerance });
    }
    let mac = mac(secret, t, body).ok_or(SignatureError::Mismatch)?;
    if signatures.iter().any(|sig| mac.clone().verify_slice(sig).is_ok()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Why a webhook signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The header is not `t=<unix>,v1=<hex>`.
    #[error("malformed {SIGNATURE_HEADER} header: {0}")]
    Malformed(&'static str),
    /// The timestamp is too old (a replay?) or too far in the future (clock skew?).
    #[error(
        "the signature's timestamp {timestamp} is more than {tolerance:?} away from now ({now}): \
         a replayed request, or clocks out of sync"
    )]
    OutsideTolerance {
        /// The signed timestamp (Unix seconds).
        timestamp: u64,
        /// The receiver's time (Unix seconds).
        now: u64,
        /// The accepted difference.
        tolerance: Duration,
    },
    /// No signature matches: another secret, or a body that was changed
    /// (or re-encoded: verify the raw bytes).
    #[error(
        "the signature does not match: the secret differs, or the body was changed \
         (verify the raw request bytes, not re-encoded JSON)"
    )]
    Mismatch,
}

/// Why a [`WebhookSink`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookConfigError {
    /// The URL is not usable (the URL itself is not shown: it may hold a token).
    #[error("invalid webhook URL: {0}")]
    InvalidUrl(String),
    /// The signing secret is empty.
    #[error(
        "the webhook signing secret is empty: use at least 16 random bytes, shared with the receiver"
    )]
    EmptySecret,
    /// A header cannot be sent (its value is not shown).
    #[error("invalid webhook header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS settings cannot be used.
    #[error("invalid webhook TLS configuration: {0}")]
    Tls(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_round_trip_and_fail_as_they_should() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let header = signature_header(b"k", now, b"[1]");
        assert!(header.starts_with("t=1700000000,v1="), "{header}");
        let tol = Duration::from_secs(300);
        verify_signature_at(b"k", &header, b"[1]", tol, now).unwrap();
        verify_signature_at(b"k", &header, b"[1]", tol, now + Duration::from_secs(299)).unwrap();
        assert!(matches!(
            verify_signature_at(b"k", &header, b"[1]", tol, now + Duration::from_secs(301)),
            Err(SignatureError::OutsideTolerance { .. })
        ));
        assert_eq!(
            verify_signature_at(b"other", &header, b"[1]", tol, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature_at(b"k", &header, b"[2]", tol, now),
            Err(SignatureError::Mismatch)
        );
        // Rotation: any v1 may match; unknown schemes are ignored.
        let sig = header.split_once(",v1=").unwrap().1;
        let rotated = format!("t=1700000000,v1={},v1={sig},v2=zz", "00".repeat(32));
        verify_signature_at(b"k", &rotated, b"[1]", tol, now).unwrap();
        for bad in ["", "t=1", "v1=00", "t=x,v1=00", "t=1,v1=zz", "t=1,t=1,v1=00", "garbage"] {
            assert!(
                matches!(
                    verify_signature_at(b"k", bad, b"", tol, now),
                    Err(SignatureError::Malformed(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_shows_no_secrets() {
        let b = WebhookSink::builder("https://h.example/hook/T0KEN?x=1", "s3cret")
            .header("Authorization", "Splunk abc123");
        let dbg = format!("{b:?}");
        assert!(
            !dbg.contains("s3cret") && !dbg.contains("abc123") && !dbg.contains("T0KEN"),
            "{dbg}"
        );
        let sink = b.build().unwrap();
        let dbg = format!("{sink:?}");
        assert!(
            !dbg.contains("s3cret") && !dbg.contains("abc123") && !dbg.contains("T0KEN"),
            "{dbg}"
        );
        assert!(dbg.contains("authorization") && dbg.contains("https://h.example"), "{dbg}");
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(matches!(
            WebhookSink::builder("ftp://h", "s").build(),
            Err(WebhookConfigError::InvalidUrl(_))
        ));
        assert!(matches!(
            WebhookSink::builder("https://h", "").build(),
            Err(WebhookConfigError::EmptySecret)
        ));
        assert!(matches!(
            WebhookSink::builder("https://h", "s").header("X-Audit-Signature", "x").build(),
            Err(WebhookConfigError::InvalidHeader { .. })
        ));
        let err = WebhookSink::builder("https://h", "s").header("a", "bad\nvalue").build();
        assert!(matches!(err, Err(WebhookConfigError::InvalidHeader { .. })));
    }

    #[test]
    fn statuses_are_classified() {
        use reqwest::StatusCode;
        for s in [500, 502, 503, 504, 408, 429] {
            assert!(classify(StatusCode::from_u16(s).unwrap(), "").is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 410, 413, 422, 301, 303] {
            assert!(!classify(StatusCode::from_u16(s).unwrap(), "").is_retryable(), "{s}");
        }
    }
}
