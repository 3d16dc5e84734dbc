//! [`OtlpConfigError`]: why a configuration cannot be used.

use std::path::PathBuf;

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
    pub(super) fn invalid(var: String, value: &str, reason: &str) -> Self {
        Self::InvalidVar { var, value: value.to_owned(), reason: reason.to_owned() }
    }
}
