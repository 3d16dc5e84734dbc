//! Configuration in code: [`OtlpConfig`] and its settings. Reading it from
//! the `OTEL_EXPORTER_OTLP_*` variables is in `env`.

use std::fmt;
use std::time::Duration;

use super::OtlpConfigError;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC (`grpc`), usually on port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies (`http/protobuf`), usually on port 4318.
    HttpProtobuf,
}

impl Protocol {
    /// The name used by `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }

    pub(super) fn default_endpoint(self) -> &'static str {
        match self {
            Self::Grpc => "http://localhost:4317",
            Self::HttpProtobuf => "http://localhost:4318/v1/logs",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compression of export requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Compression {
    /// Uncompressed (the default).
    #[default]
    None,
    /// gzip (`grpc-encoding: gzip`, or `Content-Encoding: gzip` over HTTP).
    Gzip,
}

/// Where and how the [`OtlpSink`](super::OtlpSink) exports.
///
/// Build one in code with [`OtlpConfig::grpc`] or [`OtlpConfig::http`], or
/// from the standard environment variables with [`OtlpConfig::from_env`].
/// Header values are treated as secrets: `Debug` prints only their names.
///
/// ```
/// use std::time::Duration;
/// use audit_sinks::otlp::{Compression, OtlpConfig};
///
/// let config = OtlpConfig::grpc("https://otlp.example.com:4317")
///     .header("authorization", "Bearer s3cr3t")
///     .timeout(Duration::from_secs(5))
///     .compression(Compression::Gzip);
/// assert!(!format!("{config:?}").contains("s3cr3t"));
/// ```
#[derive(Clone)]
#[must_use = "a configuration does nothing until it is passed to `OtlpSink::new`"]
pub struct OtlpConfig {
    pub(super) protocol: Protocol,
    pub(super) endpoint: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) timeout: Duration,
    pub(super) compression: Compression,
    pub(super) ca_certificate: Option<Vec<u8>>,
    pub(super) client_identity: Option<(Vec<u8>, Vec<u8>)>,
    pub(super) max_request_bytes: usize,
}

impl fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("protocol", &self.protocol)
            .field("endpoint", &self.endpoint)
            .field("headers", &RedactedHeaders(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("ca_certificate", &self.ca_certificate.is_some())
            .field("client_identity", &self.client_identity.is_some())
            .field("max_request_bytes", &self.max_request_bytes)
            .finish()
    }
}

/// Prints header names with `[REDACTED]` values.
pub(super) struct RedactedHeaders<'a>(pub(super) &'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter().map(|(k, _)| (k, "[REDACTED]"))).finish()
    }
}

impl Default for OtlpConfig {
    /// `http/protobuf` to `http://localhost:4318/v1/logs`, as the OpenTelemetry
    /// specification's defaults.
    fn default() -> Self {
        Self::new(Protocol::HttpProtobuf, Protocol::HttpProtobuf.default_endpoint().to_owned())
    }
}

/// The default timeout of one export request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The default upper bound of one export request's encoded size: batches
/// larger than this are split, so a receiver with the usual 4 MiB limit
/// (OpenTelemetry Collector, gRPC's default) does not reject them.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024 - 64 * 1024;

impl OtlpConfig {
    pub(super) fn new(protocol: Protocol, endpoint: String) -> Self {
        Self {
            protocol,
            endpoint,
            headers: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            compression: Compression::None,
            ca_certificate: None,
            client_identity: None,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
        }
    }

    /// OTLP/gRPC to an endpoint such as `http://localhost:4317` (`https://`
    /// for TLS, verified against the Mozilla root certificates unless
    /// [`ca_certificate_pem`](Self::ca_certificate_pem) is set).
    pub fn grpc(endpoint: impl Into<String>) -> Self {
        Self::new(Protocol::Grpc, endpoint.into())
    }

    /// OTLP/HTTP with protobuf bodies, POSTed to this URL as it is, e.g.
    /// `https://otlp.example.com/v1/logs`. A URL without a path
    /// (`http://localhost:4318`) gets the standard `/v1/logs`.
    pub fn http(endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        let endpoint = if has_path(&endpoint) { endpoint } else { join_logs_path(&endpoint) };
        Self::new(Protocol::HttpProtobuf, endpoint)
    }

    /// Adds a header (gRPC metadata) sent with every export, e.g. an API key.
    /// Its value is never printed by `Debug`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into().to_ascii_lowercase();
        self.headers.retain(|(k, _)| *k != name);
        self.headers.push((name, value.into()));
        self
    }

    /// The time one export request may take, connecting included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Compresses export requests.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Trusts this CA certificate (PEM) for an `https` endpoint, instead of the
    /// built-in Mozilla root certificates.
    pub fn ca_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca_certificate = Some(pem.into());
        self
    }

    /// Presents this client certificate and private key (both PEM) for mutual TLS.
    pub fn client_identity_pem(
        mut self,
        certificate: impl Into<Vec<u8>>,
        private_key: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_identity = Some((certificate.into(), private_key.into()));
        self
    }

    /// Splits batches so that no export request is larger than this (default
    /// [`DEFAULT_MAX_REQUEST_BYTES`]). A single entry larger than it is sent alone.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes.max(1);
        self
    }

    /// The transport.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The endpoint: for gRPC the server's URL, for HTTP the URL POSTed to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The value of a configured header, by (case-insensitive) name.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    /// The names of the configured headers.
    pub fn header_names(&self) -> impl Iterator<Item = &str> {
        self.headers.iter().map(|(k, _)| k.as_str())
    }

    /// The timeout of one export request.
    pub fn export_timeout(&self) -> Duration {
        self.timeout
    }

    /// The compression of export requests.
    pub fn request_compression(&self) -> Compression {
        self.compression
    }

    /// Whether a CA certificate replaces the built-in roots.
    pub fn has_ca_certificate(&self) -> bool {
        self.ca_certificate.is_some()
    }

    /// Checks that configured certificates and keys look like PEM, so that a
    /// wrong file is reported now and not as failing connections later.
    pub(super) fn check_pems(&self) -> Result<(), OtlpConfigError> {
        let contains = |pem: &[u8], label: &str| {
            String::from_utf8_lossy(pem).contains(&format!("-----BEGIN {label}-----"))
        };
        if let Some(pem) = &self.ca_certificate
            && !contains(pem, "CERTIFICATE")
        {
            return Err(OtlpConfigError::Tls(
                "the CA certificate is not PEM (no `-----BEGIN CERTIFICATE-----`)".into(),
            ));
        }
        if let Some((cert, key)) = &self.client_identity {
            if !contains(cert, "CERTIFICATE") {
                return Err(OtlpConfigError::Tls(
                    "the client certificate is not PEM (no `-----BEGIN CERTIFICATE-----`)".into(),
                ));
            }
            let key_text = String::from_utf8_lossy(key);
            if !(key_text.contains("-----BEGIN") && key_text.contains("PRIVATE KEY-----")) {
                return Err(OtlpConfigError::Tls(
                    "the client key is not a PEM private key (no `-----BEGIN ... PRIVATE KEY-----`)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a URL has a path beyond `/`.
fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').is_some_and(|i| !rest[i..].trim_end_matches('/').is_empty())
}

/// Appends `/v1/logs` to a base URL, as the specification says for
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
pub(super) fn join_logs_path(base: &str) -> String {
    format!("{}/v1/logs", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_endpoints() {
        assert_eq!(OtlpConfig::http("http://h:4318").endpoint(), "http://h:4318/v1/logs");
        assert_eq!(OtlpConfig::http("http://h:4318/").endpoint(), "http://h:4318/v1/logs");
        assert_eq!(OtlpConfig::http("http://h/custom").endpoint(), "http://h/custom");
        assert_eq!(OtlpConfig::grpc("http://h:4317").endpoint(), "http://h:4317");
    }

    #[test]
    fn debug_hides_header_values() {
        let c = OtlpConfig::grpc("http://h:4317").header("Authorization", "Bearer xyz");
        let dbg = format!("{c:?}");
        assert!(dbg.contains("authorization") && !dbg.contains("xyz"), "{dbg}");
    }
}
