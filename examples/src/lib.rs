//! Runnable examples for the audit workspace.
//!
//! - [`saas`]: an example SaaS API (axum and tonic) whose every mutation is
//!   audited; the `saas-api` binary serves it.
//! - [`quickstart`]: the scripted scenario behind
//!   `cargo run -p examples --example quickstart`, the README's main job.
//!
//! The `examples/` folder holds the runnable programs: `quickstart` and
//! `axum_tonic` (the layer on a bare axum router and tonic server).

pub mod quickstart;
pub mod saas;
