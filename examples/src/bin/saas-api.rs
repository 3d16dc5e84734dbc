//! The example SaaS API as a server: see `examples::saas` and `--help`.
//!
//! ```text
//! cargo run -p examples --bin saas-api -- --addr 127.0.0.1:8080 --audit-dir ./audit-log
//! ```

use std::process::ExitCode;

use clap::Parser as _;
use examples::saas::{Args, DEMO_TOKENS, serve};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let audit_dir = args.audit_dir.clone();
    let server = match serve(args.into()).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("saas-api: HTTP on {}", server.url());
    if let Some(grpc) = server.grpc_addr() {
        println!("saas-api: gRPC (saas.v1.Projects) on {grpc}");
    }
    println!("saas-api: audit log in {}", audit_dir.display());
    println!("demo credentials (Authorization: Bearer <token>, or X-Api-Key: <token>):");
    for (token, who) in DEMO_TOKENS {
        println!("  {token:<12} {who}");
    }
    println!("Ctrl-C to stop");
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    println!("saas-api: shutting down, flushing the audit trail");
    match server.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
