//! Field-level changes (interface stub; being implemented).
use crate::Change;
use serde::Serialize;

/// The field-level differences between two serializable values.
pub fn diff_serialize<B: Serialize + ?Sized, A: Serialize + ?Sized>(
    _before: &B,
    _after: &A,
) -> Vec<Change> {
    Vec::new()
}
