use async_trait::async_trait;

use crate::sink::{Batch, Sink, SinkError, SinkInput};

/// A sink that accepts every batch and keeps nothing, so that a benchmark
/// measures the pipeline and not a sink.
///
/// The two kinds stand for the two kinds of real sink:
/// [`DiscardSink::json`] takes the entries' JSON alone, as the file, webhook
/// and stdout sinks do; [`DiscardSink::typed`] takes typed entries, as the
/// OTLP sink does (and the Postgres sink, which takes both).
///
/// ```
/// use audit_core::{Sink, SinkInput, testing::DiscardSink};
/// assert_eq!(DiscardSink::json().input(), SinkInput::Json);
/// assert_eq!(DiscardSink::typed().input(), SinkInput::Entries);
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

    fn input(&self) -> SinkInput {
        if self.json { SinkInput::Json } else { SinkInput::Entries }
    }

    async fn write(&self, _batch: Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}
