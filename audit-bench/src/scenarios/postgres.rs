//! Scenario 5, Postgres sink: `PostgresSink::write` against raw binary `COPY`
//! of the same rows (same columns, same values, one COPY per batch) and
//! against one `INSERT` per row (autocommit), in a fresh database.

use crate::harness::{Bench, BenchResult};
use crate::report::ScenarioReport;

/// Runs the scenario (or reports it skipped when the sink is not built).
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    imp::run(bench)
}

#[cfg(not(feature = "postgres"))]
mod imp {
    use super::*;

    pub(super) fn run(_bench: &Bench) -> BenchResult<ScenarioReport> {
        Ok(ScenarioReport::skipped("postgres", "Postgres sink", crate::pg::NOT_BUILT))
    }
}

#[cfg(feature = "postgres")]
mod imp {
    use std::net::IpAddr;
    use std::time::{Duration, Instant};

    use audit_core::{AuditEvent, Request, Sink as _};
    use audit_sinks::postgres::{COLUMNS, PostgresSink};
    use sqlx::Connection as _;
    use sqlx::postgres::PgConnection;
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::entry;
    use crate::harness::{self, interleave};
    use crate::report::{Row, Side, Target};
    use crate::scenarios::summary;
    use crate::stats::ratios;

    const BATCH: usize = 512;

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

    /// How a column of the sink's table is typed (its schema, in
    /// `audit_sinks::postgres`'s docs).
    fn kind(column: &str) -> Kind {
        match column {
            "id" | "chain_id" => Kind::Uuid,
            "time" => Kind::Time,
            "resources" | "request" | "response" | "changes" | "metadata" => Kind::Jsonb,
            "entry" => Kind::Json,
            "ip" => Kind::Inet,
            "status" | "grpc_status" => Kind::Int4,
            "chain_seq" => Kind::Int8,
            _ => Kind::Text,
        }
    }

    #[derive(Debug, Clone)]
    enum Val {
        Uuid(Option<Uuid>),
        Time(OffsetDateTime),
        /// text, json, jsonb and inet, as text.
        Text(Option<String>),
        I32(Option<i32>),
        I64(Option<i64>),
    }

    fn json(v: &impl serde::Serialize) -> BenchResult<String> {
        Ok(serde_json::to_string(v)?)
    }

    /// The row of an entry, as the sink maps it: the values of [`COLUMNS`], in order.
    fn row(e: &AuditEvent) -> BenchResult<Vec<Val>> {
        let t = |s: &str| Val::Text(Some(s.to_owned()));
        let o = |s: Option<&str>| Val::Text(s.map(str::to_owned));
        let first = e.resource.first();
        let (method, route) = match &e.request {
            Some(Request::Http(h)) => (Some(h.method.clone()), h.route.clone()),
            Some(Request::Grpc(g)) => {
                (Some(g.method.clone()), Some(format!("/{}/{}", g.service, g.method)))
            }
            Some(_) | None => (None, None),
        };
        let response = e.response.as_ref();
        let chain = e.chain.as_ref();
        Ok(vec![
            Val::Uuid(Some(e.id)),
            Val::Time(e.time),
            t(&e.event),
            t(e.action.as_str()),
            t(e.outcome.as_str()),
            o(e.reason.as_deref()),
            t(&e.actor.to_string()),
            t(e.actor.kind.as_str()),
            o(e.actor.id.as_deref()),
            o(e.actor.name.as_deref()),
            o(e.actor.email.as_deref()),
            o(e.tenant.as_deref()),
            o(first.map(|r| r.kind.as_str())),
            o(first.and_then(|r| r.id.as_deref())),
            Val::Text(Some(json(&e.resource)?)),
            t(&e.description),
            Val::Text(e.source.ip.map(|ip| ip.to_string())),
            o(e.source.user_agent.as_deref()),
            o(e.source.request_id.as_deref()),
            Val::Text(method),
            Val::Text(route),
            Val::I32(response.and_then(|r| r.status).map(i32::from)),
            Val::I32(response.and_then(|r| r.grpc_status)),
            o(Some(e.service.name.as_str()).filter(|n| !n.is_empty())),
            o(e.service.instance.as_deref()),
            Val::Uuid(chain.map(|c| c.id)),
            Val::I64(chain.map(|c| c.seq as i64)),
            o(chain.map(|c| c.prev.as_str())),
            o(chain.map(|c| c.hash.as_str())),
            Val::Text(e.request.as_ref().map(json).transpose()?),
            Val::Text(e.response.as_ref().map(json).transpose()?),
            Val::Text(Some(&e.changes).filter(|c| !c.is_empty()).map(json).transpose()?),
            Val::Text(Some(&e.metadata).filter(|m| !m.is_empty()).map(json).transpose()?),
            Val::Text(Some(json(e)?)),
        ])
    }

    /// Microseconds between 1970 and 2000, PostgreSQL's epoch.
    const PG_EPOCH_US: i128 = 946_684_800_000_000;

    /// One field in PostgreSQL's binary COPY format.
    fn encode(out: &mut Vec<u8>, kind: Kind, v: &Val) -> BenchResult<()> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        const NULL: [u8; 4] = (-1i32).to_be_bytes();
        match (kind, v) {
            (Kind::Uuid, Val::Uuid(Some(u))) => field(out, u.as_bytes()),
            (Kind::Time, Val::Time(t)) => {
                let us = (t.unix_timestamp_nanos() / 1000 - PG_EPOCH_US) as i64;
                field(out, &us.to_be_bytes());
            }
            (Kind::Text | Kind::Json, Val::Text(Some(s))) => field(out, s.as_bytes()),
            (Kind::Jsonb, Val::Text(Some(s))) => {
                out.extend_from_slice(&(s.len() as i32 + 1).to_be_bytes());
                out.push(1);
                out.extend_from_slice(s.as_bytes());
            }
            (Kind::Inet, Val::Text(Some(s))) => match s.parse::<IpAddr>()? {
                IpAddr::V4(a) => {
                    field(out, &[&[2u8, 32, 0, 4][..], &a.octets()[..]].concat());
                }
                IpAddr::V6(a) => {
                    field(out, &[&[3u8, 128, 0, 16][..], &a.octets()[..]].concat());
                }
            },
            (Kind::Int4, Val::I32(Some(i))) => field(out, &i.to_be_bytes()),
            (Kind::Int8, Val::I64(Some(i))) => field(out, &i.to_be_bytes()),
            (_, Val::Uuid(None) | Val::Text(None) | Val::I32(None) | Val::I64(None)) => {
                out.extend_from_slice(&NULL)
            }
            (kind, v) => return Err(format!("cannot encode {v:?} as {kind:?}").into()),
        }
        Ok(())
    }

    /// A whole binary COPY payload for these rows.
    fn copy_payload(rows: &[Vec<Val>]) -> BenchResult<Vec<u8>> {
        let mut out = Vec::with_capacity(rows.len() * 3000);
        out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        out.extend_from_slice(&0i32.to_be_bytes()); // flags
        out.extend_from_slice(&0i32.to_be_bytes()); // header extension
        for row in rows {
            out.extend_from_slice(&(COLUMNS.len() as i16).to_be_bytes());
            for (column, v) in COLUMNS.iter().zip(row) {
                encode(&mut out, kind(column), v)?;
            }
        }
        out.extend_from_slice(&(-1i16).to_be_bytes());
        Ok(out)
    }

    fn column_list() -> String {
        COLUMNS.join(", ")
    }

    fn insert_sql() -> String {
        let params: Vec<String> = COLUMNS
            .iter()
            .enumerate()
            .map(|(i, column)| match kind(column) {
                Kind::Jsonb => format!("${}::jsonb", i + 1),
                Kind::Json => format!("${}::json", i + 1),
                Kind::Inet => format!("${}::inet", i + 1),
                _ => format!("${}", i + 1),
            })
            .collect();
        format!("INSERT INTO audit_events ({}) VALUES ({})", column_list(), params.join(", "))
    }

    fn batch(template: &AuditEvent, seq: &mut u64, n: usize) -> Vec<AuditEvent> {
        (0..n)
            .map(|_| {
                *seq += 1;
                entry::finished(template, *seq)
            })
            .collect()
    }

    async fn sink_rate(sink: &PostgresSink, duration: Duration) -> BenchResult<f64> {
        let template = entry::template();
        let mut seq = 0;
        let (mut timed, mut written) = (Duration::ZERO, 0u64);
        let started = Instant::now();
        while started.elapsed() < duration {
            let events = batch(&template, &mut seq, BATCH);
            let t = Instant::now();
            sink.write(audit_core::Batch::new(&events)).await?;
            timed += t.elapsed();
            written += BATCH as u64;
        }
        Ok(written as f64 / timed.as_secs_f64().max(1e-9))
    }

    async fn copy_rate(conn: &mut PgConnection, duration: Duration) -> BenchResult<f64> {
        let template = entry::template();
        let statement = format!("COPY audit_events ({}) FROM STDIN (FORMAT binary)", column_list());
        let mut seq = 0;
        let (mut timed, mut written) = (Duration::ZERO, 0u64);
        let started = Instant::now();
        while started.elapsed() < duration {
            let rows = batch(&template, &mut seq, BATCH)
                .iter()
                .map(row)
                .collect::<BenchResult<Vec<_>>>()?;
            let payload = copy_payload(&rows)?;
            let t = Instant::now();
            let mut copy = conn.copy_in_raw(&statement).await?;
            copy.send(payload).await?;
            let n = copy.finish().await?;
            timed += t.elapsed();
            written += n;
        }
        Ok(written as f64 / timed.as_secs_f64().max(1e-9))
    }

    async fn insert_rate(conn: &mut PgConnection, duration: Duration) -> BenchResult<f64> {
        let template = entry::template();
        let sql = insert_sql();
        let mut seq = 0;
        let (mut timed, mut written) = (Duration::ZERO, 0u64);
        let started = Instant::now();
        while started.elapsed() < duration || written == 0 {
            let e = batch(&template, &mut seq, 1).remove(0);
            let values = row(&e)?;
            let t = Instant::now();
            let mut q = sqlx::query(&sql);
            for v in values {
                q = match v {
                    Val::Uuid(u) => q.bind(u),
                    Val::Time(t) => q.bind(t),
                    Val::Text(s) => q.bind(s),
                    Val::I32(i) => q.bind(i),
                    Val::I64(i) => q.bind(i),
                };
            }
            q.execute(&mut *conn).await?;
            timed += t.elapsed();
            written += 1;
        }
        Ok(written as f64 / timed.as_secs_f64().max(1e-9))
    }

    pub(super) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
        let mut report = ScenarioReport::new("postgres", "Postgres sink");
        let db = match crate::pg::create(bench, "pg") {
            Ok(db) => db,
            Err(e) => {
                return Ok(ScenarioReport::skipped(
                    "postgres",
                    "Postgres sink",
                    format!("Postgres not reachable at {}: {e}", bench.settings.postgres_url),
                ));
            }
        };
        let rt = bench.server_runtime()?;
        let url = db.url().to_owned();
        let setup = rt.block_on(async {
            let sink = PostgresSink::connect(&url).await?;
            let lean = PostgresSink::builder()
                .name("postgres-lean")
                .detail_columns(false)
                .connect(&url)
                .await?;
            let conn = PgConnection::connect(&url).await?;
            Ok::<_, crate::harness::BenchError>((sink, lean, conn))
        });
        let (sink, lean, mut conn) = match setup {
            Ok(s) => s,
            Err(e) => {
                harness::stop(rt);
                crate::pg::drop_now(bench, db)?;
                return Err(e);
            }
        };
        let duration = bench.settings.short_duration();
        let results = interleave(bench.settings.rounds, 4, |_, v| {
            rt.block_on(async {
                match v {
                    0 => sink_rate(&sink, duration).await,
                    1 => copy_rate(&mut conn, duration).await,
                    2 => insert_rate(&mut conn, duration / 2).await,
                    _ => sink_rate(&lean, duration).await,
                }
            })
        });
        rt.block_on(async {
            let _ = sink.shutdown().await;
            let _ = lean.shutdown().await;
            let _ = conn.close().await;
        });
        drop((sink, lean));
        harness::stop(rt);
        crate::pg::drop_now(bench, db)?;
        let results = results?;
        let side = |label: &str, v: usize| Side::new(label, summary(&results[v]), "entries/s");
        report.row(Row::ratio(
            &format!("sink / raw binary COPY, batch {BATCH}"),
            side("sink", 0),
            side("COPY", 1),
            summary(&ratios(&results[0], &results[1])),
            Target::AtLeast(0.7),
        ));
        report.row(Row::ratio(
            "sink / one INSERT per row",
            side("sink", 0),
            side("INSERT", 2),
            summary(&ratios(&results[0], &results[2])),
            Target::AtLeast(20.0),
        ));
        report.row(Row::ratio(
            "sink without the jsonb detail columns (`detail_columns(false)`) / sink",
            side("without", 3),
            side("sink", 0),
            summary(&ratios(&results[3], &results[0])),
            Target::Info,
        ));
        report.row(Row::ratio(
            "sink without the jsonb detail columns / one INSERT per row",
            side("without", 3),
            side("INSERT", 2),
            summary(&ratios(&results[3], &results[2])),
            Target::Info,
        ));
        report.note(format!(
            "Fresh database per run at {}; the same 34 columns and values the sink writes; only \
             the database calls are timed (the raw baselines get rows already encoded, the sink \
             encodes its own). The sink's `write` is one binary COPY per batch (and, for a \
             batch holding entries already stored, one `INSERT .. SELECT FROM UNNEST(..) ON \
             CONFLICT DO NOTHING`, which this load never needs); COPY and INSERT autocommit.",
            bench.settings.postgres_url
        ));
        Ok(report)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_row_has_every_column_and_encodes() {
            let e = entry::finished(&entry::template(), 1);
            let r = row(&e).unwrap();
            assert_eq!(r.len(), COLUMNS.len());
            let payload = copy_payload(&[r]).unwrap();
            assert!(payload.starts_with(b"PGCOPY\n\xff\r\n\0"));
            assert!(payload.ends_with(&(-1i16).to_be_bytes()));
            assert!(insert_sql().contains("$34::json)"));
        }
    }
}
