//! The command line, as clap structs.
//!
//! `audit <COMMAND> --store <DIR|URL> [FILTERS] [OPTIONS]`. Every flag's long
//! help (`--help`) carries an example; each command's help ends with complete
//! example invocations.

use std::path::PathBuf;

use audit_core::query::{EventPattern, Order, Query, TimeBound};
use audit_core::{Action, Outcome};
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::Format;
use crate::store::StoreSpec;

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
    #[command(after_help = QUERY_AFTER_HELP)]
    Query(QueryArgs),
    /// Write every entry matching filters to a file or standard output, in
    /// write order.
    #[command(after_help = EXPORT_AFTER_HELP)]
    Export(ExportArgs),
    /// Check the tamper-evident chain: hashes, links and checkpoint signatures.
    #[command(after_help = VERIFY_AFTER_HELP)]
    Verify(VerifyArgs),
    /// Show the latest entries; with --follow, keep showing new ones.
    #[command(after_help = TAIL_AFTER_HELP)]
    Tail(TailArgs),
    /// Count entries by event, actor, outcome and day.
    #[command(after_help = STATS_AFTER_HELP)]
    Stats(StatsArgs),
    /// Remove entries older than a cut-off (or, with --dry-run, count them).
    #[command(after_help = PURGE_AFTER_HELP)]
    Purge(PurgeArgs),
    /// Generate an Ed25519 key pair for signing checkpoints.
    #[command(after_help = KEYGEN_AFTER_HELP)]
    Keygen(KeygenArgs),
    /// Create or upgrade the audit schema in a Postgres database.
    #[command(after_help = MIGRATE_AFTER_HELP)]
    Migrate(MigrateArgs),
}

const QUERY_AFTER_HELP: &str = "\
Examples:
  audit query --store ./audit --since 7d --actor alice@example.com
  audit query --store ./audit --event 'api_key.*' --event 'member.*' --outcome denied
  audit query --store ./audit --resource project:p_42 --format json
  audit query --store postgres://audit@db/audit --tenant acme --text 'p_42' --limit 500";

const EXPORT_AFTER_HELP: &str = "\
Examples:
  audit export --store ./audit --format jsonl --output all.jsonl
  audit export --store ./audit --since 2026-01-01 --until 2026-04-01 --format csv --output q1.csv
  audit export --store ./audit --tenant acme --format json > acme.json

CSV cells that start with =, +, -, @, a tab or a carriage return are prefixed
with ' so that spreadsheets do not run them as formulas.";

const VERIFY_AFTER_HELP: &str = "\
Examples:
  audit verify --store ./audit --public-key keys/signing.pub
  audit verify --store ./audit --public-key old.pub --public-key new.pub --require-sealed
  audit verify --store ./audit --format json

Exit status: 0 when every chain is intact; 1 with the first problem (chain,
seq, kind) when one is not, when the store holds a line that is not an entry,
or when it holds no entries at all; 2 for bad arguments.";

const TAIL_AFTER_HELP: &str = "\
Examples:
  audit tail --store ./audit
  audit tail --store ./audit -n 50 --outcome denied
  audit tail --store ./audit --event 'auth.*' --follow --format jsonl";

const STATS_AFTER_HELP: &str = "\
Examples:
  audit stats --store ./audit
  audit stats --store ./audit --tenant acme --since 30d --top 5
  audit stats --store ./audit --format json";

const PURGE_AFTER_HELP: &str = "\
Examples:
  audit purge --store ./audit --older-than 400d --dry-run
  audit purge --store ./audit --older-than 2025-01-01

A store may remove less than asked (the file store removes whole files whose
entries are all older than the cut-off); it never removes a newer entry.";

const MIGRATE_AFTER_HELP: &str = "\
Examples:
  audit migrate --store postgres://audit_owner@db.internal/app
  AUDIT_STORE=postgres://audit_owner:secret@db.internal/app audit migrate

Creates the audit_events table with its triggers and the functions that manage
its partitions, and records the version in audit_schema_migrations. Safe to run again, or from
several places at once: what is already applied is skipped. Run it as a role
that owns the schema; the services write with a role that may only insert and
read. Only Postgres stores have migrations; a directory needs none.";

const KEYGEN_AFTER_HELP: &str = "\
Examples:
  audit keygen --out /etc/myservice/audit-keys
  audit keygen --out keys/ --force

Writes DIR/signing.key (the 32-byte seed as hex, mode 0600) and DIR/signing.pub
(the 32-byte public key as hex). Give signing.key to the service
(AuditorBuilder::signing_key) and keep it away from the store; give
signing.pub to whoever runs `audit verify --public-key`.";

/// Where the entries are.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct StoreArgs {
    /// The audit store: a directory written by the file sink, or a postgres:// URL.
    ///
    /// Example: `--store /var/log/myservice/audit`, `--store postgres://audit@db/audit`
    #[arg(long, short = 's', value_name = "DIR|URL", env = "AUDIT_STORE", value_parser = parse_store)]
    pub store: StoreSpec,
}

/// Which entries: every filter that is given must match.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Filters")]
#[non_exhaustive]
pub struct FilterArgs {
    /// Only entries of this tenant (workspace or organization id).
    ///
    /// Example: `--tenant acme`
    #[arg(long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// Only entries of this actor: its id, name, email or display form, exactly.
    ///
    /// Example: `--actor alice@example.com`, `--actor api-key:ci-deploy`, `--actor u_123`
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,

    /// Only events matching this name or pattern (`*` matches anything);
    /// repeat for several.
    ///
    /// An entry matches if any pattern does. Example: `--event project.update`,
    /// `--event 'api_key.*' --event '*.delete'`
    #[arg(long = "event", value_name = "PATTERN", value_parser = parse_event)]
    pub events: Vec<EventPattern>,

    /// Only entries with a resource of this type, and id if given.
    ///
    /// Example: `--resource project`, `--resource project:p_42`
    #[arg(long, value_name = "TYPE[:ID]", value_parser = parse_resource)]
    pub resource: Option<ResourceFilter>,

    /// Only entries with this outcome.
    ///
    /// Example: `--outcome denied`
    #[arg(long, value_name = "OUTCOME")]
    pub outcome: Option<OutcomeArg>,

    /// Only entries with this action.
    ///
    /// Example: `--action delete`
    #[arg(long, value_name = "ACTION")]
    pub action: Option<ActionArg>,

    /// Only entries at or after this time: a span before now, an RFC 3339 time, or a date.
    ///
    /// Spans: `90s`, `30m`, `24h`, `7d`, `2w`. Dates mean midnight UTC.
    /// Example: `--since 7d`, `--since 2026-01-31T09:30:00Z`, `--since 2026-01-31`
    #[arg(long, value_name = "WHEN", value_parser = parse_time, allow_hyphen_values = true)]
    pub since: Option<TimeBound>,

    /// Only entries before this time (same forms as --since).
    ///
    /// Example: `--until 1d`, `--until 2026-02-01`
    #[arg(long, value_name = "WHEN", value_parser = parse_time, allow_hyphen_values = true)]
    pub until: Option<TimeBound>,

    /// Only entries containing this text (case-insensitive) in the
    /// description, event, reason, actor or a resource id or name.
    ///
    /// Example: `--text p_42`
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
}

impl FilterArgs {
    /// The query these filters describe (default order and limit).
    pub fn to_query(&self) -> Query {
        let mut query = Query::new().events(self.events.iter().cloned());
        query.tenant.clone_from(&self.tenant);
        query.actor.clone_from(&self.actor);
        if let Some(r) = &self.resource {
            query.resource_type = Some(r.kind.clone());
            query.resource_id.clone_from(&r.id);
        }
        query.outcome = self.outcome.map(Outcome::from);
        query.action = self.action.map(Action::from);
        query.since = self.since;
        query.until = self.until;
        query.text.clone_from(&self.text);
        query
    }
}

/// A `--resource TYPE[:ID]` filter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceFilter {
    /// The resource type, e.g. `project`.
    pub kind: String,
    /// The resource id, e.g. `p_42`.
    pub id: Option<String>,
}

/// `--outcome` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum OutcomeArg {
    /// It worked.
    Success,
    /// It was attempted and failed.
    Failure,
    /// It was refused.
    Denied,
    /// The caller went away before it finished.
    Cancelled,
}

impl From<OutcomeArg> for Outcome {
    fn from(arg: OutcomeArg) -> Self {
        match arg {
            OutcomeArg::Success => Self::Success,
            OutcomeArg::Failure => Self::Failure,
            OutcomeArg::Denied => Self::Denied,
            OutcomeArg::Cancelled => Self::Cancelled,
        }
    }
}

/// `--action` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum ActionArg {
    /// Something was created.
    Create,
    /// Something was read.
    Read,
    /// Something was changed.
    Update,
    /// Something was deleted.
    Delete,
    /// Anything else.
    Other,
}

impl From<ActionArg> for Action {
    fn from(arg: ActionArg) -> Self {
        match arg {
            ActionArg::Create => Self::Create,
            ActionArg::Read => Self::Read,
            ActionArg::Update => Self::Update,
            ActionArg::Delete => Self::Delete,
            ActionArg::Other => Self::Other,
        }
    }
}

/// Arguments of `audit query`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct QueryArgs {
    /// Where the entries are.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Show at most this many entries.
    ///
    /// Example: `--limit 500`
    #[arg(long, short = 'n', value_name = "N", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: u64,

    /// Continue after the last entry of a previous query (printed on standard
    /// error when more entries match).
    ///
    /// Example: `--cursor MTc2OTg1MjYwMDAwMDAwMDAwMDowMTk...`
    #[arg(long, value_name = "CURSOR", value_parser = parse_cursor)]
    pub cursor: Option<audit_core::query::Cursor>,

    /// Which entries come first.
    ///
    /// Example: `--order oldest`
    #[arg(long, value_name = "ORDER", default_value = "newest")]
    pub order: OrderArg,

    /// How to print the entries: an aligned table, one JSON array, one JSON
    /// object per line, or CSV.
    ///
    /// Example: `--format jsonl`
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table")]
    pub format: QueryFormat,

    /// Which entries.
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// `--order` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum OrderArg {
    /// Latest entries first.
    Newest,
    /// Earliest entries first.
    Oldest,
}

impl From<OrderArg> for Order {
    fn from(arg: OrderArg) -> Self {
        match arg {
            OrderArg::Newest => Self::NewestFirst,
            OrderArg::Oldest => Self::OldestFirst,
        }
    }
}

/// Output formats of `audit query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum QueryFormat {
    /// An aligned table for reading in a terminal.
    Table,
    /// One JSON array.
    Json,
    /// One JSON object per line (JSON Lines).
    Jsonl,
    /// CSV with one column per field.
    Csv,
}

impl From<QueryFormat> for Format {
    fn from(f: QueryFormat) -> Self {
        match f {
            QueryFormat::Table => Self::Table,
            QueryFormat::Json => Self::Json,
            QueryFormat::Jsonl => Self::Jsonl,
            QueryFormat::Csv => Self::Csv,
        }
    }
}

/// Arguments of `audit export`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct ExportArgs {
    /// Where the entries are.
    #[command(flatten)]
    pub store: StoreArgs,

    /// The file format.
    ///
    /// `json` is one array, `jsonl` one entry per line (entries exactly as
    /// stored, so they can be verified again), `csv` one row per entry.
    /// Example: `--format csv`
    #[arg(long, short = 'f', value_name = "FORMAT")]
    pub format: ExportFormat,

    /// Write to this file instead of standard output (replaced only once the
    /// export is complete).
    ///
    /// The file is created with mode 0600: it holds the audit trail.
    /// Example: `--output audit-2026-q1.csv`
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Which entries.
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// Output formats of `audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum ExportFormat {
    /// CSV with one column per field.
    Csv,
    /// One JSON array.
    Json,
    /// One JSON object per line (JSON Lines).
    Jsonl,
}

impl From<ExportFormat> for Format {
    fn from(f: ExportFormat) -> Self {
        match f {
            ExportFormat::Csv => Self::Csv,
            ExportFormat::Json => Self::Json,
            ExportFormat::Jsonl => Self::Jsonl,
        }
    }
}

/// Arguments of `audit verify`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct VerifyArgs {
    /// Where the entries are.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Check checkpoint signatures with this Ed25519 public key (a
    /// signing.pub written by `audit keygen`); repeat after a key rotation.
    ///
    /// Without it only hashes and links are checked, which whoever can write
    /// to the store can forge. Example: `--public-key keys/signing.pub`
    #[arg(long, value_name = "FILE")]
    pub public_key: Vec<PathBuf>,

    /// Fail unless every chain ends with a closing checkpoint (written when
    /// the service shut down cleanly), so that a cut-off tail is detected.
    ///
    /// Example: `--require-sealed`
    #[arg(long)]
    pub require_sealed: bool,

    /// How to print the result.
    ///
    /// Example: `--format json`
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "text")]
    pub format: VerifyFormat,
}

/// Output formats of `audit verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum VerifyFormat {
    /// A report for people.
    Text,
    /// One JSON object: `{"ok": true, "report": ...}` or `{"ok": false, "problem": ...}`.
    Json,
}

/// Arguments of `audit tail`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct TailArgs {
    /// Where the entries are.
    #[command(flatten)]
    pub store: StoreArgs,

    /// How many of the latest entries to show first.
    ///
    /// Example: `-n 50`
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub lines: u64,

    /// Keep running and print new entries as they are written (checks every
    /// 500 ms) until interrupted with Ctrl-C.
    ///
    /// Example: `--follow`
    #[arg(long, short = 'F')]
    pub follow: bool,

    /// How to print the entries.
    ///
    /// Example: `--format jsonl`
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table")]
    pub format: TailFormat,

    /// Which entries.
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// Output formats of `audit tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum TailFormat {
    /// An aligned table for reading in a terminal.
    Table,
    /// One JSON object per line (JSON Lines).
    Jsonl,
    /// CSV with one column per field.
    Csv,
}

impl From<TailFormat> for Format {
    fn from(f: TailFormat) -> Self {
        match f {
            TailFormat::Table => Self::Table,
            TailFormat::Jsonl => Self::Jsonl,
            TailFormat::Csv => Self::Csv,
        }
    }
}

/// Arguments of `audit stats`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct StatsArgs {
    /// Where the entries are.
    #[command(flatten)]
    pub store: StoreArgs,

    /// In the table, show at most this many rows per section (the largest
    /// counts); JSON output has every row.
    ///
    /// Example: `--top 5`
    #[arg(long, value_name = "N", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub top: u64,

    /// How to print the counts.
    ///
    /// Example: `--format json`
    #[arg(long, short = 'f', value_name = "FORMAT", default_value = "table")]
    pub format: StatsFormat,

    /// Which entries.
    #[command(flatten)]
    pub filters: FilterArgs,
}

/// Output formats of `audit stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[non_exhaustive]
pub enum StatsFormat {
    /// Aligned tables.
    Table,
    /// One JSON object.
    Json,
}

/// Arguments of `audit purge`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct PurgeArgs {
    /// Where the entries are.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Remove entries older than this: a span before now, an RFC 3339 time,
    /// or a date.
    ///
    /// Example: `--older-than 90d`, `--older-than 2025-01-01`
    #[arg(long, value_name = "WHEN", value_parser = parse_time, allow_hyphen_values = true)]
    pub older_than: TimeBound,

    /// Only count what would be removed; change nothing.
    ///
    /// Example: `--dry-run`
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `audit migrate`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct MigrateArgs {
    /// The database to migrate: a postgres:// URL.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `audit keygen`.
#[derive(Debug, Clone, Args)]
#[non_exhaustive]
pub struct KeygenArgs {
    /// The directory to write signing.key and signing.pub to (created if missing).
    ///
    /// Example: `--out /etc/myservice/audit-keys`
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// Replace existing key files. The old key can then no longer sign, and
    /// checkpoints it signed verify only with its old signing.pub.
    ///
    /// Example: `--force`
    #[arg(long)]
    pub force: bool,
}

fn parse_store(s: &str) -> Result<StoreSpec, String> {
    StoreSpec::parse(s)
}

fn parse_time(s: &str) -> Result<TimeBound, String> {
    TimeBound::parse(s).map_err(|e| e.to_string())
}

fn parse_event(s: &str) -> Result<EventPattern, String> {
    EventPattern::parse(s).map_err(|e| e.to_string())
}

fn parse_resource(s: &str) -> Result<ResourceFilter, String> {
    Query::parse_resource(s)
        .map(|(kind, id)| ResourceFilter { kind, id })
        .map_err(|e| e.to_string())
}

fn parse_cursor(s: &str) -> Result<audit_core::query::Cursor, String> {
    audit_core::query::Cursor::decode(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn filters_become_a_query() {
        let cli = Cli::try_parse_from([
            "audit",
            "query",
            "--store",
            "/tmp/x",
            "--tenant",
            "acme",
            "--event",
            "key.*",
            "--event",
            "project.update",
            "--resource",
            "project:p_42",
            "--outcome",
            "denied",
            "--since",
            "7d",
        ])
        .unwrap();
        let Command::Query(args) = cli.command else { panic!("not a query") };
        let q = args.filters.to_query();
        assert_eq!(q.tenant.as_deref(), Some("acme"));
        assert_eq!(q.events.len(), 2);
        assert_eq!(q.resource_type.as_deref(), Some("project"));
        assert_eq!(q.resource_id.as_deref(), Some("p_42"));
        assert_eq!(q.outcome, Some(Outcome::Denied));
        assert!(matches!(q.since, Some(TimeBound::Relative(_))));
    }

    #[test]
    fn every_argument_has_an_example() {
        fn walk(cmd: &clap::Command, path: &str) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let long = arg.get_long_help().map(ToString::to_string).unwrap_or_default();
                assert!(long.contains("Example"), "{path} --{id} has no example in its long help");
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()));
            }
        }
        walk(&Cli::command(), "audit");
    }
}
