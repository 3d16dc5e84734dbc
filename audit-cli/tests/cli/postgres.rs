//! Every reading command, `audit purge`, and bad URLs over a real Postgres
//! store written by an `Auditor` through the Postgres sink.

use audit_core::AuditEvent;
use predicates::prelude::*;

use crate::fixture::{audit, parse, stdout_of};
use crate::pg::PgFixture;

#[test]
fn query_by_actor_as_a_table_and_jsonl() {
    let f = PgFixture::new();
    let out = stdout_of(f.cmd("query").args(["--actor", "alice@example.com"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("TIME (UTC)"), "{out}");
    assert_eq!(lines.len(), 1 + 3, "{out}");
    assert!(lines[1..].iter().all(|l| l.contains("alice@example.com")), "{out}");
    assert!(lines[1].contains("project.delete"), "newest first: {out}");

    let out = stdout_of(f.cmd("query").args(["--actor", "alice@example.com", "--format", "jsonl"]));
    let entries: Vec<AuditEvent> = out.lines().map(parse).collect();
    let events: Vec<&str> = entries.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(events, ["project.delete", "member.invite", "project.update"], "{out}");
    assert!(entries.iter().all(|e| e.chain.is_some()), "{out}");
}

#[test]
fn verify_with_the_public_key() {
    let f = PgFixture::new();
    f.cmd("verify")
        .arg("--public-key")
        .arg(f.keys.public_key())
        .arg("--require-sealed")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "OK: 10 entries in 1 chain verified (hashes, links and checkpoint signatures)",
        ))
        .stdout(predicate::str::contains("2 checkpoints, sealed"));
    // Another key fails the signatures.
    let other = crate::fixture::Fixture::empty();
    f.cmd("verify").arg("--public-key").arg(other.public_key()).assert().code(1);
}

#[test]
fn stats_and_csv_export() {
    let f = PgFixture::new();
    let out = stdout_of(&mut f.cmd("stats"));
    for needle in ["project.update", "alice@example.com", "denied"] {
        assert!(out.contains(needle), "{needle}: {out}");
    }

    let out = stdout_of(f.cmd("export").args(["--format", "csv"]));
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let rows = reader.records().collect::<Result<Vec<_>, _>>().unwrap();
    // 7 entries, the genesis entry, a checkpoint after every 4 entries and
    // the closing checkpoint: as many rows as the table holds.
    assert_eq!(rows.len() as i64, f.count(), "{out}");
    assert!(out.contains("api_key.delete"), "{out}");
    // The formula is defused.
    assert!(out.contains("'=HYPERLINK"), "{out}");
}

#[test]
fn purge_names_the_partitions() {
    let f = PgFixture::new();
    let before = f.count();
    f.cmd("purge")
        .args(["--older-than", "90d"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("removed 0 entries in 0 partitions older than "));
    let out = stdout_of(f.cmd("purge").args(["--older-than", "2999-01-01", "--dry-run"]));
    assert!(out.starts_with(&format!("dry run: would remove {before} entries in ")), "{out}");
    assert!(out.contains("  audit_events_p"), "{out}");
    assert!(out.contains("    chain "), "{out}");
    assert_eq!(f.count(), before);

    f.cmd("purge")
        .args(["--older-than", "2999-01-01"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!("removed {before} entries in ")))
        .stderr(predicate::str::contains("this purge is not in the audit log itself"));
    assert_eq!(f.count(), 0);
}

#[test]
fn a_bad_url_is_exit_2_without_the_password() {
    for command in ["query", "migrate", "verify"] {
        audit()
            .args([command, "--store", "postgres://audit:hunter2@127.0.0.1:1/audit"])
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "error: cannot connect to the audit store at postgres://audit:***@127.0.0.1:1/audit: ",
            ))
            .stderr(predicate::str::contains("check that the server is running"))
            .stderr(predicate::str::contains("hunter2").not());
    }
    audit()
        .args(["query", "--store", "postgres://audit:hunter2@db:notaport/audit"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid PostgreSQL URL postgres://audit:***@"))
        .stderr(predicate::str::contains("hunter2").not());
}
