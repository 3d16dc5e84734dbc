//! Bad input: exit code 2 with a message that says what is wrong and what
//! is accepted; and the help.

use predicates::prelude::*;

use crate::fixture::{Fixture, audit};

#[test]
fn a_missing_store_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    for command in ["query", "export", "verify", "tail", "stats"] {
        let mut cmd = audit();
        cmd.arg(command).arg("--store").arg(&missing);
        if command == "export" {
            cmd.args(["--format", "jsonl"]);
        }
        cmd.assert().code(2).stdout("").stderr(predicate::str::starts_with(format!(
            "error: no audit store at {}: the directory does not exist",
            missing.display()
        )));
    }
    audit()
        .args(["purge", "--older-than", "90d", "--store"])
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no audit store at"));
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    audit()
        .args(["query", "--store"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("it is a file, not a directory"));
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_is_not_built_in() {
    audit()
        .args(["query", "--store", "postgres://audit:secret@localhost/audit"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the Postgres store is not built into this binary"))
        .stderr(predicate::str::contains("secret").not());
}

#[test]
fn malformed_filters_say_what_is_accepted() {
    let f = Fixture::new();
    let cases: [(&[&str], &str); 8] = [
        (&["--since", "yesterdayish"], "expected a span before now such as `90s`"),
        (&["--until", "7 days"], "invalid time `7 days`"),
        (&["--since", "-7d"], "cannot be negative"),
        (&["--event", "has space"], "expected an event name such as `project.update`"),
        (&["--resource", ":p_42"], "expected `<type>` or `<type>:<id>`"),
        (&["--outcome", "maybe"], "possible values: success, failure, denied, cancelled"),
        (&["--limit", "0"], "--limit <N>"),
        (&["--cursor", "nonsense"], "pass the cursor back exactly as a previous page gave it"),
    ];
    for (args, message) in cases {
        f.cmd("query")
            .args(args)
            .assert()
            .code(2)
            .stdout("")
            .stderr(predicate::str::contains(message));
    }
    f.cmd("query")
        .args(["--format", "xml"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("possible values: table, json, jsonl, csv"));
}

#[test]
fn bad_arguments() {
    audit().assert().code(2).stderr(predicate::str::contains("Usage: audit"));
    audit()
        .arg("frobnicate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unrecognized subcommand"));
    audit().arg("query").assert().code(2).stderr(predicate::str::contains("--store <DIR|URL>"));
    audit()
        .args(["query", "--store", "s3://bucket/audit"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`s3://` stores are not supported"));
}

#[test]
fn the_store_can_come_from_the_environment() {
    let f = Fixture::new();
    audit()
        .args(["query", "--format", "jsonl"])
        .env("AUDIT_STORE", &f.store)
        .assert()
        .success()
        .stdout(predicate::str::contains("project.update"));
}

#[test]
fn help_documents_every_command_with_examples() {
    audit()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Examples:"))
        .stdout(predicate::str::contains("Exit status:"));
    for command in ["query", "export", "verify", "tail", "stats", "purge", "keygen"] {
        let out = audit().args([command, "--help"]).assert().success().get_output().stdout.clone();
        let help = String::from_utf8(out).unwrap();
        assert!(help.contains("Examples:\n  audit "), "{command}: {help}");
        // Each flag's long help has an example.
        let flags = help.lines().filter(|l| l.trim_start().starts_with("--")).count();
        let examples = help.matches("Example: ").count();
        assert!(examples >= flags, "{command}: {flags} flags, {examples} examples\n{help}");
    }
}

#[test]
fn no_progress_output_when_stderr_is_not_a_terminal() {
    let f = Fixture::new();
    f.cmd("verify").assert().success().stderr("");
    f.cmd("export").args(["--format", "jsonl"]).assert().success().stderr("");
}
