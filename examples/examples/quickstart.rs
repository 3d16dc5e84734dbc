//! Quickstart: starts the example SaaS API in this process, drives a scripted
//! scenario against it (as alice, bob, an API key and nobody), then shows the
//! audit trail it left, verifies its chain and searches it for the secrets
//! the scenario sent.
//!
//! ```text
//! cargo run -p examples --example quickstart
//! ```
//!
//! It writes the log to `./audit-demo` and a signing key pair to
//! `./audit-demo-keys`, to explore with the `audit` CLI afterwards.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let mut out = std::io::stdout().lock();
    match examples::quickstart::run(&examples::quickstart::Options::default(), &mut out).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quickstart failed: {e}");
            ExitCode::FAILURE
        }
    }
}
