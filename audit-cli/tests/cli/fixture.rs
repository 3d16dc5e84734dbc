//! Real file stores for the tests: entries recorded by an `Auditor` through
//! the file sink, signed with a key that `audit keygen` made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use audit_core::{
    Actor, AuditEvent, Auditor, Body, Change, Delivery, HttpRequest, Outcome, Request, Resource,
    Response, SigningKey, Source,
};
use audit_sinks::file::FileSink;
use tempfile::TempDir;

/// The description of the entry that tries CSV formula injection.
pub(crate) const FORMULA: &str = "=HYPERLINK(\"http://evil.example/\",\"click me\")";
/// The description of the entry with line breaks.
pub(crate) const MULTILINE: &str = "first line\nsecond line\r\nthird \"quoted\" line";

/// A temporary directory holding a key pair (`keys/`) and a file store
/// (`store/`).
#[derive(Debug)]
pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
    pub(crate) store: PathBuf,
    pub(crate) keys: PathBuf,
}

/// The `audit` binary.
pub(crate) fn audit() -> Command {
    let mut cmd = Command::cargo_bin("audit").expect("the audit binary is built");
    cmd.env_remove("AUDIT_STORE");
    cmd
}

impl Fixture {
    /// An empty store directory and a key pair from `audit keygen`.
    pub(crate) fn empty() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        let keys = dir.path().join("keys");
        std::fs::create_dir(&store).unwrap();
        audit().args(["keygen", "--out"]).arg(&keys).assert().success();
        Self { dir, store, keys }
    }

    /// A store with [`standard_entries`], sealed, checkpoints every 4 entries,
    /// in one file.
    pub(crate) fn new() -> Self {
        let f = Self::empty();
        f.record(standard_entries(), |b| b);
        f
    }

    /// The signing key `audit keygen` wrote, read as the services read it.
    pub(crate) fn signing_key(&self) -> SigningKey {
        audit_cli::keys::read_signing_key(self.keys.join("signing.key")).unwrap()
    }

    pub(crate) fn public_key(&self) -> PathBuf {
        self.keys.join("signing.pub")
    }

    /// Records `entries` in one `Auditor` run (one chain) through a file
    /// sink configured by `sink`, then shuts down (sealing the chain).
    pub(crate) fn record(
        &self,
        entries: Vec<audit_core::AuditEventBuilder>,
        sink: impl FnOnce(audit_sinks::file::FileSinkBuilder) -> audit_sinks::file::FileSinkBuilder,
    ) {
        self.record_with(entries, sink, Delivery::Buffered);
    }

    pub(crate) fn record_with(
        &self,
        entries: Vec<audit_core::AuditEventBuilder>,
        sink: impl FnOnce(audit_sinks::file::FileSinkBuilder) -> audit_sinks::file::FileSinkBuilder,
        delivery: Delivery,
    ) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let sink = sink(FileSink::builder(&self.store)).build().unwrap();
            let auditor = Auditor::builder()
                .service("projects-api", "2.3.1")
                .instance("test-1")
                .signing_key(self.signing_key())
                .checkpoint_every(4)
                .delivery(delivery)
                .sink(sink)
                .build()
                .unwrap();
            for e in entries {
                auditor.record(e).await.unwrap();
            }
            auditor.shutdown(Duration::from_secs(10)).await.unwrap();
        });
    }

    /// `audit <command> --store <store>`.
    pub(crate) fn cmd(&self, command: &str) -> Command {
        let mut cmd = audit();
        cmd.arg(command).arg("--store").arg(&self.store);
        cmd
    }

    /// The store's files, in name (= write) order.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.store)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        files
    }

    /// The one log file of the store.
    pub(crate) fn file(&self) -> PathBuf {
        let files = self.files();
        assert_eq!(files.len(), 1, "expected one log file: {files:?}");
        files.into_iter().next().unwrap()
    }

    /// The lines of the one log file.
    pub(crate) fn lines(&self) -> Vec<String> {
        read_lines(&self.file())
    }

    /// Replaces the lines of the one log file.
    pub(crate) fn write_lines(&self, lines: &[String]) {
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(self.file(), text).unwrap();
    }

    /// Every entry of the store, in write order.
    pub(crate) fn entries(&self) -> Vec<AuditEvent> {
        self.files().iter().flat_map(|f| read_lines(f)).map(|l| parse(&l)).collect()
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub(crate) fn read_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
}

pub(crate) fn parse(line: &str) -> AuditEvent {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not an entry ({e}): {line}"))
}

/// The standard entries (the chain adds a genesis entry before them, a
/// checkpoint after every 4 entries and a closing checkpoint):
///
/// | # | event | actor | tenant | outcome |
/// |---|---|---|---|---|
/// | 1 | project.update p_42 | alice@example.com | acme | success |
/// | 2 | api_key.delete k_9 | bob@example.com | acme | denied |
/// | 3 | api_key.create k_10 | api-key:ci-deploy | globex | success |
/// | 4 | invoice.create inv_1 | system:billing-cron | globex | success |
/// | 5 | project.update p_7 | mallory@example.com | acme | success, description [`FORMULA`] |
/// | 6 | member.invite u_9 | alice@example.com | acme | failure, description [`MULTILINE`] |
/// | 7 | project.delete p_42 | alice@example.com | acme | success |
pub(crate) fn standard_entries() -> Vec<audit_core::AuditEventBuilder> {
    let alice = || Actor::user("u_1").email("alice@example.com").name("Alice");
    let mut request = HttpRequest::new("PATCH", "/projects/p_42");
    request.route = Some("/projects/{id}".to_owned());
    request.body = Some(Body::Json(serde_json::json!({"name": "Apollo", "password": "hunter2"})));
    let mut response = Response::default();
    response.status = Some(200);
    response.duration_us = Some(1234);
    vec![
        AuditEvent::builder("project.update")
            .actor(alice())
            .tenant("acme")
            .resource(Resource::new("project", "p_42").name("Apollo"))
            .source(Source::new().ip("10.0.0.1".parse().unwrap()).user_agent("curl/8.5"))
            .request(Request::Http(request))
            .response(response)
            .change(Change::new("name", "Apollo 1", "Apollo")),
        AuditEvent::builder("api_key.delete")
            .actor(Actor::user("u_2").email("bob@example.com"))
            .tenant("acme")
            .resource(Resource::new("api_key", "k_9"))
            .outcome(Outcome::Denied)
            .reason("missing role admin")
            .source(Source::new().ip("10.0.0.2".parse().unwrap())),
        AuditEvent::builder("api_key.create")
            .actor(Actor::api_key("k_1").name("ci-deploy"))
            .tenant("globex")
            .resource(Resource::new("api_key", "k_10")),
        AuditEvent::builder("invoice.create")
            .actor(Actor::system("billing-cron"))
            .tenant("globex")
            .resource(Resource::new("invoice", "inv_1")),
        AuditEvent::builder("project.update")
            .actor(Actor::user("u_3").email("mallory@example.com"))
            .tenant("acme")
            .resource(Resource::new("project", "p_7"))
            .description(FORMULA),
        AuditEvent::builder("member.invite")
            .actor(alice())
            .tenant("acme")
            .resource(Resource::new("member", "u_9"))
            .outcome(Outcome::Failure)
            .description(MULTILINE)
            .metadata("nested", serde_json::json!({"list": [1, 2, {"deep": "x\ny"}]})),
        AuditEvent::builder("project.delete")
            .actor(alice())
            .tenant("acme")
            .resource(Resource::new("project", "p_42")),
    ]
}

/// Stdout of a successful command.
pub(crate) fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
