//! [`OtlpConfig`] from the standard `OTEL_EXPORTER_OTLP_*` (and
//! `OTEL_EXPORTER_OTLP_LOGS_*`) environment variables.

use std::path::Path;
use std::time::Duration;

use super::config::join_logs_path;
use super::{Compression, OtlpConfig, OtlpConfigError, Protocol};

impl OtlpConfig {
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::otlp::DEFAULT_TIMEOUT;

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
}
