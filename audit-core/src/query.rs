//! The query model (being implemented).

/// A query over stored entries.
#[derive(Debug, Clone, Default)]
pub struct Query {}
