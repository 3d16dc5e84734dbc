//! Test support: an in-memory sink and store with fault injection, a sink
//! that discards what it gets (for benchmarks), and the
//! [`AuditStore`](crate::AuditStore) conformance suite that every store runs.
//!
//! Enabled by the `testing` feature. Not meant for production use.

pub mod conformance;
mod discard;
mod memory;
mod memory_store;

pub use discard::DiscardSink;
pub use memory::{MemorySink, MemorySinkControl};
