//! [`Verifier`]: checks chains one entry at a time, in store order; see the
//! [integrity module docs](super) for what it checks and how it classifies
//! problems.

use std::collections::{BTreeSet, HashMap};

use uuid::Uuid;

use crate::model::{AuditEvent, ChainLink};

mod chain;
mod report;

use crate::integrity::VerifyingKey;
#[cfg(test)]
pub(crate) use chain::is_hash;
use chain::{
    ChainState, Status, Step, Undecided, accept, decide_at_end, duplicate_problem, entry_name,
    first_entry, misfit_problem, next_entry, rewritten_problem,
};
pub use report::{ChainSummary, Problem, ProblemKind, VerifyReport};

/// What [`Verifier`] and [`verify`] check.
///
/// ```
/// use audit_core::integrity::VerifyOptions;
/// use audit_core::SigningKey;
///
/// let key = SigningKey::ed25519_from_bytes(&[7; 32]);
/// let options = VerifyOptions::new().key(key.verifying_key()).require_sealed(true);
/// assert!(options.require_sealed);
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// The keys that may have signed checkpoints (after a rotation, give the
    /// old and the new one). A checkpoint is checked with the key whose
    /// [`key_id`](VerifyingKey::key_id) it names, else with every key of its
    /// algorithm. Empty: signatures are not checked, only hashes and links.
    pub keys: Vec<VerifyingKey>,
    /// Require every chain to end with a closing checkpoint (written when an
    /// `Auditor` shuts down); a chain that does not is reported as
    /// [`ProblemKind::TruncatedTail`]. Default `false`: the chain of a running
    /// service is open.
    pub require_sealed: bool,
}

impl VerifyOptions {
    /// Hashes and links only, open chains allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key that may have signed checkpoints; may be called more than once.
    #[must_use]
    pub fn key(mut self, key: VerifyingKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds several keys that may have signed checkpoints.
    #[must_use]
    pub fn keys(mut self, keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        self.keys.extend(keys);
        self
    }

    /// Requires every chain to end with a closing checkpoint.
    #[must_use]
    pub fn require_sealed(mut self, require: bool) -> Self {
        self.require_sealed = require;
        self
    }
}

/// Verifies entries of one or more chains, one at a time.
///
/// Feed every entry of a store with [`push`](Self::push), in store order (the
/// chains may be interleaved; within a chain, entries must come in seq order),
/// then call [`finish`](Self::finish). Memory use depends on the number of
/// chains, not of entries. See the [module docs](crate::integrity#verification) for what is
/// checked and how problems are classified.
///
/// ```
/// use audit_core::integrity::{CheckpointPolicy, Sequencer, Verifier, VerifyOptions};
/// use audit_core::{AuditEvent, ServiceInfo, SigningKey};
///
/// let key = SigningKey::ed25519_from_bytes(&[7; 32]);
/// let mut seq = Sequencer::new(Some(key.clone()), CheckpointPolicy::default(), ServiceInfo::new("svc"));
/// let mut entries = vec![seq.genesis()?];
/// let mut e = AuditEvent::builder("project.update").build();
/// seq.seal(&mut e)?;
/// entries.push(e);
/// entries.push(seq.checkpoint(true)?);
///
/// let mut verifier = Verifier::new(VerifyOptions::new().key(key.verifying_key()));
/// for e in &entries {
///     verifier.push(e)?;
/// }
/// let report = verifier.finish()?;
/// assert!(report.chains[0].sealed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Verifier {
    options: VerifyOptions,
    index: HashMap<Uuid, usize>,
    chains: Vec<ChainState>,
    /// Stream position of the next entry.
    position: u64,
    /// The last chained entry seen: `(chain, seq)`.
    last_chained: Option<(Uuid, u64)>,
    /// The earliest problem found so far, with its stream position.
    held: Option<(u64, Problem)>,
    /// Stream positions of the undecided problems (gaps, duplicates, broken links).
    undecided: BTreeSet<u64>,
    /// The problem returned; every later call returns it again.
    failed: Option<Problem>,
}

impl Verifier {
    /// A verifier with these options.
    pub fn new(options: VerifyOptions) -> Self {
        Self {
            options,
            index: HashMap::new(),
            chains: Vec::new(),
            position: 0,
            last_chained: None,
            held: None,
            undecided: BTreeSet::new(),
            failed: None,
        }
    }

    /// Whether checkpoint signatures are checked (a key was given).
    pub fn signatures_checked(&self) -> bool {
        !self.options.keys.is_empty()
    }

    /// How many entries were pushed so far.
    pub fn entries(&self) -> u64 {
        self.position
    }

    /// Checks the next entry of the stream.
    ///
    /// Returns the first problem of the stream as soon as it is certain. A
    /// problem found after a gap opened (in any chain) is held back until the
    /// gap is decided: if the gap is never filled, the `Missing` problem at the
    /// gap comes first and is returned by [`finish`](Self::finish). Once a
    /// problem was returned, every later call returns it again.
    pub fn push(&mut self, entry: &AuditEvent) -> Result<(), Problem> {
        if let Some(p) = &self.failed {
            return Err(p.clone());
        }
        let pos = self.position;
        self.position += 1;
        self.check(entry, pos);
        match self.settle() {
            Some(p) => Err(p),
            None => Ok(()),
        }
    }

    /// Ends the stream: decides what is still undecided (a gap never filled is
    /// `Missing`), checks that chains are sealed if required, and returns the
    /// report or the first problem of the stream.
    pub fn finish(mut self) -> Result<VerifyReport, Problem> {
        if let Some(p) = self.failed {
            return Err(p);
        }
        let mut decided = Vec::new();
        for c in &mut self.chains {
            match std::mem::replace(&mut c.status, Status::Failed) {
                Status::Undecided { pos, what } => decided.push((pos, decide_at_end(c.id, what))),
                other => c.status = other,
            }
        }
        for (pos, problem) in decided {
            self.undecided.remove(&pos);
            self.hold(pos, problem);
        }
        if let Some((_, p)) = self.held {
            return Err(p);
        }
        if self.options.require_sealed
            && let Some(c) = self.chains.iter().find(|c| !c.sealed)
        {
            let last = match c.last_checkpoint_seq {
                Some(s) => format!("its last checkpoint is seq {s}"),
                None => "it has no checkpoint".to_owned(),
            };
            return Err(Problem {
                chain: c.id,
                seq: c.head.seq,
                entry_id: Some(c.head.id),
                kind: ProblemKind::TruncatedTail,
                message: format!(
                    "{} is the last entry of the chain and not a closing checkpoint: the \
                         chain may have been cut ({last})",
                    entry_name(c.head.seq, c.head.id)
                ),
            });
        }
        let chains = self.chains.iter().map(ChainState::summary).collect();
        Ok(VerifyReport {
            entries: self.position,
            chains,
            signatures_checked: !self.options.keys.is_empty(),
        })
    }

    /// Records a problem found at stream position `pos`; the earliest wins.
    fn hold(&mut self, pos: u64, problem: Problem) {
        if self.held.as_ref().is_none_or(|(held, _)| pos < *held) {
            self.held = Some((pos, problem));
        }
    }

    /// Returns the held problem once nothing undecided comes before it.
    fn settle(&mut self) -> Option<Problem> {
        let (pos, _) = self.held.as_ref()?;
        if self.undecided.first().is_some_and(|u| u < pos) {
            return None;
        }
        let (_, p) = self.held.take()?;
        self.failed = Some(p.clone());
        Some(p)
    }

    fn check(&mut self, entry: &AuditEvent, pos: u64) {
        let Some(link) = &entry.chain else {
            let problem = match self.last_chained {
                Some((chain, seq)) => Problem {
                    chain,
                    seq,
                    entry_id: Some(entry.id),
                    kind: ProblemKind::Inserted,
                    message: format!(
                        "an entry without a chain link (id {}) was inserted after seq {seq}",
                        entry.id
                    ),
                },
                None => Problem {
                    chain: Uuid::nil(),
                    seq: 0,
                    entry_id: Some(entry.id),
                    kind: ProblemKind::Malformed,
                    message: format!(
                        "the first entry (id {}) is malformed: it has no chain link",
                        entry.id
                    ),
                },
            };
            self.hold(pos, problem);
            return;
        };
        self.last_chained = Some((link.id, link.seq));
        let keys = &self.options.keys;
        let (idx, step) = match self.index.get(&link.id) {
            None => {
                let idx = self.chains.len();
                self.index.insert(link.id, idx);
                self.chains.push(ChainState::new(entry, link));
                let step = match first_entry(entry, link) {
                    Step::Accept => accept(keys, &mut self.chains[idx], entry, link),
                    other => other,
                };
                (idx, step)
            }
            Some(&idx) => match self.chains[idx].status {
                Status::Failed => return,
                Status::Undecided { .. } => {
                    self.decide(idx, entry, link);
                    return;
                }
                Status::Good => {
                    let step = match next_entry(&self.chains[idx], entry, link) {
                        Step::Accept => accept(keys, &mut self.chains[idx], entry, link),
                        other => other,
                    };
                    (idx, step)
                }
            },
        };
        match step {
            Step::Accept => {}
            Step::Problem(kind, message) => {
                let chain = &mut self.chains[idx];
                chain.status = Status::Failed;
                let problem = Problem {
                    chain: chain.id,
                    seq: link.seq,
                    entry_id: Some(entry.id),
                    kind,
                    message,
                };
                self.hold(pos, problem);
            }
            Step::Undecided(what) => {
                self.chains[idx].status = Status::Undecided { pos, what };
                self.undecided.insert(pos);
            }
        }
    }

    /// Feeds an entry to a chain whose first problem awaits look-ahead.
    fn decide(&mut self, idx: usize, entry: &AuditEvent, link: &ChainLink) {
        let chain = self.chains[idx].id;
        let Status::Undecided { pos, what } = &self.chains[idx].status else { return };
        let pos = *pos;
        let problem = match what {
            Undecided::Gap { from, to, after } => {
                if link.seq < *from || link.seq > *to {
                    return;
                }
                Problem {
                    chain,
                    seq: link.seq,
                    entry_id: Some(entry.id),
                    kind: ProblemKind::Reordered,
                    message: format!(
                        "{} is out of order: it appears after {}",
                        entry_name(link.seq, entry.id),
                        entry_name(after.0, after.1)
                    ),
                }
            }
            Undecided::Duplicate { seq, first, second } => {
                // The genuine one is the one the next entry links to.
                let first_inserted = link.seq == seq.saturating_add(1)
                    && link.prev == second.1
                    && second.1 != first.1;
                if first_inserted {
                    duplicate_problem(chain, *seq, first.0, second.0)
                } else {
                    duplicate_problem(chain, *seq, second.0, first.0)
                }
            }
            Undecided::Break { head, entry: broken } => {
                if link.seq == broken.seq && link.prev == head.hash {
                    misfit_problem(chain, head, broken, "a second entry with its seq does")
                } else if link.seq == broken.seq.saturating_add(1) && link.prev != broken.hash {
                    misfit_problem(chain, head, broken, "nor does the next entry link to it")
                } else {
                    rewritten_problem(chain, head, broken)
                }
            }
        };
        self.chains[idx].status = Status::Failed;
        self.undecided.remove(&pos);
        self.hold(pos, problem);
    }
}

/// Verifies a whole stream of entries; see [`Verifier`].
///
/// ```
/// use audit_core::integrity::{verify, CheckpointPolicy, ProblemKind, Sequencer, VerifyOptions};
/// use audit_core::{AuditEvent, ServiceInfo, SigningKey};
///
/// let key = SigningKey::ed25519_from_bytes(&[7; 32]);
/// let mut seq = Sequencer::new(Some(key.clone()), CheckpointPolicy::default(), ServiceInfo::new("svc"));
/// let mut entries = vec![seq.genesis()?];
/// for name in ["project.create", "project.update"] {
///     let mut e = AuditEvent::builder(name).build();
///     seq.seal(&mut e)?;
///     entries.push(e);
/// }
/// entries.push(seq.checkpoint(true)?);
///
/// let options = VerifyOptions::new().key(key.verifying_key()).require_sealed(true);
/// let report = verify(&entries, &options)?;
/// assert_eq!(report.entries, 4);
///
/// entries[1].description = "nothing happened".to_owned();
/// let problem = verify(&entries, &options).unwrap_err();
/// assert_eq!((problem.kind, problem.seq), (ProblemKind::Modified, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify<'a>(
    entries: impl IntoIterator<Item = &'a AuditEvent>,
    options: &VerifyOptions,
) -> Result<VerifyReport, Problem> {
    let mut verifier = Verifier::new(options.clone());
    for entry in entries {
        verifier.push(entry)?;
    }
    verifier.finish()
}
