//! `audit tail`: the latest entries, and `--follow` for new ones.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use audit_core::{Actor, AuditEvent};

use crate::fixture::{Fixture, parse, stdout_of};

#[test]
fn the_latest_entries_oldest_first() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("tail").args(["-n", "3", "--format", "jsonl"]));
    let shown: Vec<AuditEvent> = out.lines().map(parse).collect();
    let all = f.entries();
    assert_eq!(shown, all[all.len() - 3..]);

    // Ten by default, as a table.
    let out = stdout_of(&mut f.cmd("tail"));
    assert!(out.starts_with("TIME (UTC)"), "{out}");
    assert_eq!(out.lines().count(), 1 + all.len().min(10));
}

#[test]
fn csv() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("tail").args(["-n", "2", "--format", "csv"]));
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    assert_eq!(reader.headers().unwrap().get(0), Some("id"));
    assert_eq!(reader.records().count(), 2);
}

#[test]
fn filters_apply() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("tail").args(["--actor", "alice@example.com", "-f", "jsonl"]));
    let events: Vec<String> = out.lines().map(|l| parse(l).event).collect();
    assert_eq!(events, ["project.update", "member.invite", "project.delete"]);
}

#[test]
fn follow_prints_new_entries_until_interrupted() {
    let f = Fixture::new();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("audit"))
        .args(["tail", "--follow", "-n", "1", "--format", "jsonl", "--event", "project.*"])
        .arg("--store")
        .arg(&f.store)
        .env_remove("AUDIT_STORE")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || parse(&rx.recv_timeout(Duration::from_secs(20)).expect("a line within 20 s"));

    // The latest matching entry first.
    assert_eq!(next().event, "project.delete");

    // Then what another process writes, as it is written; only what matches.
    f.record(
        vec![
            AuditEvent::builder("deploy.create").actor(Actor::system("ci")),
            AuditEvent::builder("project.archive").actor(Actor::system("ci")),
        ],
        |b| b,
    );
    let archived = next();
    assert_eq!(archived.event, "project.archive");
    assert_eq!(archived.actor.to_string(), "system:ci");
    f.record(vec![AuditEvent::builder("project.restore").actor(Actor::system("ci"))], |b| b);
    assert_eq!(next().event, "project.restore");
    assert!(rx.recv_timeout(Duration::from_millis(1200)).is_err(), "each entry once");

    // Ctrl-C ends it cleanly.
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("tail --follow did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
}
