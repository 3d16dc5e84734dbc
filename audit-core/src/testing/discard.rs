use async_trait::async_trait;

use crate::{AuditEvent, EncodedBatch, Sink, SinkError};

/// A sink that accepts every batch and keeps nothing, so that a benchmark
/// measures the pipeline and not a sink.
///
/// The two kinds stand for the two kinds of real sink:
/// [`DiscardSink::json`] takes the entries' JSON alone, as the file, webhook
/// and stdout sinks do; [`DiscardSink::typed`] takes typed entries, as the
/// OTLP sink does (and the Postgres sink, which takes both).
///
/// ```
/// use audit_core::{Sink, testing::DiscardSink};
/// assert!(DiscardSink::json().wants_json());
/// assert!(DiscardSink::typed().wants_entries());
/// ```
#[derive(Debug, Clone)]
pub struct DiscardSink {
    json: bool,
}

impl DiscardSink {
    /// A sink that takes the entries' JSON alone (named `discard-json`).
    pub fn json() -> Self {
        Self { json: true }
    }

    /// A sink that takes typed entries (named `discard`).
    pub fn typed() -> Self {
        Self { json: false }
    }
}

#[async_trait]
impl Sink for DiscardSink {
    fn name(&self) -> &str {
        if self.json { "discard-json" } else { "discard" }
    }

    fn wants_json(&self) -> bool {
        self.json
    }

    fn wants_entries(&self) -> bool {
        !self.json
    }

    async fn write_batch(&self, _batch: &[AuditEvent]) -> Result<(), SinkError> {
        Ok(())
    }

    async fn write_encoded(&self, _batch: EncodedBatch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}
