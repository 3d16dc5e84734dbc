//! Writing entries: an aligned table, a JSON array, JSON Lines or CSV.
//!
//! [`EntryWriter`] takes entries one at a time, so an export of any size is
//! streamed: JSON is one array written piece by piece, never built in memory.
//! Only the table holds its rows until [`EntryWriter::finish`], to align them
//! (the caller bounds how many there are), unless it is [streaming](TableMode::Streaming).

pub mod csv_row;
pub mod table;

use std::io::{self, Write};

use audit_core::AuditEvent;

use self::table::{Row, TableLayout};

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// An aligned table for terminals; see [`table`].
    Table,
    /// One JSON array of entries.
    Json,
    /// One JSON entry per line. A value containing a newline is escaped
    /// (`\n`) by JSON itself, so it can never split a line.
    Jsonl,
    /// CSV; see [`csv_row`].
    Csv,
}

/// How a table lays out its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TableMode {
    /// Hold every row, then size columns to fit them (`query`, `tail`).
    Fitted {
        /// The terminal's width, when stdout is one.
        terminal_width: Option<usize>,
    },
    /// Print each row as it comes, with fixed widths (`tail --follow`).
    Streaming {
        /// The terminal's width, when stdout is one.
        terminal_width: Option<usize>,
    },
}

/// Writes entries in one [`Format`].
#[derive(Debug)]
pub struct EntryWriter<W: Write> {
    inner: Inner<W>,
    count: u64,
}

enum Inner<W: Write> {
    Fitted { out: W, rows: Vec<Row>, terminal_width: Option<usize> },
    Streaming { out: W, layout: TableLayout, header_written: bool },
    Json { out: W, open: bool },
    Jsonl(W),
    Csv(Box<csv::Writer<W>>),
}

impl<W: Write> std::fmt::Debug for Inner<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fitted { .. } => "Table",
            Self::Streaming { .. } => "StreamingTable",
            Self::Json { .. } => "Json",
            Self::Jsonl(_) => "Jsonl",
            Self::Csv(_) => "Csv",
        })
    }
}

impl<W: Write> EntryWriter<W> {
    /// A writer of `format` to `out`; `table` says how a table is laid out.
    ///
    /// CSV starts with its header row, even when no entry follows.
    pub fn new(format: Format, out: W, table: TableMode) -> io::Result<Self> {
        let inner = match format {
            Format::Table => match table {
                TableMode::Fitted { terminal_width } => {
                    Inner::Fitted { out, rows: Vec::new(), terminal_width }
                }
                TableMode::Streaming { terminal_width } => Inner::Streaming {
                    out,
                    layout: TableLayout::fixed(terminal_width),
                    header_written: false,
                },
            },
            Format::Json => Inner::Json { out, open: false },
            Format::Jsonl => Inner::Jsonl(out),
            Format::Csv => {
                let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(out);
                w.write_record(csv_row::COLUMNS)?;
                Inner::Csv(Box::new(w))
            }
        };
        Ok(Self { inner, count: 0 })
    }

    /// Writes one entry.
    pub fn write(&mut self, entry: &AuditEvent) -> io::Result<()> {
        match &mut self.inner {
            Inner::Fitted { rows, .. } => rows.push(table::row(entry)),
            Inner::Streaming { out, layout, header_written } => {
                if !*header_written {
                    out.write_all(layout.header().as_bytes())?;
                    *header_written = true;
                }
                out.write_all(layout.line(&table::row(entry)).as_bytes())?;
            }
            Inner::Json { out, open } => {
                out.write_all(if *open { b",\n  " } else { b"[\n  " })?;
                *open = true;
                serde_json::to_writer(&mut *out, entry)?;
            }
            Inner::Jsonl(out) => {
                serde_json::to_writer(&mut *out, entry)?;
                out.write_all(b"\n")?;
            }
            Inner::Csv(w) => w.write_record(csv_row::record(entry))?,
        }
        self.count += 1;
        Ok(())
    }

    /// How many entries were written.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Pushes what was written so far to the output (a fitted table prints
    /// nothing until [`finish`](Self::finish)).
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Fitted { out, .. }
            | Inner::Streaming { out, .. }
            | Inner::Json { out, .. }
            | Inner::Jsonl(out) => out.flush(),
            Inner::Csv(w) => w.flush(),
        }
    }

    /// Ends the output (closes the JSON array, prints a fitted table),
    /// flushes it and gives it back. A table with no rows prints nothing.
    pub fn finish(self) -> io::Result<W> {
        let mut out = match self.inner {
            Inner::Fitted { mut out, rows, terminal_width } => {
                if !rows.is_empty() {
                    let layout = TableLayout::fit(&rows, terminal_width);
                    out.write_all(layout.render(&rows).as_bytes())?;
                }
                out
            }
            Inner::Streaming { out, .. } | Inner::Jsonl(out) => out,
            Inner::Json { mut out, open } => {
                out.write_all(if open { b"\n]\n" } else { b"[]\n" })?;
                out
            }
            Inner::Csv(w) => (*w).into_inner().map_err(|e| e.into_error())?,
        };
        out.flush()?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Actor, Resource};

    fn entries() -> Vec<AuditEvent> {
        vec![
            AuditEvent::builder("project.update")
                .id(uuid::Uuid::now_v7())
                .actor(Actor::user("u_1").email("alice@example.com"))
                .resource(Resource::new("project", "p_42"))
                .description("line one\nline two\r\n\"quoted\"")
                .build(),
            AuditEvent::builder("api_key.create").id(uuid::Uuid::now_v7()).build(),
        ]
    }

    fn render(format: Format, entries: &[AuditEvent]) -> String {
        let mut w =
            EntryWriter::new(format, Vec::new(), TableMode::Fitted { terminal_width: None })
                .unwrap();
        for e in entries {
            w.write(e).unwrap();
        }
        assert_eq!(w.count(), entries.len() as u64);
        String::from_utf8(w.finish().unwrap()).unwrap()
    }

    #[test]
    fn jsonl_is_one_entry_per_line_whatever_the_values_hold() {
        let text = render(Format::Jsonl, &entries());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let back: AuditEvent = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(back, entries()[0].clone().tap_id(back.id));
        assert!(lines[0].contains(r#"line one\nline two\r\n\"quoted\""#));
    }

    trait TapId {
        fn tap_id(self, id: uuid::Uuid) -> Self;
    }
    impl TapId for AuditEvent {
        fn tap_id(mut self, id: uuid::Uuid) -> Self {
            self.id = id;
            self
        }
    }

    #[test]
    fn json_is_one_array() {
        let text = render(Format::Json, &entries());
        let back: Vec<AuditEvent> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].event, "api_key.create");
        assert_eq!(render(Format::Json, &[]), "[]\n");
        let one: Vec<AuditEvent> =
            serde_json::from_str(&render(Format::Json, &entries()[..1])).unwrap();
        assert_eq!(one.len(), 1);
    }

    #[test]
    fn csv_has_a_header_and_quotes_what_needs_it() {
        let text = render(Format::Csv, &entries());
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let headers = reader.headers().unwrap().clone();
        assert_eq!(headers.iter().collect::<Vec<_>>(), csv_row::COLUMNS.to_vec());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0][14], "line one\nline two\r\n\"quoted\"");
        // Without entries: the header alone.
        assert_eq!(render(Format::Csv, &[]).lines().count(), 1);
    }

    #[test]
    fn tables() {
        let text = render(Format::Table, &entries());
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(text.starts_with("TIME (UTC)"));
        assert_eq!(render(Format::Table, &[]), "");

        let mut w = EntryWriter::new(
            Format::Table,
            Vec::new(),
            TableMode::Streaming { terminal_width: Some(150) },
        )
        .unwrap();
        w.write(&entries()[0]).unwrap();
        w.flush().unwrap();
        w.write(&entries()[1]).unwrap();
        let text = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
