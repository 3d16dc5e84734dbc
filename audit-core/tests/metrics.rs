//! The `metrics` feature publishes the pipeline's counters through the
//! `metrics` facade.
#![cfg(feature = "metrics")]

use std::time::Duration;

use audit_core::testing::MemorySink;
use audit_core::{AuditEvent, Auditor};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[tokio::test(flavor = "current_thread")]
async fn counters_reach_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Local to this thread: the current-thread runtime runs the workers here too.
    let _guard = metrics::set_default_local_recorder(&recorder);

    let sink = MemorySink::new();
    let auditor = Auditor::builder().sink(sink.clone()).build().unwrap();
    for _ in 0..5 {
        auditor.record(AuditEvent::builder("project.update")).await.unwrap();
    }
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();

    let counters: Vec<(String, Vec<String>, u64)> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| match value {
            DebugValue::Counter(n) => Some((
                key.key().name().to_owned(),
                key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect(),
                n,
            )),
            _ => None,
        })
        .collect();
    let recorded = counters.iter().find(|(name, _, _)| name == "audit_recorded_total");
    assert_eq!(recorded.map(|c| c.2), Some(7), "genesis + 5 + closing checkpoint: {counters:?}");
    let written = counters.iter().find(|(name, _, _)| name == "audit_written_total").unwrap();
    assert_eq!(written.1, vec!["sink=memory".to_owned()]);
    assert_eq!(written.2, 7);
}
