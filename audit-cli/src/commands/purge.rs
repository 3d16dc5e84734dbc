use std::io::Write;

use audit_core::AuditStore;
use audit_core::json::rfc3339_micros;
use time::OffsetDateTime;

use super::{Context, Status};
use crate::cli::PurgeArgs;
use crate::error::CliError;

/// `audit purge`: removes (or with `--dry-run` counts) entries older than
/// `--older-than`, and says how many.
pub async fn purge(
    store: &dyn AuditStore,
    args: &PurgeArgs,
    out: &mut dyn Write,
    _ctx: &Context,
) -> Result<Status, CliError> {
    let before = args.older_than.resolve(OffsetDateTime::now_utc());
    let report = store.purge(before, args.dry_run).await?;
    let when = rfc3339_micros::format(report.before);
    let plural = if report.removed == 1 { "entry" } else { "entries" };
    let text = if report.dry_run {
        format!(
            "dry run: would remove {} {plural} older than {when}; nothing was removed\n",
            report.removed
        )
    } else {
        format!("removed {} {plural} older than {when}\n", report.removed)
    };
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    Ok(Status::Success)
}

/// `audit purge` over a file store: removes whole rotated files, and names
/// each file with what it held.
pub async fn purge_files(
    store: &audit_sinks::file::FileStore,
    args: &PurgeArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    use std::fmt::Write as _;
    let before = args.older_than.resolve(OffsetDateTime::now_utc());
    let report = store.purge_files(before, args.dry_run).await?;
    let when = rfc3339_micros::format(before);
    let entries = report.entries();
    let plural = |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let files = report.files.len() as u64;
    let mut text = if report.dry_run {
        format!(
            "dry run: would remove {entries} {} in {files} {} older than {when}; nothing was \
             removed\n",
            plural(entries, "entry", "entries"),
            plural(files, "file", "files"),
        )
    } else {
        format!(
            "removed {entries} {} in {files} {} older than {when}\n",
            plural(entries, "entry", "entries"),
            plural(files, "file", "files"),
        )
    };
    for f in &report.files {
        let range = match (f.oldest, f.newest) {
            (Some(a), Some(b)) => {
                format!(", {} to {}", rfc3339_micros::format(a), rfc3339_micros::format(b))
            }
            _ => String::new(),
        };
        let _ = writeln!(text, "  {}: {} entries, {} bytes{range}", f.name, f.entries, f.bytes);
        for c in &f.chains {
            let _ = writeln!(text, "    chain {}: seq {}..={}", c.chain, c.first_seq, c.last_seq);
        }
    }
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    if !report.dry_run && !report.is_empty() {
        ctx.note(
            "note: this purge is not in the audit log itself (`audit` cannot add entries to a \
             chain); record it through the service's auditor, or let the file sink's retention \
             (max_age, max_files) remove old files, which records `audit.retention` entries",
        );
    }
    Ok(Status::Success)
}

/// `audit purge` over a Postgres store: drops whole monthly partitions whose
/// month ended before the cut-off, and names each with what it held.
#[cfg(feature = "postgres")]
pub async fn purge_partitions(
    store: &audit_sinks::postgres::PostgresStore,
    url: &str,
    args: &PurgeArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    use std::fmt::Write as _;
    let before = args.older_than.resolve(OffsetDateTime::now_utc());
    let report = store
        .purge_partitions(before, args.dry_run)
        .await
        .map_err(|e| crate::store::postgres_error(url, e))?;
    let when = rfc3339_micros::format(before);
    let entries = report.entries();
    let plural = |n: u64, one: &'static str, many: &'static str| if n == 1 { one } else { many };
    let partitions = report.partitions.len() as u64;
    let mut text = if report.dry_run {
        format!(
            "dry run: would remove {entries} {} in {partitions} {} older than {when}; nothing \
             was removed\n",
            plural(entries, "entry", "entries"),
            plural(partitions, "partition", "partitions"),
        )
    } else {
        format!(
            "removed {entries} {} in {partitions} {} older than {when}\n",
            plural(entries, "entry", "entries"),
            plural(partitions, "partition", "partitions"),
        )
    };
    for p in &report.partitions {
        let range = match (p.oldest, p.newest) {
            (Some(a), Some(b)) => {
                format!(", {} to {}", rfc3339_micros::format(a), rfc3339_micros::format(b))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            text,
            "  {} ({} to {}): {} entries{range}",
            p.name,
            rfc3339_micros::format(p.from),
            rfc3339_micros::format(p.to),
            p.entries
        );
        for c in &p.chains {
            let _ = writeln!(text, "    chain {}: seq {}..={}", c.chain, c.first_seq, c.last_seq);
        }
    }
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    if !report.dry_run && !report.is_empty() {
        ctx.note(
            "note: this purge is not in the audit log itself (`audit` cannot add entries to a \
             chain); record it through the service's auditor (RetentionReport::event), or let \
             the Postgres sink's retention drop old partitions, which records `audit.retention` \
             entries",
        );
    }
    Ok(Status::Success)
}
