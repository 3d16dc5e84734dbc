//! `audit keygen`.

use std::path::PathBuf;

use clap::Args;

pub(super) const AFTER_HELP: &str = "\
Examples:
  audit keygen --out /etc/myservice/audit-keys
  audit keygen --out keys/ --force

Writes DIR/signing.key (the 32-byte seed as hex, mode 0600) and DIR/signing.pub
(the 32-byte public key as hex). Give signing.key to the service
(AuditorBuilder::signing_key) and keep it away from the store; give
signing.pub to whoever runs `audit verify --public-key`.";

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
