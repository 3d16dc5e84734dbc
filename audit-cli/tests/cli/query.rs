//! `audit query`: filters, formats, paging.

use audit_core::AuditEvent;
use predicates::prelude::*;

use crate::fixture::{FORMULA, Fixture, MULTILINE, parse, stdout_of};

fn jsonl(f: &Fixture, args: &[&str]) -> Vec<AuditEvent> {
    let out = stdout_of(f.cmd("query").args(["--format", "jsonl"]).args(args));
    out.lines().map(parse).collect()
}

#[test]
fn the_default_is_a_table_newest_first() {
    let f = Fixture::new();
    let out = stdout_of(&mut f.cmd("query"));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME (UTC)"), "{out}");
    for column in ["ACTOR", "EVENT", "RESOURCE", "OUTCOME", "IP", "DESCRIPTION"] {
        assert!(lines[0].contains(column), "{out}");
    }
    assert_eq!(lines.len(), 1 + f.entries().len(), "{out}");
    // Newest first: the closing checkpoint, then project.delete.
    assert!(lines[1].contains("audit.checkpoint"), "{out}");
    assert!(lines[2].contains("project.delete"), "{out}");
    let update = lines.iter().find(|l| l.contains("project:p_42") && l.contains("update")).unwrap();
    assert!(update.contains("alice@example.com"), "{update}");
    assert!(update.contains("10.0.0.1"), "{update}");
    assert!(update.contains("success"), "{update}");
    // The newline in a description does not break the table.
    assert!(out.contains(r"first line\nsecond line"), "{out}");
    // Columns line up: the ACTOR column starts at the same offset on every line.
    let at = lines[0].find("ACTOR").unwrap();
    for line in &lines[1..] {
        assert_eq!(&line[at - 2..at], "  ", "{line}");
        assert_ne!(&line[at..=at], " ", "{line}");
    }
}

#[test]
fn filters() {
    let f = Fixture::new();
    let events = |args: &[&str]| -> Vec<String> {
        let mut names: Vec<String> = jsonl(&f, args).into_iter().map(|e| e.event).collect();
        names.sort();
        names
    };
    assert_eq!(
        events(&["--actor", "alice@example.com"]),
        ["member.invite", "project.delete", "project.update"]
    );
    assert_eq!(events(&["--actor", "api-key:ci-deploy"]), ["api_key.create"]);
    assert_eq!(events(&["--event", "api_key.*"]), ["api_key.create", "api_key.delete"]);
    assert_eq!(
        events(&["--event", "api_key.*", "--event", "*.delete"]),
        ["api_key.create", "api_key.delete", "project.delete"]
    );
    assert_eq!(events(&["--resource", "project:p_42"]), ["project.delete", "project.update"]);
    assert_eq!(events(&["--resource", "invoice"]), ["invoice.create"]);
    assert_eq!(events(&["--outcome", "denied"]), ["api_key.delete"]);
    assert_eq!(events(&["--action", "delete"]), ["api_key.delete", "project.delete"]);
    assert_eq!(events(&["--tenant", "globex"]), ["api_key.create", "invoice.create"]);
    assert_eq!(events(&["--text", "HYPERLINK"]), ["project.update"]);
    assert_eq!(
        events(&["--tenant", "acme", "--outcome", "success", "--event", "project.*"]),
        ["project.delete", "project.update", "project.update"]
    );
    assert_eq!(events(&["--since", "7d"]).len(), f.entries().len());
    let all = f.entries().len();
    assert_eq!(events(&["--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z"]).len(), all);
    assert!(events(&["--until", "2000-01-01"]).is_empty());
}

#[test]
fn no_match_says_so_on_stderr() {
    let f = Fixture::new();
    f.cmd("query")
        .args(["--tenant", "nobody"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("no entries match"));
}

#[test]
fn limit_and_cursor_page_through() {
    let f = Fixture::new();
    let out = f.cmd("query").args(["--limit", "3", "--format", "jsonl"]).output().unwrap();
    assert!(out.status.success());
    let first: Vec<AuditEvent> =
        String::from_utf8(out.stdout).unwrap().lines().map(parse).collect();
    assert_eq!(first.len(), 3);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let cursor = stderr
        .split("--cursor ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cursor hint: {stderr}"));
    let rest = jsonl(&f, &["--cursor", cursor, "--limit", "1000"]);
    assert_eq!(first.len() + rest.len(), f.entries().len());
    assert!(first.last().unwrap().time >= rest[0].time);
    // Quiet: no hint.
    f.cmd("query").args(["-q", "--limit", "3"]).assert().success().stderr("");
}

#[test]
fn oldest_first() {
    let f = Fixture::new();
    let entries = jsonl(&f, &["--order", "oldest", "--limit", "2"]);
    assert_eq!(entries[0].event, "audit.genesis");
}

#[test]
fn json_is_one_array_of_entries() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("query").args(["--format", "json"]));
    let entries: Vec<AuditEvent> = serde_json::from_str(&out).unwrap();
    assert_eq!(entries.len(), f.entries().len());
    let out = stdout_of(f.cmd("query").args(["--format", "json", "--tenant", "nobody"]));
    assert_eq!(out.trim(), "[]");
}

#[test]
fn jsonl_lines_are_never_split_by_newlines_in_values() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("query").args(["--format", "jsonl"]));
    assert_eq!(out.lines().count(), f.entries().len());
    let entries: Vec<AuditEvent> = out.lines().map(parse).collect();
    let invite = entries.iter().find(|e| e.event == "member.invite").unwrap();
    assert_eq!(invite.description, MULTILINE);
    assert_eq!(invite.metadata["nested"]["list"][2]["deep"], "x\ny");
}

#[test]
fn csv_flattens_and_neutralises() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("query").args(["--format", "csv", "--order", "oldest"]));
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(headers.iter().collect::<Vec<_>>(), audit_cli::output::csv_row::COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), f.entries().len());
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let update = rows.iter().find(|r| &r[col("resource_id")] == "p_42").unwrap();
    assert_eq!(&update[col("actor_email")], "alice@example.com");
    assert_eq!(&update[col("method")], "PATCH");
    assert_eq!(&update[col("route")], "/projects/{id}");
    assert_eq!(&update[col("status")], "200");
    assert_eq!(&update[col("service_name")], "projects-api");
    let formula = rows.iter().find(|r| r[col("description")].contains("HYPERLINK")).unwrap();
    assert_eq!(&formula[col("description")], format!("'{FORMULA}"));
}
