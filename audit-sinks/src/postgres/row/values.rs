//! An entry as the values of its row, column by column: the one mapping
//! that both ways of writing a batch use.

use std::net::IpAddr;

use audit_core::{AuditEvent, Request, SinkError};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

/// Receives an entry's values one column at a time, in [`COLUMN_TYPES`](super::columns::COLUMN_TYPES) order.
pub(super) trait Fields {
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
pub(super) fn visit(e: &AuditEvent, details: bool, f: &mut impl Fields) -> Result<(), String> {
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
pub(super) fn unencodable(e: &AuditEvent, why: String) -> SinkError {
    SinkError::permanent(format!("audit entry {} cannot be written to PostgreSQL: {why}", e.id))
}

/// PostgreSQL text cannot hold NUL: the typed columns (used to filter) get
/// U+FFFD instead. The `entry` column keeps the exact JSON.
pub(super) fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') { s.replace('\0', "\u{FFFD}").into() } else { s.into() }
}

/// Replaces every `\u0000` escape in `json` (which `jsonb` refuses) with
/// `\ufffd`, leaving alone a `\\u0000` (an escaped backslash before the
/// letters `u0000`). Returns `None` when there is none.
pub(super) fn jsonb_safe(json: &[u8]) -> Option<Vec<u8>> {
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
