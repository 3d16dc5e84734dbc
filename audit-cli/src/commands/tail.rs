use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use audit_core::query::{Cursor, Order, Query};
use audit_core::{AuditEvent, AuditStore};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Context, Status};
use crate::cli::TailArgs;
use crate::error::CliError;
use crate::output::{EntryWriter, Format, TableMode};

/// How often `--follow` asks the store for new entries.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// How far back `--follow` looks again on each poll, for entries that reach
/// the store after newer ones (sinks write in batches, a spool replays late).
/// Entries already printed are skipped by id.
const LATE_WINDOW: time::Duration = time::Duration::seconds(10);

/// `audit tail`: the last `-n` entries matching the filters, oldest first;
/// with `--follow`, then every new matching entry, until Ctrl-C.
pub async fn tail(
    store: &dyn AuditStore,
    args: &TailArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    let filters = args.filters.to_query();
    let format = Format::from(args.format);
    let table = if args.follow {
        TableMode::Streaming { terminal_width: ctx.terminal_width }
    } else {
        TableMode::Fitted { terminal_width: ctx.terminal_width }
    };
    let mut writer = EntryWriter::new(format, &mut *out, table).map_err(CliError::stdout)?;

    let lines = usize::try_from(args.lines).unwrap_or(usize::MAX);
    let mut last: Vec<AuditEvent> = if lines == 0 {
        Vec::new()
    } else {
        store.query(&filters.clone().order(Order::NewestFirst).limit(lines)).await?.entries
    };
    last.reverse();
    let mut seen = Seen::default();
    for entry in &last {
        writer.write(entry).map_err(CliError::stdout)?;
        seen.add(entry);
    }
    writer.flush().map_err(CliError::stdout)?;
    if !args.follow {
        if writer.count() == 0 {
            ctx.note("no entries match");
        }
        writer.finish().map_err(CliError::stdout)?;
        return Ok(Status::Success);
    }
    // Everything up to now counts as seen, printed or not, so that only
    // entries written from now on are printed.
    let newest = match last.last() {
        Some(e) => Some(e.time),
        None => store
            .query(&filters.clone().order(Order::NewestFirst).limit(1))
            .await?
            .entries
            .first()
            .map(|e| e.time),
    };
    if let Some(newest) = newest {
        seen.newest = Some(newest);
        poll(store, &filters, &mut seen, |_| Ok(())).await?;
    }

    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            result = &mut interrupted => {
                result.map_err(|e| CliError::io("could not listen for Ctrl-C", e))?;
                break;
            }
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        poll(store, &filters, &mut seen, |entry| writer.write(entry).map_err(CliError::stdout))
            .await?;
        writer.flush().map_err(CliError::stdout)?;
        seen.forget_old();
    }
    writer.finish().map_err(CliError::stdout)?;
    Ok(Status::Success)
}

/// Hands every matching entry that was not seen yet to `new`, oldest first.
async fn poll(
    store: &dyn AuditStore,
    filters: &Query,
    seen: &mut Seen,
    mut new: impl FnMut(&AuditEvent) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut query = filters.clone().order(Order::OldestFirst).limit(Query::MAX_LIMIT);
    query.cursor = seen.resume_from();
    loop {
        let page = store.query(&query).await?;
        for entry in &page.entries {
            if seen.add(entry) {
                new(entry)?;
            }
        }
        match page.next_cursor {
            Some(cursor) if !page.entries.is_empty() => query.cursor = Some(cursor),
            _ => return Ok(()),
        }
    }
}

/// The entries printed recently, to print each entry once.
#[derive(Debug, Default)]
struct Seen {
    newest: Option<OffsetDateTime>,
    ids: HashSet<(OffsetDateTime, Uuid)>,
}

impl Seen {
    /// Records an entry; `false` if it was printed already.
    fn add(&mut self, entry: &AuditEvent) -> bool {
        self.newest = Some(self.newest.map_or(entry.time, |t| t.max(entry.time)));
        self.ids.insert((entry.time, entry.id))
    }

    /// Where the next poll starts: a little before the newest entry printed.
    fn resume_from(&self) -> Option<Cursor> {
        self.newest.map(|t| Cursor::new(t.saturating_sub(LATE_WINDOW), Uuid::nil()))
    }

    /// Forgets entries that the next poll will not see again.
    fn forget_old(&mut self) {
        if let Some(newest) = self.newest {
            let horizon = newest.saturating_sub(LATE_WINDOW);
            self.ids.retain(|(t, _)| *t >= horizon);
        }
    }
}
