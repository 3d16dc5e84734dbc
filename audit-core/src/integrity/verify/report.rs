//! What verification reports: a [`Problem`] of some [`ProblemKind`], or a
//! [`VerifyReport`] with a [`ChainSummary`] per chain.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of problem verification found; see the [module docs](crate::integrity#problem-kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProblemKind {
    /// An entry's content does not match its hash, or an entry was rewritten
    /// and its hash recomputed so that the next entry no longer links to it.
    Modified,
    /// Entries are absent: the chain skips seqs that never turn up.
    Missing,
    /// An entry that does not belong: a second entry with a seq already seen,
    /// an entry that links to neither neighbour, an entry without a chain link
    /// in a chained stream, or an entry after the closing checkpoint.
    Inserted,
    /// An entry appears after an entry with a later seq of its chain.
    Reordered,
    /// A checkpoint's signature does not verify with the given keys, or the
    /// `(seq, hash)` it signs is not that of the entry before it.
    BadSignature,
    /// A key was given, but the chain is unsigned or signed with another
    /// algorithm, or more entries than the genesis promises passed without a
    /// checkpoint.
    MissingSignature,
    /// With [`VerifyOptions::require_sealed`](super::VerifyOptions::require_sealed): a chain does not end with a
    /// closing checkpoint.
    TruncatedTail,
    /// An entry that cannot be checked: no chain link where one is needed, a
    /// hash that is not 64 lowercase hex digits, a genesis entry that is not at
    /// seq 0 or whose `prev` is not zeros, checkpoint or genesis data missing or
    /// of the wrong type, content without a canonical JSON form.
    Malformed,
}

impl ProblemKind {
    /// The snake_case name used in JSON, e.g. `bad_signature`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Modified => "modified",
            Self::Missing => "missing",
            Self::Inserted => "inserted",
            Self::Reordered => "reordered",
            Self::BadSignature => "bad_signature",
            Self::MissingSignature => "missing_signature",
            Self::TruncatedTail => "truncated_tail",
            Self::Malformed => "malformed",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first problem verification found: what, in which chain, at which seq.
///
/// Displayed as `chain <id>: <message>`, e.g. `chain 0190…: entry seq 17 (id
/// 0190…) was modified: its hash does not match its content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{}{message}", ChainPrefix(*chain))]
#[non_exhaustive]
pub struct Problem {
    /// The chain (`chain.id`) where it happened; nil for an entry without a
    /// chain link at the very start of the stream.
    pub chain: Uuid,
    /// The seq where it happened: the entry's own seq; for [`Missing`] the
    /// first missing seq; for an entry without a chain link, the seq of the
    /// chained entry it follows in the stream.
    ///
    /// [`Missing`]: ProblemKind::Missing
    pub seq: u64,
    /// The id of the entry at fault, when there is one (not for [`Missing`]).
    ///
    /// [`Missing`]: ProblemKind::Missing
    pub entry_id: Option<Uuid>,
    /// What kind of problem it is.
    pub kind: ProblemKind,
    /// What went wrong, in words, naming the entry.
    pub message: String,
}

struct ChainPrefix(Uuid);

impl fmt::Display for ChainPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_nil() { Ok(()) } else { write!(f, "chain {}: ", self.0) }
    }
}

/// What a successful verification covered, per chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChainSummary {
    /// The chain id.
    pub chain: Uuid,
    /// The seq of its first entry in the stream (0: its genesis entry).
    pub first_seq: u64,
    /// The seq of its last entry.
    pub last_seq: u64,
    /// `Some(first_seq)` when the chain does not start with its genesis entry
    /// (older entries were removed by retention): verification is anchored at
    /// its oldest kept checkpoint, see the [module docs](crate::integrity#chains-that-start-later).
    pub starts_at: Option<u64>,
    /// How many entries it has, checkpoints included.
    pub entries: u64,
    /// How many of them are checkpoints.
    pub checkpoints: u64,
    /// The seq of its last checkpoint entry.
    pub last_checkpoint_seq: Option<u64>,
    /// Whether it ends with a closing checkpoint.
    pub sealed: bool,
    /// Entries after its last checkpoint (all its entries if it has none):
    /// covered by hashes only, not by a signature.
    pub unsigned_tail: u64,
}

/// The result of a verification that found no problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifyReport {
    /// How many entries were read, in all chains.
    pub entries: u64,
    /// One summary per chain, in the order the chains first appeared.
    pub chains: Vec<ChainSummary>,
    /// Whether checkpoint signatures were checked (a key was given). When
    /// `false`, only hashes and links were checked: whoever can write to the
    /// store could have rewritten every chain consistently.
    pub signatures_checked: bool,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} entries in {} chain{} verified: ",
            self.entries,
            self.chains.len(),
            if self.chains.len() == 1 { "" } else { "s" }
        )?;
        if self.signatures_checked {
            f.write_str("hashes, links and checkpoint signatures")?;
        } else {
            f.write_str("hashes and links only (no key given: signatures not checked)")?;
        }
        for c in &self.chains {
            write!(
                f,
                "\n  chain {}: seq {}..={}, {} entries, {} checkpoints, ",
                c.chain, c.first_seq, c.last_seq, c.entries, c.checkpoints
            )?;
            if c.sealed {
                f.write_str("sealed")?;
            } else {
                write!(f, "open, {} entries after the last checkpoint", c.unsigned_tail)?;
            }
            if let Some(start) = c.starts_at {
                write!(f, ", starts at seq {start} (earlier entries removed)")?;
            }
        }
        Ok(())
    }
}
