//! Sinks that take entries as JSON alone (`SinkInput::Json`), and
//! batches that linger to fill (`batch_interval`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use audit_core::testing::MemorySink;
use audit_core::{
    Actor, AuditEvent, Auditor, Batch, Delivery, Resource, RetryPolicy, Sink, SinkError, SinkInput,
};

fn entry(i: usize) -> AuditEvent {
    AuditEvent::builder("project.update")
        .actor(Actor::user(format!("u{}", i % 7)).email("alice@example.com"))
        .resource(Resource::new("project", format!("p_{i}")))
        .metadata("i", i)
        .build()
}

/// What a JSON sink saw of one batch.
#[derive(Debug, Clone)]
struct Seen {
    had_entries: bool,
    lines: Vec<(uuid::Uuid, Vec<u8>)>,
}

/// A sink that writes the pipeline's JSON and needs no typed entries, as the
/// file, webhook and stdout sinks do. It can be switched off.
#[derive(Debug, Clone, Default)]
struct JsonSink {
    batches: Arc<Mutex<Vec<Seen>>>,
    down: Arc<AtomicBool>,
}

impl JsonSink {
    fn batches(&self) -> Vec<Seen> {
        self.batches.lock().unwrap().clone()
    }

    fn lines(&self) -> Vec<(uuid::Uuid, Vec<u8>)> {
        self.batches().into_iter().flat_map(|b| b.lines).collect()
    }

    fn written(&self) -> usize {
        self.batches().iter().map(|b| b.lines.len()).sum()
    }
}

#[async_trait]
impl Sink for JsonSink {
    fn name(&self) -> &str {
        "json"
    }

    fn input(&self) -> SinkInput {
        SinkInput::Json
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(SinkError::transient("switched off"));
        }
        let mut lines = Vec::new();
        for i in 0..batch.len() {
            let mut json = Vec::new();
            batch.write_json(i, &mut json).map_err(|e| SinkError::permanent(e.to_string()))?;
            lines.push((batch.id(i), json));
        }
        self.batches.lock().unwrap().push(Seen { had_entries: batch.entries().is_some(), lines });
        Ok(())
    }
}

/// A sink that declares it needs no typed entries but implements only
/// typed entries: it parses the JSON back with `Batch::decode`.
#[derive(Debug, Clone, Default)]
struct LazySink {
    entries: Arc<Mutex<Vec<AuditEvent>>>,
}

#[async_trait]
impl Sink for LazySink {
    fn name(&self) -> &str {
        "lazy"
    }

    fn input(&self) -> SinkInput {
        SinkInput::Json
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        let batch = &*batch.decode()?;
        self.entries.lock().unwrap().extend_from_slice(batch);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_sink_gets_the_bytes_a_typed_sink_would_serialize_in_the_same_order() {
    let typed = MemorySink::new();
    let json = JsonSink::default();
    let lazy = LazySink::default();
    let auditor = Auditor::builder()
        .sink(typed.clone())
        .sink(json.clone())
        .sink(lazy.clone())
        .checkpoint_every(100)
        .batch_size(64)
        .build()
        .unwrap();
    for i in 0..2_000 {
        auditor.record(entry(i)).await.unwrap();
    }
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();

    let entries = typed.entries();
    let lines = json.lines();
    assert_eq!(lines.len(), entries.len(), "genesis, entries, checkpoints and the closing one");
    assert!(entries.iter().any(|e| e.event == "audit.checkpoint"));
    for (e, (id, bytes)) in entries.iter().zip(&lines) {
        assert_eq!(*id, e.id, "same order in both sinks");
        assert_eq!(*bytes, serde_json::to_vec(e).unwrap(), "byte for byte serde_json's");
    }
    assert!(json.batches().iter().all(|b| !b.had_entries), "the JSON sink never gets entries");
    assert_eq!(*lazy.entries.lock().unwrap(), entries, "parsed back with Batch::decode");
    let stats = auditor.stats();
    assert!(stats.sinks.iter().all(|s| s.written == stats.recorded && s.failed == 0), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_sink_gets_spooled_entries_back_as_json_after_an_outage() {
    let dir = tempfile::tempdir().unwrap();
    let json = JsonSink::default();
    json.down.store(true, Ordering::SeqCst);
    let auditor = Auditor::builder()
        .sink(json.clone())
        .spool_dir(dir.path())
        .queue_capacity(16)
        .batch_size(32)
        .retry_policy(RetryPolicy::new(Duration::from_millis(1), Duration::from_millis(20)))
        .build()
        .unwrap();
    for i in 0..500 {
        auditor.record(entry(i)).await.unwrap();
    }
    assert!(auditor.stats().sinks[0].spooled > 0, "the full queue spilled to the spool");
    json.down.store(false, Ordering::SeqCst);
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();

    let lines = json.lines();
    let stats = auditor.stats();
    assert_eq!(lines.len() as u64, stats.recorded);
    assert!(stats.sinks[0].replayed > 0, "{stats:?}");
    for (seq, (id, bytes)) in lines.iter().enumerate() {
        let e: AuditEvent = serde_json::from_slice(bytes).unwrap();
        assert_eq!(e.id, *id);
        assert_eq!(e.chain.unwrap().seq, seq as u64, "once each, in chain order");
    }
    assert!(json.batches().iter().all(|b| !b.had_entries));
}

#[tokio::test]
async fn a_lingering_batch_is_written_when_full_for_a_strict_caller_and_at_shutdown() {
    let json = JsonSink::default();
    // Long enough that nothing below is written because the linger ran out.
    let linger = Duration::from_secs(3600);
    let auditor =
        Auditor::builder().sink(json.clone()).batch_size(8).batch_interval(linger).build().unwrap();
    // The genesis entry goes out on its own at start.
    wait_for(|| json.written() == 1).await;

    for i in 0..7 {
        auditor.record(entry(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(json.written(), 1, "seven entries linger in a batch of eight");
    auditor.record(entry(7)).await.unwrap();
    wait_for(|| json.written() == 9).await;
    assert_eq!(json.batches()[1].lines.len(), 8, "the full batch went out as one write");

    // A strict caller does not wait for the linger.
    auditor.record(entry(8)).await.unwrap();
    let strict = auditor.record_with(entry(9), Delivery::Strict);
    tokio::time::timeout(Duration::from_secs(60), strict)
        .await
        .expect("a strict record is not held back by the linger")
        .unwrap();
    assert_eq!(json.written(), 11);

    // Shutdown writes what lingers.
    for i in 10..13 {
        auditor.record(entry(i)).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(60), auditor.shutdown(Duration::from_secs(30)))
        .await
        .expect("shutdown is not held back by the linger")
        .unwrap();
    assert_eq!(json.written() as u64, auditor.stats().recorded);
}

#[tokio::test]
async fn without_linger_each_entry_is_written_as_soon_as_the_worker_is_free() {
    let json = JsonSink::default();
    let auditor = Auditor::builder()
        .sink(json.clone())
        .batch_interval(Duration::ZERO)
        .batch_size(8)
        .build()
        .unwrap();
    wait_for(|| json.written() == 1).await;
    for i in 0..3 {
        auditor.record(entry(i)).await.unwrap();
        wait_for(|| json.written() == i + 2).await;
    }
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();
}

/// Waits (up to a minute) until `done` holds, yielding to the pipeline.
async fn wait_for(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for the sink");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// With only JSON sinks, the service, the default description and the chain
/// strings are lent to each entry while it is serialized and taken back
/// after; what the sinks get must not show it. Entries that bring their own
/// service or description, and entries whose JSON is not made while hashing
/// (a float: the general canonicalizer), go the other ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_only_json_sinks_every_line_has_its_service_description_and_chain() {
    let json = JsonSink::default();
    let lazy = LazySink::default();
    let auditor = Auditor::builder()
        .service("billing", "2.1.0")
        .sink(json.clone())
        .sink(lazy.clone())
        .checkpoint_every(50)
        .batch_size(32)
        .build()
        .unwrap();
    let mut sent = Vec::new();
    for i in 0..500 {
        let mut e = entry(i);
        match i % 5 {
            1 => e.service = audit_core::ServiceInfo::new("other-service"),
            2 => e.description = format!("custom description {i}"),
            3 => {
                e.metadata.insert("ratio".into(), serde_json::json!(0.5 + i as f64));
            }
            _ => {}
        }
        let receipt = auditor.record(e.clone()).await.unwrap();
        sent.push((receipt.seq, receipt.id, e));
    }
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();

    let lines = json.lines();
    let parsed: Vec<AuditEvent> =
        lines.iter().map(|(_, bytes)| serde_json::from_slice(bytes).unwrap()).collect();
    assert_eq!(*lazy.entries.lock().unwrap(), parsed, "both JSON sinks got the same entries");
    let report = audit_core::integrity::verify(
        &parsed,
        &audit_core::integrity::VerifyOptions::new().require_sealed(true),
    )
    .expect("the chain verifies");
    assert_eq!(report.entries as usize, parsed.len());
    for (seq, id, e) in &sent {
        let line = parsed
            .iter()
            .find(|p| p.chain.as_ref().is_some_and(|c| c.seq == *seq))
            .expect("every entry written");
        assert_eq!(line.id, *id);
        let chain = line.chain.as_ref().unwrap();
        assert_eq!(chain.prev.len(), 64, "seq {seq}: {chain:?}");
        assert_eq!(chain.hash.len(), 64, "seq {seq}: {chain:?}");
        let want_service = if e.service.is_empty() {
            audit_core::ServiceInfo::new("billing")
        } else {
            e.service.clone()
        };
        assert_eq!(line.service.name, want_service.name, "seq {seq}");
        let want_description =
            if e.description.is_empty() { e.default_description() } else { e.description.clone() };
        assert_eq!(line.description, want_description, "seq {seq}");
    }
    let with_version = parsed.iter().filter(|p| p.service.version.as_deref() == Some("2.1.0"));
    assert!(with_version.count() >= 400, "the auditor's service, version included");
}
