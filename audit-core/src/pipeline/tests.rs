use async_trait::async_trait;

use std::time::{Duration, Instant};

use super::queue::IDLE_FREE;
use super::*;
use crate::{Batch, Sink, SinkError};

/// A sink that takes typed entries and keeps none.
#[derive(Debug)]
struct Typed;

#[async_trait]
impl Sink for Typed {
    fn name(&self) -> &str {
        "typed"
    }
    async fn write(&self, _: Batch<'_>) -> Result<(), SinkError> {
        Ok(())
    }
}

fn handed_back(auditor: &Auditor) -> usize {
    auditor.pipeline.queues[0].lock().written.len()
}

#[tokio::test]
async fn written_entries_are_handed_back_and_freed_by_recording_or_idleness() {
    let auditor = Auditor::builder().sink(Typed).batch_size(64).build().expect("auditor");
    for _ in 0..64 {
        auditor.record(AuditEvent::builder("project.update")).await.expect("record");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while handed_back(&auditor) == 0 {
        assert!(Instant::now() < deadline, "the worker never handed entries back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let held = handed_back(&auditor);
    assert!(held <= 64, "at most a batch is held: {held}");

    // Each entry recorded frees two (the worker may hand that one back).
    auditor.record(AuditEvent::builder("project.update")).await.expect("record");
    assert!(handed_back(&auditor) < held, "{} of {held}", handed_back(&auditor));

    // An idle worker frees the rest.
    tokio::time::sleep(IDLE_FREE * 3).await;
    assert_eq!(handed_back(&auditor), 0);
    assert_eq!(auditor.stats().sinks[0].written, 66, "genesis and 65 entries");
    auditor.shutdown(Duration::from_secs(5)).await.expect("shutdown");
}
