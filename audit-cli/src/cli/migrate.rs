//! `audit migrate`.

use clap::Args;

use super::StoreArgs;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit migrate --store postgres://audit_owner@db.internal/app
  AUDIT_STORE=postgres://audit_owner:secret@db.internal/app audit migrate

Creates the audit_events table with its triggers and the functions that manage
its partitions, and records the version in audit_schema_migrations. Safe to run again, or from
several places at once: what is already applied is skipped. Run it as a role
that owns the schema; the services write with a role that may only insert and
read. Only Postgres stores have migrations; a directory needs none.";

/// Arguments of `audit migrate`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct MigrateArgs {
    /// The database to migrate: a postgres:// URL.
    #[command(flatten)]
    pub store: StoreArgs,
}
