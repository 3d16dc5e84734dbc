use std::io::{BufWriter, Write};
use std::path::Path;

use audit_core::AuditStore;
use futures::StreamExt as _;

use super::{Context, Status};
use crate::cli::ExportArgs;
use crate::error::CliError;
use crate::output::{EntryWriter, Format, TableMode};
use crate::progress::Progress;

/// `audit export`: every entry matching the filters, in write order, to
/// `--output` or `out`.
///
/// The entries are streamed from the store to the output, never held in
/// memory. A file is written next to its destination under a temporary name
/// and renamed into place only when the export is complete, so a failed
/// export never leaves a partial file behind (nor replaces an older one).
pub async fn export(
    store: &dyn AuditStore,
    args: &ExportArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    let format = Format::from(args.format);
    let count = match &args.output {
        None => write_all(store, args, format, &mut *out, ctx, &CliError::stdout).await?.1,
        Some(path) => {
            let write_err = |e| CliError::write_file(path, e);
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let temp = tempfile::Builder::new().prefix(".audit-export-").tempfile_in(dir).map_err(
                |e| CliError::io(format!("could not create a file in {}", dir.display()), e),
            )?;
            let (file, count) =
                write_all(store, args, format, BufWriter::new(temp), ctx, &write_err).await?;
            let temp = file.into_inner().map_err(|e| write_err(e.into_error()))?;
            temp.as_file().sync_all().map_err(write_err)?;
            temp.persist(path).map_err(|e| write_err(e.error))?;
            ctx.note(format_args!("exported {count} entries to {}", path.display()));
            count
        }
    };
    if count == 0 {
        ctx.note("no entries match");
    }
    Ok(Status::Success)
}

async fn write_all<W: Write>(
    store: &dyn AuditStore,
    args: &ExportArgs,
    format: Format,
    out: W,
    ctx: &Context,
    write_err: &dyn Fn(std::io::Error) -> CliError,
) -> Result<(W, u64), CliError> {
    let query = args.filters.to_query();
    let table = TableMode::Fitted { terminal_width: None };
    let mut writer = EntryWriter::new(format, out, table).map_err(write_err)?;
    let mut progress = Progress::new(ctx.quiet, "exported");
    let mut entries = store.scan(&query);
    while let Some(entry) = entries.next().await {
        writer.write(&entry?).map_err(write_err)?;
        progress.inc();
    }
    progress.finish();
    let count = writer.count();
    Ok((writer.finish().map_err(write_err)?, count))
}
