//! `audit migrate`: creates the audit schema in a Postgres database; only
//! for Postgres stores.

use predicates::prelude::*;

use crate::fixture::{Fixture, audit};
use crate::pg::PgFixture;

#[test]
fn migrate_applies_once_and_is_idempotent() {
    let f = PgFixture::empty();
    f.cmd("migrate")
        .assert()
        .success()
        .stdout(predicate::str::starts_with("applied 3 migrations to postgres://"))
        .stdout(predicate::str::contains("the audit schema is now at version 3"))
        .stdout(predicate::str::contains("  migration 1\n  migration 2\n  migration 3\n"))
        .stdout(predicate::str::contains(f.db.name()));
    f.cmd("migrate")
        .assert()
        .success()
        .stdout(predicate::str::contains("is up to date (version 3); nothing was applied"));
    assert_eq!(f.count(), 0);
}

#[test]
fn a_database_without_the_schema_says_to_migrate() {
    let f = PgFixture::empty();
    f.cmd("query").assert().code(2).stdout("").stderr(
        predicate::str::contains("has no audit schema")
            .and(predicate::str::contains(format!("`audit migrate --store {}`", f.db.url()))),
    );
}

#[test]
fn a_directory_has_no_migrations() {
    let f = Fixture::empty();
    f.cmd("migrate")
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("migrations are only for Postgres stores"));
}

#[test]
fn help_has_an_example() {
    audit()
        .args(["migrate", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("audit migrate --store postgres://"));
}
