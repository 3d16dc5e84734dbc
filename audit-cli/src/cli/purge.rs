//! `audit purge`.

use audit_core::query::TimeBound;
use clap::Args;

use super::StoreArgs;
use super::filters::parse_time;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit purge --store ./audit --older-than 400d --dry-run
  audit purge --store ./audit --older-than 2025-01-01

A store may remove less than asked (the file store removes whole files whose
entries are all older than the cut-off); it never removes a newer entry.";

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
