//! Fault test: PostgreSQL is restarted under load and loses nothing,
//! duplicates nothing.
//!
//! The example SaaS API runs in-process with the file sink, the Postgres sink
//! and a spool, over a PostgreSQL server this test starts for itself (so that
//! stopping it disturbs no other test). While 32 clients send 20 000 audited
//! requests, the server is stopped (`pg_ctl stop -m fast`), left down for
//! 10 s, and started again. Every request must get its normal answer
//! (buffered delivery: the API does not wait for Postgres), and afterwards
//! Postgres holds every entry of the file sink's log exactly once (counted
//! by id), each of the 20 000 requests among them once, and the chain read
//! back from Postgres verifies, sealed.
//!
//! Needs the PostgreSQL server binaries (`initdb`, `pg_ctl`) in
//! `/usr/lib/postgresql/15/bin` or `AUDIT_TEST_PG_BIN`; run as root, the
//! server runs as the `postgres` user.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use audit_core::integrity::{VerifyOptions, verify};
use audit_core::query::Query;
use audit_core::store::AuditStore as _;
use audit_core::{AuditEvent, Stats};
use audit_sinks::postgres::PostgresStore;
use audit_testkit::pg::FreshDb;
use futures::TryStreamExt as _;
use reqwest::Method;
use serde_json::json;
use sqlx::Connection as _;
use tempfile::TempDir;
use tests::{Api, read_log, request_body, status};

/// Audited requests sent in all.
const REQUESTS: usize = 20_000;
/// Clients sending them at once.
const CONCURRENCY: usize = 32;
/// Requests answered before Postgres is stopped.
const STOP_AFTER: usize = 3_000;
/// How long Postgres stays down.
const OUTAGE: Duration = Duration::from_secs(10);
/// How long the Postgres sink may take to catch up after the load.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server of this test's own, in a temporary directory, on
/// 127.0.0.1 and a free port, trust authentication. Dropping it stops the
/// server (`pg_ctl stop -m immediate`), also when the test panics.
#[derive(Debug)]
struct PgServer {
    bin: PathBuf,
    /// Holds `data/`, the server log and the Unix socket.
    dir: TempDir,
    port: u16,
    /// Whether commands must run as the `postgres` user (we are root).
    as_postgres: bool,
}

impl PgServer {
    /// Creates a cluster (`initdb`) and starts it.
    ///
    /// # Panics
    ///
    /// When the binaries are missing or the server does not start, saying why.
    fn start() -> Self {
        let bin = std::env::var_os("AUDIT_TEST_PG_BIN")
            .map_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"), PathBuf::from);
        for tool in ["initdb", "pg_ctl", "postgres"] {
            assert!(
                bin.join(tool).is_file(),
                "this test runs its own PostgreSQL server and needs `{tool}` in {} (install \
                 postgresql-15, or set AUDIT_TEST_PG_BIN to the directory holding initdb and \
                 pg_ctl)",
                bin.display()
            );
        }
        let as_postgres = running_as_root();
        let dir = tempfile::Builder::new().prefix("audit-pg-").tempdir().expect("a temp dir");
        if as_postgres {
            // initdb refuses to run as root: the server runs as `postgres`.
            run(Command::new("chown").arg("-R").arg("postgres:").arg(dir.path()), "chown");
        }
        let server = Self { bin, dir, port: free_port(), as_postgres };
        let mut initdb = server.tool("initdb");
        initdb
            .arg("-D")
            .arg(server.data())
            .args(["--username=postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"])
            .arg("--no-sync");
        run(&mut initdb, "initdb");
        server.start_again();
        server
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The maintenance database's URL.
    fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A command running one of the server binaries, as `postgres` when we
    /// are root.
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    /// `pg_ctl <action>` on this cluster, waiting until it is done.
    fn pg_ctl(&self, action: &str) -> Command {
        let mut command = self.tool("pg_ctl");
        command.arg("-D").arg(self.data()).args(["-w", "-t", "60"]);
        if action == "start" {
            command.arg("-l").arg(self.log()).arg("-o").arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{}'",
                self.port,
                self.dir.path().display()
            ));
        }
        command.arg(action);
        command
    }

    /// Starts the (stopped) server and waits until it accepts connections.
    fn start_again(&self) {
        let out = self.pg_ctl("start").output().expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "PostgreSQL did not start on 127.0.0.1:{}: {}{}\nserver log:\n{}",
            self.port,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }

    /// Stops the server the way an administrator restarting it does
    /// (`-m fast`: sessions are terminated, a clean shutdown checkpoint).
    async fn stop_fast(&self) {
        let mut command = self.pg_ctl("stop");
        command.args(["-m", "fast"]);
        let out = tokio::process::Command::from(command).output().await.expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// [`start_again`](Self::start_again), without blocking the runtime.
    async fn start_again_async(&self) {
        let mut command = self.pg_ctl("start");
        command.stdout(std::process::Stdio::null());
        let status = tokio::process::Command::from(command).status().await.expect("pg_ctl runs");
        assert!(
            status.success(),
            "PostgreSQL did not start again; server log:\n{}",
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Fails harmlessly when the server is already stopped.
        let mut command = self.pg_ctl("stop");
        command.args(["-m", "immediate"]);
        let _ = command.output();
    }
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

#[track_caller]
fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A free port below the ephemeral range, so that no client socket takes it
/// while the server is down.
fn free_port() -> u16 {
    let start = 20_000 + (std::process::id() % 10_000) as u16;
    (start..30_000)
        .chain(20_000..start)
        .find(|&port| TcpListener::bind(("127.0.0.1", port)).is_ok())
        .expect("a free port in 20000..30000")
}

/// Whether a new connection to the server succeeds (within 3 s).
async fn reachable(url: &str) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(3), sqlx::PgConnection::connect(url)).await,
        Ok(Ok(_))
    )
}

/// Request number `k` of a client whose `j`-th request it is: the client
/// first creates its project, then updates it and the tenant's settings.
/// Returns the method, path, body, the expected status and event.
fn request(
    k: usize,
    j: usize,
    project: Option<&str>,
) -> (Method, String, serde_json::Value, u16, &'static str) {
    match (j % 4, project) {
        (0, _) | (_, None) => (
            Method::POST,
            "/projects".into(),
            json!({"name": format!("load-{k}")}),
            201,
            "project.create",
        ),
        (2, _) => (
            Method::PUT,
            "/settings".into(),
            json!({"display_name": format!("Acme {k}")}),
            200,
            "settings.update",
        ),
        (_, Some(id)) => (
            Method::PATCH,
            format!("/projects/{id}"),
            json!({"description": format!("rev {k}")}),
            200,
            "project.update",
        ),
    }
}

fn postgres_stats(stats: &Stats) -> audit_core::SinkStats {
    stats.sinks.iter().find(|s| s.name == "postgres").expect("a postgres sink").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_restarted_under_load_loses_and_duplicates_nothing() {
    let started = Instant::now();
    let pg = PgServer::start();
    let db = FreshDb::on(&pg.admin_url()).await;
    let url = db.url().to_owned();
    let api = Arc::new(
        Api::start_with(|mut config| {
            let spool = config.audit_dir.parent().expect("a parent").join("spool");
            config.postgres = Some(url);
            config.spool_dir = Some(spool);
            config
        })
        .await,
    );
    let setup = started.elapsed();

    // The load: CONCURRENCY clients take request numbers until REQUESTS.
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let pg_down = Arc::new(AtomicBool::new(false));
    let answered_while_down = Arc::new(AtomicUsize::new(0));
    let load_started = Instant::now();
    let clients: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let (api, next, answered) = (api.clone(), next.clone(), answered.clone());
            let (pg_down, answered_while_down) = (pg_down.clone(), answered_while_down.clone());
            tokio::spawn(async move {
                let mut sent = Vec::new();
                let mut project: Option<String> = None;
                for j in 0.. {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= REQUESTS {
                        break;
                    }
                    let (method, path, body, expected, event) = request(k, j, project.as_deref());
                    let request_id = format!("load-{k}");
                    let response = api
                        .request(method.clone(), &path, Some("alice-token"))
                        .header("x-request-id", &request_id)
                        .json(&body)
                        .send()
                        .await
                        .unwrap_or_else(|e| panic!("{method} {path} ({request_id}): {e}"));
                    let code = response.status().as_u16();
                    let echoed = response.headers().get("x-request-id").cloned();
                    let answer: serde_json::Value = response.json().await.expect("a JSON answer");
                    assert_eq!(code, expected, "{method} {path} ({request_id}): {answer}");
                    assert_eq!(echoed.as_ref().and_then(|v| v.to_str().ok()), Some(&*request_id));
                    if event == "project.create" {
                        project = Some(answer["id"].as_str().expect("a project id").to_owned());
                    }
                    if pg_down.load(Ordering::SeqCst) {
                        answered_while_down.fetch_add(1, Ordering::Relaxed);
                    }
                    answered.fetch_add(1, Ordering::Relaxed);
                    sent.push((k, event, body));
                }
                sent
            })
        })
        .collect();

    // The outage, part-way through.
    while answered.load(Ordering::Relaxed) < STOP_AFTER {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stop_begun = answered.load(Ordering::Relaxed);
    pg.stop_fast().await;
    assert!(!reachable(&pg.admin_url()).await, "the stopped server still accepts connections");
    pg_down.store(true, Ordering::SeqCst);
    let down_at = Instant::now();
    let answered_at_stop = answered.load(Ordering::Relaxed);
    tokio::time::sleep(OUTAGE).await;
    pg_down.store(false, Ordering::SeqCst);
    let answered_before_start = answered.load(Ordering::Relaxed);
    pg.start_again_async().await;
    let downtime = down_at.elapsed();
    let answered_at_start = answered.load(Ordering::Relaxed);
    let stats_at_start = api.server.auditor().stats();
    let at_start = postgres_stats(&stats_at_start);

    // The backlog of the outage is written while the load goes on.
    let restarted = Instant::now();
    let backlog_written = loop {
        let sink = postgres_stats(&api.server.auditor().stats());
        if sink.written >= stats_at_start.recorded {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < DRAIN_TIMEOUT,
            "the Postgres sink did not write the outage's backlog within {DRAIN_TIMEOUT:?} of \
             the restart: {sink:#?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let answered_at_backlog_written = answered.load(Ordering::Relaxed);

    let mut sent = BTreeMap::new();
    for client in clients {
        for (k, event, body) in client.await.expect("a client finished") {
            assert!(sent.insert(k, (event, body)).is_none(), "request {k} sent twice");
        }
    }
    let load_time = load_started.elapsed();
    assert_eq!(sent.len(), REQUESTS, "every request was sent and answered");

    // Let the Postgres sink catch up (shutdown would give it only 10 s).
    let drain_started = Instant::now();
    let caught_up = loop {
        let stats = api.server.auditor().stats();
        let sink = postgres_stats(&stats);
        if sink.written + sink.failed >= stats.recorded
            && sink.queue_depth == 0
            && sink.backlog == 0
        {
            break stats;
        }
        assert!(
            drain_started.elapsed() < DRAIN_TIMEOUT,
            "the Postgres sink did not catch up within {DRAIN_TIMEOUT:?}: {stats:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let drain_time = drain_started.elapsed();
    let sink = postgres_stats(&caught_up);

    let api = Arc::into_inner(api).expect("the clients are done");
    let spool = api.dir.path().join("spool");
    let (_, dir) = api.finish().await;

    // The outage was real, and the pipeline noticed it.
    assert!(
        answered_while_down.load(Ordering::Relaxed) > 0,
        "no request was answered while Postgres was verifiably down"
    );
    assert!(sink.retried > 0, "the Postgres sink never failed a write: {sink:#?}");
    assert_eq!(sink.failed, 0, "no entry rejected permanently: {sink:#?}");
    assert_eq!(caught_up.dropped, 0);
    assert_eq!(caught_up.spool_errors, 0);
    assert!(
        !spool.join("dead-letter").join("postgres.jsonl").exists(),
        "nothing was dead-lettered"
    );

    // What the file sink wrote: the reference.
    let in_file = read_log(&dir.path().join("audit")).await;
    let file_ids: BTreeSet<String> = in_file.iter().map(|e| e.id.to_string()).collect();
    assert_eq!(file_ids.len(), in_file.len(), "the file log holds each id once");
    assert!(in_file.len() > REQUESTS, "{} entries in the file log", in_file.len());

    // Postgres holds the same entries, each once.
    let pool = sqlx::PgPool::connect(db.url()).await.expect("the database");
    let (rows, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT id) FROM audit_events")
            .fetch_one(&pool)
            .await
            .expect("counted");
    assert_eq!(distinct, rows, "an entry is stored more than once");
    assert_eq!(rows as usize, in_file.len(), "Postgres holds as many entries as the file log");
    let pg_ids: BTreeSet<String> = sqlx::query_scalar("SELECT id::text FROM audit_events")
        .fetch_all(&pool)
        .await
        .expect("ids")
        .into_iter()
        .collect();
    assert!(pg_ids == file_ids, "Postgres and the file log hold different ids");
    let duplicated_requests: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT request_id FROM audit_events WHERE request_id LIKE 'load-%' \
         GROUP BY request_id HAVING count(*) > 1) AS d",
    )
    .fetch_one(&pool)
    .await
    .expect("counted");
    assert_eq!(duplicated_requests, 0, "a request has more than one entry");
    pool.close().await;

    // Read back through the store: every request's entry once, the chain intact.
    let store = PostgresStore::connect(db.url()).await.expect("the store");
    let in_postgres: Vec<AuditEvent> =
        store.scan(&Query::new()).try_collect().await.expect("a readable table");
    drop(store);
    assert_eq!(in_postgres.len(), in_file.len());
    if let Some(i) = (0..in_file.len()).find(|&i| in_postgres[i] != in_file[i]) {
        panic!(
            "entry {i} differs between Postgres and the file log:\n{:#?}\n{:#?}",
            in_postgres[i], in_file[i]
        );
    }
    verify(&in_postgres, &VerifyOptions::new().require_sealed(true))
        .expect("the chain read back from Postgres verifies");
    let mut by_request: HashMap<&str, Vec<&AuditEvent>> = HashMap::new();
    for e in &in_postgres {
        if let Some(id) = e.source.request_id.as_deref() {
            by_request.entry(id).or_default().push(e);
        }
    }
    for (k, (event, body)) in &sent {
        let entries = by_request.remove(format!("load-{k}").as_str()).unwrap_or_default();
        assert_eq!(entries.len(), 1, "request {k} has {} entries in Postgres", entries.len());
        let e = entries[0];
        assert_eq!(e.event, *event, "request {k}: {e:#?}");
        let recorded = request_body(e);
        for (field, value) in body.as_object().expect("an object") {
            assert_eq!(recorded[field], *value, "request {k}: {e:#?}");
        }
        assert!(status(e).is_some_and(|s| s < 300), "request {k}: {e:#?}");
    }
    assert!(by_request.is_empty(), "entries of unknown requests: {:?}", by_request.keys());
    let chain_entries = in_postgres.iter().filter(|e| e.event.starts_with("audit.")).count();
    assert_eq!(chain_entries + REQUESTS, in_postgres.len(), "nothing but requests and the chain");

    println!(
        "setup {setup:.1?}; {REQUESTS} requests in {load_time:.1?} ({:.0}/s); Postgres stopped \
         at answer {stop_begun}, down from answer {answered_at_stop} to {answered_before_start} \
         ({} answered while verifiably down), started again after {downtime:.1?} at answer \
         {answered_at_start}; postgres sink then: written {}, queue {}, spool backlog {}, \
         retried {}; the outage's backlog written {backlog_written:.1?} after the restart (at \
         answer {answered_at_backlog_written}); after the load: written {}, retried {}, spooled \
         {}, replayed {}, drained in {drain_time:.1?}; {} entries in Postgres; total {:.1?}",
        REQUESTS as f64 / load_time.as_secs_f64(),
        answered_while_down.load(Ordering::Relaxed),
        at_start.written,
        at_start.queue_depth,
        at_start.backlog,
        at_start.retried,
        sink.written,
        sink.retried,
        sink.spooled,
        sink.replayed,
        in_postgres.len(),
        started.elapsed(),
    );
    drop(db);
    drop(pg);
}
