//! A batch of entries as column arrays, inserted with one `UNNEST` statement.

use std::collections::BTreeSet;

use audit_core::{AuditEvent, Request, SinkError};
use sqlx::PgExecutor;
use sqlx::postgres::PgQueryResult;
use time::OffsetDateTime;
use uuid::Uuid;

use super::partition::Month;

/// One round trip per batch: every column is bound as an array and
/// `UNNEST`ed, in batch order (so `ingest_seq` follows it). A replayed entry
/// has the same `(id, time)` and is skipped.
const INSERT: &str = r#"
INSERT INTO audit_events (
    id, time, event, action, outcome, reason,
    actor, actor_kind, actor_id, actor_name, actor_email,
    tenant, resource_type, resource_id, resources, description,
    ip, user_agent, request_id, method, route, status, grpc_status,
    service_name, service_instance, chain_id, chain_seq, chain_prev, chain_hash,
    request, response, changes, metadata, entry
)
SELECT
    u.id, u.time, u.event, u.action, u.outcome, u.reason,
    u.actor, u.actor_kind, u.actor_id, u.actor_name, u.actor_email,
    u.tenant, u.resource_type, u.resource_id, u.resources::jsonb, u.description,
    u.ip::inet, u.user_agent, u.request_id, u.method, u.route, u.status, u.grpc_status,
    u.service_name, u.service_instance, u.chain_id, u.chain_seq, u.chain_prev, u.chain_hash,
    u.request::jsonb, u.response::jsonb, u.changes::jsonb, u.metadata::jsonb, u.entry::json
FROM UNNEST(
    $1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
    $12::text[], $13::text[], $14::text[], $15::text[], $16::text[],
    $17::text[], $18::text[], $19::text[], $20::text[], $21::text[], $22::int4[], $23::int4[],
    $24::text[], $25::text[], $26::uuid[], $27::int8[], $28::text[], $29::text[],
    $30::text[], $31::text[], $32::text[], $33::text[], $34::text[]
) WITH ORDINALITY AS u(
    id, time, event, action, outcome, reason,
    actor, actor_kind, actor_id, actor_name, actor_email,
    tenant, resource_type, resource_id, resources, description,
    ip, user_agent, request_id, method, route, status, grpc_status,
    service_name, service_instance, chain_id, chain_seq, chain_prev, chain_hash,
    request, response, changes, metadata, entry, ord
)
ORDER BY u.ord
ON CONFLICT (id, time) DO NOTHING
"#;

type Texts = Vec<Option<String>>;

/// The columns of a batch, ready to bind.
#[derive(Debug, Default)]
pub(crate) struct Columns {
    len: usize,
    id: Vec<Uuid>,
    time: Vec<OffsetDateTime>,
    event: Vec<String>,
    action: Vec<String>,
    outcome: Vec<String>,
    reason: Texts,
    actor: Vec<String>,
    actor_kind: Vec<String>,
    actor_id: Texts,
    actor_name: Texts,
    actor_email: Texts,
    tenant: Texts,
    resource_type: Texts,
    resource_id: Texts,
    resources: Vec<String>,
    description: Vec<String>,
    ip: Texts,
    user_agent: Texts,
    request_id: Texts,
    method: Texts,
    route: Texts,
    status: Vec<Option<i32>>,
    grpc_status: Vec<Option<i32>>,
    service_name: Texts,
    service_instance: Texts,
    chain_id: Vec<Option<Uuid>>,
    chain_seq: Vec<Option<i64>>,
    chain_prev: Texts,
    chain_hash: Texts,
    request: Texts,
    response: Texts,
    changes: Texts,
    metadata: Texts,
    entry: Vec<String>,
    months: BTreeSet<Month>,
}

/// PostgreSQL text cannot hold NUL: the typed columns (used to filter) get
/// U+FFFD instead. The `entry` column keeps the exact JSON.
fn text(s: &str) -> String {
    if s.contains('\0') { s.replace('\0', "\u{FFFD}") } else { s.to_owned() }
}

fn opt(s: Option<&str>) -> Option<String> {
    s.map(text)
}

/// JSON for a `jsonb` column, which cannot hold `\u0000` either.
fn jsonb(value: &impl serde::Serialize) -> Result<String, serde_json::Error> {
    let json = serde_json::to_string(value)?;
    Ok(if json.contains("\\u0000") { json.replace("\\u0000", "\\ufffd") } else { json })
}

impl Columns {
    /// Encodes a batch. An entry that cannot be encoded fails the batch
    /// permanently: retrying would fail the same way.
    pub(crate) fn encode(batch: &[AuditEvent]) -> Result<Self, SinkError> {
        let mut c = Self { len: batch.len(), ..Self::default() };
        for e in batch {
            c.push(e).map_err(|why| {
                SinkError::permanent(format!(
                    "audit entry {} cannot be written to PostgreSQL: {why}",
                    e.id
                ))
            })?;
        }
        Ok(c)
    }

    fn push(&mut self, e: &AuditEvent) -> Result<(), String> {
        let json_error = |e: serde_json::Error| format!("it cannot be serialized as JSON: {e}");
        self.entry.push(serde_json::to_string(e).map_err(json_error)?);
        self.id.push(e.id);
        self.time.push(e.time);
        self.months.insert(Month::of(e.time));
        self.event.push(text(&e.event));
        self.action.push(e.action.as_str().to_owned());
        self.outcome.push(e.outcome.as_str().to_owned());
        self.reason.push(opt(e.reason.as_deref()));
        self.actor.push(text(&e.actor.to_string()));
        self.actor_kind.push(e.actor.kind.as_str().to_owned());
        self.actor_id.push(opt(e.actor.id.as_deref()));
        self.actor_name.push(opt(e.actor.name.as_deref()));
        self.actor_email.push(opt(e.actor.email.as_deref()));
        self.tenant.push(opt(e.tenant.as_deref()));
        let first = e.resource.first();
        self.resource_type.push(opt(first.map(|r| r.kind.as_str())));
        self.resource_id.push(opt(first.and_then(|r| r.id.as_deref())));
        self.resources.push(jsonb(&e.resource).map_err(json_error)?);
        self.description.push(text(&e.description));
        self.ip.push(e.source.ip.map(|ip| ip.to_string()));
        self.user_agent.push(opt(e.source.user_agent.as_deref()));
        self.request_id.push(opt(e.source.request_id.as_deref()));
        let (method, route) = match &e.request {
            Some(Request::Http(http)) => (Some(text(&http.method)), opt(http.route.as_deref())),
            Some(Request::Grpc(grpc)) => (
                Some(text(&grpc.method)),
                Some(text(&format!("/{}/{}", grpc.service, grpc.method))),
            ),
            // `Request` is non-exhaustive.
            Some(_) | None => (None, None),
        };
        self.method.push(method);
        self.route.push(route);
        let response = e.response.as_ref();
        self.status.push(response.and_then(|r| r.status).map(i32::from));
        self.grpc_status.push(response.and_then(|r| r.grpc_status));
        self.service_name.push(Some(e.service.name.as_str()).filter(|n| !n.is_empty()).map(text));
        self.service_instance.push(opt(e.service.instance.as_deref()));
        let chain = e.chain.as_ref();
        self.chain_id.push(chain.map(|c| c.id));
        let seq = chain
            .map(|c| {
                i64::try_from(c.seq).map_err(|_| format!("its chain seq {} is too large", c.seq))
            })
            .transpose()?;
        self.chain_seq.push(seq);
        self.chain_prev.push(opt(chain.map(|c| c.prev.as_str())));
        self.chain_hash.push(opt(chain.map(|c| c.hash.as_str())).filter(|h| !h.is_empty()));
        self.request.push(e.request.as_ref().map(jsonb).transpose().map_err(json_error)?);
        self.response.push(e.response.as_ref().map(jsonb).transpose().map_err(json_error)?);
        let changes = Some(&e.changes).filter(|c| !c.is_empty());
        self.changes.push(changes.map(jsonb).transpose().map_err(json_error)?);
        let metadata = Some(&e.metadata).filter(|m| !m.is_empty());
        self.metadata.push(metadata.map(jsonb).transpose().map_err(json_error)?);
        Ok(())
    }

    /// How many entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The months the entries fall in.
    pub(crate) fn months(&self) -> impl Iterator<Item = Month> + '_ {
        self.months.iter().copied()
    }

    /// Inserts the batch; entries already stored are skipped.
    pub(crate) async fn insert<'e>(
        &self,
        executor: impl PgExecutor<'e>,
    ) -> Result<PgQueryResult, sqlx::Error> {
        sqlx::query(INSERT)
            .bind(&self.id)
            .bind(&self.time)
            .bind(&self.event)
            .bind(&self.action)
            .bind(&self.outcome)
            .bind(&self.reason)
            .bind(&self.actor)
            .bind(&self.actor_kind)
            .bind(&self.actor_id)
            .bind(&self.actor_name)
            .bind(&self.actor_email)
            .bind(&self.tenant)
            .bind(&self.resource_type)
            .bind(&self.resource_id)
            .bind(&self.resources)
            .bind(&self.description)
            .bind(&self.ip)
            .bind(&self.user_agent)
            .bind(&self.request_id)
            .bind(&self.method)
            .bind(&self.route)
            .bind(&self.status)
            .bind(&self.grpc_status)
            .bind(&self.service_name)
            .bind(&self.service_instance)
            .bind(&self.chain_id)
            .bind(&self.chain_seq)
            .bind(&self.chain_prev)
            .bind(&self.chain_hash)
            .bind(&self.request)
            .bind(&self.response)
            .bind(&self.changes)
            .bind(&self.metadata)
            .bind(&self.entry)
            .execute(executor)
            .await
    }
}
