//! Hostile input and a hostile store: a chain rewritten without the key
//! fails `verify --public-key`; CSV cells cannot start a formula; values
//! cannot split a log line; invalid UTF-8 and garbage arguments are usage
//! errors (exit 2), never a panic.

use audit_core::integrity::{ZERO_HASH, compute_hash};
use audit_core::{Actor, AuditEvent, HttpRequest, Request, Resource, Source};
use predicates::prelude::*;
use serde_json::json;

use crate::fixture::{Fixture, audit, parse, read_lines, stdout_of};

/// What an attacker with write access to the store, but not the signing key,
/// does after editing entries: recompute the hash and `prev` of every entry
/// from `from` on, and make every later checkpoint claim the (new) entry
/// before it. Only the signatures cannot follow.
fn rehash_from(entries: &mut [AuditEvent], from: usize) {
    for i in from..entries.len() {
        let prev = if i == 0 {
            ZERO_HASH.to_owned()
        } else {
            entries[i - 1].chain.as_ref().unwrap().hash.clone()
        };
        if entries[i].event == "audit.checkpoint" {
            let before = entries[i - 1].chain.clone().unwrap();
            let cp = entries[i].metadata.get_mut("checkpoint").unwrap();
            cp["seq"] = json!(before.seq);
            cp["hash"] = json!(before.hash);
        }
        let e = &mut entries[i];
        e.chain.as_mut().unwrap().prev.clone_from(&prev);
        let hash = compute_hash(&prev, e).unwrap();
        e.chain.as_mut().unwrap().hash = hash;
    }
}

fn to_lines(entries: &[AuditEvent]) -> Vec<String> {
    entries.iter().map(|e| serde_json::to_string(e).unwrap()).collect()
}

#[test]
fn a_history_rewritten_without_the_key_fails_verification() {
    let f = Fixture::new();
    let lines = f.lines();
    let mut entries: Vec<AuditEvent> = lines.iter().map(|l| parse(l)).collect();
    // The first application entry: alice's project.update. Blame bob instead.
    let victim = entries.iter().position(|e| e.event == "project.update").unwrap();
    let seq = entries[victim].chain.as_ref().unwrap().seq;
    entries[victim].actor = Actor::user("u_2").email("bob@example.com");
    entries[victim].description = "bob@example.com updated project p_42".to_owned();
    rehash_from(&mut entries, victim);
    let forged = to_lines(&entries);
    assert_ne!(forged[victim], lines[victim]);
    f.write_lines(&forged);

    // The rewrite is consistent: hashes and links alone cannot tell.
    f.cmd("verify").assert().success().stdout(predicate::str::contains("NOT checked"));
    // The first checkpoint after the edit carries a signature over the
    // genuine hash, which the forger cannot recompute.
    let checkpoint = entries[victim..]
        .iter()
        .find(|e| e.event == "audit.checkpoint")
        .unwrap()
        .chain
        .as_ref()
        .unwrap()
        .seq;
    assert!(checkpoint > seq);
    f.cmd("verify")
        .arg("--public-key")
        .arg(f.public_key())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!("seq {checkpoint}")))
        .stdout(predicate::str::contains(": bad_signature"));
}

#[test]
fn a_forger_who_drops_every_checkpoint_is_caught_too() {
    let f = Fixture::new();
    // Remove the checkpoints (their signatures would not verify), turn the
    // denied deletion into a success, renumber and rehash everything.
    let mut entries: Vec<AuditEvent> =
        f.lines().iter().map(|l| parse(l)).filter(|e| e.event != "audit.checkpoint").collect();
    for (seq, e) in entries.iter_mut().enumerate() {
        e.chain.as_mut().unwrap().seq = seq as u64;
        if e.event == "api_key.delete" {
            e.outcome = audit_core::Outcome::Success;
            e.reason = None;
        }
    }
    rehash_from(&mut entries, 1);
    f.write_lines(&to_lines(&entries));
    f.cmd("verify").assert().success();
    f.cmd("verify")
        .arg("--public-key")
        .arg(f.public_key())
        .assert()
        .code(1)
        .stdout(predicate::str::contains(": missing_signature"));
}

/// Strings that spreadsheets treat as formulas, or that try to break out
/// of a CSV cell or a JSON line.
const HOSTILE: [&str; 10] = [
    "=cmd|' /C calc'!A0",
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
    "\t\r\n=1+1",
    "a\",\"=1+1",
    "ok\n{\"event\":\"forged.entry\",\"id\":\"00000000-0000-0000-0000-000000000000\"}",
    "ok\r\n=HYPERLINK(\"http://evil.example/\")",
];

fn hostile_entries() -> Vec<audit_core::AuditEventBuilder> {
    HOSTILE
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut request = HttpRequest::new("POST", *s);
            request.query = Some(format!("q={s}"));
            AuditEvent::builder("document.update")
                .actor(Actor::user(*s).email(*s).name(*s))
                .tenant(*s)
                .resource(Resource::new("document", *s).name(*s))
                .reason(*s)
                .description(*s)
                .source(Source::new().user_agent(*s).request_id(*s))
                .request(Request::Http(request))
                .metadata("i", i)
                .metadata("note", *s)
        })
        .collect()
}

#[test]
fn csv_cells_never_start_a_formula() {
    let f = Fixture::empty();
    f.record(hostile_entries(), |b| b);
    let out = f.path("hostile.csv");
    f.cmd("export").args(["-q", "--format", "csv", "-o"]).arg(&out).assert().success();
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    let description = headers.iter().position(|h| h == "description").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), f.entries().len(), "one row per entry: no value split a row");
    for row in &rows {
        assert_eq!(row.len(), headers.len(), "{row:?}");
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula cell {cell:?}");
        }
    }
    // Each hostile description survives, neutralised by a leading quote
    // where it would start a formula.
    let cells: Vec<&str> = rows.iter().map(|r| &r[description]).collect();
    for s in HOSTILE {
        let expected = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_owned()
        };
        assert!(cells.contains(&expected.as_str()), "{expected:?} not in {cells:?}");
    }
    // The table and query CSV output neutralise too.
    let query_csv = stdout_of(f.cmd("query").args(["--format", "csv"]));
    let mut reader = csv::Reader::from_reader(query_csv.as_bytes());
    for row in reader.records() {
        for cell in &row.unwrap() {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "formula cell {cell:?}");
        }
    }
}

#[test]
fn values_cannot_split_a_log_line() {
    let f = Fixture::empty();
    f.record(hostile_entries(), |b| b);
    // The store: one JSON entry per line, exactly as many as were recorded
    // (genesis + 10 + checkpoints), none of them forged.
    let stored = f.entries();
    let lines = f.lines();
    assert_eq!(lines.len(), stored.len());
    assert!(stored.iter().all(|e| e.event != "forged.entry"));
    assert_eq!(stored.iter().filter(|e| e.event == "document.update").count(), HOSTILE.len());
    for (line, s) in lines.iter().zip(&stored) {
        assert!(!line.contains('\r'), "{line}");
        assert_eq!(&parse(line), s);
    }
    // JSON Lines export: the same.
    let out = stdout_of(f.cmd("export").args(["--format", "jsonl"]));
    let exported: Vec<AuditEvent> = out.lines().map(parse).collect();
    assert_eq!(exported, stored);
    let texts: Vec<String> = exported.iter().map(|e| e.description.clone()).collect();
    for s in HOSTILE {
        assert!(texts.iter().any(|t| t == s), "{s:?} did not survive the round trip");
    }
    // And the chain still verifies with the key.
    f.cmd("verify").arg("--public-key").arg(f.public_key()).assert().success();
    // The table output keeps one row per entry too.
    let table = stdout_of(f.cmd("query").args(["--format", "table", "--limit", "1000"]));
    assert!(!table.contains("forged.entry\n"), "{table}");
}

#[cfg(unix)]
#[test]
fn invalid_utf8_arguments_are_usage_errors() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let f = Fixture::new();
    let bad = OsStr::from_bytes(b"caf\xe9\xff");
    for flag in ["--tenant", "--actor", "--event", "--resource", "--since", "--until", "--text"] {
        f.cmd("query")
            .arg(flag)
            .arg(bad)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("panicked").not())
            .stderr(predicate::str::is_empty().not());
    }
    f.cmd("query").arg(OsStr::from_bytes(b"--\xff")).assert().code(2);
    audit().arg(OsStr::from_bytes(b"qu\xffery")).assert().code(2);
    // A store path that is not UTF-8 is refused as such (store specs are
    // read as text, for URLs), not mangled into another path.
    let missing = f.dir.path().join(OsStr::from_bytes(b"st\xffore"));
    audit()
        .arg("query")
        .arg("--store")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid UTF-8"));
}

#[test]
fn garbage_filters_are_usage_errors() {
    let f = Fixture::new();
    let long = "9".repeat(100_000);
    let huge_span = format!("{long}d");
    let cases: Vec<Vec<String>> = vec![
        vec!["--since".into(), huge_span.clone()],
        vec!["--until".into(), "99999999999999999999w".into()],
        vec!["--since".into(), "+7d".into()],
        vec!["--since".into(), "9999-99-99".into()],
        vec!["--since".into(), "2026-02-30".into()],
        vec!["--since".into(), "2026-01-01T25:00:00Z".into()],
        vec!["--since".into(), "\u{1}".into()],
        vec!["--since".into(), "7\u{0662}d".into()],
        vec!["--event".into(), "a\u{1b}b".into()],
        vec!["--event".into(), String::new()],
        vec!["--event".into(), "x\u{2028}y".into()],
        vec!["--resource".into(), ":".into()],
        vec!["--resource".into(), "a b:c".into()],
        vec!["--resource".into(), "doc:".into()],
        vec!["--cursor".into(), long.clone()],
        vec!["--cursor".into(), "\u{1f600}".repeat(1000)],
        vec!["--cursor".into(), "=".into()],
        vec!["--limit".into(), "-1".into()],
        vec!["--limit".into(), long],
        vec!["--order".into(), "sideways".into()],
    ];
    for args in cases {
        let out = f.cmd("query").args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_store_line_that_is_not_utf8_is_located_not_a_panic() {
    let f = Fixture::new();
    let mut bytes = std::fs::read(f.file()).unwrap();
    let lines = read_lines(&f.file()).len();
    // Garbage that is not UTF-8 appended as one more line.
    bytes.extend_from_slice(b"{\"event\":\"caf\xe9\"}\n");
    std::fs::write(f.file(), &bytes).unwrap();
    let out = f.cmd("verify").arg("--public-key").arg(f.public_key()).output().unwrap();
    let all =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(!all.contains("panicked"), "{all}");
    assert!(all.contains(&format!(":{}", lines + 1)), "the bad line is named: {all}");
    // Query and export fail cleanly too, or skip it: never a panic.
    for command in ["query", "export"] {
        let out = f.cmd(command).args(["--format", "jsonl"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.code().is_some_and(|c| c <= 2), "{command}: {out:?}");
        assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    }
}
