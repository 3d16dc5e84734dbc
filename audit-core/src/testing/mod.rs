//! Test support: an in-memory sink and store with fault injection, and the
//! [`AuditStore`](crate::AuditStore) conformance suite that every store runs.
//!
//! Enabled by the `testing` feature. Not meant for production use.

mod memory;

pub use memory::{MemorySink, MemorySinkControl};
