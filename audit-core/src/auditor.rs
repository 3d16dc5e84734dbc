//! The delivery pipeline (stub; being implemented on a branch).
#![allow(missing_docs, dead_code, unreachable_pub)]
use crate::{AuditEvent, AuditEventBuilder, Sink};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Auditor {}
#[derive(Debug, Default)]
pub struct AuditorBuilder {
    sinks: Vec<Box<dyn Sink>>,
}
#[derive(Debug, thiserror::Error)]
#[error("build")]
pub struct BuildError;
#[derive(Debug, thiserror::Error)]
#[error("record")]
pub struct RecordError;
#[derive(Debug, thiserror::Error)]
#[error("shutdown")]
pub struct ShutdownError;
#[derive(Debug, Clone, Copy)]
pub enum Delivery {
    Buffered,
    Strict,
    BestEffort,
}
#[derive(Debug, Clone)]
pub struct RetryPolicy;
#[derive(Debug, Clone)]
pub struct Receipt;
#[derive(Debug, Clone)]
pub struct Stats;
#[derive(Debug, Clone)]
pub struct SinkStats;
impl Auditor {
    pub fn builder() -> AuditorBuilder {
        AuditorBuilder::default()
    }
    pub async fn record(&self, _e: impl Into<AuditEvent>) -> Result<Receipt, RecordError> {
        Err(RecordError)
    }
    pub async fn shutdown(&self, _t: Duration) -> Result<(), ShutdownError> {
        Ok(())
    }
}
impl From<AuditEventBuilder> for AuditEvent {
    fn from(b: AuditEventBuilder) -> Self {
        b.build()
    }
}
impl AuditorBuilder {
    pub fn service(self, _n: &str, _v: &str) -> Self {
        self
    }
    pub fn sink(mut self, s: impl Sink) -> Self {
        self.sinks.push(Box::new(s));
        self
    }
    pub fn build(self) -> Result<Auditor, BuildError> {
        Ok(Auditor {})
    }
}
