//! The delivery pipeline: ordering, exactly-once arrival, delivery modes,
//! the spool, shutdown.

use std::time::Duration;

use audit_core::integrity::{ProblemKind, VerifyOptions, verify};
use audit_core::testing::MemorySink;
use audit_core::{
    Actor, AuditEvent, Auditor, BuildError, Delivery, RecordError, Resource, RetryPolicy,
    SigningKey, Sink,
};

fn fast_retry() -> RetryPolicy {
    RetryPolicy::new(Duration::from_millis(1), Duration::from_millis(20))
}

fn entry(i: usize) -> AuditEvent {
    AuditEvent::builder("project.update")
        .actor(Actor::user(format!("u{}", i % 7)).email("alice@example.com"))
        .resource(Resource::new("project", format!("p_{i}")))
        .metadata("i", i)
        .build()
}

/// Every seq of the chain arrives once, in order, with nothing missing.
fn assert_complete_chain(entries: &[AuditEvent]) {
    for (i, e) in entries.iter().enumerate() {
        let link = e.chain.as_ref().expect("sealed entries carry a chain link");
        assert_eq!(link.seq, i as u64, "entry {i} has seq {}: out of order or missing", link.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_thousand_entries_survive_flaky_and_down_sink_exactly_once_in_order() {
    let sink = MemorySink::new();
    sink.control().fail_every_nth_batch(3);
    let key = SigningKey::ed25519_from_bytes(&[9; 32]);
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .signing_key(key.clone())
        .retry_policy(fast_retry())
        .queue_capacity(4096)
        .batch_size(256)
        .checkpoint_every(10_000)
        .build()
        .unwrap();

    let total = 100_000;
    let control = sink.clone();
    let outage = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        control.control().set_down(true);
        tokio::time::sleep(Duration::from_secs(2)).await;
        control.control().set_down(false);
    });
    let mut tasks = Vec::new();
    for t in 0..4 {
        let auditor = auditor.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..total / 4 {
                auditor.record(entry(t * total + i)).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    outage.await.unwrap();
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();

    let entries = sink.entries();
    let stats = auditor.stats();
    let user_entries = entries.iter().filter(|e| e.event == "project.update").count();
    assert_eq!(user_entries, total, "every recorded entry arrives");
    assert_eq!(entries.len() as u64, stats.recorded, "genesis and checkpoints arrive too");
    assert_eq!(sink.control().duplicates(), 0, "nothing is written twice");
    assert_complete_chain(&entries);
    assert!(stats.sinks[0].retried > 0, "the flaky sink was retried: {stats:?}");
    assert_eq!(stats.dropped, 0);
    assert_eq!(entries.last().unwrap().event, "audit.checkpoint");
    assert_eq!(entries[0].event, "audit.genesis");
    let report =
        verify(&entries, &VerifyOptions::new().key(key.verifying_key()).require_sealed(true))
            .expect("the delivered chain verifies with its key");
    assert_eq!(report.entries, entries.len() as u64);
    assert!(report.signatures_checked);

    // ... and fails on tampering with what was delivered.
    let mut tampered = entries.clone();
    tampered[500].metadata.insert("i".into(), serde_json::json!(-1));
    let problem = verify(&tampered, &VerifyOptions::new().key(key.verifying_key())).unwrap_err();
    assert_eq!(problem.kind, ProblemKind::Modified);
    assert_eq!(problem.seq, 500);
}

#[tokio::test]
async fn buffered_without_spool_makes_callers_wait_and_never_drops() {
    let sink = MemorySink::new();
    sink.control().set_delay(Duration::from_millis(2));
    let auditor =
        Auditor::builder().sink(sink.clone()).queue_capacity(4).batch_size(2).build().unwrap();
    for i in 0..200 {
        auditor.record(entry(i)).await.unwrap();
        assert!(auditor.stats().sinks[0].queue_depth <= 4, "the queue stays bounded");
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.sinks[0].written, stats.recorded);
    assert_complete_chain(&sink.entries());
}

#[tokio::test]
async fn best_effort_drops_when_full_and_counts_every_drop() {
    let sink = MemorySink::new();
    sink.control().set_down(true);
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .delivery(Delivery::BestEffort)
        .queue_capacity(10)
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    let mut dropped = 0;
    for i in 0..100 {
        let receipt = auditor.record(entry(i)).await.unwrap();
        dropped += usize::from(!receipt.dropped_by.is_empty());
    }
    let stats = auditor.stats();
    assert!(dropped > 0);
    assert_eq!(stats.sinks[0].dropped, dropped as u64);
    assert_eq!(stats.dropped, dropped as u64);
    sink.control().set_down(false);
    let _ = auditor.shutdown(Duration::from_secs(10)).await;
    let stats = auditor.stats();
    assert_eq!(
        sink.len() as u64 + stats.sinks[0].dropped,
        stats.recorded,
        "every entry is either written or counted as dropped"
    );
}

#[tokio::test]
async fn queues_are_bounded_in_bytes_too() {
    let sink = MemorySink::new();
    sink.control().set_down(true);
    let budget = 256 * 1024;
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .delivery(Delivery::BestEffort)
        .queue_capacity(10_000)
        .queue_bytes(budget)
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    // Entries of about 16 KB of JSON each: 10 000 of them would take
    // hundreds of megabytes; the byte budget holds a handful.
    let blob = "x".repeat(16 * 1024);
    for i in 0..100 {
        auditor
            .record(
                AuditEvent::builder("file.upload").metadata("i", i).metadata("blob", blob.as_str()),
            )
            .await
            .unwrap();
    }
    let stats = auditor.stats();
    let queue = &stats.sinks[0];
    assert!(queue.dropped > 80, "the budget, not the entry count, filled the queue: {queue:?}");
    assert!(queue.queue_depth < 10, "{queue:?}");
    // Each entry counts about four times its JSON; the last one admitted may
    // pass the budget by one entry.
    assert!(queue.queue_bytes >= 3 * 16 * 1024 * queue.queue_depth.saturating_sub(1), "{queue:?}");
    assert!(queue.queue_bytes < budget as u64 + 100 * 1024, "{queue:?}");

    sink.control().set_down(false);
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.sinks[0].queue_bytes, 0, "an empty queue holds nothing");
    assert_eq!(sink.len() as u64 + stats.sinks[0].dropped, stats.recorded);
}

#[tokio::test]
async fn one_entry_larger_than_the_byte_budget_still_passes() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder().sink(sink.clone()).queue_bytes(1024).build().unwrap();
    let blob = "y".repeat(64 * 1024);
    for i in 0..20 {
        auditor
            .record(
                AuditEvent::builder("file.upload").metadata("i", i).metadata("blob", blob.as_str()),
            )
            .await
            .unwrap();
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    assert_eq!(sink.entries().iter().filter(|e| e.event == "file.upload").count(), 20);
    assert_complete_chain(&sink.entries());
}

#[tokio::test]
async fn strict_returns_an_error_while_the_sink_is_down_and_succeeds_after() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .delivery(Delivery::Strict)
        .retry_policy(fast_retry())
        .strict_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let ok = auditor.record(entry(1)).await.unwrap();
    assert!(sink.entries().iter().any(|e| e.id == ok.id), "strict returns after the write");

    sink.control().set_down(true);
    let err = auditor.record(entry(2)).await.unwrap_err();
    assert!(matches!(err, RecordError::NotDurable { ref sink, .. } if sink == "memory"), "{err}");
    assert!(err.to_string().contains("memory sink is down"), "{err}");

    sink.control().set_down(false);
    auditor.record(entry(3)).await.unwrap();
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    // The refused entry was still delivered once the sink came back.
    assert_eq!(sink.entries().iter().filter(|e| e.event == "project.update").count(), 3);
    assert_complete_chain(&sink.entries());
}

#[tokio::test]
async fn strict_fails_fast_while_an_earlier_batch_is_failing() {
    let sink = MemorySink::new();
    // Down from the start: even the genesis batch is being retried.
    sink.control().set_down(true);
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .retry_policy(RetryPolicy::new(Duration::from_millis(100), Duration::from_millis(100)))
        .strict_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let err = auditor.record_with(entry(1), Delivery::Strict).await.unwrap_err();
    assert!(matches!(err, RecordError::NotDurable { .. }), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "failed at the next attempt, not the timeout"
    );
    sink.control().set_down(false);
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn strict_is_refused_at_once_when_a_queue_is_full_never_left_waiting() {
    let sink = MemorySink::new();
    sink.control().set_down(true);
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .queue_capacity(4)
        .retry_policy(fast_retry())
        .strict_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    // The worker takes a first batch and keeps retrying it; then buffered
    // entries fill the queue behind it.
    auditor.record(entry(0)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 1..5 {
        auditor.record(entry(i)).await.unwrap();
    }
    assert_eq!(auditor.stats().sinks[0].queue_depth, 4);

    // A full queue: refused before it is recorded, without waiting.
    let recorded = auditor.stats().recorded;
    let err = auditor.record_with(entry(10), Delivery::Strict).await.unwrap_err();
    assert!(
        matches!(err, RecordError::Backlog { ref sink, capacity: 4, .. } if sink == "memory"),
        "{err}"
    );
    assert!(!err.entry_was_recorded());
    assert!(err.to_string().contains("full queue"), "{err}");
    assert_eq!(auditor.stats().recorded, recorded, "nothing was sequenced");

    // A buffered caller now waits for room, holding the pipeline: a strict
    // caller behind it gives up after the strict timeout instead of hanging.
    let waiting = tokio::spawn({
        let auditor = auditor.clone();
        async move { auditor.record(entry(11)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!waiting.is_finished(), "buffered callers wait for room");
    let strict = tokio::time::timeout(
        Duration::from_secs(10),
        auditor.record_with(entry(12), Delivery::Strict),
    )
    .await
    .expect("a strict caller is never left waiting");
    let err = strict.unwrap_err();
    assert!(matches!(err, RecordError::Busy { .. }), "{err}");
    assert!(!err.entry_was_recorded());

    // Recovery: the waiting caller goes through, strict works again, and the
    // chain has no gap where the refused entries would have been.
    sink.control().set_down(false);
    waiting.await.unwrap().unwrap();
    auditor.record_with(entry(13), Delivery::Strict).await.unwrap();
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    let entries = sink.entries();
    assert_complete_chain(&entries);
    let ids: Vec<_> = entries.iter().filter_map(|e| e.metadata.get("i")).collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 11, 13], "the refused entries are not in the trail");
}

#[tokio::test]
async fn strict_times_out_on_a_slow_sink() {
    let sink = MemorySink::new();
    sink.control().set_delay(Duration::from_millis(500));
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .strict_timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    let err = auditor.record_with(entry(1), Delivery::Strict).await.unwrap_err();
    assert!(matches!(err, RecordError::Timeout { .. }), "{err}");
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn shutdown_flushes_everything_and_closes_the_chain() {
    let sink = MemorySink::new();
    sink.control().set_delay(Duration::from_millis(5));
    let auditor = Auditor::builder().sink(sink.clone()).build().unwrap();
    for i in 0..50 {
        auditor.record(entry(i)).await.unwrap();
    }
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let entries = sink.entries();
    assert_eq!(entries.len(), 52);
    let last = entries.last().unwrap();
    assert_eq!(last.event, "audit.checkpoint");
    assert_eq!(last.metadata["checkpoint"]["closing"], true);
    assert!(matches!(auditor.record(entry(99)).await, Err(RecordError::Shutdown)));
    // A second shutdown is a no-op.
    auditor.shutdown(Duration::from_secs(1)).await.unwrap();
}

#[tokio::test]
async fn shutdown_times_out_and_says_how_much_is_pending() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder().sink(sink.clone()).retry_policy(fast_retry()).build().unwrap();
    sink.control().set_down(true);
    for i in 0..10 {
        auditor.record(entry(i)).await.unwrap();
    }
    let err = auditor.shutdown(Duration::from_millis(200)).await.unwrap_err();
    assert!(err.to_string().contains("not yet written"), "{err}");
}

#[tokio::test]
async fn enrichment_fills_id_time_service_and_description() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .service("billing", "1.4.2")
        .instance("pod-7")
        .sink(sink.clone())
        .build()
        .unwrap();
    let receipt = auditor
        .record(
            AuditEvent::builder("project.update")
                .actor(Actor::user("u1").email("alice@example.com"))
                .resource(Resource::new("project", "p_42")),
        )
        .await
        .unwrap();
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    let e = sink.entries().into_iter().find(|e| e.id == receipt.id).unwrap();
    assert_eq!(e.id.get_version_num(), 7);
    assert_eq!(e.service.name, "billing");
    assert_eq!(e.service.version.as_deref(), Some("1.4.2"));
    assert_eq!(e.service.instance.as_deref(), Some("pod-7"));
    assert_eq!(e.description, "alice@example.com updated project p_42");
    assert_eq!(e.time.nanosecond() % 1000, 0, "time is stored with microseconds");
    assert_eq!(e.chain.as_ref().unwrap().seq, receipt.seq);
}

#[tokio::test]
async fn checkpoints_are_written_every_n_entries_and_on_a_timer() {
    let sink = MemorySink::new();
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .checkpoint_every(10)
        .checkpoint_interval(Duration::from_millis(50))
        .build()
        .unwrap();
    for i in 0..25 {
        auditor.record(entry(i)).await.unwrap();
    }
    let by_count = sink_checkpoints(&sink).await;
    assert!(by_count >= 2, "a checkpoint after every 10 entries");
    auditor.record(entry(99)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sink_checkpoints(&sink).await > by_count, "an idle tail is checkpointed by time");
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
}

async fn sink_checkpoints(sink: &MemorySink) -> usize {
    tokio::time::sleep(Duration::from_millis(20)).await;
    sink.entries().iter().filter(|e| e.event == "audit.checkpoint").count()
}

#[tokio::test]
async fn a_slow_sink_does_not_hold_back_a_fast_one() {
    let slow = MemorySink::named("slow");
    slow.control().set_delay(Duration::from_secs(10));
    let fast = MemorySink::named("fast");
    let auditor = Auditor::builder()
        .sink(slow.clone())
        .sink(fast.clone())
        .queue_capacity(1000)
        .build()
        .unwrap();
    for i in 0..500 {
        auditor.record(entry(i)).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(5), async {
        while fast.len() < 501 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the fast sink keeps its pace while the slow one is stuck");
    assert!(slow.len() < 501);
}

#[tokio::test]
async fn spool_holds_the_backlog_of_a_down_sink_and_replays_it_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::new();
    sink.control().set_down(true);
    let auditor = Auditor::builder()
        .sink(sink.clone())
        .spool_dir(dir.path())
        .queue_capacity(16)
        .retry_policy(fast_retry())
        .build()
        .unwrap();
    for i in 0..2_000 {
        auditor.record(entry(i)).await.unwrap();
        assert!(auditor.stats().sinks[0].queue_depth <= 16, "memory stays bounded");
    }
    let stats = auditor.stats();
    assert!(stats.sinks[0].spooled > 1_900, "the overflow went to disk: {stats:?}");
    sink.control().set_down(false);
    auditor.shutdown(Duration::from_secs(20)).await.unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.sinks[0].written, stats.recorded);
    assert!(stats.sinks[0].replayed > 1_900);
    assert_complete_chain(&sink.entries());
}

#[tokio::test]
async fn spooled_entries_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first_run_ids: Vec<_>;
    {
        let down = MemorySink::new();
        down.control().set_down(true);
        let auditor = Auditor::builder()
            .sink(down)
            .spool_dir(dir.path())
            .retry_policy(fast_retry())
            .build()
            .unwrap();
        let mut ids = Vec::new();
        for i in 0..300 {
            ids.push(auditor.record(entry(i)).await.unwrap().id);
        }
        first_run_ids = ids;
        // The process "dies": shutdown cannot deliver anything.
        assert!(auditor.shutdown(Duration::from_millis(100)).await.is_err());
    }
    let sink = MemorySink::new();
    let auditor = Auditor::builder().sink(sink.clone()).spool_dir(dir.path()).build().unwrap();
    auditor.record(entry(1000)).await.unwrap();
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();
    let delivered: std::collections::HashSet<_> = sink.entries().iter().map(|e| e.id).collect();
    for id in &first_run_ids {
        assert!(delivered.contains(id), "entry {id} from the first run was replayed");
    }
    assert!(auditor.stats().sinks[0].replayed >= 300);
    // Old chain first, then the new chain, each in order.
    let entries = sink.entries();
    let chains: Vec<_> = entries.iter().map(|e| e.chain.as_ref().unwrap().id).collect();
    let switch = chains.iter().position(|c| *c != chains[0]).unwrap();
    assert!(chains[switch..].iter().all(|c| *c == chains[switch]));
    assert_complete_chain(&entries[..switch]);
    assert_complete_chain(&entries[switch..]);
}

#[tokio::test]
async fn permanently_rejected_batches_go_to_the_dead_letter_file() {
    let dir = tempfile::tempdir().unwrap();
    let sink = MemorySink::new();
    sink.control().set_permanent_failure(true);
    let auditor = Auditor::builder().sink(sink.clone()).spool_dir(dir.path()).build().unwrap();
    auditor.record(entry(1)).await.unwrap();
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    let stats = auditor.stats();
    assert_eq!(stats.sinks[0].failed, stats.recorded, "{stats:?}");
    let dead = std::fs::read_to_string(dir.path().join("dead-letter/memory.jsonl")).unwrap();
    assert_eq!(dead.lines().count() as u64, stats.recorded);
    assert!(dead.contains("project.update"));
    assert_eq!(stats.sinks[0].retried, 0, "a permanent error is not retried");
}

#[tokio::test]
async fn build_errors_say_what_to_do() {
    let err = Auditor::builder().build().unwrap_err();
    assert!(matches!(err, BuildError::NoSinks));
    assert!(err.to_string().contains("AuditorBuilder::sink"));
    let err =
        Auditor::builder().sink(MemorySink::new()).sink(MemorySink::new()).build().unwrap_err();
    assert!(matches!(err, BuildError::DuplicateSinkName(ref n) if n == "memory"), "{err}");
}

#[test]
fn build_outside_a_runtime_is_an_error() {
    let err = Auditor::builder().sink(MemorySink::new()).build().unwrap_err();
    assert!(matches!(err, BuildError::NoRuntime), "{err}");
}

#[test]
fn retry_backoff_grows_and_is_bounded() {
    let p = RetryPolicy::new(Duration::from_millis(100), Duration::from_secs(1));
    let first = p.backoff(0);
    assert!(first >= Duration::from_millis(80) && first <= Duration::from_millis(120), "{first:?}");
    assert!(p.backoff(3) >= Duration::from_millis(640));
    assert!(p.backoff(30) <= Duration::from_secs(1));
}

#[tokio::test]
async fn memory_sink_name_is_its_own() {
    assert_eq!(MemorySink::named("x").name(), "x");
}
