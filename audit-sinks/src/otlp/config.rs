//! Configuration, in code and from the `OTEL_EXPORTER_OTLP_*` variables.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    fn default_endpoint(self) -> &'static str {
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
    fn new(protocol: Protocol, endpoint: String) -> Self {
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

    /// Reads the configuration from the process environment; see
    /// [`from_env_with`](Self::from_env_with).
    pub fn from_env() -> Result<Self, OtlpConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// Reads the configuration from the standard OTLP exporter variables, as
    /// looked up by `lookup` (so tests need not touch the process environment):
    ///
    /// | variable (`OTEL_EXPORTER_OTLP_LOGS_…` wins over `OTEL_EXPORTER_OTLP_…`) | meaning | default |
    /// |---|---|---|
    /// | `…PROTOCOL` | `grpc` or `http/protobuf` (`http/json` is not supported) | `http/protobuf` |
    /// | `…ENDPOINT` | for gRPC the server's URL; for HTTP, `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` is the URL POSTed to as it is, and `OTEL_EXPORTER_OTLP_ENDPOINT` a base URL that gets `/v1/logs` appended | `http://localhost:4317`, `http://localhost:4318/v1/logs` |
    /// | `…INSECURE` | `true`: a gRPC endpoint without a scheme uses `http://`, not `https://` | `false` |
    /// | `…HEADERS` | `key=value,key2=value2`, values percent-decoded; the logs variant adds to and overrides the generic one, by key | none |
    /// | `…TIMEOUT` | milliseconds per export request | `10000` |
    /// | `…COMPRESSION` | `gzip` or `none` | `none` |
    /// | `…CERTIFICATE` | path of a PEM file with the CA certificate(s) to trust | Mozilla's roots |
    /// | `…CLIENT_CERTIFICATE`, `…CLIENT_KEY` | paths of the PEM client certificate and key, for mutual TLS | none |
    ///
    /// Empty values count as unset. An invalid value is an error that names
    /// the variable (never a header's value).
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use audit_sinks::otlp::{OtlpConfig, Protocol};
    ///
    /// let env = HashMap::from([
    ///     ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
    ///     ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
    ///     ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b"),
    /// ]);
    /// let config = OtlpConfig::from_env_with(|k| env.get(k).copied())?;
    /// assert_eq!(config.protocol(), Protocol::HttpProtobuf);
    /// assert_eq!(config.endpoint(), "https://collector:4318/v1/logs");
    /// assert_eq!(config.header_value("api-key"), Some("a b"));
    /// # Ok::<(), audit_sinks::otlp::OtlpConfigError>(())
    /// ```
    pub fn from_env_with<F, V>(mut lookup: F) -> Result<Self, OtlpConfigError>
    where
        F: FnMut(&str) -> Option<V>,
        V: Into<String>,
    {
        // Read every variable once, then resolve.
        let mut vars = std::collections::HashMap::new();
        for suffix in SUFFIXES {
            for prefix in [GENERIC, LOGS] {
                let name = format!("{prefix}{suffix}");
                if let Some(value) = lookup(&name) {
                    let value: String = value.into();
                    let value = value.trim();
                    if !value.is_empty() {
                        vars.insert(name, value.to_owned());
                    }
                }
            }
        }
        let get = |name: &str| vars.get(name).map(|v| (name.to_owned(), v.clone()));
        // The logs variable, else the generic one; `true` when it was the logs one.
        let var = |suffix: &str| {
            get(&format!("{LOGS}{suffix}"))
                .map(|v| (v, true))
                .or_else(|| get(&format!("{GENERIC}{suffix}")).map(|v| (v, false)))
        };

        let protocol = match var("PROTOCOL") {
            None => Protocol::HttpProtobuf,
            Some(((name, value), _)) => match value.to_ascii_lowercase().as_str() {
                "grpc" => Protocol::Grpc,
                "http/protobuf" => Protocol::HttpProtobuf,
                "http/json" => {
                    return Err(OtlpConfigError::invalid(
                        name,
                        &value,
                        "OTLP/HTTP with JSON bodies is not supported; use `http/protobuf` or `grpc`",
                    ));
                }
                _ => {
                    return Err(OtlpConfigError::invalid(
                        name,
                        &value,
                        "expected `grpc` or `http/protobuf`",
                    ));
                }
            },
        };
        let insecure = match var("INSECURE") {
            None => false,
            Some(((name, value), _)) => parse_bool(&name, &value)?,
        };
        let endpoint = match (var("ENDPOINT"), protocol) {
            (None, p) => p.default_endpoint().to_owned(),
            (Some(((_, value), _)), Protocol::Grpc) => {
                if value.contains("://") {
                    value
                } else if insecure {
                    format!("http://{value}")
                } else {
                    format!("https://{value}")
                }
            }
            (Some(((_, value), true)), Protocol::HttpProtobuf) => value,
            (Some(((_, value), false)), Protocol::HttpProtobuf) => join_logs_path(&value),
        };
        let mut config = Self::new(protocol, endpoint);

        // Generic headers first, then the logs ones, which override by key.
        for name in [format!("{GENERIC}HEADERS"), format!("{LOGS}HEADERS")] {
            if let Some((name, value)) = get(&name) {
                for (k, v) in parse_headers(&name, &value)? {
                    config = config.header(k, v);
                }
            }
        }
        if let Some(((name, value), _)) = var("TIMEOUT") {
            let ms: u64 = value.parse().map_err(|_| {
                OtlpConfigError::invalid(name, &value, "expected a whole number of milliseconds")
            })?;
            config.timeout = Duration::from_millis(ms);
        }
        if let Some(((name, value), _)) = var("COMPRESSION") {
            config.compression = match value.to_ascii_lowercase().as_str() {
                "gzip" => Compression::Gzip,
                "none" => Compression::None,
                _ => {
                    return Err(OtlpConfigError::invalid(
                        name,
                        &value,
                        "expected `gzip` or `none`",
                    ));
                }
            };
        }
        if let Some(((name, path), _)) = var("CERTIFICATE") {
            config.ca_certificate = Some(read_pem(&name, Path::new(&path))?);
        }
        match (var("CLIENT_CERTIFICATE"), var("CLIENT_KEY")) {
            (None, None) => {}
            (Some(((cn, cp), _)), Some(((kn, kp), _))) => {
                config.client_identity =
                    Some((read_pem(&cn, Path::new(&cp))?, read_pem(&kn, Path::new(&kp))?));
            }
            (Some(((name, value), _)), None) | (None, Some(((name, value), _))) => {
                return Err(OtlpConfigError::invalid(
                    name,
                    &value,
                    "mutual TLS needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and \
                     OTEL_EXPORTER_OTLP_CLIENT_KEY (or their LOGS_ variants)",
                ));
            }
        }
        Ok(config)
    }
}

const GENERIC: &str = "OTEL_EXPORTER_OTLP_";
const LOGS: &str = "OTEL_EXPORTER_OTLP_LOGS_";
const SUFFIXES: [&str; 9] = [
    "PROTOCOL",
    "ENDPOINT",
    "INSECURE",
    "HEADERS",
    "TIMEOUT",
    "COMPRESSION",
    "CERTIFICATE",
    "CLIENT_CERTIFICATE",
    "CLIENT_KEY",
];

fn parse_bool(name: &str, value: &str) -> Result<bool, OtlpConfigError> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(OtlpConfigError::invalid(name.to_owned(), value, "expected `true` or `false`")),
    }
}

/// Whether a URL has a path beyond `/`.
fn has_path(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').is_some_and(|i| !rest[i..].trim_end_matches('/').is_empty())
}

/// Appends `/v1/logs` to a base URL, as the specification says for
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
fn join_logs_path(base: &str) -> String {
    format!("{}/v1/logs", base.trim_end_matches('/'))
}

/// Parses `k=v,k2=v2` (W3C baggage-like, values percent-decoded).
fn parse_headers(var: &str, value: &str) -> Result<Vec<(String, String)>, OtlpConfigError> {
    let mut out = Vec::new();
    for (i, item) in value.split(',').enumerate() {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let invalid = |reason: &str| OtlpConfigError::InvalidHeaders {
            var: var.to_owned(),
            item: i + 1,
            reason: reason.to_owned(),
        };
        let (k, v) = item.split_once('=').ok_or_else(|| invalid("expected `key=value`"))?;
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s.trim())
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| invalid("percent-decoding does not give UTF-8"))
        };
        let k = decode(k)?;
        if k.is_empty() {
            return Err(invalid("the key is empty"));
        }
        out.push((k, decode(v)?));
    }
    Ok(out)
}

fn read_pem(var: &str, path: &Path) -> Result<Vec<u8>, OtlpConfigError> {
    std::fs::read(path).map_err(|source| OtlpConfigError::ReadFile {
        var: var.to_owned(),
        path: path.to_owned(),
        source,
    })
}

/// Why an OTLP configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpConfigError {
    /// An environment variable has a value that cannot be used.
    #[error("{var}=`{value}` is not valid: {reason}")]
    InvalidVar {
        /// The variable.
        var: String,
        /// Its value.
        value: String,
        /// What is wrong, and what is expected.
        reason: String,
    },
    /// A headers variable cannot be parsed (its value is not shown: it holds secrets).
    #[error(
        "{var} is not valid at item {item}: {reason} (expected `key=value,key2=value2`, values percent-encoded)"
    )]
    InvalidHeaders {
        /// The variable.
        var: String,
        /// Which comma-separated item, from 1.
        item: usize,
        /// What is wrong.
        reason: String,
    },
    /// A certificate or key file named by a variable cannot be read.
    #[error("cannot read the file named by {var} ({path}): {source}")]
    ReadFile {
        /// The variable.
        var: String,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The endpoint is not a usable URL.
    #[error("invalid OTLP endpoint `{endpoint}`: {reason}")]
    InvalidEndpoint {
        /// The endpoint.
        endpoint: String,
        /// What is wrong.
        reason: String,
    },
    /// A header name or value cannot be sent (its value is not shown).
    #[error("invalid OTLP header `{name}`: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS settings cannot be used.
    #[error("invalid OTLP TLS configuration: {0}")]
    Tls(String),
}

impl OtlpConfigError {
    fn invalid(var: String, value: &str, reason: &str) -> Self {
        Self::InvalidVar { var, value: value.to_owned(), reason: reason.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<OtlpConfig, OtlpConfigError> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        OtlpConfig::from_env_with(|k| map.get(k))
    }

    #[test]
    fn defaults_follow_the_specification() {
        let c = env(&[]).unwrap();
        assert_eq!(c.protocol(), Protocol::HttpProtobuf);
        assert_eq!(c.endpoint(), "http://localhost:4318/v1/logs");
        assert_eq!(c.export_timeout(), DEFAULT_TIMEOUT);
        assert_eq!(c.request_compression(), Compression::None);
        let c = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap();
        assert_eq!(c.endpoint(), "http://localhost:4317");
    }

    #[test]
    fn logs_variables_win_and_endpoints_resolve() {
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/"),
        ])
        .unwrap();
        assert_eq!(c.protocol(), Protocol::HttpProtobuf);
        assert_eq!(c.endpoint(), "http://generic:4318/v1/logs");
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/base"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://logs:4318/custom"),
        ])
        .unwrap();
        assert_eq!(c.endpoint(), "http://logs:4318/custom");
        let c = env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4318/base")]).unwrap();
        assert_eq!(c.endpoint(), "http://generic:4318/base/v1/logs");
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://generic:4317"),
        ])
        .unwrap();
        assert_eq!(c.endpoint(), "http://generic:4317");
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ])
        .unwrap();
        assert_eq!(c.endpoint(), "https://collector:4317");
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_INSECURE", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ])
        .unwrap();
        assert_eq!(c.endpoint(), "http://collector:4317");
    }

    #[test]
    fn headers_merge_and_decode() {
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1, B = two%20words ,c=%3D"),
            ("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "a=override"),
        ])
        .unwrap();
        assert_eq!(c.header_value("a"), Some("override"));
        assert_eq!(c.header_value("b"), Some("two words"));
        assert_eq!(c.header_value("c"), Some("="));
        let e = env(&[("OTEL_EXPORTER_OTLP_HEADERS", "good=1,secretvalue")]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("item 2") && !msg.contains("secretvalue"), "{msg}");
    }

    #[test]
    fn invalid_values_name_the_variable() {
        for (var, value) in [
            ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "5s"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "udp"),
        ] {
            let msg = env(&[(var, value)]).unwrap_err().to_string();
            assert!(msg.contains(var), "{msg}");
        }
        let msg = env(&[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")])
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");
        let msg = env(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem")]).unwrap_err().to_string();
        assert!(msg.contains("CLIENT_CERTIFICATE"), "{msg}");
    }

    #[test]
    fn timeout_and_compression() {
        let c = env(&[
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
        ])
        .unwrap();
        assert_eq!(c.export_timeout(), Duration::from_millis(2500));
        assert_eq!(c.request_compression(), Compression::Gzip);
    }

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
