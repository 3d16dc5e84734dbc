//! `audit stats`: counts by event, actor, outcome and day.

use predicates::prelude::*;

use crate::fixture::{Fixture, stdout_of};

#[test]
fn tables_by_event_actor_outcome_and_day() {
    let f = Fixture::new();
    let out = stdout_of(&mut f.cmd("stats"));
    let n = f.entries().len();
    assert!(out.starts_with(&format!("{n} entries from ")), "{out}");
    for section in ["EVENT", "ACTOR", "OUTCOME", "DAY (UTC)"] {
        assert!(out.contains(&format!("\n{section}")), "no {section} section: {out}");
    }
    let update = out.lines().find(|l| l.starts_with("project.update")).unwrap();
    assert!(update.ends_with(" 2"), "{update}");
    let alice = out.lines().find(|l| l.starts_with("alice@example.com")).unwrap();
    assert!(alice.ends_with(" 3"), "{alice}");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert!(out.contains(&today), "{out}");
}

#[test]
fn json_with_filters() {
    let f = Fixture::new();
    let out = stdout_of(f.cmd("stats").args(["--format", "json", "--tenant", "acme"]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["total"], 5);
    assert_eq!(v["by_event"]["project.update"], 2);
    assert_eq!(v["by_actor"]["alice@example.com"], 3);
    assert_eq!(v["by_outcome"]["denied"], 1);
    assert_eq!(v["by_outcome"]["failure"], 1);
    assert_eq!(v["by_outcome"]["success"], 3);
    assert_eq!(
        v["by_day"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum::<u64>(),
        5
    );
}

#[test]
fn top_limits_rows() {
    let f = Fixture::new();
    f.cmd("stats")
        .args(["--top", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("more; raise --top or use --format json"));
    f.cmd("stats").args(["--tenant", "nobody"]).assert().success().stdout("no entries match\n");
}
