//! A batch as one binary `COPY` payload: the normal way of writing it.

use std::net::IpAddr;
use std::sync::LazyLock;

use audit_core::{AuditEvent, Batch, SinkError};
use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::columns::{COLUMN_TYPES, column_list};
use super::values::{Fields, jsonb_safe, text, unencodable, visit};

/// `COPY audit_events (..) FROM STDIN (FORMAT binary)`.
pub(super) static COPY: LazyLock<String> =
    LazyLock::new(|| format!("COPY audit_events ({}) FROM STDIN (FORMAT binary)", column_list()));

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
            payload.extend_from_slice(&(COLUMN_TYPES.len() as i16).to_be_bytes());
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
