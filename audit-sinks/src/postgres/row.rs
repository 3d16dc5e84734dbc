//! A batch of entries as rows of `audit_events`, in the two forms the sink
//! sends: a binary `COPY` payload (the normal path) and column arrays for
//! one `INSERT .. SELECT FROM UNNEST(..) ON CONFLICT DO NOTHING` (the path
//! for batches that hold entries already stored).
//!
//! Both are filled by one function, [`visit`], which maps an entry to its 34
//! values in [`COLUMNS`] order, so the two forms cannot drift apart.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::LazyLock;

use audit_core::{AuditEvent, Batch, Request, SinkError};
use bytes::Bytes;
use serde::Serialize;
use sqlx::PgExecutor;
use sqlx::postgres::PgQueryResult;
use time::OffsetDateTime;
use uuid::Uuid;

/// How a column is typed, in the table and on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uuid,
    Time,
    Text,
    Jsonb,
    Json,
    Inet,
    Int4,
    Int8,
}

/// The columns the sink writes, in the order [`visit`] produces them (and
/// the order of the `COPY` column list and of the `UNNEST` parameters).
/// `ingest_seq` and `actor_keys` are filled by the database.
const COLUMNS: [(&str, Kind); 34] = [
    ("id", Kind::Uuid),
    ("time", Kind::Time),
    ("event", Kind::Text),
    ("action", Kind::Text),
    ("outcome", Kind::Text),
    ("reason", Kind::Text),
    ("actor", Kind::Text),
    ("actor_kind", Kind::Text),
    ("actor_id", Kind::Text),
    ("actor_name", Kind::Text),
    ("actor_email", Kind::Text),
    ("tenant", Kind::Text),
    ("resource_type", Kind::Text),
    ("resource_id", Kind::Text),
    ("resources", Kind::Jsonb),
    ("description", Kind::Text),
    ("ip", Kind::Inet),
    ("user_agent", Kind::Text),
    ("request_id", Kind::Text),
    ("method", Kind::Text),
    ("route", Kind::Text),
    ("status", Kind::Int4),
    ("grpc_status", Kind::Int4),
    ("service_name", Kind::Text),
    ("service_instance", Kind::Text),
    ("chain_id", Kind::Uuid),
    ("chain_seq", Kind::Int8),
    ("chain_prev", Kind::Text),
    ("chain_hash", Kind::Text),
    ("request", Kind::Jsonb),
    ("response", Kind::Jsonb),
    ("changes", Kind::Jsonb),
    ("metadata", Kind::Jsonb),
    ("entry", Kind::Json),
];

fn column_list() -> String {
    COLUMNS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// `COPY audit_events (..) FROM STDIN (FORMAT binary)`.
static COPY: LazyLock<String> =
    LazyLock::new(|| format!("COPY audit_events ({}) FROM STDIN (FORMAT binary)", column_list()));

/// One round trip per batch: every column is bound as an array and
/// `UNNEST`ed, in batch order (so `ingest_seq` follows it). A replayed entry
/// has the same `(id, time)` and is skipped.
static INSERT: LazyLock<String> = LazyLock::new(|| {
    let mut arrays = String::new();
    let mut select = String::new();
    for (i, (name, kind)) in COLUMNS.iter().enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let array = match kind {
            Kind::Uuid => "uuid[]",
            Kind::Time => "timestamptz[]",
            Kind::Int4 => "int4[]",
            Kind::Int8 => "int8[]",
            // Sent as text, cast in the SELECT.
            Kind::Text | Kind::Jsonb | Kind::Json | Kind::Inet => "text[]",
        };
        let cast = match kind {
            Kind::Jsonb => "::jsonb",
            Kind::Json => "::json",
            Kind::Inet => "::inet",
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

/// Receives an entry's values one column at a time, in [`COLUMNS`] order.
trait Fields {
    fn uuid(&mut self, v: Option<Uuid>);
    fn time(&mut self, v: OffsetDateTime);
    /// Text for a `text` column, which cannot hold NUL.
    fn text(&mut self, v: Option<&str>);
    /// A value for a `jsonb` column, which cannot hold `\u0000`.
    fn jsonb<T: Serialize + ?Sized>(&mut self, v: Option<&T>) -> serde_json::Result<()>;
    /// The complete entry, for the `json` column, kept verbatim.
    fn json(&mut self, e: &AuditEvent) -> serde_json::Result<()>;
    fn inet(&mut self, v: Option<IpAddr>);
    fn int4(&mut self, v: Option<i32>);
    fn int8(&mut self, v: Option<i64>);
}

/// The values of `e`'s row, column by column; with `details` unset, the
/// request, response, changes and metadata columns are `NULL` (they repeat
/// parts of `entry`).
fn visit(e: &AuditEvent, details: bool, f: &mut impl Fields) -> Result<(), String> {
    let json_error = |e: serde_json::Error| format!("it cannot be serialized as JSON: {e}");
    f.uuid(Some(e.id));
    f.time(e.time);
    f.text(Some(&e.event));
    f.text(Some(e.action.as_str()));
    f.text(Some(e.outcome.as_str()));
    f.text(e.reason.as_deref());
    f.text(Some(&e.actor.to_string()));
    f.text(Some(e.actor.kind.as_str()));
    f.text(e.actor.id.as_deref());
    f.text(e.actor.name.as_deref());
    f.text(e.actor.email.as_deref());
    f.text(e.tenant.as_deref());
    let first = e.resource.first();
    f.text(first.map(|r| r.kind.as_str()));
    f.text(first.and_then(|r| r.id.as_deref()));
    f.jsonb(Some(&e.resource)).map_err(json_error)?;
    f.text(Some(&e.description));
    f.inet(e.source.ip);
    f.text(e.source.user_agent.as_deref());
    f.text(e.source.request_id.as_deref());
    match &e.request {
        Some(Request::Http(http)) => {
            f.text(Some(&http.method));
            f.text(http.route.as_deref());
        }
        Some(Request::Grpc(grpc)) => {
            f.text(Some(&grpc.method));
            f.text(Some(&format!("/{}/{}", grpc.service, grpc.method)));
        }
        // `Request` is non-exhaustive.
        Some(_) | None => {
            f.text(None);
            f.text(None);
        }
    }
    let response = e.response.as_ref();
    f.int4(response.and_then(|r| r.status).map(i32::from));
    f.int4(response.and_then(|r| r.grpc_status));
    f.text(Some(e.service.name.as_str()).filter(|n| !n.is_empty()));
    f.text(e.service.instance.as_deref());
    let chain = e.chain.as_ref();
    f.uuid(chain.map(|c| c.id));
    let seq = chain
        .map(|c| i64::try_from(c.seq).map_err(|_| format!("its chain seq {} is too large", c.seq)))
        .transpose()?;
    f.int8(seq);
    f.text(chain.map(|c| c.prev.as_str()));
    f.text(chain.map(|c| c.hash.as_str()).filter(|h| !h.is_empty()));
    f.jsonb(e.request.as_ref().filter(|_| details)).map_err(json_error)?;
    f.jsonb(e.response.as_ref().filter(|_| details)).map_err(json_error)?;
    f.jsonb(Some(&e.changes).filter(|c| details && !c.is_empty())).map_err(json_error)?;
    f.jsonb(Some(&e.metadata).filter(|m| details && !m.is_empty())).map_err(json_error)?;
    f.json(e).map_err(json_error)?;
    Ok(())
}

/// Fails the batch permanently for an entry that cannot be encoded:
/// retrying would fail the same way.
fn unencodable(e: &AuditEvent, why: String) -> SinkError {
    SinkError::permanent(format!("audit entry {} cannot be written to PostgreSQL: {why}", e.id))
}

/// PostgreSQL text cannot hold NUL: the typed columns (used to filter) get
/// U+FFFD instead. The `entry` column keeps the exact JSON.
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') { s.replace('\0', "\u{FFFD}").into() } else { s.into() }
}

/// Replaces every `\u0000` escape in `json` (which `jsonb` refuses) with
/// `\ufffd`, leaving alone a `\\u0000` (an escaped backslash before the
/// letters `u0000`). Returns `None` when there is none.
fn jsonb_safe(json: &[u8]) -> Option<Vec<u8>> {
    const NUL: &[u8] = b"\\u0000";
    let mut found = false;
    let mut out = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i..].starts_with(NUL) {
                if !found {
                    out.reserve(json.len());
                    found = true;
                }
                out.extend_from_slice(&json[copied..i]);
                out.extend_from_slice(b"\\ufffd");
                i += NUL.len();
                copied = i;
            } else {
                // An escape: skip the escaped character (so `\\` is one unit).
                i += 2;
            }
        } else {
            i += 1;
        }
    }
    found.then(|| {
        out.extend_from_slice(&json[copied..]);
        out
    })
}

/// A batch as one binary `COPY` payload.
#[derive(Debug)]
pub(crate) struct CopyRows {
    payload: Vec<u8>,
}

/// Microseconds from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_US: i128 = 946_684_800_000_000;

/// Appends one field's 4-byte length, then its bytes.
struct CopyFields<'a> {
    out: &'a mut Vec<u8>,
    /// The pipeline's JSON of the entry, when it has it: `serde_json` of
    /// the entry, made once while hashing it.
    json: Option<&'a [u8]>,
}

impl CopyFields<'_> {
    fn field(&mut self, bytes: &[u8]) {
        self.len_prefix(bytes.len());
        self.out.extend_from_slice(bytes);
    }

    fn len_prefix(&mut self, len: usize) {
        // No field of an entry comes near 2 GiB (the layer caps bodies, the
        // queue's byte bound holds whole entries); were one to, the length
        // saturates, the server rejects the stream, and the batch fails
        // with its error instead of writing a wrapped length.
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        self.out.extend_from_slice(&len.to_be_bytes());
    }

    fn null(&mut self) {
        self.out.extend_from_slice(&(-1i32).to_be_bytes());
    }

    /// Serializes `v` in place after a length to be filled in; `prefix`
    /// goes before the JSON (the `jsonb` format's version byte).
    fn json_field<T: Serialize + ?Sized>(
        &mut self,
        prefix: &[u8],
        v: &T,
        nul_safe: bool,
    ) -> serde_json::Result<()> {
        let at = self.out.len();
        self.out.extend_from_slice(&[0; 4]);
        self.out.extend_from_slice(prefix);
        let json_at = self.out.len();
        serde_json::to_writer(&mut *self.out, v)?;
        if nul_safe && let Some(safe) = jsonb_safe(&self.out[json_at..]) {
            self.out.truncate(json_at);
            self.out.extend_from_slice(&safe);
        }
        let len = i32::try_from(self.out.len() - at - 4).unwrap_or(i32::MAX);
        self.out[at..at + 4].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }
}

impl Fields for CopyFields<'_> {
    fn uuid(&mut self, v: Option<Uuid>) {
        match v {
            Some(u) => self.field(u.as_bytes()),
            None => self.null(),
        }
    }

    fn time(&mut self, v: OffsetDateTime) {
        // Microseconds since 2000, truncated as sqlx's own encoding does.
        let us = v.unix_timestamp_nanos() / 1000 - PG_EPOCH_US;
        let us = i64::try_from(us).unwrap_or(if us < 0 { i64::MIN } else { i64::MAX });
        self.field(&us.to_be_bytes());
    }

    fn text(&mut self, v: Option<&str>) {
        match v {
            Some(s) => self.field(text(s).as_bytes()),
            None => self.null(),
        }
    }

    fn jsonb<T: Serialize + ?Sized>(&mut self, v: Option<&T>) -> serde_json::Result<()> {
        match v {
            // Version 1 of the binary format: the text follows.
            Some(v) => self.json_field(&[1], v, true),
            None => {
                self.null();
                Ok(())
            }
        }
    }

    fn json(&mut self, e: &AuditEvent) -> serde_json::Result<()> {
        match self.json {
            Some(json) => {
                self.field(json);
                Ok(())
            }
            None => self.json_field(&[], e, false),
        }
    }

    fn inet(&mut self, v: Option<IpAddr>) {
        // Family (PGSQL_AF_INET 2, PGSQL_AF_INET6 3), prefix bits, is_cidr,
        // address length, address.
        match v {
            Some(IpAddr::V4(a)) => {
                self.len_prefix(8);
                self.out.extend_from_slice(&[2, 32, 0, 4]);
                self.out.extend_from_slice(&a.octets());
            }
            Some(IpAddr::V6(a)) => {
                self.len_prefix(20);
                self.out.extend_from_slice(&[3, 128, 0, 16]);
                self.out.extend_from_slice(&a.octets());
            }
            None => self.null(),
        }
    }

    fn int4(&mut self, v: Option<i32>) {
        match v {
            Some(i) => self.field(&i.to_be_bytes()),
            None => self.null(),
        }
    }

    fn int8(&mut self, v: Option<i64>) {
        match v {
            Some(i) => self.field(&i.to_be_bytes()),
            None => self.null(),
        }
    }
}

impl CopyRows {
    /// Encodes a batch, with the pipeline's JSON of its entries where it has
    /// it (for the `entry` column; the same bytes `serde_json` would make).
    /// An entry that cannot be encoded fails the batch permanently.
    pub(crate) fn encode(batch: Batch<'_>, details: bool) -> Result<Self, SinkError> {
        let entries = batch.entries().unwrap_or_default();
        // A row holds about the entry's JSON twice: in `entry`, and in parts.
        let size: usize = (0..entries.len()).map(|i| batch.json(i).map_or(1024, Bytes::len)).sum();
        let mut payload = Vec::with_capacity(19 + 2 * size + 2);
        payload.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        payload.extend_from_slice(&0i32.to_be_bytes()); // flags
        payload.extend_from_slice(&0i32.to_be_bytes()); // header extension
        for (i, e) in entries.iter().enumerate() {
            payload.extend_from_slice(&(COLUMNS.len() as i16).to_be_bytes());
            let json = batch.json(i).map(|json| &json[..]);
            visit(e, details, &mut CopyFields { out: &mut payload, json })
                .map_err(|why| unencodable(e, why))?;
        }
        payload.extend_from_slice(&(-1i16).to_be_bytes());
        Ok(Self { payload })
    }

    /// Copies the rows in. Fails as a whole (storing nothing) when one of
    /// them is already stored: SQLSTATE 23505, see [`is_duplicate`].
    pub(crate) async fn copy(&self, conn: &mut sqlx::PgConnection) -> Result<u64, sqlx::Error> {
        let mut copy = conn.copy_in_raw(&COPY).await?;
        copy.send(self.payload.as_slice()).await?;
        copy.finish().await
    }
}

/// Whether `error` is a unique violation: an entry of the batch is
/// already stored (a replay), or the batch holds one entry twice.
pub(crate) fn is_duplicate(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// One column of a batch, ready to bind as an array.
#[derive(Debug)]
enum Column {
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
struct ColumnFields<'a> {
    columns: &'a mut [Column],
    next: usize,
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
        let mut columns: Vec<Column> = COLUMNS
            .iter()
            .map(|(_, kind)| match kind {
                Kind::Uuid => Column::Uuid(Vec::with_capacity(n)),
                Kind::Time => Column::Time(Vec::with_capacity(n)),
                Kind::Int4 => Column::Int4(Vec::with_capacity(n)),
                Kind::Int8 => Column::Int8(Vec::with_capacity(n)),
                Kind::Text | Kind::Jsonb | Kind::Json | Kind::Inet => {
                    Column::Text(Vec::with_capacity(n))
                }
            })
            .collect();
        for e in batch {
            let mut fields = ColumnFields { columns: &mut columns, next: 0 };
            visit(e, details, &mut fields).map_err(|why| unencodable(e, why))?;
            debug_assert_eq!(fields.next, COLUMNS.len());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_replaced_for_jsonb_and_escaped_backslashes_are_not() {
        let cases: [(&str, Option<&str>); 5] = [
            (r#"{"a":"x"}"#, None),
            (r#"{"a":"\u0000"}"#, Some(r#"{"a":"\ufffd"}"#)),
            // The text `\u0000`, not a NUL: a backslash, then `u0000`.
            (r#"{"a":"\\u0000"}"#, None),
            (r#"{"a":"\\\u0000"}"#, Some(r#"{"a":"\\\ufffd"}"#)),
            (r#"["\u0000","\"\u0000"]"#, Some(r#"["\ufffd","\"\ufffd"]"#)),
        ];
        for (json, expected) in cases {
            let got = jsonb_safe(json.as_bytes()).map(|v| String::from_utf8(v).unwrap());
            assert_eq!(got.as_deref(), expected, "{json}");
        }
        // What serde_json writes for a NUL, through the sink's path.
        let mut fields = ColumnFields { columns: &mut [Column::Text(Vec::new())], next: 0 };
        fields.jsonb(Some(&serde_json::json!({"nul": "a\u{0}b"}))).unwrap();
        let Column::Text(c) = &fields.columns[0] else { unreachable!() };
        assert_eq!(c[0].as_deref(), Some(r#"{"nul":"a\ufffdb"}"#));
    }

    #[test]
    fn the_statements_name_every_column_once_in_order() {
        let list = column_list();
        assert_eq!(list.split(", ").count(), 34);
        assert!(COPY.contains(&format!("({list})")), "{}", *COPY);
        assert!(INSERT.contains("$34::text[]) WITH ORDINALITY"), "{}", *INSERT);
        assert!(INSERT.contains("u.entry::json FROM"), "{}", *INSERT);
        assert!(INSERT.contains("u.ip::inet,"), "{}", *INSERT);
    }
}
