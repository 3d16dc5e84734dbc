//! Bad input through the whole pipeline (enrich, redact, hash, spool, sink,
//! verify): empty and enormous event names, JSON nested 10 000 deep, and a
//! spool holding lines that are not UTF-8 or not entries. Each gets a
//! documented fallback or a clear error; nothing panics or overflows the
//! stack (these tests run on the test harness's 2 MiB thread stacks).

use std::time::Duration;

use audit_core::integrity::{VerifyOptions, canonical_json, verify};
use audit_core::redact::REDACTED_TOO_DEEP;
use audit_core::testing::MemorySink;
use audit_core::{
    Action, AuditEvent, Auditor, Body, Change, GrpcRequest, HttpRequest, Redactor, Request,
    Response, SigningKey,
};
use serde_json::{Value, json};

fn key() -> SigningKey {
    SigningKey::ed25519_from_bytes(&[9; 32])
}

async fn record_all(
    events: Vec<AuditEvent>,
    redactor: Redactor,
    spool: Option<&std::path::Path>,
) -> Vec<AuditEvent> {
    let sink = MemorySink::new();
    let mut builder = Auditor::builder()
        .service("bad-input", "0.0.0")
        .sink(sink.clone())
        .signing_key(key())
        .redactor(redactor)
        .checkpoint_every(2);
    if let Some(dir) = spool {
        // A tiny queue, so entries are read back from the spool.
        builder = builder.spool_dir(dir).queue_capacity(1);
    }
    let auditor = builder.build().unwrap();
    for e in events {
        auditor.record(e).await.expect("recorded");
    }
    auditor.shutdown(Duration::from_secs(10)).await.expect("flushed");
    let entries = sink.entries();
    let report =
        verify(&entries, &VerifyOptions::new().key(key().verifying_key()).require_sealed(true))
            .expect("the chain verifies");
    assert!(report.signatures_checked);
    entries
}

fn app_entries(entries: Vec<AuditEvent>) -> Vec<AuditEvent> {
    entries.into_iter().filter(|e| !e.event.starts_with("audit.")).collect()
}

/// `{"a": {"a": ... 1 ...}}`, `depth` objects deep, built without recursion.
fn nested(depth: usize) -> Value {
    let mut v = Value::from(1);
    for _ in 0..depth {
        // Not `json!({"a": v})`: that serializes `v`, recursively.
        let mut map = serde_json::Map::new();
        map.insert("a".to_owned(), v);
        v = Value::Object(map);
    }
    v
}

/// The nesting depth of a value, without recursion.
fn depth_of(v: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        max = max.max(d);
        match v {
            Value::Object(m) => stack.extend(m.values().map(|c| (c, d + 1))),
            Value::Array(a) => stack.extend(a.iter().map(|c| (c, d + 1))),
            _ => {}
        }
    }
    max
}

#[tokio::test]
async fn an_empty_event_name_is_recorded_as_given() {
    let entries = app_entries(
        record_all(vec![AuditEvent::builder("").build()], Redactor::default(), None).await,
    );
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event, "");
    assert_eq!(entries[0].action, Action::Other);
    // The description falls back to the actor and the (empty) name.
    assert_eq!(entries[0].description, "anonymous performed ");
}

#[tokio::test]
async fn a_1_mib_event_name_goes_through_hashing_the_spool_and_verification() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}.update", "r".repeat(1 << 20));
    let entries = app_entries(
        record_all(
            vec![AuditEvent::builder(name.clone()).build()],
            Redactor::default(),
            Some(dir.path()),
        )
        .await,
    );
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].event, name);
    assert_eq!(entries[0].action, Action::Update);
    let line = serde_json::to_string(&entries[0]).unwrap();
    assert_eq!(serde_json::from_str::<AuditEvent>(&line).unwrap(), entries[0]);
}

/// An entry carrying `depth`-deep JSON in every place that holds free JSON.
fn deep_entry(depth: usize) -> AuditEvent {
    let mut http = HttpRequest::new("POST", "/deep");
    http.body = Some(Body::Json(nested(depth)));
    let mut response = Response::default();
    response.body = Some(Body::Json(nested(depth)));
    AuditEvent::builder("document.update")
        .request(Request::Http(http))
        .response(response)
        .change(Change::new("doc", nested(depth), nested(depth)))
        .change(Change::new("doc.password", nested(depth), json!("x")))
        .metadata("deep", nested(depth))
        .metadata("token", nested(depth))
        .build()
}

#[tokio::test]
async fn json_nested_10000_deep_is_cut_at_the_redaction_depth_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    // Built afresh for each run: cloning or dropping such a value outside
    // the pipeline would recurse 10 000 deep in serde_json itself.
    let grpc_entry = || {
        let mut grpc = GrpcRequest::new("pkg.Svc", "Do");
        grpc.message = Some(Body::Json(nested(10_000)));
        AuditEvent::builder("thing.create").request(Request::Grpc(grpc)).build()
    };
    for (redactor, limit) in [
        (Redactor::default(), audit_core::redact::DEFAULT_MAX_DEPTH),
        // HMAC mode digests whole values under sensitive keys: still bounded.
        (Redactor::builder().hmac_key(b"k").build(), audit_core::redact::DEFAULT_MAX_DEPTH),
        // A larger limit is clamped so that every entry stays readable.
        (Redactor::builder().max_depth(usize::MAX).build(), audit_core::redact::MAX_DEPTH_LIMIT),
    ] {
        let entries = app_entries(
            record_all(vec![deep_entry(10_000), grpc_entry()], redactor, Some(dir.path())).await,
        );
        assert_eq!(entries.len(), 2);
        let e = &entries[0];
        let mut values: Vec<&Value> = vec![&e.metadata["deep"]];
        for c in &e.changes {
            values.push(&c.before);
            values.push(&c.after);
        }
        if let Some(Request::Http(h)) = &e.request
            && let Some(Body::Json(v)) = &h.body
        {
            values.push(v);
        }
        if let Some(Body::Json(v)) = e.response.as_ref().and_then(|r| r.body.as_ref()) {
            values.push(v);
        }
        assert_eq!(values.len(), 7);
        for v in values {
            assert!(depth_of(v) <= limit + 1, "depth {} > {limit}", depth_of(v));
        }
        assert!(e.metadata["deep"].to_string().contains(REDACTED_TOO_DEEP));
        // Sensitive keys are masked whole, however deep the value was.
        assert!(matches!(&e.metadata["token"], Value::String(_)), "{:?}", e.metadata["token"]);
        assert!(matches!(&e.changes[1].before, Value::String(_)));
        // What a store writes, it reads back (serde_json refuses > 128 levels).
        let line = serde_json::to_string(e).unwrap();
        assert_eq!(&serde_json::from_str::<AuditEvent>(&line).unwrap(), e);
        assert!(canonical_json(e).is_ok());
        if let Some(Request::Grpc(g)) = &entries[1].request {
            let Some(Body::Json(v)) = &g.message else { panic!("kept as JSON: {g:?}") };
            assert!(depth_of(v) <= limit + 1);
        } else {
            panic!("a gRPC entry");
        }
    }
}

#[test]
fn a_deep_entry_parsed_from_a_store_line_is_an_error_not_a_stack_overflow() {
    let mut line = String::from(
        r#"{"action":"other","actor":{"kind":"anonymous"},"event":"x","id":"01936f4e-8a00-7000-8000-000000000002","outcome":"success","time":"2026-01-01T00:00:00.000000Z","metadata":{"m":"#,
    );
    line.push_str(&"[".repeat(100_000));
    line.push_str(&"]".repeat(100_000));
    line.push_str("}}");
    let err = serde_json::from_str::<AuditEvent>(&line).unwrap_err();
    assert!(err.to_string().contains("recursion limit"), "{err}");
    // Invalid UTF-8 inside a string is an error too.
    let bytes = br#"{"action":"other","actor":{"kind":"anonymous"},"event":"caf\xe9","id":"01936f4e-8a00-7000-8000-000000000002","outcome":"success","time":"2026-01-01T00:00:00.000000Z"}"#;
    assert!(serde_json::from_slice::<AuditEvent>(bytes).is_err());
}

/// Writes a spool as a killed process would have left it, with `bad` lines
/// between good ones, and replays it.
async fn replay_spool_with(bad: &[&[u8]]) -> (Vec<AuditEvent>, Vec<AuditEvent>, u64) {
    let dir = tempfile::tempdir().unwrap();
    // A first run whose sink is down leaves 20 entries in the spool.
    let down = MemorySink::named("primary");
    down.control().set_down(true);
    let auditor = Auditor::builder()
        .service("bad-input", "0.0.0")
        .sink(down)
        .spool_dir(dir.path())
        .build()
        .unwrap();
    let mut recorded = Vec::new();
    for i in 0..20 {
        let r = auditor.record(AuditEvent::builder("thing.update").metadata("i", i)).await.unwrap();
        recorded.push(r.id);
    }
    let _ = auditor.shutdown(Duration::from_millis(50)).await;
    drop(auditor);
    // Corrupt it: `bad` lines go in after the 5th line.
    let wal = dir.path().join("wal");
    let segment = std::fs::read_dir(&wal).unwrap().next().unwrap().unwrap().path();
    let data = std::fs::read(&segment).unwrap();
    let mut lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let mut extra: Vec<Vec<u8>> = bad.iter().map(|b| [*b, b"\n"].concat()).collect();
    let tail = lines.split_off(5);
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
    }
    for l in extra.drain(..) {
        out.extend_from_slice(&l);
    }
    for l in tail {
        out.extend_from_slice(l);
    }
    std::fs::write(&segment, out).unwrap();

    let sink = MemorySink::named("primary");
    let auditor = Auditor::builder()
        .service("bad-input", "0.0.0")
        .sink(sink.clone())
        .spool_dir(dir.path())
        .build()
        .unwrap();
    auditor.shutdown(Duration::from_secs(5)).await.unwrap();
    let failed = auditor.stats().sinks[0].failed;
    let delivered = sink.entries();
    let first_run: Vec<AuditEvent> =
        delivered.iter().filter(|e| recorded.contains(&e.id)).cloned().collect();
    (delivered, first_run, failed)
}

#[tokio::test]
async fn spool_lines_that_are_not_entries_cost_only_themselves() {
    let bad: [&[u8]; 3] = [b"{\"event\":\"caf\xe9\xff\"}", b"not json at all", b"\xff\xfe\x00"];
    let (_, first_run, failed) = replay_spool_with(&bad).await;
    assert_eq!(failed, bad.len() as u64, "each unreadable line is counted as failed");
    assert_eq!(first_run.len(), 20, "every readable entry of the spool is delivered");
}
