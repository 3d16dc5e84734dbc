//! One field-level change, the unit of [`crate::diff`]'s output.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A field-level change: the value at `path` before and after the operation.
///
/// `path` uses dots for object keys and `[n]` for array indices
/// (`members[2].role`); the empty path is the whole value. A missing side
/// (a field that was added or removed) is `null`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Change {
    /// The value after.
    #[serde(default)]
    pub after: Value,
    /// The value before.
    #[serde(default)]
    pub before: Value,
    /// Where the value changed.
    pub path: String,
}

impl Change {
    /// A change at a path.
    pub fn new(path: impl Into<String>, before: impl Into<Value>, after: impl Into<Value>) -> Self {
        Self { path: path.into(), before: before.into(), after: after.into() }
    }
}
