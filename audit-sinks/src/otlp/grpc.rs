//! OTLP/gRPC through tonic.

use std::sync::OnceLock;
use std::time::Duration;

use audit_core::SinkError;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use super::config::{Compression, OtlpConfig};
use super::error::OtlpConfigError;
use crate::http_util::error_chain;

pub(super) struct GrpcExporter {
    endpoint: Endpoint,
    /// Created on first use: making a channel needs a Tokio runtime.
    channel: OnceLock<Channel>,
    metadata: MetadataMap,
    compression: Compression,
    timeout: Duration,
}

impl GrpcExporter {
    pub(super) fn new(config: &OtlpConfig) -> Result<Self, OtlpConfigError> {
        let invalid = |reason: String| OtlpConfigError::InvalidEndpoint {
            endpoint: config.endpoint.clone(),
            reason,
        };
        let uri: tonic::transport::Uri =
            config.endpoint.parse().map_err(|e| invalid(format!("not a URI: {e}")))?;
        config.check_pems()?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(invalid("the scheme must be `http://` or `https://`".into())),
        };
        let mut endpoint = Endpoint::from(uri)
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("audit-sinks/", env!("CARGO_PKG_VERSION")))
            .map_err(|e| invalid(e.to_string()))?;
        if tls {
            let mut tls = ClientTlsConfig::new();
            tls = match &config.ca_certificate {
                Some(pem) => tls.ca_certificate(Certificate::from_pem(pem)),
                None => tls.with_webpki_roots(),
            };
            if let Some((cert, key)) = &config.client_identity {
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            endpoint =
                endpoint.tls_config(tls).map_err(|e| OtlpConfigError::Tls(error_chain(&e)))?;
        } else if config.ca_certificate.is_some() || config.client_identity.is_some() {
            return Err(OtlpConfigError::Tls(format!(
                "certificates are configured but the endpoint `{}` is not `https://`",
                config.endpoint
            )));
        }
        let mut metadata = MetadataMap::new();
        for (name, value) in &config.headers {
            let header_err = |reason: &str| OtlpConfigError::InvalidHeader {
                name: name.clone(),
                reason: reason.to_owned(),
            };
            let key: AsciiMetadataKey = name.parse().map_err(|_| {
                header_err("not a valid gRPC metadata key (lowercase ASCII, no `-bin` suffix)")
            })?;
            let mut value: AsciiMetadataValue =
                value.parse().map_err(|_| header_err("the value must be visible ASCII"))?;
            value.set_sensitive(true);
            metadata.insert(key, value);
        }
        Ok(Self {
            endpoint,
            channel: OnceLock::new(),
            metadata,
            compression: config.compression,
            timeout: config.timeout,
        })
    }

    pub(super) async fn export(
        &self,
        request: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, SinkError> {
        let channel = self.channel.get_or_init(|| self.endpoint.connect_lazy()).clone();
        let mut client = LogsServiceClient::new(channel);
        if self.compression == Compression::Gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        let mut request = tonic::Request::new(request);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        match client.export(request).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(classify(status)),
        }
    }
}

/// Transient or permanent, as the OTLP specification's retryable gRPC codes,
/// plus errors of the transport itself (connection refused or reset, TLS
/// handshake, HTTP/2 protocol errors), which tonic reports as `UNKNOWN` or
/// `INTERNAL` with a local source error rather than as a status from the server.
fn classify(status: Status) -> SinkError {
    let code = status.code();
    let local = std::error::Error::source(&status).is_some();
    let transient = matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
    ) || (local && matches!(code, Code::Unknown | Code::Internal));
    let detail = match std::error::Error::source(&status) {
        Some(source) => {
            let chain = error_chain(source);
            if chain.contains(status.message()) {
                chain
            } else {
                format!("{}: {chain}", status.message())
            }
        }
        None => status.message().to_owned(),
    };
    if transient {
        SinkError::transient(format!(
            "OTLP/gRPC export failed with {code:?} ({detail}); the pipeline retries"
        ))
        .with_source(status)
    } else {
        SinkError::permanent(format!(
            "the OTLP/gRPC receiver rejected the export with {code:?} ({detail}); retrying the same \
             batch cannot succeed, so it goes to the dead-letter file. Check the endpoint, headers \
             (credentials) and the receiver's limits"
        ))
        .with_source(status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified_as_the_specification_says() {
        for code in
            [Code::Unavailable, Code::DeadlineExceeded, Code::ResourceExhausted, Code::Aborted]
        {
            assert!(classify(Status::new(code, "x")).is_retryable(), "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::Unknown,
            Code::Internal,
        ] {
            assert!(!classify(Status::new(code, "x")).is_retryable(), "{code:?}");
        }
        // A transport error tonic could not map: local, so transient.
        let local = Status::from_error(Box::new(std::io::Error::other("connection reset")));
        assert_eq!(local.code(), Code::Unknown);
        assert!(classify(local).is_retryable());
    }

    #[test]
    fn bad_endpoints_are_config_errors() {
        for endpoint in ["localhost:4317", "ftp://h:21", "http://exa mple"] {
            let e = GrpcExporter::new(&OtlpConfig::grpc(endpoint)).err().expect(endpoint);
            assert!(e.to_string().contains("endpoint"), "{e}");
        }
        let e = GrpcExporter::new(&OtlpConfig::grpc("http://h:4317").header("a-bin", "x"))
            .err()
            .expect("binary key");
        assert!(e.to_string().contains("a-bin"), "{e}");
    }
}
