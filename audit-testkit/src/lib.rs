//! Test support for the crates of this workspace (`publish = false`): one
//! copy of what their tests and benchmarks share.
//!
//! ```
//! let entry = audit_testkit::sample::entry();
//! assert_eq!(entry.event, "project.update");
//! assert!(serde_json::to_vec(&entry).unwrap().len() > 800);
//! ```
//!
//! - [`sample`]: the entry the benchmarks record and write, about 1 KB of
//!   JSON, and the request body it captured.
//! - `pg` (feature `pg`): a fresh PostgreSQL database per test, dropped
//!   when the test ends, on 127.0.0.1:5432 or the server `AUDIT_TEST_PG_URL`
//!   names.
//! - `proto` (feature `proto`): the gRPC services of the tests
//!   (`members.v1`, `projects.v1`), generated at build time from
//!   `proto/*.proto`.
//!
//! A crate takes it as a dev-dependency with the features it needs:
//!
//! ```toml
//! [dev-dependencies]
//! audit-testkit = { workspace = true, features = ["pg"] }
//! ```

#[cfg(feature = "pg")]
pub mod pg;
#[cfg(feature = "proto")]
pub mod proto;
pub mod sample;
