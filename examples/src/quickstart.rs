//! The quickstart: the example SaaS API in this process, a scripted scenario
//! against it, and what the audit trail kept.
//!
//! [`run`] starts [`saas::serve`](crate::saas::serve) on an ephemeral port
//! with a file sink in `./audit-demo` and checkpoints signed with a fresh key
//! in `./audit-demo-keys`, drives [`scenario`] with a real HTTP client (and
//! one gRPC call), shuts the server and the auditor down, then prints the log
//! with the `audit` CLI's table, what the entries kept and redacted, the
//! chain verification, a search of every byte of the log for the scenario's
//! secrets, and the `audit` commands to explore further.
//!
//! ```text
//! cargo run -p examples --example quickstart
//! ```

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read as _, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use audit_cli::output::{EntryWriter, Format, TableMode};
use audit_core::integrity::{Verifier, VerifyOptions, VerifyReport};
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::{AuditEvent, Body, Outcome, Request};
use audit_sinks::file::FileStore;
use futures::TryStreamExt as _;
use reqwest::Method;
use serde_json::{Value, json};

use crate::saas::grpc::pb;
use crate::saas::{Config, serve};

/// Any error of the quickstart.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// Where the quickstart writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// The audit log (default `./audit-demo`); its `audit-*` files are removed
    /// at the start.
    pub audit_dir: PathBuf,
    /// Where the signing key pair is written (default `./audit-demo-keys`).
    pub keys_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Self { audit_dir: "./audit-demo".into(), keys_dir: "./audit-demo-keys".into() }
    }
}

impl Options {
    /// Both directories under `root`.
    pub fn under(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref();
        Self { audit_dir: root.join("audit-demo"), keys_dir: root.join("audit-demo-keys") }
    }
}

/// What a quickstart run produced.
#[derive(Debug)]
#[non_exhaustive]
pub struct Report {
    /// What the scenario did.
    pub scenario: Scenario,
    /// Every entry of the log, in write order (genesis and checkpoints
    /// included).
    pub entries: Vec<AuditEvent>,
    /// The chain verification, with the public key, sealed chain required.
    pub verification: VerifyReport,
    /// The search of the log for the scenario's secrets (none found, or
    /// [`run`] fails).
    pub secrets: SecretScan,
}

/// Runs the quickstart, writing its report to `out`.
pub async fn run(options: &Options, out: &mut dyn Write) -> Result<Report, Error> {
    clean(&options.audit_dir)?;
    let key = audit_cli::keys::generate()?;
    let keys = audit_cli::keys::write_key_pair(&options.keys_dir, &key, true)?;
    let config = Config::new(&options.audit_dir).with_grpc().with_signing_key(&keys.signing_key);
    let server = serve(config).await?;

    writeln!(out, "audit quickstart: an example SaaS API, a scripted scenario, its audit trail\n")?;
    writeln!(
        out,
        "  server  {} (HTTP) and {} (gRPC), tenant acme",
        server.url(),
        server.grpc_addr().map(|a| a.to_string()).unwrap_or_default()
    )?;
    writeln!(out, "  log     {} (file sink, JSON Lines)", options.audit_dir.display())?;
    writeln!(out, "  key     {} (signs checkpoints)\n", keys.signing_key.display())?;

    writeln!(out, "Scenario:")?;
    let scenario = scenario(&server.url(), server.grpc_addr(), out).await;
    // Stop the servers, then flush the auditor (closing checkpoint), even
    // when the scenario failed.
    let stopped = server.shutdown().await;
    let scenario = scenario?;
    stopped?;

    let store = FileStore::open(&options.audit_dir)?;
    let entries: Vec<AuditEvent> = store.scan(&Query::new()).try_collect().await?;
    writeln!(
        out,
        "\nThe audit log (`audit query --store {} --order oldest`):\n",
        options.audit_dir.display()
    )?;
    let mut table =
        EntryWriter::new(Format::Table, Vec::new(), TableMode::Fitted { terminal_width: None })?;
    for entry in &entries {
        table.write(entry)?;
    }
    for line in String::from_utf8_lossy(&table.finish()?).lines() {
        writeln!(out, "  {line}")?;
    }

    writeln!(out, "\nWhat the entries kept, and what they did not:")?;
    for line in highlights(&entries) {
        writeln!(out, "  {line}")?;
    }

    let public = audit_cli::keys::read_public_key(&keys.public_key)?;
    let mut verifier = Verifier::new(VerifyOptions::new().key(public).require_sealed(true));
    for entry in &entries {
        verifier.push(entry)?;
    }
    let verification = verifier.finish()?;
    let sealed = verification.chains.iter().all(|c| c.sealed);
    writeln!(
        out,
        "\n✔ chain verified with {}: {} entries, {} chain, hashes and signatures, {}",
        keys.public_key.display(),
        verification.entries,
        verification.chains.len(),
        if sealed { "sealed" } else { "open" }
    )?;

    let secrets = scan_for_secrets(&options.audit_dir, &scenario.secrets)?;
    if !secrets.found.is_empty() {
        let found: Vec<String> =
            secrets.found.iter().map(|(file, s)| format!("{} in {}", s, file.display())).collect();
        return Err(format!("secrets reached the audit log: {}", found.join(", ")).into());
    }
    writeln!(
        out,
        "✔ none of the scenario's {} secrets is in {} ({} file{}, {} bytes searched)",
        scenario.secrets.len(),
        options.audit_dir.display(),
        secrets.files,
        if secrets.files == 1 { "" } else { "s" },
        secrets.bytes
    )?;

    let dir = options.audit_dir.display();
    let public = keys.public_key.display();
    writeln!(out, "\nExplore further:")?;
    for command in [
        format!("query  --store {dir} --actor bob@example.com"),
        format!("query  --store {dir} --outcome denied"),
        format!("export --store {dir} --format csv --output audit-demo.csv"),
        format!("verify --store {dir} --public-key {public} --require-sealed"),
        format!("stats  --store {dir}"),
        format!("tail   --store {dir}"),
    ] {
        writeln!(out, "  cargo run -q -p audit-cli -- {command}")?;
    }
    writeln!(
        out,
        "  cargo run -p examples --bin saas-api -- --audit-dir ./audit-log   # the API, to try with curl"
    )?;
    out.flush()?;
    Ok(Report { scenario, entries, verification, secrets })
}

/// Removes the log files of an earlier run; refuses a directory that holds
/// anything else.
fn clean(dir: &Path) -> Result<(), Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut ours = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with("audit-") || !entry.file_type()?.is_file() {
            return Err(format!(
                "{} holds {:?}, which the quickstart did not write; remove it or use another \
                 directory",
                dir.display(),
                name
            )
            .into());
        }
        ours.push(entry.path());
    }
    for path in ours {
        fs::remove_file(path)?;
    }
    Ok(())
}

// ---- the scenario ---------------------------------------------------------------

/// What the scenario did: its steps and the secrets it sent or received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Scenario {
    /// One per call, in order.
    pub steps: Vec<Step>,
    /// Every secret that crossed the wire: the tokens (as `Authorization`
    /// and `X-Api-Key` values), the webhook secret, the generated API key.
    /// None of them may be in the audit log.
    pub secrets: Vec<String>,
    /// The id of the project created by alice, then renamed.
    pub renamed_project: String,
    /// The id of the API key created (and revoked) by alice.
    pub created_key: String,
}

/// One call of the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Step {
    /// Who called.
    pub who: String,
    /// `POST`, ... or `gRPC`.
    pub method: String,
    /// The path, or the gRPC method.
    pub target: String,
    /// The HTTP status, or the gRPC code's name.
    pub status: String,
    /// What happened.
    pub note: String,
}

/// The webhook secret the scenario stores in the settings.
pub const WEBHOOK_SECRET: &str = "whsec_quickstart_8d3f1c27b9";
/// The address the scenario pretends to come from.
pub const SPOOFED_IP: &str = "203.0.113.66";

/// Who calls, and how they authenticate.
#[derive(Clone, Copy)]
struct Caller<'a> {
    who: &'a str,
    auth: Auth<'a>,
    /// More headers to send.
    headers: &'a [(&'a str, &'a str)],
}

#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
}

const ALICE: Caller<'static> =
    Caller { who: "alice", auth: Auth::Bearer("alice-token"), headers: &[] };
const BOB: Caller<'static> = Caller { who: "bob", auth: Auth::Bearer("bob-token"), headers: &[] };
const CI: Caller<'static> =
    Caller { who: "ci-deploy", auth: Auth::ApiKey("ci-token"), headers: &[] };
const NOBODY: Caller<'static> = Caller { who: "(nobody)", auth: Auth::None, headers: &[] };

struct Driver<'o> {
    client: reqwest::Client,
    base: String,
    out: &'o mut dyn Write,
    steps: Vec<Step>,
}

impl Driver<'_> {
    /// Sends one call, checks its status, prints a line (the note, or the
    /// error message of a failed call) and returns the JSON answer.
    async fn send(
        &mut self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        body: Option<Value>,
        expect: u16,
        note: impl FnOnce(&Value) -> String,
    ) -> Result<Value, Error> {
        let mut request = self.client.request(method.clone(), format!("{}{path}", self.base));
        request = match caller.auth {
            Auth::None => request,
            Auth::Bearer(token) => request.bearer_auth(token),
            Auth::ApiKey(key) => request.header("x-api-key", key),
        };
        for (name, value) in caller.headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.as_u16() != expect {
            return Err(
                format!("{method} {path} answered {status}, expected {expect}: {text}").into()
            );
        }
        let note = match value.pointer("/error/message").and_then(Value::as_str) {
            Some(message) => message.to_owned(),
            None => note(&value),
        };
        self.step(Step {
            who: caller.who.to_owned(),
            method: method.to_string(),
            target: path.to_owned(),
            status: status.as_u16().to_string(),
            note,
        })?;
        Ok(value)
    }

    fn step(&mut self, step: Step) -> io::Result<()> {
        writeln!(
            self.out,
            "  {:<10} {:<6} {:<20} {:<4} {}",
            step.who, step.method, step.target, step.status, step.note
        )?;
        self.steps.push(step);
        Ok(())
    }
}

fn field(value: &Value, name: &str) -> String {
    value.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// For calls that fail: the note is the error message.
fn failed(_: &Value) -> String {
    String::new()
}

/// Drives the scripted scenario against a running SaaS API (`base` is its
/// `http://` URL) as alice, bob, the `ci-deploy` key, a key created on the
/// way and an anonymous caller, printing one line per call; with `grpc`, one
/// more call over gRPC.
///
/// It covers: creations, an update with field-level changes, deletions, a
/// duplicate name (409) and a missing project (404), bob's role change (403,
/// denied), a call without credentials (401, denied), secrets in bodies
/// (`webhook_secret` sent, `secret_key` received) and in headers
/// (`Authorization`, `X-Api-Key`), a spoofed `X-Forwarded-For`, and a read
/// (not audited).
pub async fn scenario(
    base: &str,
    grpc: Option<SocketAddr>,
    out: &mut dyn Write,
) -> Result<Scenario, Error> {
    use Method as M;
    let client = reqwest::Client::builder()
        .no_proxy()
        .user_agent(concat!("audit-quickstart/", env!("CARGO_PKG_VERSION")))
        .build()?;
    let base = base.trim_end_matches('/').to_owned();
    let mut d = Driver { client, base, out, steps: Vec::new() };

    let body = json!({"name": "Apollo", "description": "Crewed lunar landings"});
    let apollo = d
        .send(ALICE, M::POST, "/projects", Some(body), 201, |v| {
            format!("created {} \"Apollo\"", field(v, "id"))
        })
        .await?;
    let apollo = field(&apollo, "id");
    let spoofing = Caller { headers: &[("x-forwarded-for", SPOOFED_IP)], ..CI };
    let gemini = d
        .send(spoofing, M::POST, "/projects", Some(json!({"name": "Gemini"})), 201, |v| {
            format!("created {} \"Gemini\" (X-Api-Key; spoofed X-Forwarded-For)", field(v, "id"))
        })
        .await?;
    let gemini = field(&gemini, "id");
    let path = format!("/projects/{apollo}");
    let body = json!({"name": "Apollo 11", "visibility": "internal"});
    d.send(ALICE, M::PATCH, &path, Some(body), 200, |_| {
        "renamed to \"Apollo 11\", made internal".to_owned()
    })
    .await?;
    d.send(BOB, M::POST, "/projects", Some(json!({"name": "gemini"})), 409, failed).await?;
    let body = json!({"description": "?"});
    d.send(ALICE, M::PATCH, "/projects/p_404", Some(body), 404, failed).await?;
    let body = json!({"role": "admin"});
    d.send(BOB, M::PATCH, "/members/m_2/role", Some(body), 403, failed).await?;
    d.send(NOBODY, M::DELETE, &path, None, 401, failed).await?;

    let key = d
        .send(ALICE, M::POST, "/api-keys", Some(json!({"name": "terraform"})), 201, |v| {
            format!("created {} \"terraform\"; the answer carries its secret_key", field(v, "id"))
        })
        .await?;
    let (key_id, secret_key) = (field(&key, "id"), field(&key, "secret_key"));
    let terraform = Caller { who: "terraform", auth: Auth::ApiKey(&secret_key), headers: &[] };
    d.send(terraform, M::POST, "/projects", Some(json!({"name": "Mercury"})), 201, |v| {
        format!("created {} with the new key (X-Api-Key)", field(v, "id"))
    })
    .await?;
    let settings = json!({
        "display_name": "Acme Inc.",
        "webhook_url": "https://hooks.acme.example/audit",
        "webhook_secret": WEBHOOK_SECRET,
        "require_mfa": true
    });
    d.send(ALICE, M::PUT, "/settings", Some(settings), 200, |_| {
        "settings with a webhook_secret".to_owned()
    })
    .await?;
    let invite = json!({"email": "carol@example.com", "role": "member"});
    d.send(ALICE, M::POST, "/members", Some(invite), 201, |v| {
        format!("invited carol@example.com as {}", field(v, "id"))
    })
    .await?;
    let revoke = format!("/api-keys/{key_id}");
    d.send(ALICE, M::DELETE, &revoke, None, 200, |_| "revoked \"terraform\"".to_owned()).await?;
    let delete = format!("/projects/{gemini}");
    d.send(ALICE, M::DELETE, &delete, None, 204, |_| "deleted".to_owned()).await?;
    d.send(BOB, M::GET, "/projects", None, 200, |v| {
        format!("{} projects; a read: not audited", v.as_array().map_or(0, Vec::len))
    })
    .await?;

    if let Some(addr) = grpc {
        let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?;
        let mut client = pb::projects_client::ProjectsClient::new(endpoint.connect().await?);
        let mut request = tonic::Request::new(pb::UpdateProjectRequest {
            id: apollo.clone(),
            description: Some("Crewed lunar landings, 1969-1972".into()),
            ..Default::default()
        });
        request.metadata_mut().insert("x-api-key", "ci-token".parse()?);
        let project = client.update_project(request).await?.into_inner();
        d.step(Step {
            who: CI.who.into(),
            method: "gRPC".into(),
            target: "UpdateProject".into(),
            status: "OK".into(),
            note: format!("changed the description of {}", project.id),
        })?;
    }

    let secrets = ["alice-token", "bob-token", "ci-token", WEBHOOK_SECRET, &secret_key]
        .map(str::to_owned)
        .to_vec();
    Ok(Scenario { steps: d.steps, secrets, renamed_project: apollo, created_key: key_id })
}

// ---- what the entries kept ------------------------------------------------------

fn http_request(e: &AuditEvent) -> Option<&audit_core::HttpRequest> {
    match e.request.as_ref()? {
        Request::Http(h) => Some(h),
        _ => None,
    }
}

fn json_of(body: Option<&Body>) -> Value {
    body.and_then(Body::as_json).cloned().unwrap_or(Value::Null)
}

fn first_id(e: &AuditEvent) -> String {
    e.primary_resource().and_then(|r| r.id.clone()).unwrap_or_default()
}

/// One line per notable entry, read back from the log.
fn highlights(entries: &[AuditEvent]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut push = |e: &AuditEvent, text: String| {
        lines.push(format!("{:<28} {text}", format!("{} {}", e.event, first_id(e))));
    };
    let find = |event: &str, pred: &dyn Fn(&AuditEvent) -> bool| {
        entries.iter().find(|e| e.event == event && pred(e))
    };
    if let Some(e) = find("project.update", &|e| {
        !e.changes.is_empty() && e.request.as_ref().is_some_and(|r| matches!(r, Request::Http(_)))
    }) {
        let changes: Vec<String> =
            e.changes.iter().map(|c| format!("{}: {} → {}", c.path, c.before, c.after)).collect();
        push(e, format!("changes {}", changes.join(", ")));
    }
    if let Some(e) = find("api_key.create", &|_| true) {
        let body = json_of(e.response.as_ref().and_then(|r| r.body.as_ref()));
        push(e, format!("response.body.secret_key = {}", body["secret_key"]));
    }
    if let Some(e) = find("settings.update", &|_| true) {
        let body = json_of(http_request(e).and_then(|h| h.body.as_ref()));
        let change = e.changes.iter().find(|c| c.path == "webhook_secret");
        let change = change.map(|c| format!("{} → {}", c.before, c.after)).unwrap_or_default();
        push(
            e,
            format!(
                "request.body.webhook_secret = {}, its change {change}",
                body["webhook_secret"]
            ),
        );
    }
    if let Some(e) = find("project.create", &|e| e.actor.to_string() == "api-key:ci-deploy") {
        let key = http_request(e).and_then(|h| h.headers.get("x-api-key")).cloned();
        push(
            e,
            format!(
                "x-api-key header = {:?}, source.ip = {} (X-Forwarded-For ignored: no trusted proxy)",
                key.unwrap_or_default(),
                e.source.ip.map(|ip| ip.to_string()).unwrap_or_default()
            ),
        );
    }
    for e in entries.iter().filter(|e| matches!(e.outcome, Outcome::Denied | Outcome::Failure)) {
        let status = e.response.as_ref().and_then(|r| r.status).map(|s| s.to_string());
        push(
            e,
            format!(
                "{} {} by {}: {}",
                e.outcome,
                status.unwrap_or_default(),
                e.actor,
                e.reason.as_deref().unwrap_or("")
            ),
        );
    }
    if let Some(e) = find("project.update", &|e| matches!(e.request, Some(Request::Grpc(_)))) {
        let mut text = String::from("over gRPC: ");
        if let Some(Request::Grpc(g)) = &e.request {
            let _ = write!(text, "{}/{}, ", g.service, g.method);
        }
        let changes: Vec<&str> = e.changes.iter().map(|c| c.path.as_str()).collect();
        let _ = write!(
            text,
            "grpc_status {:?}, changes [{}]",
            e.response.as_ref().and_then(|r| r.grpc_status).unwrap_or(-1),
            changes.join(", ")
        );
        push(e, text);
    }
    lines
}

// ---- the secret search ------------------------------------------------------------

/// The result of [`scan_for_secrets`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SecretScan {
    /// Files read.
    pub files: usize,
    /// Bytes searched (decompressed).
    pub bytes: u64,
    /// `(file, secret)` for every secret found.
    pub found: Vec<(PathBuf, String)>,
}

/// Reads every file under `dir` (decompressing `.gz` files) and reports
/// which of `secrets` occur in which file.
pub fn scan_for_secrets(dir: &Path, secrets: &[String]) -> io::Result<SecretScan> {
    let mut scan = SecretScan::default();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let raw = fs::read(&path)?;
            let bytes = if path.extension().is_some_and(|e| e == "gz") {
                let mut plain = Vec::new();
                flate2::read::MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut plain)?;
                plain
            } else {
                raw
            };
            scan.files += 1;
            scan.bytes += bytes.len() as u64;
            for secret in secrets {
                if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                    scan.found.push((path.clone(), secret.clone()));
                }
            }
        }
    }
    Ok(scan)
}
