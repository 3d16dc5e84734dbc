//! `audit stats`.

use clap::{Args, ValueEnum};

use super::{FilterArgs, StoreArgs};

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit stats --store ./audit
  audit stats --store ./audit --tenant acme --since 30d --top 5
  audit stats --store ./audit --format json";

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
