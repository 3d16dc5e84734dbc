//! Tamper evidence: the hash chain, signed checkpoints and verification.
//!
//! # The chain
//!
//! Every entry recorded by one [`Auditor`](crate::Auditor) run belongs to one
//! chain (`chain.id`). The [`Sequencer`] gives each entry the next `chain.seq`,
//! the previous entry's hash as `chain.prev`, and
//!
//! ```text
//! chain.hash = hex(SHA-256(prev_hash_bytes || JCS(entry without chain.hash)))
//! ```
//!
//! where JCS is the RFC 8785 canonical JSON form ([`canonical_json`]), so any
//! language can verify a chain. The first entry of a chain (`seq` 0) is an
//! `audit.genesis` entry whose `prev` is 64 zeros; it records the checkpoint
//! policy and the key id ([`GenesisData`]).
//!
//! Every N entries or T seconds the sequencer appends an `audit.checkpoint`
//! entry ([`CheckpointData`]) signing `(chain.id, seq, hash)` of the entry
//! before it ([`checkpoint_message`]), with an Ed25519 key (or an HMAC key) that
//! does not live in the store. Whoever can write to the store but does not hold
//! the key can recompute hashes but not signatures, so a rewritten chain fails
//! verification. Shutdown appends a closing checkpoint, after which the
//! sequencer seals nothing more, so a sealed chain whose tail was cut is
//! detected too.
//!
//! # Verification
//!
//! [`Verifier`] (or [`verify`] for a whole slice) reads entries one at a time,
//! in store order, keeping a small state per chain, so a CLI can check millions
//! of entries from a file or a database. Entries of several chains may be
//! interleaved (several processes writing to one store, restarts); within a
//! chain they must come in seq order. Per entry, in this order:
//!
//! 1. Its chain link is well formed and its hash matches its content: the hash
//!    is recomputed from `chain.prev` and the canonical JSON.
//! 2. Its seq is the next one of its chain and its `prev` is the hash of the
//!    entry before it. The first entry of a chain must be its genesis entry
//!    (seq 0, prev zeros), or any later entry when older ones were removed
//!    (see below).
//! 3. A checkpoint signs the `(seq, hash)` of the entry before it, and, when
//!    keys are given, its signature verifies with one of them (the one whose
//!    [`key_id`](VerifyingKey::key_id) it names, else any of its algorithm).
//! 4. When keys are given and the genesis entry was seen, no more than its
//!    `checkpoint_every` entries pass without a checkpoint.
//!
//! At the end, with [`VerifyOptions::require_sealed`], every chain must end
//! with a closing checkpoint.
//!
//! Without a key only hashes and links are checked (and that checkpoints claim
//! the entry before them); [`VerifyReport::signatures_checked`] says so.
//!
//! ## Problem kinds
//!
//! Verification stops at the first problem of the stream ([`Problem`]: the
//! chain, the seq and the entry, and a [`ProblemKind`]):
//!
//! | kind | what it means | typical tampering |
//! |---|---|---|
//! | [`Modified`](ProblemKind::Modified) | an entry's hash does not match its content; or an entry's hash was recomputed after a change so that the next entry no longer links to it (reported at the changed entry) | a field edited in place |
//! | [`Missing`](ProblemKind::Missing) | the chain skips seqs that never turn up (reported at the first missing seq) | an entry deleted |
//! | [`Inserted`](ProblemKind::Inserted) | an entry that does not belong: a second entry with a seq already seen (the one the next entry does not link to); an entry at the next seq that links to neither neighbour; an entry without a chain link after chained ones (reported at the seq of the chained entry it follows); any entry after a closing checkpoint | a forged entry added |
//! | [`Reordered`](ProblemKind::Reordered) | an entry appears after a later entry of its chain (reported at the late entry) | two entries swapped |
//! | [`BadSignature`](ProblemKind::BadSignature) | a checkpoint's signature does not verify, or it signs a `(seq, hash)` that is not the entry before it | a chain rewritten with recomputed hashes, a wrong key |
//! | [`MissingSignature`](ProblemKind::MissingSignature) | a key was given, but the genesis or a checkpoint declares no key or another algorithm, or more entries than the genesis promises pass without a checkpoint (reported at the first entry too many) | an unsigned chain, a checkpoint removed |
//! | [`TruncatedTail`](ProblemKind::TruncatedTail) | with `require_sealed`: a chain does not end with a closing checkpoint (reported at its last entry) | the tail cut |
//! | [`Malformed`](ProblemKind::Malformed) | an entry that cannot be checked: no chain link at the start of the stream, a hash that is not 64 lowercase hex digits, seq 0 that is not a genesis entry, a genesis entry elsewhere or with a `prev` other than zeros, genesis or checkpoint data missing or of the wrong type | |
//!
//! Entries after a closing checkpoint are always `Inserted`, also without
//! `require_sealed`: the sequencer writes nothing after it, so they were
//! appended by someone else.
//!
//! ## Look-ahead and the order of problems
//!
//! Some problems are known for certain only later in the stream. A problem is
//! placed at the stream position of the entry that revealed it, and the
//! earliest one is reported:
//!
//! - A **gap** (an entry whose seq skips ahead) is placed at that entry. If a
//!   skipped seq turns up later, it is `Reordered` (at the late entry's seq: for
//!   `5, 7, 6, 8`, at seq 6); if none does by [`Verifier::finish`], it is
//!   `Missing` (at the first skipped seq).
//! - A **duplicate** seq of the chain's last entry is placed at the second
//!   entry; the next entry of the chain tells which one is genuine (the one it
//!   links to); the other is `Inserted`.
//! - A **broken link** (an entry at the next seq, consistent in itself, whose
//!   `prev` is not the hash of the entry before) is placed at that entry. If the
//!   next entry links to it, the entry before was rewritten and its hash
//!   recomputed: `Modified` at the entry before. If a second entry with its seq
//!   links to the entry before, or the next entry does not link to it, it is
//!   `Inserted`. At the end of the stream, `Modified` at the entry before.
//!
//! While such a decision is open, [`Verifier::push`] holds back problems found
//! after it (in any chain) and returns `Ok`; a problem is returned as soon as
//! nothing undecided comes before it, at the latest by `finish`. Once a chain
//! has a problem, its later entries are not checked.
//!
//! ## What is and is not detectable
//!
//! - With the key: any change, deletion, insertion or reordering of entries up
//!   to a chain's last checkpoint, even by someone who recomputed every hash,
//!   since they cannot recompute the signatures.
//! - The tail of an open chain after its last checkpoint is covered by hashes
//!   only: whoever can write to the store can cut it, or rewrite it with
//!   recomputed hashes, unnoticed. [`ChainSummary::unsigned_tail`] says how many
//!   entries that is; checkpoints every N entries or T seconds bound it. A
//!   sealed chain (closing checkpoint) has no such tail, and `require_sealed`
//!   detects a cut closing checkpoint.
//! - A chain without any checkpoint (a process that died early) proves nothing
//!   by itself: anyone can write one. It shows up with `unsigned_tail` equal to
//!   its entry count, and `require_sealed` rejects it. The same holds for a
//!   chain that starts later (see below) and has no checkpoint.
//! - Without a key nothing stops a consistent rewrite: links and hashes only
//!   catch edits made without recomputing them.
//! - JCS compares numbers as IEEE doubles: integers beyond 2^53 that round to
//!   the same double hash the same. Record such values as strings.
//!
//! ## Chains that start later
//!
//! Retention removes whole old segments, so a chain may start at a seq other
//! than 0. Its first kept entry is accepted without checking its `prev`, and
//! [`ChainSummary::starts_at`] reports where it starts. Verification is then
//! anchored at the oldest kept checkpoint: from there on everything is checked
//! as for a whole chain. Entries before that checkpoint are hash-linked to it
//! and a change to them breaks its signature, but where the chain starts is
//! not signed: more entries cut from the start look like retention (the
//! `audit.retention` entry records what retention removed). The genesis'
//! checkpoint frequency is unknown there, so rule 4 is not checked.

mod error;
mod keys;
mod policy;
mod sequencer;
mod verify;

pub use error::IntegrityError;
pub use keys::{SigningKey, VerifyingKey};
pub use policy::{CheckpointData, CheckpointPolicy, GenesisData, checkpoint_message};
pub use sequencer::Sequencer;
pub use verify::{
    ChainSummary, Problem, ProblemKind, Verifier, VerifyOptions, VerifyReport, verify,
};

pub use crate::canonical::{CanonicalError, ZERO_HASH, canonical_json, compute_hash};

/// Event name of the first entry of every chain.
pub const GENESIS_EVENT: &str = "audit.genesis";
/// Event name of the signed checkpoint entries.
pub const CHECKPOINT_EVENT: &str = "audit.checkpoint";

#[cfg(test)]
mod tests;
