//! `audit verify`: intact chains pass; edited, deleted, swapped and cut
//! lines fail with the first problem (chain, seq, kind) and exit code 1.

use predicates::prelude::*;

use crate::fixture::{Fixture, audit, parse};

const NOT_CHECKED: &str =
    "signatures NOT checked: pass --public-key to check checkpoint signatures";

/// `audit verify --public-key <the fixture's key>`, plus `args`.
fn verify(f: &Fixture, args: &[&str]) -> assert_cmd::assert::Assert {
    f.cmd("verify").arg("--public-key").arg(f.public_key()).args(args).assert()
}

/// The index of the line holding chain seq `seq`.
fn line_of(lines: &[String], seq: u64) -> usize {
    lines.iter().position(|l| parse(l).chain.unwrap().seq == seq).unwrap()
}

fn chain_id(f: &Fixture) -> String {
    f.entries()[0].chain.as_ref().unwrap().id.to_string()
}

#[test]
fn an_intact_store_verifies_with_signatures() {
    let f = Fixture::new();
    let n = f.entries().len();
    verify(&f, &["--require-sealed"])
        .success()
        .stdout(predicate::str::starts_with(format!(
            "OK: {n} entries in 1 chain verified (hashes, links and checkpoint signatures)"
        )))
        .stdout(predicate::str::contains(format!("chain {}: seq 0..={}", chain_id(&f), n - 1)))
        .stdout(predicate::str::contains("sealed"))
        .stdout(predicate::str::contains(NOT_CHECKED).not());
}

#[test]
fn without_a_key_only_hashes_are_checked_and_it_says_so() {
    let f = Fixture::new();
    f.cmd("verify")
        .assert()
        .success()
        .stdout(predicate::str::contains("(hashes and links)"))
        .stdout(predicate::str::contains(NOT_CHECKED));
}

#[test]
fn another_key_fails_the_signatures() {
    let f = Fixture::new();
    let other = f.path("other-keys");
    audit().args(["keygen", "--out"]).arg(&other).assert().success();
    f.cmd("verify")
        .arg("--public-key")
        .arg(other.join("signing.pub"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains(": bad_signature"));
}

#[test]
fn an_edited_line_is_found() {
    let f = Fixture::new();
    let mut lines = f.lines();
    let at = lines
        .iter()
        .position(|l| l.contains("\"project.update\"") && l.contains("alice@example.com"))
        .unwrap();
    let seq = parse(&lines[at]).chain.unwrap().seq;
    lines[at] = lines[at].replace("alice@example.com", "eve@example.com");
    f.write_lines(&lines);
    verify(&f, &[])
        .code(1)
        .stdout(predicate::str::starts_with(format!(
            "FAILED: chain {}, seq {seq}: modified",
            chain_id(&f)
        )))
        .stdout(predicate::str::contains("was modified: its hash does not match its content"));
}

#[test]
fn a_deleted_line_is_found() {
    let f = Fixture::new();
    let mut lines = f.lines();
    lines.remove(line_of(&lines, 2));
    f.write_lines(&lines);
    verify(&f, &[]).code(1).stdout(predicate::str::starts_with(format!(
        "FAILED: chain {}, seq 2: missing",
        chain_id(&f)
    )));
    // Without a key, too: the links alone show it.
    f.cmd("verify").assert().code(1).stdout(predicate::str::contains("seq 2: missing"));
}

#[test]
fn swapped_lines_are_found() {
    let f = Fixture::new();
    let mut lines = f.lines();
    let (a, b) = (line_of(&lines, 2), line_of(&lines, 3));
    lines.swap(a, b);
    f.write_lines(&lines);
    verify(&f, &[]).code(1).stdout(predicate::str::starts_with(format!(
        "FAILED: chain {}, seq 2: reordered",
        chain_id(&f)
    )));
}

#[test]
fn a_truncated_file_is_found_when_chains_must_be_sealed() {
    let f = Fixture::new();
    let mut lines = f.lines();
    assert!(lines.last().unwrap().contains("\"closing\":true"));
    // Cut the closing checkpoint and the two entries before it.
    lines.truncate(lines.len() - 3);
    f.write_lines(&lines);
    let last = parse(lines.last().unwrap()).chain.unwrap().seq;
    // A running service's chain is open: that alone is no failure...
    verify(&f, &[])
        .success()
        .stdout(predicate::str::contains("open with "))
        .stdout(predicate::str::contains(" unsigned tail entr"));
    // ...unless every chain must be sealed.
    verify(&f, &["--require-sealed"])
        .code(1)
        .stdout(predicate::str::starts_with(format!(
            "FAILED: chain {}, seq {last}: truncated_tail",
            chain_id(&f)
        )))
        .stdout(predicate::str::contains("not a closing checkpoint"));
}

#[test]
fn a_line_that_is_not_an_entry_is_located() {
    let f = Fixture::new();
    let mut lines = f.lines();
    let at = line_of(&lines, 3);
    lines[at] = "{\"id\": \"garbage".to_owned();
    f.write_lines(&lines);
    let location = format!("{}:{}", f.file().display(), at + 1);
    verify(&f, &[])
        .code(1)
        .stdout(predicate::str::starts_with(format!("FAILED: corrupt entry at {location}: ")));
}

#[test]
fn json_output() {
    let f = Fixture::new();
    let out = verify(&f, &["--format", "json"]).success().get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["signatures_checked"], true);
    assert_eq!(v["report"]["chains"][0]["sealed"], true);

    let mut lines = f.lines();
    lines.remove(line_of(&lines, 2));
    f.write_lines(&lines);
    let out = verify(&f, &["--format", "json"]).code(1).get_output().stdout.clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["problem"]["kind"], "missing");
    assert_eq!(v["problem"]["seq"], 2);
    assert_eq!(v["problem"]["chain"], chain_id(&f));
}

#[test]
fn several_chains_are_reported_each() {
    let f = Fixture::new();
    f.record(crate::fixture::standard_entries(), |b| b);
    verify(&f, &["--require-sealed"])
        .success()
        .stdout(predicate::str::contains("in 2 chains verified"));
}

#[test]
fn an_empty_store_fails() {
    // Every auditor writes a genesis entry: no entries means a wrong --store
    // or a removed log, and nothing is confirmed.
    let f = Fixture::empty();
    verify(&f, &[])
        .code(1)
        .stdout(predicate::str::starts_with("FAILED: the store holds no entries"));
}

#[test]
fn bad_key_files_are_usage_errors() {
    let f = Fixture::new();
    let bad = f.path("bad.pub");
    std::fs::write(&bad, "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n").unwrap();
    f.cmd("verify")
        .arg("--public-key")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not a valid public key file"))
        .stderr(predicate::str::contains("64 hex digits"));
    f.cmd("verify")
        .arg("--public-key")
        .arg(f.path("nope.pub"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("could not read key file"));
}
