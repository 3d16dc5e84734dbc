//! `audit export`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{FilterArgs, StoreArgs};
use crate::output::Format;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit export --store ./audit --format jsonl --output all.jsonl
  audit export --store ./audit --since 2026-01-01 --until 2026-04-01 --format csv --output q1.csv
  audit export --store ./audit --tenant acme --format json > acme.json

CSV cells that start with =, +, -, @, a tab or a carriage return are prefixed
with ' so that spreadsheets do not run them as formulas.";

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
