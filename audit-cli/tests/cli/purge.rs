//! `audit purge`: removes whole old files, or counts them with `--dry-run`.

use audit_core::{Actor, AuditEvent, Delivery};
use predicates::prelude::*;

use crate::fixture::{Fixture, stdout_of};

/// A store of many files: every batch goes to a new file, and strict
/// delivery makes every entry its own batch.
fn many_files() -> Fixture {
    let f = Fixture::empty();
    let entries =
        (0..6).map(|n| AuditEvent::builder(format!("job.run_{n}")).actor(Actor::system("cron")));
    f.record_with(entries.collect(), |b| b.max_file_bytes(1), Delivery::Strict);
    f
}

#[test]
fn nothing_recent_is_removed() {
    let f = many_files();
    let before = f.entries();
    f.cmd("purge")
        .args(["--older-than", "90d"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("removed 0 entries in 0 files older than "));
    assert_eq!(f.entries(), before);
}

#[test]
fn dry_run_counts_and_changes_nothing() {
    let f = many_files();
    let files = f.files();
    assert!(files.len() > 3, "{files:?}");
    let before = f.entries();
    let out = stdout_of(f.cmd("purge").args(["--older-than", "2999-01-01", "--dry-run"]));
    // Everything but the newest file, which a sink may still be writing.
    let newest = crate::fixture::read_lines(files.last().unwrap()).len();
    let expected = before.len() - newest;
    assert!(
        out.starts_with(&format!(
            "dry run: would remove {expected} entries in {} files older than 2999-01-01T00:00:00.000000Z; nothing was removed",
            files.len() - 1
        )),
        "{out}"
    );
    assert!(out.contains(&files[0].file_name().unwrap().to_string_lossy().into_owned()), "{out}");
    assert_eq!(f.files(), files);
    assert_eq!(f.entries(), before);
}

#[test]
fn purge_removes_old_files_and_the_rest_still_verifies() {
    let f = many_files();
    let files = f.files();
    f.cmd("purge")
        .args(["--older-than", "2999-01-01"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("removed "))
        .stderr(predicate::str::contains("this purge is not in the audit log itself"));
    assert_eq!(f.files(), files[files.len() - 1..]);
    f.cmd("verify")
        .arg("--public-key")
        .arg(f.public_key())
        .assert()
        .success()
        .stdout(predicate::str::contains("earlier entries were removed"));
}

#[test]
fn the_cut_off_is_required_and_checked() {
    let f = Fixture::new();
    f.cmd("purge").assert().code(2).stderr(predicate::str::contains("--older-than <WHEN>"));
    f.cmd("purge")
        .args(["--older-than", "ninety days"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected a span before now such as"));
}
