//! Secret canaries reach no byte that any sink received.
//!
//! One auditor feeds all five sinks at once, each into something real that
//! keeps every byte: the file sink (a temporary directory, rotated and
//! gzipped files included, and the auditor's spool), PostgreSQL (a fresh
//! database, every row of every table dumped as text), OTLP/gRPC (a tonic
//! collector keeping each export request's protobuf), a webhook (an axum
//! endpoint keeping each signed batch body) and stdout (the real process
//! standard output: the test binary re-runs itself as a child process that
//! serves the SaaS API with this auditor, and the parent captures the child's
//! stdout byte for byte).
//!
//! The requests go through the real SaaS API (`examples::saas::app`) and carry
//! random canaries (128 random bits each), a different one per place:
//! `Authorization: Bearer` (refused, on a write and on a read, and accepted),
//! `Cookie`, `X-Api-Key` (refused and accepted), query tokens (`token`, a
//! repeated `token`, `access_token`, a percent-encoded `access_token` name,
//! `api_key`, `apiKey`, `X-Amz-Signature`, a `;`-separated `token`), a
//! `Referer` with secrets in its query, its fragment (`#access_token=`) and
//! its userinfo password; secrets nested in a JSON request body (`password`,
//! `secret`, `client_secret`, `apiKey` inside objects and arrays; sent with a
//! body the handler refuses with 422, because the typed body `#[audited]`
//! records for a handler that runs drops unknown fields), in a request body
//! the handler never reads (a refused request's, a form the handler refuses
//! with 415: the entry keeps none, the canaries are searched for all the
//! same), in a response (the `secret_key` that `POST /api-keys` generates,
//! then used as a credential), and in handler-reported changes (the tenant's
//! webhook secret, set and then replaced, which `record_changes` reports).
//!
//! After the auditor shut down (every sink flushed), no canary is anywhere
//! in those bytes; and, so that this is not vacuous, every sink holds every
//! entry (the same ids as the file sink) and each entry shows
//! `"[REDACTED]"` exactly where its canaries were.

use std::collections::BTreeMap;
use std::hash::{BuildHasher as _, RandomState};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use audit_core::Auditor;
use audit_sinks::file::FileSink;
use audit_sinks::otlp::{OtlpConfig, OtlpSink};
use audit_sinks::postgres::{PostgresSink, migrate_url};
use audit_sinks::stdout::StdoutSink;
use audit_sinks::webhook::WebhookSink;
use audit_testkit::pg::FreshDb;
use examples::saas::{AppState, app};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use sqlx::Row as _;
use tests::receivers::{OtlpReceiver, WebhookReceiver};
use tests::{contains, every_file, read_log};

/// The test's own name: the child process runs exactly this test.
const TEST_NAME: &str = "canaries_reach_no_byte_of_any_sink";

/// Set in the child process: the path of the plan the parent wrote.
const CHILD_PLAN: &str = "AUDIT_CANARY_CHILD_PLAN";

/// The redaction marker.
const REDACTED: &str = "[REDACTED]";

/// Every place a client-chosen canary goes (the generated API key, the
/// response canary, is added once the API has made it).
const PLACES: &[&str] = &[
    "bearer_refused",
    "refused_body_password",
    "refused_body_tokens",
    "bearer_refused_read",
    "x_api_key_refused",
    "cookie_session",
    "query_token",
    "query_token_repeated",
    "query_access_token",
    "query_access_token_encoded",
    "query_api_key",
    "query_api_key_camel",
    "query_signature",
    "query_semicolon_token",
    "referer_access_token",
    "referer_fragment_access_token",
    "referer_userinfo_password",
    "refused_read_query_token",
    "body_password",
    "body_webhook_secret",
    "body_client_secret",
    "body_api_key",
    "form_client_secret",
    "form_password",
    "settings_webhook_secret_1",
    "settings_webhook_secret_2",
];

/// The name of the response canary: `POST /api-keys`'s `secret_key`.
const GENERATED_KEY: &str = "generated_secret_key";

/// 128 random bits as hex. `RandomState` is keyed from the operating
/// system's random source; every instance has different keys.
fn random_hex() -> String {
    let [a, b] = [0u8, 1].map(|i| RandomState::new().hash_one((i, std::process::id())));
    format!("{a:016x}{b:016x}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canaries_reach_no_byte_of_any_sink() {
    match std::env::var_os(CHILD_PLAN) {
        // The child: serve the API with the five sinks, send the requests.
        Some(plan) => child(Path::new(&plan)).await,
        // The parent: the receivers, the child's stdout, the checks.
        None => parent().await,
    }
}

// ---- the child: the SaaS API with one auditor and five sinks ------------------

async fn child(plan_path: &Path) {
    let plan: Value = serde_json::from_slice(&std::fs::read(plan_path).unwrap()).unwrap();
    let dir = PathBuf::from(plan["dir"].as_str().unwrap());
    let canary = |place: &str| plan["canaries"][place].as_str().unwrap().to_owned();
    let text = |key: &str| plan[key].as_str().unwrap().to_owned();

    // Small files, so that some rotate and are gzipped.
    let file = FileSink::builder(dir.join("audit"))
        .max_file_bytes(4096)
        .gzip_rotated(true)
        .build()
        .unwrap();
    let otlp = OtlpSink::new(OtlpConfig::grpc(text("otlp_url"))).unwrap();
    let webhook = WebhookSink::builder(text("webhook_url"), text("webhook_secret").into_bytes())
        .build()
        .unwrap();
    migrate_url(&text("pg_url")).await.unwrap();
    let postgres = PostgresSink::connect(&text("pg_url")).await.unwrap();
    let auditor = Auditor::builder()
        .service("saas-api", "canary")
        .sink(file)
        .sink(otlp)
        .sink(webhook)
        .sink(postgres)
        .sink(StdoutSink::new())
        .spool_dir(dir.join("spool"))
        .build()
        .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service =
        app(AppState::new(auditor.clone())).into_make_service_with_connect_info::<SocketAddr>();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://{addr}");
    let request = |method: Method, path: &str, id: &str| {
        client.request(method, format!("{base}{path}")).header("x-request-id", id)
    };
    let alice = "Bearer alice-token";

    // Credentials that fail authentication: still audited (denied). The
    // body is never read, so the entry keeps none; its canaries are still
    // searched for.
    let (status, _) = send(
        request(Method::POST, "/projects", "canary-bearer-refused")
            .header("authorization", format!("Bearer {}", canary("bearer_refused")))
            .json(&json!({
                "name": "Refused",
                "owner": {"name": "mallory", "password": canary("refused_body_password")},
                "tokens": [canary("refused_body_tokens")]
            })),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        request(
            Method::GET,
            &format!("/settings?access_token={}", canary("refused_read_query_token")),
            "canary-bearer-refused-read",
        )
        .header("authorization", format!("Bearer {}", canary("bearer_refused_read"))),
    )
    .await;
    assert_eq!(status, 401);
    let (status, _) = send(
        request(Method::POST, "/projects", "canary-x-api-key-refused")
            .header("x-api-key", canary("x_api_key_refused"))
            .json(&json!({"name": "Refused too"})),
    )
    .await;
    assert_eq!(status, 401);

    // A session cookie next to valid credentials.
    let (status, _) = send(
        request(Method::POST, "/projects", "canary-cookie")
            .header("authorization", alice)
            .header("cookie", format!("session={}; theme=dark", canary("cookie_session")))
            .json(&json!({"name": "Cookie"})),
    )
    .await;
    assert_eq!(status, 201);

    // Query tokens, and a Referer carrying one.
    let query = format!(
        "next=%2Fhome&token={}&access_token={}&api_key={}&apiKey={}&access%5Ftoken={}&\
         X-Amz-Signature={}&token={}&page=1;token={}",
        canary("query_token"),
        canary("query_access_token"),
        canary("query_api_key"),
        canary("query_api_key_camel"),
        canary("query_access_token_encoded"),
        canary("query_signature"),
        canary("query_token_repeated"),
        canary("query_semicolon_token"),
    );
    let (status, _) = send(
        request(Method::POST, &format!("/projects?{query}"), "canary-query")
            .header("authorization", alice)
            .header(
                "referer",
                format!(
                    "https://mallory:{}@app.example.com/callback?access_token={}&page=2\
                     #access_token={}&token_type=bearer",
                    canary("referer_userinfo_password"),
                    canary("referer_access_token"),
                    canary("referer_fragment_access_token"),
                ),
            )
            .json(&json!({"name": "Query"})),
    )
    .await;
    assert_eq!(status, 201);

    // Secrets nested in a JSON body that the handler refuses (422: `name`
    // is not a string), so the entry keeps the body as it was sent.
    let nested = json!({
        "name": 42,
        "profile": {"owner": "alice", "password": canary("body_password")},
        "settings": {"webhook": {"url": "https://hooks.example.com", "secret": canary("body_webhook_secret")}},
        "integrations": [
            {"kind": "oauth", "oauth": {"client_secret": canary("body_client_secret"), "apiKey": canary("body_api_key")}}
        ]
    });
    let (status, _) = send(
        request(Method::POST, "/projects", "canary-nested-json")
            .header("authorization", alice)
            .json(&nested),
    )
    .await;
    assert_eq!(status, 422);

    // A form body (the handler wants JSON: 415, audited all the same; the
    // body is never read, so the entry keeps none).
    let (status, _) = send(
        request(Method::POST, "/projects", "canary-form")
            .header("authorization", alice)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "name=Form&client_secret={}&user%5Bpassword%5D={}",
                canary("form_client_secret"),
                canary("form_password")
            )),
    )
    .await;
    assert_eq!(status, 415);

    // Handler-reported changes: the webhook secret is set, then replaced.
    for (id, place) in [
        ("canary-settings-1", "settings_webhook_secret_1"),
        ("canary-settings-2", "settings_webhook_secret_2"),
    ] {
        let (status, view) = send(
            request(Method::PUT, "/settings", id).header("authorization", alice).json(&json!({
                "display_name": "Acme",
                "webhook_url": "https://hooks.example.com/acme",
                "webhook_secret": canary(place),
                "require_mfa": true
            })),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(view["webhook_signed"], json!(true));
    }

    // A secret in a response: the generated API key; then used as a credential.
    let (status, created) = send(
        request(Method::POST, "/api-keys", "canary-api-key-create")
            .header("authorization", alice)
            .json(&json!({"name": "canary-deploy"})),
    )
    .await;
    assert_eq!(status, 201);
    let generated = created["secret_key"].as_str().unwrap().to_owned();
    assert!(generated.starts_with("sk_live_") && generated.len() == 40, "{generated}");
    let (status, project) = send(
        request(Method::POST, "/projects", "canary-generated-x-api-key")
            .header("x-api-key", &generated)
            .json(&json!({"name": "By key"})),
    )
    .await;
    assert_eq!(status, 201);
    let path = format!("/projects/{}", project["id"].as_str().unwrap());
    let (status, _) = send(
        request(Method::DELETE, &path, "canary-generated-bearer")
            .header("authorization", format!("Bearer {generated}")),
    )
    .await;
    assert_eq!(status, 204);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    // Every entry flushed to every sink, the closing checkpoint included.
    auditor.shutdown(Duration::from_secs(30)).await.unwrap();
    let report = json!({ GENERATED_KEY: generated });
    std::fs::write(dir.join("report.json"), report.to_string()).unwrap();
}

/// Sends a request; returns the status and the JSON answer (`Null` if none).
async fn send(request: RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the request is answered");
    let status = response.status().as_u16();
    let body = response.bytes().await.expect("a body");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

// ---- the parent: receivers, checks --------------------------------------------

/// What one sink received: every byte (by where it was found) and its
/// entries as JSON (for OTLP rebuilt from the records' attributes).
struct Received {
    sink: &'static str,
    bytes: Vec<(String, Vec<u8>)>,
    entries: Vec<Value>,
}

/// What must be true of one request's entry.
enum Check {
    /// The value at this JSON pointer is the redaction marker.
    Redacted(&'static str),
    /// The string at this JSON pointer contains this text.
    Contains(&'static str, &'static str),
    /// A change of this path, with both sides redacted.
    ChangeRedacted(&'static str),
}

/// The requests the child sends: `(x-request-id, status, checks)`.
fn expected() -> Vec<(&'static str, u16, Vec<Check>)> {
    use Check::{ChangeRedacted, Contains, Redacted};
    vec![
        ("canary-bearer-refused", 401, vec![Redacted("/request/headers/authorization")]),
        (
            "canary-bearer-refused-read",
            401,
            vec![
                Redacted("/request/headers/authorization"),
                Contains("/request/query", "access_token=[REDACTED]"),
            ],
        ),
        ("canary-x-api-key-refused", 401, vec![Redacted("/request/headers/x-api-key")]),
        (
            "canary-cookie",
            201,
            vec![Redacted("/request/headers/cookie"), Redacted("/request/headers/authorization")],
        ),
        (
            "canary-query",
            201,
            vec![
                Contains("/request/query", "next=%2Fhome&token=[REDACTED]&access_token=[REDACTED]"),
                Contains("/request/query", "&api_key=[REDACTED]&apiKey=[REDACTED]"),
                Contains("/request/query", "&access%5Ftoken=[REDACTED]"),
                Contains("/request/query", "&X-Amz-Signature=[REDACTED]&token=[REDACTED]"),
                Contains("/request/query", "&page=1;token=[REDACTED]"),
                Contains(
                    "/request/headers/referer",
                    "https://mallory:[REDACTED]@app.example.com/callback?access_token=[REDACTED]\
                     &page=2#access_token=[REDACTED]&token_type=[REDACTED]",
                ),
            ],
        ),
        (
            "canary-nested-json",
            422,
            vec![
                Redacted("/request/body/profile/password"),
                Redacted("/request/body/settings/webhook/secret"),
                Redacted("/request/body/integrations/0/oauth/client_secret"),
                Redacted("/request/body/integrations/0/oauth/apiKey"),
                Contains("/request/body/profile/owner", "alice"),
            ],
        ),
        ("canary-form", 415, vec![Redacted("/request/headers/authorization")]),
        ("canary-settings-1", 200, vec![Redacted("/request/body/webhook_secret")]),
        (
            "canary-settings-2",
            200,
            vec![Redacted("/request/body/webhook_secret"), ChangeRedacted("webhook_secret")],
        ),
        (
            "canary-api-key-create",
            201,
            vec![
                Redacted("/response/body/secret_key"),
                Contains("/response/body/prefix", "sk_live_"),
            ],
        ),
        ("canary-generated-x-api-key", 201, vec![Redacted("/request/headers/x-api-key")]),
        ("canary-generated-bearer", 204, vec![Redacted("/request/headers/authorization")]),
    ]
}

async fn parent() {
    let dir = tempfile::tempdir().unwrap();
    let db = FreshDb::new().await;
    let otlp = OtlpReceiver::start().await;
    let webhook_secret = format!("whsec_{}", random_hex());
    let webhook = WebhookReceiver::start(&webhook_secret).await;

    let mut canaries: BTreeMap<String, String> =
        PLACES.iter().map(|p| ((*p).to_owned(), format!("canary{}", random_hex()))).collect();
    let distinct: std::collections::BTreeSet<_> = canaries.values().collect();
    assert_eq!(distinct.len(), PLACES.len(), "a different canary per place");

    let plan = json!({
        "dir": dir.path(),
        "pg_url": db.url(),
        "otlp_url": otlp.url(),
        "webhook_url": webhook.url(),
        "webhook_secret": webhook_secret,
        "canaries": canaries,
    });
    let plan_path = dir.path().join("plan.json");
    std::fs::write(&plan_path, plan.to_string()).unwrap();

    // The child: this test binary, running only this test, in child mode.
    let run = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(CHILD_PLAN, &plan_path)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), run)
        .await
        .expect("the child finishes within 4 minutes")
        .expect("the child runs");
    let stdout = output.stdout;
    assert!(
        output.status.success(),
        "the child failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    canaries.insert(GENERATED_KEY.to_owned(), report[GENERATED_KEY].as_str().unwrap().to_owned());

    let sinks = [
        file_sink(dir.path()).await,
        postgres(&db).await,
        otlp_receiver(&otlp),
        webhook_receiver(&webhook),
        stdout_sink(&stdout),
    ];

    // 1. No canary in any byte any sink received.
    for sink in &sinks {
        let total: usize = sink.bytes.iter().map(|(_, b)| b.len()).sum();
        assert!(total > 0, "{}: received nothing", sink.sink);
        for (place, canary) in &canaries {
            for (whence, bytes) in &sink.bytes {
                assert!(
                    !contains(bytes, canary),
                    "{}: the canary of `{place}` ({canary}) is in {whence}",
                    sink.sink
                );
            }
        }
        assert!(
            sink.bytes.iter().any(|(_, b)| contains(b, REDACTED)),
            "{}: no redaction marker anywhere",
            sink.sink
        );
    }

    // 2. Every sink got every entry: the file sink's ids, the same in each.
    let ids = |r: &Received| -> Vec<String> {
        let mut ids: Vec<String> =
            r.entries.iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    let file_ids = ids(&sinks[0]);
    let expected = expected();
    // Genesis, one entry per request, the closing checkpoint.
    assert_eq!(file_ids.len(), expected.len() + 2, "{:#?}", sinks[0].entries);
    for sink in &sinks[1..] {
        assert_eq!(ids(sink), file_ids, "{}: the same entries as the file sink", sink.sink);
    }

    // 3. Each request's entry, in every sink, has the marker where its
    //    canaries were.
    for sink in &sinks {
        for (request_id, status, checks) in &expected {
            let entries: Vec<&Value> = sink
                .entries
                .iter()
                .filter(|e| e.pointer("/source/request_id") == Some(&json!(request_id)))
                .collect();
            let [entry] = entries.as_slice() else {
                panic!("{}: {} entries for {request_id}", sink.sink, entries.len());
            };
            let at = |pointer: &str| {
                entry.pointer(pointer).unwrap_or_else(|| {
                    panic!("{}: {request_id} has no {pointer}: {entry:#}", sink.sink)
                })
            };
            assert_eq!(at("/response/status"), &json!(status), "{}: {request_id}", sink.sink);
            for check in checks {
                match check {
                    Check::Redacted(pointer) => {
                        assert_eq!(at(pointer), REDACTED, "{}: {request_id} {pointer}", sink.sink);
                    }
                    Check::Contains(pointer, text) => {
                        let value = at(pointer).as_str().unwrap_or_default();
                        assert!(
                            value.contains(text),
                            "{}: {request_id} {pointer} = {value:?}, without {text:?}",
                            sink.sink
                        );
                    }
                    Check::ChangeRedacted(path) => {
                        let changes = at("/changes").as_array().unwrap();
                        let change = changes
                            .iter()
                            .find(|c| c["path"] == json!(path))
                            .unwrap_or_else(|| panic!("{}: no change of {path}", sink.sink));
                        assert_eq!(
                            (&change["before"], &change["after"]),
                            (&json!(REDACTED), &json!(REDACTED)),
                            "{}: {request_id}",
                            sink.sink
                        );
                    }
                }
            }
        }
    }
    drop(db);
}

/// Every file under the log directory (gzipped ones decompressed) and the
/// spool; the entries as the file store reads them back.
async fn file_sink(dir: &Path) -> Received {
    let (log, spool) = (dir.join("audit"), dir.join("spool"));
    let mut files = every_file(&log);
    assert!(
        files.iter().any(|(p, _)| p.to_string_lossy().ends_with(".jsonl.gz")),
        "some files were rotated and gzipped: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let spooled = every_file(&spool);
    assert!(!spooled.is_empty(), "the spool has files");
    files.extend(spooled);
    let entries = read_log(&log).await.iter().map(|e| serde_json::to_value(e).unwrap()).collect();
    let bytes = files.into_iter().map(|(p, b)| (p.display().to_string(), b)).collect();
    Received { sink: "file", bytes, entries }
}

/// Every row of every table of the database as text; the entries from the
/// `entry` column.
async fn postgres(db: &FreshDb) -> Received {
    let pool = db.pool().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.iter().any(|t| t == "public.audit_events"), "{tables:?}");
    let mut bytes = Vec::new();
    for table in &tables {
        let rows =
            sqlx::query(&format!("SELECT t::text FROM {table} t")).fetch_all(&pool).await.unwrap();
        let text: Vec<String> = rows.iter().map(|r| r.get::<String, _>(0)).collect();
        bytes.push((format!("table {table}"), text.join("\n").into_bytes()));
    }
    let entries: Vec<String> =
        sqlx::query_scalar("SELECT entry::text FROM audit_events ORDER BY ingest_seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    let entries = entries.iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    Received { sink: "postgres", bytes, entries }
}

/// The export requests' protobuf; entries rebuilt from each log record's
/// attributes (the request, response and changes are JSON strings there).
fn otlp_receiver(receiver: &OtlpReceiver) -> Received {
    let raw = receiver.raw_bytes();
    // Concatenated messages decode as one whose repeated fields are joined.
    let exports = ExportLogsServiceRequest::decode(raw.as_slice()).unwrap();
    let mut entries = Vec::new();
    for record in
        exports.resource_logs.iter().flat_map(|r| &r.scope_logs).flat_map(|s| &s.log_records)
    {
        let attribute = |key: &str| {
            let kv = record.attributes.iter().find(|kv| kv.key == key)?;
            match kv.value.as_ref()?.value.as_ref()? {
                AnyValue::StringValue(s) => Some(s.clone()),
                _ => None,
            }
        };
        let document =
            |key: &str| attribute(key).map_or(Value::Null, |s| serde_json::from_str(&s).unwrap());
        entries.push(json!({
            "id": attribute("audit.id").unwrap(),
            "event": record.event_name,
            "source": {"request_id": attribute("audit.request_id")},
            "request": document("audit.request"),
            "response": document("audit.response"),
            "changes": document("audit.changes"),
        }));
    }
    assert_eq!(entries.len(), receiver.entries().len());
    Received { sink: "otlp", bytes: vec![("export requests".to_owned(), raw)], entries }
}

/// Every accepted batch body; its entries.
fn webhook_receiver(receiver: &WebhookReceiver) -> Received {
    let bytes = vec![("batch bodies".to_owned(), receiver.raw_bytes())];
    Received { sink: "webhook", bytes, entries: receiver.entries() }
}

/// The child's standard output: the test harness's few lines, and the
/// stdout sink's JSON Lines.
fn stdout_sink(stdout: &[u8]) -> Received {
    let text = std::str::from_utf8(stdout).unwrap();
    let entries = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    Received { sink: "stdout", bytes: vec![("stdout".to_owned(), stdout.to_vec())], entries }
}
