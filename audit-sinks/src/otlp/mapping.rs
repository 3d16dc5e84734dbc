//! Entries to OTLP log records; the table is in the module docs of `otlp`.

use std::time::{SystemTime, UNIX_EPOCH};

use audit_core::{ActorKind, AuditEvent, Outcome, Request, ServiceInfo};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs, SeverityNumber};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// The instrumentation scope of every record.
pub(crate) const SCOPE_NAME: &str = "audit";

/// The OpenTelemetry semantic conventions version the attribute names follow.
const SCHEMA_URL: &str = "https://opentelemetry.io/schemas/1.34.0";

fn string(value: impl Into<String>) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(value.into())) }
}

fn int(value: i64) -> AnyValue {
    AnyValue { value: Some(any_value::Value::IntValue(value)) }
}

struct Attributes(Vec<KeyValue>);

impl Attributes {
    fn put(&mut self, key: &str, value: AnyValue) {
        self.0.push(KeyValue { key: key.to_owned(), value: Some(value), ..Default::default() });
    }

    fn str(&mut self, key: &str, value: impl Into<String>) {
        self.put(key, string(value));
    }

    fn opt(&mut self, key: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.str(key, v);
        }
    }

    /// A JSON document as a string attribute (OTLP backends index strings
    /// everywhere; nested key-value lists much less so).
    fn json(&mut self, key: &str, value: serde_json::Result<String>) {
        // Serializing the entry's own types does not fail; if it ever did, the
        // entry is still exported, with the error in place of the value.
        let s = value.unwrap_or_else(|e| {
            serde_json::json!({ "$error": format!("not serializable: {e}") }).to_string()
        });
        self.str(key, s);
    }
}

fn severity(outcome: Outcome) -> (SeverityNumber, &'static str) {
    match outcome {
        Outcome::Success => (SeverityNumber::Info, "INFO"),
        _ => (SeverityNumber::Warn, "WARN"),
    }
}

fn unix_nanos(time: time::OffsetDateTime) -> u64 {
    u64::try_from(time.unix_timestamp_nanos()).unwrap_or(0)
}

fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One log record for one entry.
pub(crate) fn log_record(event: &AuditEvent, observed_unix_nanos: u64) -> LogRecord {
    let mut a = Attributes(Vec::with_capacity(32));
    a.str("audit.id", event.id.to_string());
    a.str("audit.action", event.action.as_str());
    a.str("audit.outcome", event.outcome.as_str());
    a.opt("audit.reason", event.reason.as_deref());

    let actor = &event.actor;
    a.str("audit.actor.kind", actor.kind.as_str());
    a.str("audit.actor.name", actor.to_string());
    if actor.kind == ActorKind::User {
        a.opt("user.id", actor.id.as_deref());
        a.opt("user.name", actor.name.as_deref());
        a.opt("user.email", actor.email.as_deref());
    } else {
        a.opt("audit.actor.id", actor.id.as_deref());
    }
    a.opt("audit.tenant", event.tenant.as_deref());

    if let Some(r) = event.primary_resource() {
        a.str("audit.resource.type", r.kind.as_str());
        a.opt("audit.resource.id", r.id.as_deref());
        a.opt("audit.resource.name", r.name.as_deref());
    }
    if event.resource.len() > 1 {
        a.json("audit.resources", serde_json::to_string(&event.resource));
    }

    if let Some(ip) = event.source.ip {
        a.str("client.address", ip.to_string());
    }
    a.opt("user_agent.original", event.source.user_agent.as_deref());
    a.opt("audit.request_id", event.source.request_id.as_deref());

    match &event.request {
        Some(Request::Http(http)) => {
            a.str("http.request.method", http.method.as_str());
            a.opt("http.route", http.route.as_deref());
            a.str("url.path", http.path.as_str());
            a.opt("url.query", http.query.as_deref());
        }
        Some(Request::Grpc(grpc)) => {
            a.str("rpc.system", "grpc");
            a.str("rpc.service", grpc.service.as_str());
            a.str("rpc.method", grpc.method.as_str());
        }
        // `Request` is non-exhaustive: a future kind is still in `audit.request`.
        Some(_) | None => {}
    }
    if let Some(request) = &event.request {
        a.json("audit.request", serde_json::to_string(request));
    }
    if let Some(response) = &event.response {
        if let Some(status) = response.status {
            a.put("http.response.status_code", int(i64::from(status)));
        }
        if let Some(code) = response.grpc_status {
            a.put("rpc.grpc.status_code", int(i64::from(code)));
        }
        a.json("audit.response", serde_json::to_string(response));
    }
    if !event.changes.is_empty() {
        a.json("audit.changes", serde_json::to_string(&event.changes));
    }
    if !event.metadata.is_empty() {
        a.json("audit.metadata", serde_json::to_string(&event.metadata));
    }
    if let Some(chain) = &event.chain {
        a.str("audit.chain.id", chain.id.to_string());
        a.put("audit.chain.seq", int(saturating_i64(chain.seq)));
        a.str("audit.chain.prev", chain.prev.as_str());
        a.str("audit.chain.hash", chain.hash.as_str());
    }

    let (number, text) = severity(event.outcome);
    LogRecord {
        time_unix_nano: unix_nanos(event.time),
        observed_time_unix_nano: observed_unix_nanos,
        severity_number: number as i32,
        severity_text: text.to_owned(),
        body: Some(string(event.description.as_str())),
        attributes: a.0,
        event_name: event.event.clone(),
        ..Default::default()
    }
}

fn resource(service: &ServiceInfo) -> Resource {
    let mut a = Attributes(Vec::with_capacity(3));
    // The semantic conventions' fallback when a service has no name.
    let name = if service.name.is_empty() { "unknown_service" } else { service.name.as_str() };
    a.str("service.name", name);
    a.opt("service.version", service.version.as_deref());
    a.opt("service.instance.id", service.instance.as_deref());
    Resource { attributes: a.0, ..Default::default() }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: SCOPE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        ..Default::default()
    }
}

/// The current time in Unix nanoseconds, for `observed_time_unix_nano`.
pub(crate) fn now_unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Export requests for a batch, each at most `max_bytes` encoded (a single
/// record larger than that goes alone). Entries are grouped by their service
/// (one `ResourceLogs` per service) and keep their order within it.
pub(crate) fn export_requests(
    batch: &[AuditEvent],
    observed_unix_nanos: u64,
    max_bytes: usize,
) -> Vec<ExportLogsServiceRequest> {
    let mut requests = Vec::new();
    let mut groups: Vec<(&ServiceInfo, Vec<LogRecord>)> = Vec::new();
    let mut size = 0usize;
    // Generous per-group overhead (resource and scope) in the size estimate.
    const GROUP_OVERHEAD: usize = 512;
    for event in batch {
        let record = log_record(event, observed_unix_nanos);
        let len = record.encoded_len() + 16;
        let is_new_group = !groups.iter().any(|(s, _)| **s == event.service);
        let extra = len + if is_new_group { GROUP_OVERHEAD } else { 0 };
        if size + extra > max_bytes && !groups.is_empty() {
            requests.push(build_request(std::mem::take(&mut groups)));
            size = 0;
        }
        size += len;
        match groups.iter_mut().find(|(s, _)| **s == event.service) {
            Some((_, records)) => records.push(record),
            None => {
                size += GROUP_OVERHEAD;
                groups.push((&event.service, vec![record]));
            }
        }
    }
    if !groups.is_empty() {
        requests.push(build_request(groups));
    }
    requests
}

fn build_request(groups: Vec<(&ServiceInfo, Vec<LogRecord>)>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: groups
            .into_iter()
            .map(|(service, records)| ResourceLogs {
                resource: Some(resource(service)),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: records,
                    schema_url: SCHEMA_URL.to_owned(),
                }],
                schema_url: SCHEMA_URL.to_owned(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use audit_core::{Actor, Resource as AuditResource};

    use super::*;

    fn attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a any_value::Value> {
        record
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn severity_follows_outcome() {
        for (outcome, text) in [
            (Outcome::Success, "INFO"),
            (Outcome::Failure, "WARN"),
            (Outcome::Denied, "WARN"),
            (Outcome::Cancelled, "WARN"),
        ] {
            let e = AuditEvent::builder("a.update").outcome(outcome).build();
            let r = log_record(&e, 0);
            assert_eq!(r.severity_text, text);
        }
    }

    #[test]
    fn non_user_actors_keep_their_id_out_of_user_id() {
        let e = AuditEvent::builder("a.update").actor(Actor::api_key("k_1").name("ci")).build();
        let r = log_record(&e, 0);
        assert!(attr(&r, "user.id").is_none());
        assert_eq!(attr(&r, "audit.actor.id"), Some(&any_value::Value::StringValue("k_1".into())));
        assert_eq!(
            attr(&r, "audit.actor.name"),
            Some(&any_value::Value::StringValue("api-key:ci".into()))
        );
    }

    #[test]
    fn large_batches_are_split_and_services_grouped() {
        let mut batch = Vec::new();
        for i in 0..100 {
            let mut e = AuditEvent::builder("a.update")
                .resource(AuditResource::new("project", format!("p_{i}")))
                .metadata("pad", "x".repeat(1000))
                .build();
            e.service = ServiceInfo::new(if i % 2 == 0 { "a" } else { "b" });
            batch.push(e);
        }
        let one = export_requests(&batch, 0, usize::MAX);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].resource_logs.len(), 2);
        let split = export_requests(&batch, 0, 20_000);
        assert!(split.len() > 5, "{}", split.len());
        let mut n = 0;
        for req in &split {
            assert!(req.encoded_len() <= 20_000, "{}", req.encoded_len());
            n += req
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum::<usize>();
        }
        assert_eq!(n, 100);
        // A record larger than the limit still goes, alone.
        assert_eq!(export_requests(&batch[..3], 0, 10).len(), 3);
    }
}
