//! Errors of sealing entries and reading keys.

use crate::canonical::CanonicalError;

/// An error computing or checking integrity data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The entry has no canonical form, or a hash is not 64 hex digits.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// A key could not be read.
    #[error("invalid key: {0}")]
    BadKey(String),
    /// An entry or checkpoint was sealed before the genesis entry.
    #[error("the chain has no genesis entry yet: call `Sequencer::genesis` first")]
    NotStarted,
    /// `Sequencer::genesis` was called on a chain that has one.
    #[error("the chain already has its genesis entry")]
    AlreadyStarted,
    /// An entry or checkpoint was sealed after the closing checkpoint.
    #[error("the chain was closed by its closing checkpoint; start a new chain")]
    Closed,
}
