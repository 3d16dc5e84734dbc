//! The command line, as clap structs.
//!
//! `audit <COMMAND> --store <DIR|URL> [FILTERS] [OPTIONS]`. Every flag's long
//! help (`--help`) carries an example; each command's help ends with complete
//! example invocations.

use clap::{Parser, Subcommand};

mod export;
mod filters;
mod keygen;
mod migrate;
mod purge;
mod query;
mod stats;
mod tail;
mod verify;

pub use export::{ExportArgs, ExportFormat};
pub use filters::{ActionArg, FilterArgs, OutcomeArg, ResourceFilter, StoreArgs};
pub use keygen::KeygenArgs;
pub use migrate::MigrateArgs;
pub use purge::PurgeArgs;
pub use query::{OrderArg, QueryArgs, QueryFormat};
pub use stats::{StatsArgs, StatsFormat};
pub use tail::{TailArgs, TailFormat};
pub use verify::{VerifyArgs, VerifyFormat};

const ROOT_AFTER_HELP: &str = "\
Examples:
  audit query  --store /var/log/audit --actor alice@example.com --since 7d
  audit export --store /var/log/audit --event 'api_key.*' --format csv --output keys.csv
  audit verify --store /var/log/audit --public-key keys/signing.pub --require-sealed
  audit tail   --store /var/log/audit --outcome denied --follow
  audit stats  --store /var/log/audit --since 30d
  audit purge  --store /var/log/audit --older-than 400d --dry-run
  audit keygen --out keys/
  audit migrate --store postgres://audit_owner@db.internal/app

The store can also be given in the AUDIT_STORE environment variable.

Exit status: 0 success; 1 verification found a problem, or the store or the
output failed; 2 bad arguments, no store at the given path, a database that
cannot be reached or has no audit schema, or a malformed filter or key file.";

/// The `audit` command: query, export, verify, tail, stats, purge and keygen
/// over an audit store.
#[derive(Debug, Parser)]
#[command(
    name = "audit",
    version,
    about = "Query, export, verify and maintain an audit trail",
    long_about = "Query, export, verify and maintain an audit trail written by audit-core's \
                  Auditor: a directory of JSON Lines files (the file sink), or a Postgres \
                  database.",
    after_help = ROOT_AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
#[non_exhaustive]
pub struct Cli {
    /// Hide progress bars and hints on standard error.
    ///
    /// Progress bars are also hidden when standard error is not a terminal.
    /// Example: `audit export -q --store ./audit --format jsonl > all.jsonl`
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
#[non_exhaustive]
pub enum Command {
    /// Show entries matching filters, newest first.
    #[command(after_help = query::AFTER_HELP)]
    Query(QueryArgs),
    /// Write every entry matching filters to a file or standard output, in
    /// write order.
    #[command(after_help = export::AFTER_HELP)]
    Export(ExportArgs),
    /// Check the tamper-evident chain: hashes, links and checkpoint signatures.
    #[command(after_help = verify::AFTER_HELP)]
    Verify(VerifyArgs),
    /// Show the latest entries; with --follow, keep showing new ones.
    #[command(after_help = tail::AFTER_HELP)]
    Tail(TailArgs),
    /// Count entries by event, actor, outcome and day.
    #[command(after_help = stats::AFTER_HELP)]
    Stats(StatsArgs),
    /// Remove entries older than a cut-off (or, with --dry-run, count them).
    #[command(after_help = purge::AFTER_HELP)]
    Purge(PurgeArgs),
    /// Generate an Ed25519 key pair for signing checkpoints.
    #[command(after_help = keygen::AFTER_HELP)]
    Keygen(KeygenArgs),
    /// Create or upgrade the audit schema in a Postgres database.
    #[command(after_help = migrate::AFTER_HELP)]
    Migrate(MigrateArgs),
}

#[cfg(test)]
mod tests;
