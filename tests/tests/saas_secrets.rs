//! No secret of the quickstart scenario reaches the audit trail: not the
//! bearer tokens (Authorization), not the X-Api-Key values, not the
//! `webhook_secret` sent in a body, not the `secret_key` received in one.
//! Every byte of every file under the log directory (rotated and gzipped
//! files decompressed) and under the spool directory is searched.

use std::net::SocketAddr;
use std::time::Duration;

use audit_core::Auditor;
use audit_sinks::file::FileSink;
use examples::quickstart::scenario;
use examples::saas::{AppState, app};
use tests::{contains, every_file, read_log, without_chain_entries};

#[tokio::test]
async fn no_secret_reaches_the_log_its_rotated_files_or_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let (log, spool) = (dir.path().join("audit"), dir.path().join("spool"));
    // Small files, so that the scenario rotates and compresses some.
    let sink = FileSink::builder(&log).max_file_bytes(4096).gzip_rotated(true).build().unwrap();
    let auditor = Auditor::builder()
        .service("saas-api", "test")
        .sink(sink)
        .spool_dir(&spool)
        .build()
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service =
        app(AppState::new(auditor.clone())).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move { axum::serve(listener, service).await });

    let mut out = Vec::new();
    let scenario = scenario(&format!("http://{addr}"), None, &mut out).await.unwrap();
    server.abort();
    auditor.shutdown(Duration::from_secs(10)).await.unwrap();

    let secrets = &scenario.secrets;
    assert_eq!(secrets.len(), 5, "{secrets:?}");
    assert!(secrets.iter().any(|s| s.starts_with("sk_live_")), "the generated key: {secrets:?}");
    let mut files = every_file(&log);
    let log_files = files.len();
    files.extend(every_file(&spool));
    assert!(
        files.iter().any(|(p, _)| p.to_string_lossy().ends_with(".jsonl.gz")),
        "the scenario rotated and compressed files: {:?}",
        files.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    assert!(files.len() > log_files, "the spool has files");
    for (path, bytes) in &files {
        for secret in secrets {
            assert!(!contains(bytes, secret), "{secret} is in {}", path.display());
        }
    }

    // Not vacuous: the places the secrets were are there, redacted.
    let all: Vec<u8> = files.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    for redacted in [
        r#""authorization":"[REDACTED]""#,
        r#""x-api-key":"[REDACTED]""#,
        r#""secret_key":"[REDACTED]""#,
        r#""webhook_secret":"[REDACTED]""#,
    ] {
        assert!(contains(&all, redacted), "{redacted} is in the log");
    }
    // Every audited call of the scenario is in the log, across the files.
    let entries = without_chain_entries(read_log(&log).await);
    let audited = scenario.steps.iter().filter(|s| s.method != "GET").count();
    assert_eq!(entries.len(), audited, "{:#?}", scenario.steps);
}
