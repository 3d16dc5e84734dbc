//! The `AuditStore` conformance suite, run on `MemorySink`, and the store
//! behaviour that the suite does not cover (blanket impls, purge, errors).

use std::sync::Arc;

use audit_core::query::Query;
use audit_core::store::{AuditStore, Page, PurgeReport, StoreError};
use audit_core::testing::{MemorySink, conformance};
use audit_core::{AuditEvent, Sink};
use futures::TryStreamExt as _;

#[tokio::test]
async fn memory_sink_passes_the_conformance_suite() {
    let sink = MemorySink::new();
    conformance::run(&sink, |entries| {
        sink.load(entries);
        std::future::ready(())
    })
    .await;
}

#[tokio::test]
async fn memory_sink_passes_the_conformance_suite_through_its_write() {
    let sink = MemorySink::new();
    let writer = sink.clone();
    conformance::run(&sink, |entries| {
        let writer = writer.clone();
        async move { writer.write(audit_core::Batch::new(&entries)).await.expect("write") }
    })
    .await;
}

#[tokio::test]
async fn suite_runs_through_arc_dyn_and_box() {
    let sink = MemorySink::new();
    let store: Arc<dyn AuditStore> = Arc::new(sink.clone());
    conformance::run(&store, |entries| {
        sink.load(entries);
        std::future::ready(())
    })
    .await;

    let sink = MemorySink::new();
    let store: Box<dyn AuditStore> = Box::new(sink.clone());
    conformance::run(&store, |entries| {
        sink.load(entries);
        std::future::ready(())
    })
    .await;
}

#[test]
fn fixture_is_deterministic_with_distinct_times_and_ids() {
    let a = conformance::fixture();
    let b = conformance::fixture();
    assert_eq!(a, b);
    assert_eq!(a.len(), conformance::FIXTURE_LEN);
    let times: std::collections::HashSet<_> = a.iter().map(|e| e.time).collect();
    let ids: std::collections::HashSet<_> = a.iter().map(|e| e.id).collect();
    assert_eq!(times.len(), a.len());
    assert_eq!(ids.len(), a.len());
    assert!(
        a.iter().all(|e| e.time.nanosecond().is_multiple_of(1_000)),
        "times are whole microseconds"
    );
    assert!(a.windows(2).any(|w| w[1].time < w[0].time), "write order differs from time order");
    assert!(a.windows(2).all(|w| w[0].id < w[1].id), "ids follow write order");
}

#[test]
fn fixture_survives_a_json_round_trip() {
    for e in conformance::fixture() {
        let json = serde_json::to_string(&e).unwrap();
        let back: AuditEvent = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e, "{json}");
    }
}

#[tokio::test]
async fn purge_removes_only_older_entries_and_dry_run_removes_nothing() {
    let sink = MemorySink::new();
    let fixture = conformance::fixture();
    sink.load(fixture.clone());
    let mut times: Vec<_> = fixture.iter().map(|e| e.time).collect();
    times.sort();
    let cut = times[25];

    let dry = sink.purge(cut, true).await.unwrap();
    assert_eq!((dry.removed, dry.dry_run, dry.before), (25, true, cut));
    assert_eq!(sink.len(), 60);

    let report = sink.purge(cut, false).await.unwrap();
    assert_eq!(report, PurgeReport::new(25, cut, false));
    assert_eq!(sink.len(), 35);
    assert!(sink.entries().iter().all(|e| e.time >= cut));

    // a purged entry can be written again (its id is forgotten with it)
    sink.load(fixture);
    assert_eq!(sink.len(), 60);
}

#[derive(Debug)]
struct ReadOnly;

#[async_trait::async_trait]
impl AuditStore for ReadOnly {
    async fn query(&self, _query: &Query) -> Result<Page, StoreError> {
        Ok(Page::default())
    }
    fn scan<'a>(
        &'a self,
        _query: &'a Query,
    ) -> futures::stream::BoxStream<'a, Result<AuditEvent, StoreError>> {
        Box::pin(futures::stream::empty())
    }
}

#[tokio::test]
async fn purge_is_unsupported_by_default() {
    let err = ReadOnly.purge(time::OffsetDateTime::now_utc(), true).await.unwrap_err();
    assert!(matches!(err, StoreError::Unsupported("purge")), "{err:?}");
    assert!(err.to_string().contains("does not support purge"), "{err}");
    let scanned: Vec<AuditEvent> = ReadOnly.scan(&Query::new()).try_collect().await.unwrap();
    assert!(scanned.is_empty());
}

#[test]
fn page_from_ordered_sets_the_cursor_only_when_more_exist() {
    let entries: Vec<AuditEvent> = conformance::fixture().into_iter().take(5).collect();
    let page = Page::from_ordered(entries.clone(), 5);
    assert_eq!(page.entries.len(), 5);
    assert_eq!(page.next_cursor, None);
    let page = Page::from_ordered(entries.clone(), 3);
    assert_eq!(page.entries, entries[..3]);
    assert_eq!(page.next_cursor, Some(audit_core::query::Cursor::after(&entries[2])));
    assert!(Page::from_ordered(Vec::new(), 3).is_empty());
}

#[test]
fn store_errors_say_what_to_do() {
    let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
    let err = StoreError::unavailable_with("cannot open /var/log/audit/current.jsonl", io);
    assert!(err.to_string().contains("cannot open /var/log/audit/current.jsonl"), "{err}");
    assert!(err.to_string().contains("try again"), "{err}");
    assert!(std::error::Error::source(&err).is_some());

    let err = StoreError::corrupt("audit-2026-01-31.jsonl:17", "not valid JSON");
    assert!(err.to_string().contains("audit-2026-01-31.jsonl:17"), "{err}");
    assert!(err.to_string().contains("audit verify"), "{err}");

    let err = StoreError::other("boom");
    assert_eq!(err.to_string(), "boom");
}
