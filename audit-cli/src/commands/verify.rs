use std::io::Write;

use audit_core::AuditStore;
use audit_core::integrity::{Problem, Verifier, VerifyOptions, VerifyReport};
use audit_core::query::Query;
use audit_core::store::StoreError;
use futures::StreamExt as _;
use serde_json::json;

use super::{Context, Status};
use crate::cli::{VerifyArgs, VerifyFormat};
use crate::error::CliError;
use crate::keys;
use crate::progress::Progress;

/// Printed whenever verification ran without a public key.
pub(crate) const SIGNATURES_NOT_CHECKED: &str =
    "signatures NOT checked: pass --public-key to check checkpoint signatures";

/// Why a verification failed.
enum Failure {
    /// The verifier found a problem in the chain.
    Problem(Problem),
    /// The store holds something that is not an entry.
    Corrupt { location: String, message: String },
    /// The store holds no entry at all. Every `Auditor` writes a genesis
    /// entry when it starts, so this is a wrong `--store`, or a log that
    /// was removed: nothing can be confirmed.
    Empty,
}

/// `audit verify`: streams every entry, in write order, through the chain
/// verifier.
///
/// Returns [`Status::ProblemFound`] (exit code 1) with the first problem
/// (chain, seq, kind), when the store holds a line that is not an entry
/// (with its location), or when it holds no entry at all (a wrong `--store`,
/// or a removed log); [`Status::Success`] with a per-chain report otherwise.
pub async fn verify(
    store: &dyn AuditStore,
    args: &VerifyArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    let keys = args.public_key.iter().map(keys::read_public_key).collect::<Result<Vec<_>, _>>()?;
    let options = VerifyOptions::new().keys(keys).require_sealed(args.require_sealed);
    let signatures_checked = !options.keys.is_empty();
    let mut verifier = Verifier::new(options);

    let query = Query::default();
    let mut entries = store.scan(&query);
    let mut progress = Progress::new(ctx.quiet, "verified");
    let mut failure = None;
    while let Some(entry) = entries.next().await {
        match entry {
            Ok(entry) => {
                progress.inc();
                if let Err(problem) = verifier.push(&entry) {
                    failure = Some(Failure::Problem(problem));
                    break;
                }
            }
            Err(StoreError::Corrupt { location, message }) => {
                failure = Some(Failure::Corrupt { location, message });
                break;
            }
            Err(e) => {
                progress.finish();
                return Err(e.into());
            }
        }
    }
    drop(entries);
    progress.finish();
    let checked = verifier.entries();
    let result = match failure {
        Some(f) => Err(f),
        None if checked == 0 => Err(Failure::Empty),
        None => verifier.finish().map_err(Failure::Problem),
    };

    let text = match args.format {
        VerifyFormat::Text => text(&result, checked, signatures_checked),
        VerifyFormat::Json => json(&result, checked, signatures_checked),
    };
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    Ok(if result.is_ok() { Status::Success } else { Status::ProblemFound })
}

fn text(result: &Result<VerifyReport, Failure>, checked: u64, signatures_checked: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    match result {
        Ok(report) => {
            let chains = report.chains.len();
            let _ = writeln!(
                s,
                "OK: {} entries in {chains} chain{} verified ({})",
                report.entries,
                if chains == 1 { "" } else { "s" },
                if signatures_checked {
                    "hashes, links and checkpoint signatures"
                } else {
                    "hashes and links"
                }
            );
            for c in &report.chains {
                let _ = write!(
                    s,
                    "  chain {}: seq {}..={}, {} entries, {} checkpoint{}, ",
                    c.chain,
                    c.first_seq,
                    c.last_seq,
                    c.entries,
                    c.checkpoints,
                    if c.checkpoints == 1 { "" } else { "s" }
                );
                if c.sealed {
                    s.push_str("sealed");
                } else {
                    let _ = write!(
                        s,
                        "open with {} unsigned tail entr{}",
                        c.unsigned_tail,
                        if c.unsigned_tail == 1 { "y" } else { "ies" }
                    );
                }
                if let Some(start) = c.starts_at {
                    let _ = write!(s, ", starts at seq {start} (earlier entries were removed)");
                }
                s.push('\n');
            }
        }
        Err(Failure::Problem(p)) => {
            let _ = writeln!(s, "FAILED: chain {}, seq {}: {}", p.chain, p.seq, p.kind);
            let _ = writeln!(s, "  {}", p.message);
            let _ = writeln!(s, "  ({checked} entries read before stopping)");
        }
        Err(Failure::Corrupt { location, message }) => {
            let _ = writeln!(s, "FAILED: corrupt entry at {location}: {message}");
            let _ = writeln!(s, "  ({checked} entries read before it)");
        }
        Err(Failure::Empty) => {
            s.push_str(
                "FAILED: the store holds no entries, so nothing could be verified; every \
                 service writes a genesis entry when it starts, so check that --store is the \
                 directory its file sink writes to, and that the log was not removed\n",
            );
        }
    }
    if !signatures_checked {
        s.push_str(SIGNATURES_NOT_CHECKED);
        s.push('\n');
    }
    s
}

fn json(result: &Result<VerifyReport, Failure>, checked: u64, signatures_checked: bool) -> String {
    let value = match result {
        Ok(report) => json!({
            "ok": true,
            "signatures_checked": signatures_checked,
            "report": report,
        }),
        Err(Failure::Problem(p)) => json!({
            "ok": false,
            "signatures_checked": signatures_checked,
            "entries_read": checked,
            "problem": p,
        }),
        Err(Failure::Corrupt { location, message }) => json!({
            "ok": false,
            "signatures_checked": signatures_checked,
            "entries_read": checked,
            "corrupt": { "location": location, "message": message },
        }),
        Err(Failure::Empty) => json!({
            "ok": false,
            "signatures_checked": signatures_checked,
            "entries_read": 0,
            "empty": true,
        }),
    };
    format!("{value}\n")
}
