//! `audit verify`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::StoreArgs;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit verify --store ./audit --public-key keys/signing.pub
  audit verify --store ./audit --public-key old.pub --public-key new.pub --require-sealed
  audit verify --store ./audit --format json

Exit status: 0 when every chain is intact; 1 with the first problem (chain,
seq, kind) when one is not, when the store holds a line that is not an entry,
or when it holds no entries at all; 2 for bad arguments.";

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
