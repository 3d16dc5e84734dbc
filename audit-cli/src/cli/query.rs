//! `audit query`.

use audit_core::query::Order;
use clap::{Args, ValueEnum};

use super::{FilterArgs, StoreArgs};
use crate::output::Format;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit query --store ./audit --since 7d --actor alice@example.com
  audit query --store ./audit --event 'api_key.*' --event 'member.*' --outcome denied
  audit query --store ./audit --resource project:p_42 --format json
  audit query --store postgres://audit@db/audit --tenant acme --text 'p_42' --limit 500";

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

fn parse_cursor(s: &str) -> Result<audit_core::query::Cursor, String> {
    audit_core::query::Cursor::decode(s).map_err(|e| e.to_string())
}
