use std::io::Write;

use audit_core::AuditStore;
use audit_core::query::Query;
use time::OffsetDateTime;

use super::{Context, Status};
use crate::cli::{QueryArgs, QueryFormat};
use crate::error::CliError;
use crate::output::{EntryWriter, Format, TableMode};

/// `audit query`: up to `--limit` entries matching the filters, in `--order`.
///
/// Pages through the store as needed; when more entries match than were
/// shown, says on standard error how to continue (`--cursor`).
pub async fn query(
    store: &dyn AuditStore,
    args: &QueryArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    // Resolve `--since 7d` once, so that every page uses the same bounds.
    let mut query = args.filters.to_query().order(args.order.into());
    query = query.resolved(OffsetDateTime::now_utc());
    query.cursor = args.cursor;
    let mut remaining = usize::try_from(args.limit).unwrap_or(usize::MAX);

    let format = Format::from(args.format);
    let table = TableMode::Fitted { terminal_width: ctx.terminal_width };
    let mut writer = EntryWriter::new(format, &mut *out, table).map_err(CliError::stdout)?;
    let mut more = None;
    while remaining > 0 {
        query.limit = Some(remaining.min(Query::MAX_LIMIT));
        let page = store.query(&query).await?;
        remaining = remaining.saturating_sub(page.entries.len());
        for entry in &page.entries {
            writer.write(entry).map_err(CliError::stdout)?;
        }
        match page.next_cursor {
            Some(cursor) if page.entries.is_empty() => {
                // A store that returns an empty page with a cursor would loop.
                more = Some(cursor);
                break;
            }
            Some(cursor) if remaining > 0 => query.cursor = Some(cursor),
            Some(cursor) => more = Some(cursor),
            None => break,
        }
    }
    let count = writer.count();
    writer.finish().map_err(CliError::stdout)?;

    if count == 0 && args.format == QueryFormat::Table {
        ctx.note("no entries match");
    }
    if let Some(cursor) = more {
        ctx.note(format_args!(
            "more entries match: show the next ones with --cursor {cursor} (or raise --limit)"
        ));
    }
    Ok(Status::Success)
}
