//! The aligned table for terminals: one line per entry, cells cut with `…`.
//!
//! Cells never carry control characters: newlines, tabs, escape sequences and
//! bidirectional overrides in entry text (which a client controls, e.g. its
//! user agent) are shown escaped (`\n`, `\u{1b}`), so an entry cannot move
//! the cursor, recolour the terminal or disguise itself as another line.

use std::fmt::Write as _;

use audit_core::AuditEvent;
use time::macros::format_description;
use unicode_width::UnicodeWidthChar;

/// The columns of the table.
pub const HEADERS: [&str; 7] =
    ["TIME (UTC)", "ACTOR", "EVENT", "RESOURCE", "OUTCOME", "IP", "DESCRIPTION"];

/// The widest each column gets (the description: when stdout is not a
/// terminal, or the terminal's width is unknown).
const CAPS: [usize; 7] = [19, 32, 32, 32, 9, 39, 100];

/// The description column never gets narrower than this.
const MIN_DESCRIPTION: usize = 20;

/// Between columns.
const GAP: &str = "  ";

/// One table row: the cells of an entry, not yet cut to width.
pub type Row = [String; 7];

/// The cells of an entry.
pub fn row(e: &AuditEvent) -> Row {
    let time = e
        .time
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"))
        .unwrap_or_else(|_| e.time.unix_timestamp().to_string());
    let resource = match e.resource.as_slice() {
        [] => String::new(),
        [first, rest @ ..] => {
            let mut s = match &first.id {
                Some(id) => format!("{}:{id}", first.kind),
                None => first.kind.clone(),
            };
            if !rest.is_empty() {
                let _ = write!(s, " +{}", rest.len());
            }
            s
        }
    };
    [
        time,
        e.actor.to_string(),
        e.event.clone(),
        resource,
        e.outcome.to_string(),
        e.source.ip.map(|ip| ip.to_string()).unwrap_or_default(),
        e.description.clone(),
    ]
}

/// Column widths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLayout {
    widths: [usize; 7],
}

impl TableLayout {
    /// Widths that fit `rows` (no wider than each column's cap), with the
    /// description column fitted to `terminal_width` when given.
    pub fn fit(rows: &[Row], terminal_width: Option<usize>) -> Self {
        let mut widths = HEADERS.map(display_width);
        for row in rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(display_width(&sanitize(cell)));
            }
        }
        for (w, cap) in widths.iter_mut().zip(CAPS) {
            *w = (*w).min(cap);
        }
        Self { widths: fit_terminal(widths, terminal_width) }
    }

    /// Fixed widths for rows that are not known yet (`tail --follow`).
    pub fn fixed(terminal_width: Option<usize>) -> Self {
        // Times are always 19 wide, outcomes at most 9; keep the rest modest.
        let widths = [19, 22, 20, 20, 9, 15, CAPS[6]];
        Self { widths: fit_terminal(widths, terminal_width) }
    }

    /// The width of each column.
    pub fn widths(&self) -> [usize; 7] {
        self.widths
    }

    /// The header line, with a newline.
    pub fn header(&self) -> String {
        self.line(&HEADERS.map(str::to_owned))
    }

    /// One row as a line, with a newline: cells cut to their column's width
    /// with `…` and padded, the last cell not padded.
    pub fn line(&self, row: &Row) -> String {
        let mut out = String::new();
        for (i, (cell, width)) in row.iter().zip(self.widths).enumerate() {
            let cell = fit(&sanitize(cell), width);
            out.push_str(&cell);
            if i + 1 < row.len() {
                let pad = width.saturating_sub(display_width(&cell));
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(GAP);
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
        out
    }

    /// The whole table: header and rows.
    pub fn render(&self, rows: &[Row]) -> String {
        let mut out = self.header();
        for row in rows {
            out.push_str(&self.line(row));
        }
        out
    }
}

/// Narrowest that actor, event, resource and IP get in a narrow terminal.
const MIN_SHRUNK: usize = 10;

/// Fits widths to a terminal: the widest of actor, event, resource and IP
/// give up columns (down to [`MIN_SHRUNK`]) until the description has at
/// least [`MIN_DESCRIPTION`]; the description gets what is left. Without a
/// terminal, the widths stay as they are.
fn fit_terminal(mut widths: [usize; 7], terminal_width: Option<usize>) -> [usize; 7] {
    let Some(total) = terminal_width else { return widths };
    let available = total.saturating_sub(GAP.len() * 6);
    let fixed = |w: &[usize; 7]| w[..6].iter().sum::<usize>();
    while fixed(&widths) + MIN_DESCRIPTION > available {
        let widest =
            [1, 2, 3, 5].into_iter().filter(|&i| widths[i] > MIN_SHRUNK).max_by_key(|&i| widths[i]);
        match widest {
            Some(i) => widths[i] -= 1,
            None => break,
        }
    }
    widths[6] = widths[6].min(available.saturating_sub(fixed(&widths)).max(MIN_DESCRIPTION));
    widths
}

/// The cell with control and bidirectional-formatting characters escaped.
pub fn sanitize(cell: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !cell.chars().any(unsafe_char) {
        return cell.into();
    }
    let mut out = String::with_capacity(cell.len() + 8);
    for c in cell.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// How many terminal columns a string takes.
pub fn display_width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// The string cut to at most `width` columns, ending in `…` if it was cut.
pub fn fit(s: &str, width: usize) -> String {
    if display_width(s) <= width {
        return s.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Actor, Outcome, Resource, Source};

    fn entry(description: &str) -> AuditEvent {
        AuditEvent::builder("project.update")
            .time(time::macros::datetime!(2026-01-31 09:30:05.123456 UTC))
            .actor(Actor::user("u_1").email("alice@example.com"))
            .resource(Resource::new("project", "p_42"))
            .resource(Resource::of_type("settings"))
            .outcome(Outcome::Denied)
            .source(Source::new().ip("10.0.0.1".parse().unwrap()))
            .description(description)
            .build()
    }

    #[test]
    fn cells_of_an_entry() {
        let r = row(&entry("alice updated project p_42"));
        assert_eq!(r[0], "2026-01-31 09:30:05");
        assert_eq!(r[1], "alice@example.com");
        assert_eq!(r[2], "project.update");
        assert_eq!(r[3], "project:p_42 +1");
        assert_eq!(r[4], "denied");
        assert_eq!(r[5], "10.0.0.1");
    }

    #[test]
    fn columns_line_up() {
        let rows = vec![
            row(&entry("short")),
            row(&AuditEvent::builder("api_key.create").actor(Actor::system("cron")).build()),
        ];
        let layout = TableLayout::fit(&rows, None);
        let text = layout.render(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        // Every column starts at the same offset on every line.
        let starts = |l: &str| {
            let mut at = Vec::new();
            let mut col = 0;
            for w in layout.widths()[..6].iter() {
                col += w + GAP.len();
                at.push(col);
            }
            at.into_iter().map(|c| l.chars().nth(c).unwrap_or(' ')).collect::<Vec<_>>()
        };
        assert_eq!(starts(lines[0]), vec!['A', 'E', 'R', 'O', 'I', 'D']);
        assert_eq!(starts(lines[1]), vec!['a', 'p', 'p', 'd', '1', 's']);
        assert!(lines[2].contains("system:cron"));
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{text}");
    }

    #[test]
    fn long_cells_are_cut_with_an_ellipsis() {
        let long = "x".repeat(500);
        let rows = vec![row(&entry(&long))];
        let text = TableLayout::fit(&rows, None).render(&rows);
        let line = text.lines().nth(1).unwrap();
        assert!(line.ends_with('…'), "{line}");
        assert!(display_width(line) < 250);

        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abcd", 4), "abcd");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert_eq!(display_width(&fit("日本語テキスト", 5)), 5);
        assert_eq!(fit("abc", 0), "");
    }

    #[test]
    fn the_description_fits_the_terminal() {
        let rows = vec![row(&entry(&"word ".repeat(100)))];
        let layout = TableLayout::fit(&rows, Some(120));
        let text = layout.render(&rows);
        for line in text.lines() {
            assert!(display_width(line) <= 120, "{} > 120: {line}", display_width(line));
        }
        // A narrow terminal shrinks the other columns first...
        let layout = TableLayout::fit(&rows, Some(100));
        assert!(display_width(layout.render(&rows).lines().nth(1).unwrap()) <= 100);
        assert!(layout.widths()[6] >= MIN_DESCRIPTION);
        // ...and too narrow a one still leaves a readable description.
        assert_eq!(TableLayout::fit(&rows, Some(40)).widths()[6], MIN_DESCRIPTION);
    }

    #[test]
    fn control_characters_cannot_reach_the_terminal() {
        let r = row(&entry("line one\nline two \u{1b}[31mred\u{1b}[0m \u{202e}evil"));
        let text = TableLayout::fit(std::slice::from_ref(&r), None).render(&[r]);
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(!text.contains('\u{1b}'));
        assert!(!text.contains('\u{202e}'));
        assert!(text.contains(r"line one\nline two \u{1b}[31mred"), "{text}");
    }

    #[test]
    fn fixed_layout_for_follow() {
        let layout = TableLayout::fixed(Some(200));
        let line = layout.line(&row(&entry("d")));
        assert!(line.starts_with("2026-01-31 09:30:05  alice@example.com"));
        assert!(display_width(&layout.header()) <= 200);
    }
}
