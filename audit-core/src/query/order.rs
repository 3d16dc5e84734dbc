//! [`Order`]: newest or oldest first, by `(time, id)`.

use std::cmp::Ordering;

use super::Cursor;
use crate::model::AuditEvent;

/// The order of query results.
///
/// Entries are ordered by `(time, id)`; the id breaks ties between entries
/// with the same time. Not `#[non_exhaustive]`: there are exactly two
/// directions, and stores match on them to build `ORDER BY`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Order {
    /// Latest entries first: `(time DESC, id DESC)`.
    #[default]
    NewestFirst,
    /// Earliest entries first: `(time ASC, id ASC)`.
    OldestFirst,
}

impl Order {
    /// Compares two entries in this order: `Less` means `a` comes first.
    pub fn compare(self, a: &AuditEvent, b: &AuditEvent) -> Ordering {
        let ascending = Cursor::after(a).cmp(&Cursor::after(b));
        match self {
            Self::NewestFirst => ascending.reverse(),
            Self::OldestFirst => ascending,
        }
    }
}
