//! `audit export`: every matching entry, streamed, to a file or stdout.

use audit_core::AuditEvent;
use predicates::prelude::*;

use crate::fixture::{FORMULA, Fixture, MULTILINE, parse, read_lines, stdout_of};

#[test]
fn jsonl_to_a_file_is_the_store_in_write_order() {
    let f = Fixture::new();
    let out = f.path("all.jsonl");
    f.cmd("export")
        .args(["--format", "jsonl", "--output"])
        .arg(&out)
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains(format!("exported {} entries to", f.entries().len())));
    let exported: Vec<AuditEvent> = read_lines(&out).iter().map(|l| parse(l)).collect();
    assert_eq!(exported, f.entries());
    // Entries come back exactly as written: byte for byte.
    assert_eq!(std::fs::read_to_string(&out).unwrap(), std::fs::read_to_string(f.file()).unwrap());
}

#[test]
fn json_to_stdout_is_one_array() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("export").args(["--format", "json"]));
    let entries: Vec<AuditEvent> = serde_json::from_str(&out).unwrap();
    assert_eq!(entries, f.entries());
    assert_eq!(entries.iter().find(|e| e.event == "member.invite").unwrap().description, MULTILINE);
}

#[test]
fn filters_apply() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("export").args(["--format", "jsonl", "--tenant", "globex"]));
    let events: Vec<String> = out.lines().map(|l| parse(l).event).collect();
    assert_eq!(events, ["api_key.create", "invoice.create"]);
}

#[test]
fn csv_neutralises_formulas() {
    let f = Fixture::new();
    let out = f.path("audit.csv");
    f.cmd("export").args(["-q", "--format", "csv", "-o"]).arg(&out).assert().success().stderr("");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains(",=HYPERLINK"), "{text}");
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers = reader.headers().unwrap().clone();
    let description = headers.iter().position(|h| h == "description").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), f.entries().len());
    let cells: Vec<&str> = rows.iter().map(|r| &r[description]).collect();
    assert!(cells.contains(&format!("'{FORMULA}").as_str()), "{cells:?}");
    assert!(cells.contains(&MULTILINE), "{cells:?}");
    // No cell of any row starts a formula.
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
        }
    }
}

#[test]
fn a_failed_export_leaves_no_file() {
    let f = Fixture::new();
    let out = f.path("missing-dir/out.jsonl");
    f.cmd("export")
        .args(["--format", "jsonl", "--output"])
        .arg(&out)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("could not create a file in"));
    assert!(!out.exists());
}

#[test]
fn an_existing_file_is_replaced_when_done() {
    let f = Fixture::new();
    let out = f.path("out.jsonl");
    std::fs::write(&out, "old\n").unwrap();
    f.cmd("export").args(["--format", "jsonl", "-o"]).arg(&out).assert().success();
    assert_eq!(read_lines(&out).len(), f.entries().len());
    // No temporary files are left next to it.
    let names: Vec<String> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".audit-export-")), "{names:?}");
}

#[test]
fn the_format_is_required() {
    let f = Fixture::new();
    f.cmd("export").assert().code(2).stderr(predicate::str::contains("--format <FORMAT>"));
    f.cmd("export")
        .args(["--format", "table"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values: csv, json, jsonl"));
}
