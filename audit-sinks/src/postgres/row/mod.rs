//! A batch of entries as rows of `audit_events`, in the two forms the sink
//! sends: a binary `COPY` payload (the normal path) and column arrays for
//! one `INSERT .. SELECT FROM UNNEST(..) ON CONFLICT DO NOTHING` (the path
//! for batches that hold entries already stored).
//!
//! Both are filled by one function, [`visit`](values::visit), which maps an
//! entry to its 34 values in [`COLUMNS`] order, so the two forms cannot
//! drift apart.

mod columns;
mod copy;
mod unnest;
mod values;

pub use columns::COLUMNS;
pub(crate) use copy::{CopyRows, is_duplicate};
pub(crate) use unnest::Columns;

#[cfg(test)]
mod tests;
