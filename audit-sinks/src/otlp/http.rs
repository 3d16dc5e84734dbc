//! OTLP/HTTP with protobuf bodies, through reqwest.

use std::io::Write as _;

use audit_core::SinkError;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use prost::Message;
use reqwest::header::{CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{StatusCode, Url};

use super::config::{Compression, OtlpConfig};
use super::error::OtlpConfigError;
use crate::http_util;

const PROTOBUF: &str = "application/x-protobuf";

pub(super) struct HttpExporter {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    compression: Compression,
}

/// `google.rpc.Status`, which OTLP/HTTP receivers put in error responses.
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

impl HttpExporter {
    pub(super) fn new(config: &OtlpConfig) -> Result<Self, OtlpConfigError> {
        let invalid = |reason: String| OtlpConfigError::InvalidEndpoint {
            endpoint: config.endpoint.clone(),
            reason,
        };
        let url = Url::parse(&config.endpoint).map_err(|e| invalid(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be `http://` or `https://`".into()));
        }
        config.check_pems()?;
        if url.scheme() == "http"
            && (config.ca_certificate.is_some() || config.client_identity.is_some())
        {
            return Err(OtlpConfigError::Tls(format!(
                "certificates are configured but the endpoint `{}` is not `https://`",
                config.endpoint
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let header_err = |reason: &str| OtlpConfigError::InvalidHeader {
                name: name.clone(),
                reason: reason.to_owned(),
            };
            let key = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| header_err("not a valid HTTP header name"))?;
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| header_err("the value must be visible ASCII"))?;
            value.set_sensitive(true);
            headers.insert(key, value);
        }
        let client = http_util::client(
            config.timeout,
            config.ca_certificate.as_deref(),
            config.client_identity.as_ref().map(|(c, k)| (c.as_slice(), k.as_slice())),
        )
        .map_err(|e| OtlpConfigError::Tls(http_util::error_chain(&e)))?;
        Ok(Self { client, url, headers, compression: config.compression })
    }

    pub(super) async fn export(
        &self,
        request: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, SinkError> {
        let mut body = request.encode_to_vec();
        let mut builder = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, PROTOBUF);
        if self.compression == Compression::Gzip {
            body = gzip(&body).map_err(|e| {
                SinkError::permanent(format!("cannot gzip the OTLP request: {e}")).with_source(e)
            })?;
            builder = builder.header(CONTENT_ENCODING, "gzip");
        }
        let response = builder
            .body(body)
            .send()
            .await
            .map_err(|e| http_util::classify_send_error("OTLP/HTTP export", e))?;
        let status = response.status();
        let is_protobuf = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(PROTOBUF));
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = http_util::read_capped(response, 64 * 1024).await;
        if status.is_success() {
            // A receiver that answers 2xx accepted the data; an undecodable
            // body only loses the partial-success details.
            return Ok(ExportLogsServiceResponse::decode(bytes.as_slice()).unwrap_or_default());
        }
        let detail = if is_protobuf {
            RpcStatus::decode(bytes.as_slice())
                .map(|s| s.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).into_owned())
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
        Err(classify(status, http_util::snippet(&detail), retry_after.as_deref()))
    }
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    encoder.write_all(body)?;
    encoder.finish()
}

/// As the OTLP specification says: 429, 502, 503 and 504 are retryable; any
/// other status is not (the receiver processed the request and refused it,
/// and the same bytes will be refused again).
fn classify(status: StatusCode, detail: String, retry_after: Option<&str>) -> SinkError {
    let retryable = matches!(status.as_u16(), 429 | 502 | 503 | 504);
    if retryable {
        let hint = retry_after.map(|r| format!(", Retry-After: {r}")).unwrap_or_default();
        SinkError::transient(format!(
            "the OTLP/HTTP receiver answered {status} ({detail}{hint}); the pipeline retries"
        ))
    } else if status.is_redirection() {
        SinkError::permanent(format!(
            "the OTLP/HTTP receiver answered {status}: redirects are not followed (a POST \
             would lose its body); configure the final URL"
        ))
    } else {
        SinkError::permanent(format!(
            "the OTLP/HTTP receiver rejected the export with {status} ({detail}); retrying the \
             same batch cannot succeed, so it goes to the dead-letter file. Check the endpoint \
             URL, headers (credentials) and the receiver's limits"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified_as_the_specification_says() {
        for s in [429, 502, 503, 504] {
            let status = StatusCode::from_u16(s).unwrap();
            assert!(classify(status, String::new(), None).is_retryable(), "{s}");
        }
        for s in [400, 401, 403, 404, 413, 500, 301] {
            let status = StatusCode::from_u16(s).unwrap();
            assert!(!classify(status, String::new(), None).is_retryable(), "{s}");
        }
    }

    #[test]
    fn gzip_round_trips() {
        use std::io::Read as _;
        let data = b"hello hello hello".repeat(10);
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(gzip(&data).unwrap().as_slice())
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }
}
