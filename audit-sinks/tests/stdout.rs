//! The JSON Lines sinks: what `WriterSink` writes is exactly the entries'
//! JSON, one per line.
#![cfg(feature = "stdout")]

use std::time::Duration;

use audit_core::{AuditEvent, Auditor, Resource, Sink};
use audit_sinks::stdout::WriterSink;

#[tokio::test]
async fn writer_sink_writes_exact_json_lines() {
    let events: Vec<AuditEvent> = (0..3)
        .map(|i| {
            AuditEvent::builder("project.update")
                .id(uuid::Uuid::now_v7())
                .resource(Resource::new("project", format!("p_{i}")))
                .description(format!("entry {i}"))
                .build()
        })
        .collect();
    let sink = WriterSink::new(Vec::new());
    sink.write(audit_core::Batch::new(&events[..2])).await.unwrap();
    sink.write(audit_core::Batch::new(&events[2..])).await.unwrap();
    let out = sink.with_writer(|buf| String::from_utf8(buf.clone()).unwrap());
    let expected: String =
        events.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
    assert_eq!(out, expected);
}

#[tokio::test]
async fn values_with_newlines_do_not_split_lines() {
    let sink = WriterSink::new(Vec::new()).with_name("capture");
    let auditor = Auditor::builder().sink(sink.clone()).build().unwrap();
    let tricky = "line one\nline two\r\n\u{2028}end";
    auditor
        .record(
            AuditEvent::builder("project.update")
                .description(tricky)
                .metadata("note", tricky)
                .resource(Resource::new("project", "p\n42")),
        )
        .await
        .unwrap();
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();

    let out = sink.with_writer(|buf| String::from_utf8(buf.clone()).unwrap());
    assert!(out.ends_with('\n'));
    let lines: Vec<&str> = out.lines().collect();
    let stats = auditor.stats();
    assert_eq!(lines.len() as u64, stats.recorded, "one line per entry: {out}");
    assert_eq!(stats.sinks[0].written, stats.recorded);
    let entries: Vec<AuditEvent> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    let entry = entries.iter().find(|e| e.event == "project.update").unwrap();
    assert_eq!(entry.description, tricky);
    assert_eq!(entry.metadata["note"], tricky);
    assert_eq!(entry.resource[0].id.as_deref(), Some("p\n42"));
    // Lines are the entries' JSON, in chain order.
    for (line, entry) in lines.iter().zip(&entries) {
        assert_eq!(*line, serde_json::to_string(entry).unwrap());
    }
    let seqs: Vec<u64> = entries.iter().map(|e| e.chain.as_ref().unwrap().seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
}

#[test]
fn debug_names_the_writer_type_only() {
    let sink = WriterSink::new(Vec::<u8>::new());
    let dbg = format!("{sink:?}");
    assert!(dbg.contains("WriterSink") && dbg.contains("Vec<u8>"), "{dbg}");
    let stdout = audit_sinks::stdout::StdoutSink::new();
    assert_eq!(stdout.name(), "stdout");
}
