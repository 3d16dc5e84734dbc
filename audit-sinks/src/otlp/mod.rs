//! OpenTelemetry log records over OTLP (feature `otlp`).
//!
//! [`OtlpSink`] exports each batch of entries as one OTLP
//! `ExportLogsServiceRequest`, over gRPC (tonic) or HTTP/protobuf (reqwest),
//! and returns only when the receiver has answered. It is an exporter, not an
//! SDK pipeline: there is no `BatchLogProcessor` between the audit pipeline
//! and the wire, which would drop records when its queue is full and swallow
//! export errors. Here every error reaches the [`Auditor`](audit_core::Auditor)'s
//! retry and spool:
//!
//! | outcome | gRPC | HTTP | returned as |
//! |---|---|---|---|
//! | passing | `UNAVAILABLE`, `DEADLINE_EXCEEDED`, `RESOURCE_EXHAUSTED`, `ABORTED`, `CANCELLED`, `OUT_OF_RANGE`, `DATA_LOSS`; connection, TLS and HTTP/2 errors; timeouts | 429, 502, 503, 504; connection and TLS errors; timeouts | transient: retried with backoff |
//! | rejected | any other code (`INVALID_ARGUMENT`, `UNAUTHENTICATED`, `PERMISSION_DENIED`, `UNIMPLEMENTED`, ...) | any other status (400, 401, 403, 404, 413, 500, 3xx) | permanent: the batch goes to the dead-letter file |
//! | partly rejected | `partial_success.rejected_log_records > 0` | the same | permanent (see below) |
//!
//! The classification is the OTLP specification's. A partial success cannot be
//! retried (the accepted records would be duplicated, and the rejected ones
//! would be rejected again) and must not count as written, so the whole batch
//! is reported as a permanent failure with the receiver's message: it is kept
//! in the spool's dead-letter file, entries the receiver did accept included
//! (their `audit.id` lets a re-import skip them). A partial success that
//! rejects nothing but carries a message is logged as a warning.
//!
//! Batches larger than [`OtlpConfig::max_request_bytes`] (default just under
//! 4 MiB, the usual receiver limit) are sent as several requests, in order.
//! If a later one fails, the retry sends the earlier ones again: receivers see
//! duplicates (same `audit.id`), never gaps.
//!
//! # Mapping
//!
//! One entry is one log record, in a `ResourceLogs` for its service and the
//! instrumentation scope `audit`. Attribute names follow the OpenTelemetry
//! semantic conventions where one exists, and `audit.*` otherwise. Optional
//! fields that are empty in the entry are left out.
//!
//! | OTLP | from the entry |
//! |---|---|
//! | `event_name` | `event` (`project.update`) |
//! | `time_unix_nano` | `time` |
//! | `observed_time_unix_nano` | when the batch is exported |
//! | `severity_number`, `severity_text` | `INFO` (9) for `success`; `WARN` (13) for `failure`, `denied` and `cancelled` |
//! | `body` | `description` (string) |
//! | resource `service.name` | `service.name` (`unknown_service` when empty) |
//! | resource `service.version` | `service.version` |
//! | resource `service.instance.id` | `service.instance` |
//! | `audit.id` | `id` |
//! | `audit.action` | `action` |
//! | `audit.outcome` | `outcome` |
//! | `audit.reason` | `reason` |
//! | `audit.actor.kind` | `actor.kind` |
//! | `audit.actor.name` | the actor's display form: `alice@example.com`, `api-key:ci-deploy`, `system:billing-cron`, `anonymous` |
//! | `user.id`, `user.name`, `user.email` | `actor.id`, `actor.name`, `actor.email`, for actors of kind `user` |
//! | `audit.actor.id` | `actor.id`, for other kinds |
//! | `audit.tenant` | `tenant` |
//! | `audit.resource.type`, `audit.resource.id`, `audit.resource.name` | the first `resource` |
//! | `audit.resources` | all of `resource`, as a JSON string, when there is more than one |
//! | `client.address` | `source.ip` |
//! | `user_agent.original` | `source.user_agent` |
//! | `audit.request_id` | `source.request_id` |
//! | `http.request.method`, `http.route`, `url.path`, `url.query` | `request.method`, `request.route`, `request.path`, `request.query` (HTTP) |
//! | `rpc.system` = `grpc`, `rpc.service`, `rpc.method` | `request.service`, `request.method` (gRPC) |
//! | `http.response.status_code` (int) | `response.status` |
//! | `rpc.grpc.status_code` (int) | `response.grpc_status` |
//! | `audit.request`, `audit.response`, `audit.changes`, `audit.metadata` | the field, as a JSON string (as in the entry's JSON form) |
//! | `audit.chain.id`, `audit.chain.seq` (int), `audit.chain.prev`, `audit.chain.hash` | `chain` |
//!
//! # Configuration
//!
//! ```no_run
//! use std::time::Duration;
//! use audit_core::Auditor;
//! use audit_sinks::otlp::{Compression, OtlpConfig, OtlpSink};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // From OTEL_EXPORTER_OTLP_* / OTEL_EXPORTER_OTLP_LOGS_* ...
//! let from_env = OtlpSink::from_env()?;
//! // ... or in code.
//! let sink = OtlpSink::new(
//!     OtlpConfig::grpc("https://otlp.example.com:4317")
//!         .header("x-api-key", "…")
//!         .timeout(Duration::from_secs(5))
//!         .compression(Compression::Gzip),
//! )?;
//! let auditor = Auditor::builder().service("projects-api", "1.4.2").sink(sink).build()?;
//! # drop(from_env); auditor.shutdown(Duration::from_secs(5)).await?;
//! # Ok(()) }
//! ```
//!
//! [`OtlpConfig::from_env_with`] lists the variables. TLS uses rustls, with the
//! Mozilla root certificates unless a CA certificate is configured.

use std::fmt;

use async_trait::async_trait;
use audit_core::{Sink, SinkError};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};

mod config;
mod env;
mod error;
mod grpc;
mod http;
mod mapping;

use audit_core::Batch;
pub use config::{Compression, DEFAULT_MAX_REQUEST_BYTES, DEFAULT_TIMEOUT, OtlpConfig, Protocol};
pub use error::OtlpConfigError;

/// Writes entries as OpenTelemetry log records to an OTLP receiver (an
/// OpenTelemetry Collector, or a backend's OTLP endpoint); see the
/// [module docs](self) for the mapping and error handling.
pub struct OtlpSink {
    name: String,
    config: OtlpConfig,
    transport: Transport,
}

enum Transport {
    Grpc(Box<grpc::GrpcExporter>),
    Http(http::HttpExporter),
}

impl fmt::Debug for OtlpSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpSink").field("name", &self.name).field("config", &self.config).finish()
    }
}

impl OtlpSink {
    /// A sink named `otlp` for this configuration. Checks the endpoint,
    /// headers and TLS settings; connects on the first export.
    pub fn new(config: OtlpConfig) -> Result<Self, OtlpConfigError> {
        let transport = match config.protocol {
            Protocol::Grpc => Transport::Grpc(Box::new(grpc::GrpcExporter::new(&config)?)),
            Protocol::HttpProtobuf => Transport::Http(http::HttpExporter::new(&config)?),
        };
        Ok(Self { name: "otlp".to_owned(), config, transport })
    }

    /// A sink configured from the `OTEL_EXPORTER_OTLP_*` environment variables;
    /// see [`OtlpConfig::from_env_with`].
    pub fn from_env() -> Result<Self, OtlpConfigError> {
        Self::new(OtlpConfig::from_env()?)
    }

    /// Renames the sink (default `otlp`); sink names must be unique per auditor.
    #[must_use]
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The configuration.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }

    async fn export(
        &self,
        request: ExportLogsServiceRequest,
    ) -> Result<ExportLogsServiceResponse, SinkError> {
        match &self.transport {
            Transport::Grpc(t) => t.export(request).await,
            Transport::Http(t) => t.export(request).await,
        }
    }
}

#[async_trait]
impl Sink for OtlpSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let batch = &*batch.decode()?;
        let observed = mapping::now_unix_nanos();
        let requests = mapping::export_requests(batch, observed, self.config.max_request_bytes);
        let parts = requests.len();
        for (i, request) in requests.into_iter().enumerate() {
            let sent = request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum::<usize>();
            let response = self.export(request).await?;
            let Some(partial) = response.partial_success else { continue };
            if partial.rejected_log_records > 0 {
                let part = if parts > 1 {
                    format!(" (request {} of {parts})", i + 1)
                } else {
                    String::new()
                };
                return Err(SinkError::permanent(format!(
                    "the OTLP receiver rejected {} of {sent} log records{part}: {}; a partial \
                     success cannot be retried, so the batch goes to the dead-letter file \
                     (entries the receiver accepted included; their audit.id identifies them)",
                    partial.rejected_log_records,
                    if partial.error_message.is_empty() {
                        "no message"
                    } else {
                        partial.error_message.as_str()
                    },
                )));
            }
            if !partial.error_message.is_empty() {
                tracing::warn!(
                    sink = %self.name,
                    message = %partial.error_message,
                    "audit: the OTLP receiver accepted every record but returned a warning"
                );
            }
        }
        Ok(())
    }
}
