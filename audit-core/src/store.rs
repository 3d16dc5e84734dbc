//! The read side (being implemented).

/// A store of entries that can be queried.
pub trait AuditStore: Send + Sync + std::fmt::Debug {}
