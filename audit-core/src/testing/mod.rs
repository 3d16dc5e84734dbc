//! Test support: an in-memory sink and store with fault injection, and the
//! [`AuditStore`](crate::AuditStore) conformance suite that every store runs.
//!
//! Enabled by the `testing` feature. Not meant for production use.

pub mod conformance;
mod memory;
mod memory_store;

pub use memory::{MemorySink, MemorySinkControl};
