//! The state verification keeps per chain, and the checks of one entry
//! against it.

use serde::Deserialize;
use uuid::Uuid;

use super::{ChainSummary, Problem, ProblemKind};
use crate::canonical::{ZERO_HASH, compute_hash};
use crate::integrity::{
    CHECKPOINT_EVENT, CheckpointData, GENESIS_EVENT, GenesisData, VerifyingKey, checkpoint_message,
};
use crate::model::{AuditEvent, ChainLink};

#[derive(Debug)]
pub(super) struct ChainState {
    pub(super) id: Uuid,
    pub(super) first_seq: u64,
    pub(super) head: ChainHead,
    pub(super) entries: u64,
    pub(super) checkpoints: u64,
    pub(super) last_checkpoint_seq: Option<u64>,
    pub(super) sealed: bool,
    /// `checkpoint_every` from the genesis entry, if it was seen.
    pub(super) checkpoint_every: Option<u64>,
    /// Entries since the last checkpoint (or genesis), checkpoints excluded.
    pub(super) since_checkpoint: u64,
    pub(super) status: Status,
}

/// The last accepted entry of a chain.
#[derive(Debug, Clone)]
pub(super) struct ChainHead {
    pub(super) seq: u64,
    pub(super) id: Uuid,
    pub(super) hash: String,
    pub(super) prev: String,
}

#[derive(Debug)]
pub(super) enum Status {
    Good,
    /// The chain's first problem is certain to be at stream position `pos`,
    /// but its kind or entry needs look-ahead.
    Undecided {
        pos: u64,
        what: Undecided,
    },
    /// A problem was found; later entries of the chain are not checked.
    Failed,
}

#[derive(Debug)]
pub(super) enum Undecided {
    /// Seqs `from..=to` were skipped by entry `after`: missing, unless one of
    /// them turns up later (reordered).
    Gap { from: u64, to: u64, after: (u64, Uuid) },
    /// Two entries with the head's seq that both link to the entry before:
    /// the one the next entry links to is genuine.
    Duplicate { seq: u64, first: (Uuid, String), second: (Uuid, String) },
    /// `entry` (self-consistent, at the next seq) does not link to `head`:
    /// either the head was rewritten and its hash recomputed (the next entry
    /// links to `entry`), or `entry` does not belong.
    Break { head: ChainHead, entry: ChainHead },
}

/// What one entry of a chain turned out to be.
pub(super) enum Step {
    Accept,
    Problem(ProblemKind, String),
    Undecided(Undecided),
}

pub(super) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

pub(crate) fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(super) fn entry_name(seq: u64, id: Uuid) -> String {
    format!("entry seq {seq} (id {id})")
}

impl ChainState {
    pub(super) fn new(entry: &AuditEvent, link: &ChainLink) -> Self {
        Self {
            id: link.id,
            first_seq: link.seq,
            head: ChainHead {
                seq: link.seq,
                id: entry.id,
                hash: link.hash.clone(),
                prev: link.prev.clone(),
            },
            entries: 0,
            checkpoints: 0,
            last_checkpoint_seq: None,
            sealed: false,
            checkpoint_every: None,
            since_checkpoint: 0,
            status: Status::Good,
        }
    }

    pub(super) fn summary(&self) -> ChainSummary {
        ChainSummary {
            chain: self.id,
            first_seq: self.first_seq,
            last_seq: self.head.seq,
            starts_at: (self.first_seq != 0).then_some(self.first_seq),
            entries: self.entries,
            checkpoints: self.checkpoints,
            last_checkpoint_seq: self.last_checkpoint_seq,
            sealed: self.sealed,
            unsigned_tail: match self.last_checkpoint_seq {
                Some(s) => self.head.seq.saturating_sub(s),
                None => self.entries,
            },
        }
    }
}

/// Checks what every entry needs on its own: a well-formed link and a hash
/// that matches the content.
pub(super) fn self_check(
    entry: &AuditEvent,
    link: &ChainLink,
) -> Result<(), (ProblemKind, String)> {
    let name = entry_name(link.seq, entry.id);
    if !is_hash(&link.hash) {
        return Err((
            ProblemKind::Malformed,
            format!("{name} is malformed: its chain.hash is not 64 lowercase hex digits"),
        ));
    }
    if !is_hash(&link.prev) {
        return Err((
            ProblemKind::Malformed,
            format!("{name} is malformed: its chain.prev is not 64 lowercase hex digits"),
        ));
    }
    match compute_hash(&link.prev, entry) {
        Ok(h) if h == link.hash => Ok(()),
        Ok(_) => Err((
            ProblemKind::Modified,
            format!("{name} was modified: its hash does not match its content"),
        )),
        Err(e) => Err((ProblemKind::Malformed, format!("{name} is malformed: {e}"))),
    }
}

/// The first entry of a chain in the stream: its genesis, or a later entry
/// when older ones were removed.
pub(super) fn first_entry(entry: &AuditEvent, link: &ChainLink) -> Step {
    if let Err((kind, message)) = self_check(entry, link) {
        return Step::Problem(kind, message);
    }
    if link.seq == 0 {
        let name = entry_name(link.seq, entry.id);
        if entry.event != GENESIS_EVENT {
            return Step::Problem(
                ProblemKind::Malformed,
                format!("{name} is malformed: seq 0 must be an `{GENESIS_EVENT}` entry"),
            );
        }
        if link.prev != ZERO_HASH {
            return Step::Problem(
                ProblemKind::Malformed,
                format!("{name} is malformed: a genesis entry's prev must be 64 zeros"),
            );
        }
    }
    Step::Accept
}

/// A later entry of a chain: where does it go?
pub(super) fn next_entry(c: &ChainState, entry: &AuditEvent, link: &ChainLink) -> Step {
    if let Err((kind, message)) = self_check(entry, link) {
        return Step::Problem(kind, message);
    }
    let head = &c.head;
    let name = || entry_name(link.seq, entry.id);
    let head_name = || entry_name(head.seq, head.id);
    if link.seq > head.seq {
        if c.sealed {
            return Step::Problem(
                ProblemKind::Inserted,
                format!(
                    "{} was inserted: it follows the closing checkpoint ({}), after which the \
                     sequencer writes nothing",
                    name(),
                    head_name()
                ),
            );
        }
        if link.seq - head.seq > 1 {
            return Step::Undecided(Undecided::Gap {
                from: head.seq + 1,
                to: link.seq - 1,
                after: (link.seq, entry.id),
            });
        }
        if link.prev != head.hash {
            return Step::Undecided(Undecided::Break {
                head: head.clone(),
                entry: ChainHead {
                    seq: link.seq,
                    id: entry.id,
                    hash: link.hash.clone(),
                    prev: link.prev.clone(),
                },
            });
        }
        return Step::Accept;
    }
    if link.seq == head.seq {
        if entry.id == head.id && link.hash == head.hash {
            return Step::Problem(
                ProblemKind::Inserted,
                format!("{} was inserted: it is a second copy of the entry before it", name()),
            );
        }
        if link.prev == head.prev {
            return Step::Undecided(Undecided::Duplicate {
                seq: link.seq,
                first: (head.id, head.hash.clone()),
                second: (entry.id, link.hash.clone()),
            });
        }
        return Step::Problem(
            ProblemKind::Inserted,
            format!("{} was inserted: seq {} already appeared ({})", name(), link.seq, head_name()),
        );
    }
    if link.seq < c.first_seq {
        return Step::Problem(
            ProblemKind::Reordered,
            format!("{} is out of order: it appears after {}", name(), head_name()),
        );
    }
    Step::Problem(
        ProblemKind::Inserted,
        format!(
            "{} was inserted: seq {} already appeared, and the chain is at seq {}",
            name(),
            link.seq,
            head.seq
        ),
    )
}

/// Checks and records an entry that has its place in the chain: genesis and
/// checkpoint data, signatures, checkpoint frequency.
pub(super) fn accept(
    keys: &[VerifyingKey],
    c: &mut ChainState,
    entry: &AuditEvent,
    link: &ChainLink,
) -> Step {
    let name = || entry_name(link.seq, entry.id);
    let malformed = |what: &str| {
        Step::Problem(ProblemKind::Malformed, format!("{} is malformed: {what}", name()))
    };
    if entry.event == GENESIS_EVENT {
        if link.seq != 0 {
            return malformed("a genesis entry must have seq 0");
        }
        let data = match entry.metadata.get("genesis").map(GenesisData::deserialize) {
            None => return malformed("it has no metadata.genesis"),
            Some(Err(e)) => return malformed(&format!("invalid metadata.genesis: {e}")),
            Some(Ok(d)) => d,
        };
        if let Some(step) = check_algorithm(keys, &name(), &data.algorithm, "its genesis declares")
        {
            return step;
        }
        c.checkpoint_every = Some(data.checkpoint_every);
        c.since_checkpoint = 0;
    } else if entry.event == CHECKPOINT_EVENT {
        let data = match entry.metadata.get("checkpoint").map(CheckpointData::deserialize) {
            None => return malformed("it has no metadata.checkpoint"),
            Some(Err(e)) => return malformed(&format!("invalid metadata.checkpoint: {e}")),
            Some(Ok(d)) => d,
        };
        if let Some(step) = check_checkpoint(keys, c.id, &name(), link, &data) {
            return step;
        }
        c.checkpoints += 1;
        c.last_checkpoint_seq = Some(link.seq);
        c.since_checkpoint = 0;
        c.sealed = data.closing;
    } else {
        c.since_checkpoint += 1;
        if let Some(every) = c.checkpoint_every.filter(|&n| n > 0 && !keys.is_empty())
            && c.since_checkpoint > every
        {
            let last = match c.last_checkpoint_seq {
                Some(s) => format!("the checkpoint at seq {s}"),
                None => "the genesis entry".to_owned(),
            };
            return Step::Problem(
                ProblemKind::MissingSignature,
                format!(
                    "{} is not covered by a checkpoint: it is entry {} after {last}, but the \
                     genesis promises a checkpoint every {every} entries (was a checkpoint \
                     removed, or entries inserted?)",
                    name(),
                    c.since_checkpoint
                ),
            );
        }
    }
    c.entries += 1;
    c.head =
        ChainHead { seq: link.seq, id: entry.id, hash: link.hash.clone(), prev: link.prev.clone() };
    Step::Accept
}

/// With keys: whether entries of this algorithm can be checked at all.
pub(super) fn check_algorithm(
    keys: &[VerifyingKey],
    name: &str,
    algorithm: &str,
    what: &str,
) -> Option<Step> {
    if keys.is_empty() {
        None
    } else if algorithm == "none" {
        Some(Step::Problem(
            ProblemKind::MissingSignature,
            format!("{name} is unsigned: {what} no signing key, but a key was given"),
        ))
    } else if !keys.iter().any(|k| k.algorithm() == algorithm) {
        Some(Step::Problem(
            ProblemKind::MissingSignature,
            format!(
                "{name} cannot be checked: {what} algorithm `{algorithm}`, and no such key was \
                 given"
            ),
        ))
    } else {
        None
    }
}

pub(super) fn check_checkpoint(
    keys: &[VerifyingKey],
    chain: Uuid,
    name: &str,
    link: &ChainLink,
    data: &CheckpointData,
) -> Option<Step> {
    if link.seq == 0 || data.seq != link.seq - 1 || data.hash != link.prev {
        return Some(Step::Problem(
            ProblemKind::BadSignature,
            format!(
                "{name} does not sign the entry before it: it signs seq {} with hash {}…, but \
                 the entry before it is seq {} with hash {}…",
                data.seq,
                short(&data.hash),
                link.seq.saturating_sub(1),
                short(&link.prev)
            ),
        ));
    }
    if keys.is_empty() {
        return None;
    }
    if let Some(step) = check_algorithm(keys, name, &data.algorithm, "it uses") {
        return Some(step);
    }
    let Some(signature) = &data.signature else {
        return Some(Step::Problem(
            ProblemKind::MissingSignature,
            format!("{name} has no signature, but a key was given"),
        ));
    };
    let message = checkpoint_message(chain, data.seq, &data.hash);
    let mut candidates: Vec<&VerifyingKey> =
        keys.iter().filter(|k| k.algorithm() == data.algorithm).collect();
    // The key it names first, then the others of its algorithm.
    candidates.sort_by_key(|k| data.key_id.as_deref() != Some(k.key_id().as_str()));
    if candidates.iter().any(|k| k.verify(&message, signature)) {
        return None;
    }
    Some(Step::Problem(
        ProblemKind::BadSignature,
        format!(
            "{name} has a bad signature: it does not verify with the given {} key(s) (it names \
             key {})",
            data.algorithm,
            data.key_id.as_deref().unwrap_or("none")
        ),
    ))
}

/// A second entry with the same seq: `inserted` is the one that does not belong.
pub(super) fn duplicate_problem(chain: Uuid, seq: u64, inserted: Uuid, genuine: Uuid) -> Problem {
    Problem {
        chain,
        seq,
        entry_id: Some(inserted),
        kind: ProblemKind::Inserted,
        message: format!(
            "{} was inserted: seq {seq} already belongs to entry {genuine}",
            entry_name(seq, inserted)
        ),
    }
}

/// `broken` does not link to `head`, and `why` shows that `broken` is the intruder.
pub(super) fn misfit_problem(
    chain: Uuid,
    head: &ChainHead,
    broken: &ChainHead,
    why: &str,
) -> Problem {
    Problem {
        chain,
        seq: broken.seq,
        entry_id: Some(broken.id),
        kind: ProblemKind::Inserted,
        message: format!(
            "{} was inserted: it does not link to {}, {why}",
            entry_name(broken.seq, broken.id),
            entry_name(head.seq, head.id)
        ),
    }
}

/// `broken` does not link to `head`, and `head` is the one that changed.
pub(super) fn rewritten_problem(chain: Uuid, head: &ChainHead, broken: &ChainHead) -> Problem {
    Problem {
        chain,
        seq: head.seq,
        entry_id: Some(head.id),
        kind: ProblemKind::Modified,
        message: format!(
            "{} was modified: its hash was recomputed after a change, and the next entry (seq \
             {}, id {}) does not link to it",
            entry_name(head.seq, head.id),
            broken.seq,
            broken.id
        ),
    }
}

/// The problem an undecided chain has when the stream ends.
pub(super) fn decide_at_end(chain: Uuid, what: Undecided) -> Problem {
    match what {
        Undecided::Gap { from, to, after } => Problem {
            chain,
            seq: from,
            entry_id: None,
            kind: ProblemKind::Missing,
            message: if from == to {
                format!(
                    "entry seq {from} is missing: {} follows seq {}",
                    entry_name(after.0, after.1),
                    from - 1
                )
            } else {
                format!(
                    "entries seq {from}..={to} are missing: {} follows seq {}",
                    entry_name(after.0, after.1),
                    from - 1
                )
            },
        },
        Undecided::Duplicate { seq, first, second } => {
            duplicate_problem(chain, seq, second.0, first.0)
        }
        Undecided::Break { head, entry } => rewritten_problem(chain, &head, &entry),
    }
}
