//! `audit tail`.

use clap::{Args, ValueEnum};

use super::{FilterArgs, StoreArgs};
use crate::output::Format;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit tail --store ./audit
  audit tail --store ./audit -n 50 --outcome denied
  audit tail --store ./audit --event 'auth.*' --follow --format jsonl";

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
