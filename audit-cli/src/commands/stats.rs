use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use audit_core::json::rfc3339_micros;
use audit_core::{AuditEvent, AuditStore};
use futures::StreamExt as _;
use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Context, Status};
use crate::cli::{StatsArgs, StatsFormat};
use crate::error::CliError;
use crate::output::table::{display_width, fit, sanitize};
use crate::progress::Progress;

/// Counts of the entries matching a query.
#[derive(Debug, Default, Serialize)]
struct Counts {
    total: u64,
    #[serde(serialize_with = "opt_time")]
    first: Option<OffsetDateTime>,
    #[serde(serialize_with = "opt_time")]
    last: Option<OffsetDateTime>,
    by_event: BTreeMap<String, u64>,
    by_actor: BTreeMap<String, u64>,
    by_outcome: BTreeMap<String, u64>,
    by_day: BTreeMap<String, u64>,
}

fn opt_time<S: serde::Serializer>(t: &Option<OffsetDateTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&rfc3339_micros::format(*t)),
        None => s.serialize_none(),
    }
}

impl Counts {
    fn add(&mut self, e: &AuditEvent) {
        self.total += 1;
        self.first = Some(self.first.map_or(e.time, |t| t.min(e.time)));
        self.last = Some(self.last.map_or(e.time, |t| t.max(e.time)));
        *self.by_event.entry(e.event.clone()).or_default() += 1;
        *self.by_actor.entry(e.actor.to_string()).or_default() += 1;
        *self.by_outcome.entry(e.outcome.to_string()).or_default() += 1;
        let day = e
            .time
            .to_offset(time::UtcOffset::UTC)
            .format(format_description!("[year]-[month]-[day]"))
            .unwrap_or_default();
        *self.by_day.entry(day).or_default() += 1;
    }
}

/// `audit stats`: counts of the matching entries by event, actor, outcome
/// and day (UTC).
pub async fn stats(
    store: &dyn AuditStore,
    args: &StatsArgs,
    out: &mut dyn Write,
    ctx: &Context,
) -> Result<Status, CliError> {
    let query = args.filters.to_query();
    let mut counts = Counts::default();
    let mut progress = Progress::new(ctx.quiet, "counted");
    let mut entries = store.scan(&query);
    while let Some(entry) = entries.next().await {
        counts.add(&entry?);
        progress.inc();
    }
    progress.finish();
    let text = match args.format {
        StatsFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&counts).map_err(|e| CliError::stdout(e.into()))?
        ),
        StatsFormat::Table => table(&counts, usize::try_from(args.top).unwrap_or(usize::MAX)),
    };
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(CliError::stdout)?;
    Ok(Status::Success)
}

/// The counts as tables: the largest counts first (days in date order), at
/// most `top` rows each.
fn table(counts: &Counts, top: usize) -> String {
    let mut s = String::new();
    match (counts.first, counts.last) {
        (Some(first), Some(last)) => {
            let _ = writeln!(
                s,
                "{} entr{} from {} to {}",
                counts.total,
                if counts.total == 1 { "y" } else { "ies" },
                rfc3339_micros::format(first),
                rfc3339_micros::format(last)
            );
        }
        _ => {
            s.push_str("no entries match\n");
            return s;
        }
    }
    let sections: [(&str, &BTreeMap<String, u64>, bool); 4] = [
        ("EVENT", &counts.by_event, true),
        ("ACTOR", &counts.by_actor, true),
        ("OUTCOME", &counts.by_outcome, true),
        ("DAY (UTC)", &counts.by_day, false),
    ];
    for (title, map, by_count) in sections {
        let mut rows: Vec<(&String, &u64)> = map.iter().collect();
        if by_count {
            rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        } else {
            // The latest days.
            rows.reverse();
        }
        let hidden = rows.len().saturating_sub(top);
        rows.truncate(top);
        if !by_count {
            rows.reverse();
        }
        let names: Vec<String> = rows.iter().map(|(k, _)| fit(&sanitize(k), 48)).collect();
        let width = names.iter().map(|n| display_width(n)).chain([title.len()]).max().unwrap_or(0);
        let numbers: Vec<String> = rows.iter().map(|(_, n)| n.to_string()).collect();
        let nwidth = numbers.iter().map(String::len).chain(["COUNT".len()]).max().unwrap_or(5);
        let _ = writeln!(s, "\n{title:<width$}  {:>nwidth$}", "COUNT");
        for (name, n) in names.iter().zip(&numbers) {
            let pad = width - display_width(name);
            let _ = writeln!(s, "{name}{}  {n:>nwidth$}", " ".repeat(pad));
        }
        if hidden > 0 {
            let _ = writeln!(s, "({hidden} more; raise --top or use --format json)");
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Actor, Outcome};

    #[test]
    fn tables_show_the_largest_counts_first() {
        let mut counts = Counts::default();
        let day = |d: u8| {
            time::Date::from_calendar_date(2026, time::Month::January, d)
                .unwrap()
                .midnight()
                .assume_utc()
        };
        for (event, actor, outcome, d) in [
            ("project.update", "alice@example.com", Outcome::Success, 1),
            ("project.update", "alice@example.com", Outcome::Success, 2),
            ("project.delete", "bob@example.com", Outcome::Denied, 2),
            ("api_key.create", "alice@example.com", Outcome::Success, 3),
        ] {
            counts.add(
                &AuditEvent::builder(event)
                    .actor(Actor::user("u").email(actor))
                    .outcome(outcome)
                    .time(day(d))
                    .build(),
            );
        }
        let text = table(&counts, 2);
        assert!(text.starts_with("4 entries from 2026-01-01T00:00:00.000000Z"), "{text}");
        let event_section = text.split("\n\n").nth(1).unwrap();
        let lines: Vec<&str> = event_section.lines().collect();
        assert!(lines[0].starts_with("EVENT"), "{text}");
        assert!(lines[1].starts_with("project.update") && lines[1].ends_with(" 2"), "{text}");
        assert_eq!(lines[3], "(1 more; raise --top or use --format json)");
        // Days: the latest `top`, in date order.
        let days = text.split("\n\n").nth(4).unwrap();
        assert!(days.contains("2026-01-02") && days.contains("2026-01-03"), "{days}");
        assert!(!days.contains("2026-01-01"), "{days}");
        assert!(days.find("2026-01-02") < days.find("2026-01-03"));

        assert_eq!(table(&Counts::default(), 5), "no entries match\n");
    }
}
