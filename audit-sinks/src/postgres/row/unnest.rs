//! A batch as column arrays for one `INSERT .. SELECT FROM UNNEST(..) ON
//! CONFLICT DO NOTHING`: the way of writing batches that hold entries
//! already stored.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::LazyLock;

use audit_core::{AuditEvent, SinkError};
use serde::Serialize;
use sqlx::PgExecutor;
use sqlx::postgres::PgQueryResult;
use time::OffsetDateTime;
use uuid::Uuid;

use super::columns::{COLUMN_TYPES, ColumnType, column_list};
use super::values::{Fields, jsonb_safe, text, unencodable, visit};

/// One round trip per batch: every column is bound as an array and
/// `UNNEST`ed, in batch order (so `ingest_seq` follows it). A replayed entry
/// has the same `(id, time)` and is skipped.
pub(super) static INSERT: LazyLock<String> = LazyLock::new(|| {
    let mut arrays = String::new();
    let mut select = String::new();
    for (i, (name, ty)) in COLUMN_TYPES.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let array = match ty {
            ColumnType::Uuid => "uuid[]",
            ColumnType::Time => "timestamptz[]",
            ColumnType::Int4 => "int4[]",
            ColumnType::Int8 => "int8[]",
            // Sent as text, cast in the SELECT.
            ColumnType::Text | ColumnType::Jsonb | ColumnType::Json | ColumnType::Inet => "text[]",
        };
        let cast = match ty {
            ColumnType::Jsonb => "::jsonb",
            ColumnType::Json => "::json",
            ColumnType::Inet => "::inet",
            _ => "",
        };
        let _ = write!(arrays, "{sep}${}::{array}", i + 1);
        let _ = write!(select, "{sep}u.{name}{cast}");
    }
    let columns = column_list();
    format!(
        "INSERT INTO audit_events ({columns}) \
         SELECT {select} \
         FROM UNNEST({arrays}) WITH ORDINALITY AS u({columns}, ord) \
         ORDER BY u.ord \
         ON CONFLICT (id, time) DO NOTHING"
    )
});

/// One column of a batch, ready to bind as an array.
#[derive(Debug)]
pub(super) enum Column {
    Uuid(Vec<Option<Uuid>>),
    Time(Vec<OffsetDateTime>),
    /// text, json, jsonb and inet, as text.
    Text(Vec<Option<String>>),
    Int4(Vec<Option<i32>>),
    Int8(Vec<Option<i64>>),
}

/// The columns of a batch, for the `UNNEST` insert.
#[derive(Debug)]
pub(crate) struct Columns {
    columns: Vec<Column>,
}

/// Fills the next column of [`Columns`] on each call.
pub(super) struct ColumnFields<'a> {
    pub(super) columns: &'a mut [Column],
    pub(super) next: usize,
}

impl ColumnFields<'_> {
    fn column(&mut self) -> &mut Column {
        let i = self.next;
        self.next += 1;
        &mut self.columns[i]
    }

    fn push_text(&mut self, v: Option<String>) {
        if let Column::Text(c) = self.column() {
            c.push(v);
        } else {
            unreachable!("column {} is not sent as text", self.next - 1);
        }
    }
}

impl Fields for ColumnFields<'_> {
    fn uuid(&mut self, v: Option<Uuid>) {
        match self.column() {
            Column::Uuid(c) => c.push(v),
            _ => unreachable!("column {} is not a uuid", self.next - 1),
        }
    }

    fn time(&mut self, v: OffsetDateTime) {
        match self.column() {
            Column::Time(c) => c.push(v),
            _ => unreachable!("column {} is not a time", self.next - 1),
        }
    }

    fn text(&mut self, v: Option<&str>) {
        self.push_text(v.map(|s| text(s).into_owned()));
    }

    fn jsonb<T: Serialize + ?Sized>(&mut self, v: Option<&T>) -> serde_json::Result<()> {
        let json = v.map(serde_json::to_vec).transpose()?.map(|json| {
            let json = jsonb_safe(&json).unwrap_or(json);
            // serde_json writes UTF-8.
            String::from_utf8(json).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
        });
        self.push_text(json);
        Ok(())
    }

    fn json(&mut self, e: &AuditEvent) -> serde_json::Result<()> {
        let json = serde_json::to_string(e)?;
        self.push_text(Some(json));
        Ok(())
    }

    fn inet(&mut self, v: Option<IpAddr>) {
        self.push_text(v.map(|ip| ip.to_string()));
    }

    fn int4(&mut self, v: Option<i32>) {
        match self.column() {
            Column::Int4(c) => c.push(v),
            _ => unreachable!("column {} is not an int4", self.next - 1),
        }
    }

    fn int8(&mut self, v: Option<i64>) {
        match self.column() {
            Column::Int8(c) => c.push(v),
            _ => unreachable!("column {} is not an int8", self.next - 1),
        }
    }
}

impl Columns {
    /// Encodes a batch. An entry that cannot be encoded fails the batch
    /// permanently.
    pub(crate) fn encode(batch: &[AuditEvent], details: bool) -> Result<Self, SinkError> {
        let n = batch.len();
        let mut columns: Vec<Column> = COLUMN_TYPES
            .iter()
            .map(|(_, ty)| match ty {
                ColumnType::Uuid => Column::Uuid(Vec::with_capacity(n)),
                ColumnType::Time => Column::Time(Vec::with_capacity(n)),
                ColumnType::Int4 => Column::Int4(Vec::with_capacity(n)),
                ColumnType::Int8 => Column::Int8(Vec::with_capacity(n)),
                ColumnType::Text | ColumnType::Jsonb | ColumnType::Json | ColumnType::Inet => {
                    Column::Text(Vec::with_capacity(n))
                }
            })
            .collect();
        for e in batch {
            let mut fields = ColumnFields { columns: &mut columns, next: 0 };
            visit(e, details, &mut fields).map_err(|why| unencodable(e, why))?;
            debug_assert_eq!(fields.next, COLUMN_TYPES.len());
        }
        Ok(Self { columns })
    }

    /// Inserts the batch; entries already stored are skipped (the result's
    /// `rows_affected` is how many were inserted).
    pub(crate) async fn insert<'e>(
        &self,
        executor: impl PgExecutor<'e>,
    ) -> Result<PgQueryResult, sqlx::Error> {
        let mut query = sqlx::query(&INSERT);
        for column in &self.columns {
            query = match column {
                Column::Uuid(c) => query.bind(c),
                Column::Time(c) => query.bind(c),
                Column::Text(c) => query.bind(c),
                Column::Int4(c) => query.bind(c),
                Column::Int8(c) => query.bind(c),
            };
        }
        query.execute(executor).await
    }
}
