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

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ed25519_dalek::{Signer as _, Verifier as _};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::event::{Action, Actor, AuditEvent, ChainLink, Outcome, ServiceInfo, rfc3339_micros};

/// Event name of the first entry of every chain.
pub const GENESIS_EVENT: &str = "audit.genesis";
/// Event name of the signed checkpoint entries.
pub const CHECKPOINT_EVENT: &str = "audit.checkpoint";
/// `chain.prev` of a genesis entry.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Writes the RFC 8785 canonical JSON of an entry without `chain.hash`.
pub fn canonical_json(event: &AuditEvent) -> Result<Vec<u8>, IntegrityError> {
    let without_hash;
    let event = match &event.chain {
        Some(link) if !link.hash.is_empty() => {
            // Serialize a copy of the link without its hash.
            let mut e = event.clone();
            if let Some(l) = e.chain.as_mut() {
                l.hash.clear();
            }
            without_hash = e;
            &without_hash
        }
        _ => event,
    };
    let mut out = Vec::with_capacity(1024);
    if !write_serde_json_if_canonical(event, &mut out)? {
        write_general_canonical(event, &mut out)?;
    }
    Ok(out)
}

/// Writes serde_json's output of `event` to `buf` (cleared first), watching
/// it with [`CanonicalWatch`]; returns whether it is the entry's RFC 8785
/// form. When it is not, `buf` holds serde_json's output, to be replaced by
/// [`write_general_canonical`]'s.
fn write_serde_json_if_canonical(
    event: &AuditEvent,
    buf: &mut Vec<u8>,
) -> Result<bool, IntegrityError> {
    buf.clear();
    let mut differs = false;
    let watch = CanonicalWatch { in_key: false, differs: &mut differs };
    event
        .serialize(&mut serde_json::Serializer::with_formatter(&mut *buf, watch))
        .map_err(|e| IntegrityError::Canonical(e.to_string()))?;
    Ok(!differs && (*MAP_KEYS_SORTED || serde_json_output_is_canonical(event)))
}

/// Writes the RFC 8785 form of `event` to `buf` (cleared first) with the
/// general canonicalizer.
fn write_general_canonical(event: &AuditEvent, buf: &mut Vec<u8>) -> Result<(), IntegrityError> {
    buf.clear();
    serde_json_canonicalizer::to_writer(event, &mut *buf)
        .map_err(|e| IntegrityError::Canonical(e.to_string()))
}

/// The largest integer that JCS (which writes numbers as IEEE doubles) keeps exact.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Whether serde_json's compact output of this entry is already its RFC 8785
/// form, found by walking the entry. Only needed when `serde_json::Map`
/// keeps insertion order (see [`MAP_KEYS_SORTED`]); otherwise
/// [`CanonicalWatch`] learns the same while serializing.
///
/// Every struct of the event model declares its fields in sorted key order
/// (see `event.rs`), and serde_json escapes strings exactly as JCS does. What
/// can still differ is checked here: map keys must be in ascending order and
/// inside the Basic Multilingual Plane (where UTF-8 byte order is UTF-16 code
/// unit order, and whatever feature unification did to `serde_json::Map`), and
/// numbers must be integers that a double holds exactly (JCS writes floats in
/// the ECMAScript form, which serde_json does not). Anything else takes the
/// general canonicalizer; a property test checks that both agree.
fn serde_json_output_is_canonical(event: &AuditEvent) -> bool {
    use crate::event::{Body, Request};

    fn keys_ok<'a>(keys: impl Iterator<Item = &'a String>) -> bool {
        let mut prev: Option<&str> = None;
        for k in keys {
            if k.chars().any(|c| c as u32 > 0xFFFF) || prev.is_some_and(|p| p >= k.as_str()) {
                return false;
            }
            prev = Some(k);
        }
        true
    }
    fn values_ok<'a>(roots: impl IntoIterator<Item = &'a serde_json::Value>) -> bool {
        use serde_json::Value;
        let mut stack: Vec<&Value> = roots.into_iter().collect();
        while let Some(v) = stack.pop() {
            match v {
                Value::Number(n) => {
                    let exact = n
                        .as_u64()
                        .map(|u| u <= MAX_EXACT_INTEGER)
                        .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= MAX_EXACT_INTEGER));
                    if exact != Some(true) {
                        return false;
                    }
                }
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => {
                    if !keys_ok(map.keys()) {
                        return false;
                    }
                    stack.extend(map.values());
                }
                Value::Null | Value::Bool(_) | Value::String(_) => {}
            }
        }
        true
    }
    fn body_ok(body: Option<&Body>) -> bool {
        match body {
            Some(Body::Json(v)) => values_ok([v]),
            Some(Body::Omitted(o)) => o.size.is_none_or(|s| s <= MAX_EXACT_INTEGER),
            None => true,
        }
    }

    let request_ok = match &event.request {
        Some(Request::Http(h)) => keys_ok(h.headers.keys()) && body_ok(h.body.as_ref()),
        Some(Request::Grpc(g)) => body_ok(g.message.as_ref()),
        None => true,
    };
    let response_ok = event.response.as_ref().is_none_or(|r| {
        r.duration_us.is_none_or(|d| d <= MAX_EXACT_INTEGER) && body_ok(r.body.as_ref())
    });
    request_ok
        && response_ok
        && event.chain.as_ref().is_none_or(|c| c.seq <= MAX_EXACT_INTEGER)
        && keys_ok(event.metadata.keys())
        && values_ok(event.metadata.values())
        && values_ok(event.changes.iter().flat_map(|c| [&c.before, &c.after]))
}

/// Computes `chain.hash` for an entry whose `chain.prev` is `prev` (hex).
///
/// The entry's own `chain.hash`, if set, is ignored.
pub fn compute_hash(prev: &str, event: &AuditEvent) -> Result<String, IntegrityError> {
    hash_canonical(&decode_hash(prev)?, event, |_| ()).map(|(_, hex, ())| hex_string(&hex))
}

/// A hash's hex digits as a `String`.
fn hex_string(hex: &[u8; HASH_HEX_LEN]) -> String {
    let mut out = String::with_capacity(HASH_HEX_LEN);
    push_hex(&mut out, hex);
    out
}

/// Appends a hash's hex digits to `out`.
fn push_hex(out: &mut String, hex: &[u8; HASH_HEX_LEN]) {
    out.push_str(std::str::from_utf8(hex).expect("hex digits are ASCII"));
}

fn decode_hash(hex_hash: &str) -> Result<[u8; 32], IntegrityError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut bytes)
        .map_err(|_| IntegrityError::BadHash(hex_hash.to_owned()))?;
    Ok(bytes)
}

/// How much JSON of sealed entries one allocation holds (an entry larger
/// than this gets one of its own).
const JSON_ARENA_CHUNK: usize = 64 * 1024;

/// The length of a SHA-256 hash in hex.
const HASH_HEX_LEN: usize = 64;

/// Where `chain.hash` sits in serde_json's output of an entry whose hash is
/// 64 ASCII letters or digits (written as they are): the range of
/// `"hash":"<64 characters>",`, which the canonical form leaves out.
///
/// `chain` is the third key of an entry, after `action` and `actor`, whose
/// values are only strings (escaped, so they cannot contain `"chain":{`):
/// the first `"chain":{` is the entry's own, and `hash` is the first key of
/// a link.
fn hash_field(json: &[u8]) -> Option<std::ops::Range<usize>> {
    const KEY: &[u8] = br#""chain":{"hash":""#;
    const CHAIN: usize = br#""chain":{"#.len();
    // Built once: `memmem::find` would build a searcher on every entry.
    static FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(KEY));
    let start = FINDER.find(json)? + CHAIN;
    let end = start + br#""hash":"""#.len() + HASH_HEX_LEN + 1;
    (json.get(end - 2..end)? == b"\",").then_some(start..end)
}

/// Hashes the canonical JSON of `event` after `prev`, and lets `also` look
/// at serde_json's output of the entry with `chain.hash` set to that hash
/// (`None` when the entry's serde_json output is not its canonical form)
/// before it is gone.
///
/// The entry's own `chain.hash` is left out of the hash. When it is 64
/// characters long (a sealed entry, or the placeholder [`ZERO_HASH`] that
/// the sequencer seals with), the entry is serialized once, as it is, and
/// hashed around the field; there is no copy without the field to make.
///
/// Returns the hash as bytes and in hex.
fn hash_canonical<R>(
    prev: &[u8; 32],
    event: &AuditEvent,
    also: impl FnOnce(Option<&[u8]>) -> R,
) -> Result<([u8; 32], [u8; HASH_HEX_LEN], R), IntegrityError> {
    thread_local! {
        // Serializing into one reused buffer and hashing it in a few calls is
        // about twice as fast as feeding serde's many small writes to SHA-256.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let stored = event.chain.as_ref().map_or("", |c| c.hash.as_str());
    let around_field =
        stored.len() == HASH_HEX_LEN && stored.bytes().all(|b| b.is_ascii_alphanumeric());
    if !stored.is_empty() && !around_field {
        return hash_without_field(prev, event, also);
    }
    BUF.with(|buf| {
        let mut buf = buf.try_borrow_mut().map_err(|_| {
            IntegrityError::Canonical("compute_hash re-entered on one thread".to_owned())
        })?;
        let plain = write_serde_json_if_canonical(event, &mut buf)?;
        if !plain && !stored.is_empty() {
            drop(buf);
            return hash_without_field(prev, event, also);
        }
        let mut hasher = Sha256::new();
        hasher.update(prev);
        let field = if plain {
            let field = match stored.is_empty() {
                true => None,
                false => Some(hash_field(&buf).ok_or_else(|| {
                    IntegrityError::Canonical("chain.hash not found in the entry's JSON".into())
                })?),
            };
            match &field {
                Some(f) => {
                    hasher.update(&buf[..f.start]);
                    hasher.update(&buf[f.end..]);
                }
                None => hasher.update(buf.as_slice()),
            }
            field
        } else {
            write_general_canonical(event, &mut buf)?;
            hasher.update(buf.as_slice());
            None
        };
        let digest: [u8; 32] = hasher.finalize().into();
        let mut hex = [0u8; HASH_HEX_LEN];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(digest, &mut hex);
        let json = field.map(|f| {
            let digits = f.start + br#""hash":""#.len();
            buf[digits..digits + HASH_HEX_LEN].copy_from_slice(&hex);
            &buf[..]
        });
        let also = also(json);
        if buf.capacity() > 1 << 20 {
            // Do not keep a buffer from one huge entry around.
            *buf = Vec::new();
        }
        Ok((digest, hex, also))
    })
}

/// [`hash_canonical`] of a copy of `event` without its stored hash: for
/// another kind of hash (a tampered entry), or an entry for the general
/// canonicalizer.
fn hash_without_field<R>(
    prev: &[u8; 32],
    event: &AuditEvent,
    also: impl FnOnce(Option<&[u8]>) -> R,
) -> Result<([u8; 32], [u8; HASH_HEX_LEN], R), IntegrityError> {
    let mut copy = event.clone();
    if let Some(link) = copy.chain.as_mut() {
        link.hash.clear();
    }
    fn ignore(_: Option<&[u8]>) {}
    hash_canonical(prev, &copy, ignore).map(|(bytes, hex, ())| (bytes, hex, also(None)))
}

/// Whether `serde_json::Map` iterates in key order (a `BTreeMap`), which it
/// does unless some crate in the build turns on serde_json's
/// `preserve_order` feature.
pub(crate) static MAP_KEYS_SORTED: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| {
    let mut map = serde_json::Map::new();
    map.insert("b".to_owned(), serde_json::Value::Null);
    map.insert("a".to_owned(), serde_json::Value::Null);
    map.keys().next().is_some_and(|k| k == "a")
});

/// serde_json's compact formatter, watching for what RFC 8785 writes
/// differently, so that whether an entry's serde_json output is its
/// canonical form is learned while serializing it, without a walk of its
/// own.
///
/// Every struct of the event model declares its fields in sorted key order
/// (see `event.rs`), maps are `BTreeMap`s (see [`MAP_KEYS_SORTED`] for
/// `serde_json::Map`), and serde_json escapes strings exactly as JCS does.
/// What can still differ: a key outside the Basic Multilingual Plane (where
/// UTF-8 byte order is no longer UTF-16 code unit order), a float (JCS
/// writes the ECMAScript form), an integer a double does not hold exactly,
/// and raw JSON.
struct CanonicalWatch<'a> {
    in_key: bool,
    /// Set when the output is not the canonical form.
    differs: &'a mut bool,
}

impl CanonicalWatch<'_> {
    fn integer(&mut self, magnitude: u128) {
        *self.differs |= magnitude > u128::from(MAX_EXACT_INTEGER);
    }
}

impl serde_json::ser::Formatter for CanonicalWatch<'_> {
    fn write_i64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: i64) -> std::io::Result<()> {
        self.integer(u128::from(v.unsigned_abs()));
        serde_json::ser::CompactFormatter.write_i64(w, v)
    }

    fn write_i128<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        v: i128,
    ) -> std::io::Result<()> {
        self.integer(v.unsigned_abs());
        serde_json::ser::CompactFormatter.write_i128(w, v)
    }

    fn write_u64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: u64) -> std::io::Result<()> {
        self.integer(u128::from(v));
        serde_json::ser::CompactFormatter.write_u64(w, v)
    }

    fn write_u128<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        v: u128,
    ) -> std::io::Result<()> {
        self.integer(v);
        serde_json::ser::CompactFormatter.write_u128(w, v)
    }

    fn write_f32<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f32) -> std::io::Result<()> {
        *self.differs = true;
        serde_json::ser::CompactFormatter.write_f32(w, v)
    }

    fn write_f64<W: ?Sized + std::io::Write>(&mut self, w: &mut W, v: f64) -> std::io::Result<()> {
        *self.differs = true;
        serde_json::ser::CompactFormatter.write_f64(w, v)
    }

    fn write_number_str<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        v: &str,
    ) -> std::io::Result<()> {
        *self.differs = true;
        serde_json::ser::CompactFormatter.write_number_str(w, v)
    }

    fn write_raw_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        *self.differs = true;
        serde_json::ser::CompactFormatter.write_raw_fragment(w, fragment)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.in_key = true;
        serde_json::ser::CompactFormatter.begin_object_key(w, first)
    }

    fn end_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.in_key = false;
        serde_json::ser::CompactFormatter.end_object_key(w)
    }

    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        // A character above U+FFFF is four bytes in UTF-8, led by 0xF0-0xF4.
        if self.in_key && fragment.bytes().any(|b| b >= 0xF0) {
            *self.differs = true;
        }
        serde_json::ser::CompactFormatter.write_string_fragment(w, fragment)
    }
}

/// An error computing or checking integrity data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntegrityError {
    /// The entry could not be written as canonical JSON (e.g. a non-finite number).
    #[error("entry cannot be written as canonical JSON: {0}")]
    Canonical(String),
    /// A hash was not 64 hex digits.
    #[error("`{0}` is not a SHA-256 hash in hex")]
    BadHash(String),
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

/// The key that signs checkpoints. Keep it out of the store.
#[derive(Clone)]
#[non_exhaustive]
pub enum SigningKey {
    /// An Ed25519 key: verifiers need only the public key.
    Ed25519(ed25519_dalek::SigningKey),
    /// A shared HMAC-SHA256 key: verifiers need the same key.
    HmacSha256(Vec<u8>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey::{}({})", self.algorithm(), self.key_id())
    }
}

impl SigningKey {
    /// A new random Ed25519 key from the operating system's generator.
    pub fn generate_ed25519() -> Result<Self, IntegrityError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| IntegrityError::BadKey(e.to_string()))?;
        Ok(Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// An Ed25519 key from its 32-byte seed.
    pub fn ed25519_from_bytes(seed: &[u8; 32]) -> Self {
        Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// An HMAC-SHA256 key.
    pub fn hmac_sha256(key: impl Into<Vec<u8>>) -> Self {
        Self::HmacSha256(key.into())
    }

    /// The algorithm name recorded in checkpoints: `ed25519` or `hmac-sha256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "ed25519",
            Self::HmacSha256(_) => "hmac-sha256",
        }
    }

    /// The key that verifies this key's signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        match self {
            Self::Ed25519(k) => VerifyingKey::Ed25519(k.verifying_key()),
            Self::HmacSha256(k) => VerifyingKey::HmacSha256(k.clone()),
        }
    }

    /// A short id of the key, recorded in checkpoints so verifiers can pick the
    /// right key after a rotation.
    pub fn key_id(&self) -> String {
        self.verifying_key().key_id()
    }

    /// Signs a message; the signature is hex.
    pub fn sign(&self, message: &[u8]) -> String {
        match self {
            Self::Ed25519(k) => hex::encode(k.sign(message).to_bytes()),
            Self::HmacSha256(k) => hex::encode(hmac_sha256(k, message)),
        }
    }
}

pub(crate) fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The key that checks checkpoint signatures.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyingKey {
    /// An Ed25519 public key.
    Ed25519(ed25519_dalek::VerifyingKey),
    /// The shared HMAC-SHA256 key.
    HmacSha256(Vec<u8>),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey::{}({})", self.algorithm(), self.key_id())
    }
}

impl VerifyingKey {
    /// An Ed25519 public key from its 32 bytes.
    pub fn ed25519_from_bytes(bytes: &[u8; 32]) -> Result<Self, IntegrityError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map(Self::Ed25519)
            .map_err(|e| IntegrityError::BadKey(e.to_string()))
    }

    /// The algorithm name: `ed25519` or `hmac-sha256`.
    pub fn algorithm(&self) -> &'static str {
        match self {
            Self::Ed25519(_) => "ed25519",
            Self::HmacSha256(_) => "hmac-sha256",
        }
    }

    /// A short id: the first 16 hex digits of SHA-256 over the public key
    /// (for HMAC, over a domain-separated hash of the key, which reveals nothing).
    pub fn key_id(&self) -> String {
        let digest = match self {
            Self::Ed25519(k) => Sha256::digest(k.as_bytes()),
            Self::HmacSha256(k) => Sha256::digest(hmac_sha256(k, b"audit-key-id")),
        };
        hex::encode(&digest[..8])
    }

    /// Checks a hex signature over a message.
    pub fn verify(&self, message: &[u8], signature_hex: &str) -> bool {
        let Ok(sig) = hex::decode(signature_hex) else { return false };
        match self {
            Self::Ed25519(k) => {
                let Ok(bytes) = <[u8; 64]>::try_from(sig.as_slice()) else { return false };
                k.verify(message, &ed25519_dalek::Signature::from_bytes(&bytes)).is_ok()
            }
            Self::HmacSha256(k) => {
                let mut mac =
                    <Hmac<Sha256> as Mac>::new_from_slice(k).expect("HMAC takes any key length");
                mac.update(message);
                mac.verify_slice(&sig).is_ok()
            }
        }
    }
}

/// The message a checkpoint signs.
pub fn checkpoint_message(chain_id: Uuid, seq: u64, hash: &str) -> Vec<u8> {
    format!("audit-checkpoint/v1\n{chain_id}\n{seq}\n{hash}").into_bytes()
}

/// How often the sequencer writes checkpoints.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CheckpointPolicy {
    /// Write a checkpoint after this many entries (default 1000).
    pub every_entries: u64,
    /// ... or when this much time has passed since the last one and there are
    /// new entries (default 60 s).
    pub every_interval: Duration,
}

impl CheckpointPolicy {
    /// A checkpoint after `every_entries` entries, or after `every_interval`
    /// when there are new entries, whichever comes first.
    pub fn new(every_entries: u64, every_interval: Duration) -> Self {
        Self { every_entries, every_interval }
    }
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self { every_entries: 1000, every_interval: Duration::from_secs(60) }
    }
}

/// The checkpoint data carried in an `audit.checkpoint` entry's
/// `metadata.checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CheckpointData {
    /// The seq of the entry the checkpoint signs (the one before it).
    pub seq: u64,
    /// That entry's hash.
    pub hash: String,
    /// `ed25519`, `hmac-sha256`, or `none` when no key was configured.
    pub algorithm: String,
    /// The id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The hex signature over [`checkpoint_message`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Whether this checkpoint closes the chain (written at shutdown).
    #[serde(default)]
    pub closing: bool,
}

/// The policy data carried in an `audit.genesis` entry's `metadata.genesis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct GenesisData {
    /// The entry schema version.
    pub schema_version: u32,
    /// `ed25519`, `hmac-sha256`, or `none`.
    pub algorithm: String,
    /// The id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Checkpoint every this many entries.
    pub checkpoint_every: u64,
    /// ... or every this many seconds.
    pub checkpoint_interval_secs: u64,
}

/// Assigns chain positions and hashes; one per `Auditor`.
///
/// Not thread-safe by itself: the pipeline calls it under a lock so that seq
/// order is the order entries reach every sink.
#[derive(Debug)]
pub struct Sequencer {
    chain_id: Uuid,
    next_seq: u64,
    prev: String,
    /// `prev` as bytes, as it is hashed.
    prev_bytes: [u8; 32],
    /// A buffer for the next entry's `chain.hash`, taken back from entries
    /// that are only serialized (see [`Sequencer::seal_encoded`]).
    spare_hash: String,
    /// Where the JSON of sealed entries is put: one allocation shared by
    /// many entries instead of one each.
    json_arena: BytesMut,
    signer: Option<SigningKey>,
    policy: CheckpointPolicy,
    service: ServiceInfo,
    since_checkpoint: u64,
    last_checkpoint: Instant,
    closed: bool,
}

impl Sequencer {
    /// A new chain with a fresh id.
    pub fn new(signer: Option<SigningKey>, policy: CheckpointPolicy, service: ServiceInfo) -> Self {
        Self {
            chain_id: Uuid::now_v7(),
            next_seq: 0,
            prev: ZERO_HASH.to_owned(),
            prev_bytes: [0; 32],
            spare_hash: String::new(),
            json_arena: BytesMut::new(),
            signer,
            policy,
            service,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
            closed: false,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> Uuid {
        self.chain_id
    }

    /// The seq the next entry will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Whether the chain has its genesis entry yet.
    pub fn started(&self) -> bool {
        self.next_seq > 0
    }

    fn system_event(&self, name: &str, metadata_key: &str, data: serde_json::Value) -> AuditEvent {
        let mut e = AuditEvent::builder(name)
            .action(Action::Other)
            .actor(Actor::system("audit"))
            .outcome(Outcome::Success)
            .id(Uuid::now_v7())
            .time(rfc3339_micros::truncate(OffsetDateTime::now_utc()))
            .metadata(metadata_key, data)
            .build();
        e.service = self.service.clone();
        e.description = e.default_description();
        e
    }

    /// Makes and seals the genesis entry; call once, before any other entry.
    ///
    /// Fails with [`IntegrityError::AlreadyStarted`] when called twice.
    pub fn genesis(&mut self) -> Result<AuditEvent, IntegrityError> {
        if self.started() {
            return Err(IntegrityError::AlreadyStarted);
        }
        let data = GenesisData {
            schema_version: crate::SCHEMA_VERSION,
            algorithm: self.signer.as_ref().map_or("none", SigningKey::algorithm).to_owned(),
            key_id: self.signer.as_ref().map(SigningKey::key_id),
            checkpoint_every: self.policy.every_entries,
            checkpoint_interval_secs: self.policy.every_interval.as_secs(),
        };
        let mut e = self.system_event(GENESIS_EVENT, "genesis", json!(data));
        e.description = "audit chain started".to_owned();
        self.seal_unchecked(&mut e)?;
        self.since_checkpoint = 0;
        Ok(e)
    }

    /// Gives an entry the next chain position and its hash.
    ///
    /// Fails with [`IntegrityError::NotStarted`] before [`genesis`](Self::genesis),
    /// with [`IntegrityError::Closed`] after the closing checkpoint, and with
    /// [`IntegrityError::Canonical`] for an entry that has no canonical JSON form.
    /// The sequencer is unchanged when it fails.
    pub fn seal(&mut self, event: &mut AuditEvent) -> Result<(), IntegrityError> {
        self.check_open()?;
        self.seal_unchecked(event)
    }

    fn check_open(&self) -> Result<(), IntegrityError> {
        if !self.started() {
            Err(IntegrityError::NotStarted)
        } else if self.closed {
            Err(IntegrityError::Closed)
        } else {
            Ok(())
        }
    }

    fn seal_unchecked(&mut self, event: &mut AuditEvent) -> Result<(), IntegrityError> {
        self.seal_encoded(event, false, false).map(drop)
    }

    /// Seals an entry like [`Sequencer::seal`] and, when `want_json` is set
    /// and the canonical bytes were serde_json's own output, also returns
    /// the sealed entry's JSON (`serde_json::to_vec` of it, byte for byte),
    /// made from the bytes that were hashed instead of serializing again;
    /// and the length of its canonical form either way.
    ///
    /// With `lend` set, the caller needs only that JSON: when it is
    /// returned, the strings of the entry's `chain.prev` and `chain.hash`
    /// are taken back (left empty) to serve the next entry, instead of a new
    /// pair being allocated for every entry and freed with it.
    pub(crate) fn seal_encoded(
        &mut self,
        event: &mut AuditEvent,
        want_json: bool,
        lend: bool,
    ) -> Result<(Option<Bytes>, usize), IntegrityError> {
        // Sealed with a placeholder hash of the right length, which
        // `hash_canonical` leaves out and then overwrites in the JSON.
        let mut placeholder = std::mem::take(&mut self.spare_hash);
        placeholder.clear();
        placeholder.push_str(ZERO_HASH);
        event.chain = Some(ChainLink {
            id: self.chain_id,
            seq: self.next_seq,
            prev: std::mem::take(&mut self.prev),
            hash: placeholder,
        });
        let arena = &mut self.json_arena;
        let sealed = hash_canonical(&self.prev_bytes, event, |json| match json {
            Some(json) if want_json => {
                if arena.capacity() < json.len() {
                    *arena = BytesMut::with_capacity(JSON_ARENA_CHUNK.max(json.len()));
                }
                arena.extend_from_slice(json);
                (Some(arena.split().freeze()), json.len())
            }
            json => (None, json.map_or(0, <[u8]>::len)),
        });
        let (digest, hex, (json, len)) = match sealed {
            Ok(sealed) => sealed,
            Err(e) => {
                if let Some(link) = event.chain.take() {
                    self.prev = link.prev;
                    self.spare_hash = link.hash;
                }
                return Err(e);
            }
        };
        if let Some(link) = event.chain.as_mut() {
            link.hash.clear();
            push_hex(&mut link.hash, &hex);
        }
        debug_assert!(
            json.as_ref().is_none_or(|j| *j == serde_json::to_vec(&*event).unwrap_or_default()),
            "the JSON made while hashing differs from serde_json's"
        );
        match event.chain.as_mut() {
            Some(link) if lend && json.is_some() => {
                self.prev = std::mem::take(&mut link.hash);
                self.spare_hash = std::mem::take(&mut link.prev);
            }
            _ => self.prev = hex_string(&hex),
        }
        self.prev_bytes = digest;
        self.next_seq += 1;
        self.since_checkpoint += 1;
        Ok((json, len))
    }

    /// Whether a checkpoint is due, by count or by time.
    pub fn checkpoint_due(&self, now: Instant) -> bool {
        self.since_checkpoint > 0
            && (self.since_checkpoint >= self.policy.every_entries
                || now.duration_since(self.last_checkpoint) >= self.policy.every_interval)
    }

    /// Makes and seals a checkpoint entry over the last sealed entry.
    /// `closing` marks the end of the chain (at shutdown): after it the
    /// sequencer seals nothing more.
    ///
    /// Fails like [`seal`](Self::seal).
    pub fn checkpoint(&mut self, closing: bool) -> Result<AuditEvent, IntegrityError> {
        self.check_open()?;
        let seq = self.next_seq.saturating_sub(1);
        let message = checkpoint_message(self.chain_id, seq, &self.prev);
        let data = CheckpointData {
            seq,
            hash: self.prev.clone(),
            algorithm: self.signer.as_ref().map_or("none", SigningKey::algorithm).to_owned(),
            key_id: self.signer.as_ref().map(SigningKey::key_id),
            signature: self.signer.as_ref().map(|k| k.sign(&message)),
            closing,
        };
        let mut e = self.system_event(CHECKPOINT_EVENT, "checkpoint", json!(data));
        e.description = if closing {
            format!("audit chain closed after seq {seq}")
        } else {
            format!("audit checkpoint at seq {seq}")
        };
        self.seal_unchecked(&mut e)?;
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        self.closed = closing;
        Ok(e)
    }
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

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

/// What kind of problem verification found; see the [module docs](self#problem-kinds).
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
    /// With [`VerifyOptions::require_sealed`]: a chain does not end with a
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
    /// its oldest kept checkpoint, see the [module docs](self#chains-that-start-later).
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

/// Verifies entries of one or more chains, one at a time.
///
/// Feed every entry of a store with [`push`](Self::push), in store order (the
/// chains may be interleaved; within a chain, entries must come in seq order),
/// then call [`finish`](Self::finish). Memory use depends on the number of
/// chains, not of entries. See the [module docs](self#verification) for what is
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

#[derive(Debug)]
struct ChainState {
    id: Uuid,
    first_seq: u64,
    head: Head,
    entries: u64,
    checkpoints: u64,
    last_checkpoint_seq: Option<u64>,
    sealed: bool,
    /// `checkpoint_every` from the genesis entry, if it was seen.
    checkpoint_every: Option<u64>,
    /// Entries since the last checkpoint (or genesis), checkpoints excluded.
    since_checkpoint: u64,
    status: Status,
}

/// The last accepted entry of a chain.
#[derive(Debug, Clone)]
struct Head {
    seq: u64,
    id: Uuid,
    hash: String,
    prev: String,
}

#[derive(Debug)]
enum Status {
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
enum Undecided {
    /// Seqs `from..=to` were skipped by entry `after`: missing, unless one of
    /// them turns up later (reordered).
    Gap { from: u64, to: u64, after: (u64, Uuid) },
    /// Two entries with the head's seq that both link to the entry before:
    /// the one the next entry links to is genuine.
    Duplicate { seq: u64, first: (Uuid, String), second: (Uuid, String) },
    /// `entry` (self-consistent, at the next seq) does not link to `head`:
    /// either the head was rewritten and its hash recomputed (the next entry
    /// links to `entry`), or `entry` does not belong.
    Break { head: Head, entry: Head },
}

/// What one entry of a chain turned out to be.
enum Step {
    Accept,
    Problem(ProblemKind, String),
    Undecided(Undecided),
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

fn is_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn entry_name(seq: u64, id: Uuid) -> String {
    format!("entry seq {seq} (id {id})")
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

impl ChainState {
    fn new(entry: &AuditEvent, link: &ChainLink) -> Self {
        Self {
            id: link.id,
            first_seq: link.seq,
            head: Head {
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

    fn summary(&self) -> ChainSummary {
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
fn self_check(entry: &AuditEvent, link: &ChainLink) -> Result<(), (ProblemKind, String)> {
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
fn first_entry(entry: &AuditEvent, link: &ChainLink) -> Step {
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
fn next_entry(c: &ChainState, entry: &AuditEvent, link: &ChainLink) -> Step {
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
                entry: Head {
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
fn accept(keys: &[VerifyingKey], c: &mut ChainState, entry: &AuditEvent, link: &ChainLink) -> Step {
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
    c.head = Head { seq: link.seq, id: entry.id, hash: link.hash.clone(), prev: link.prev.clone() };
    Step::Accept
}

/// With keys: whether entries of this algorithm can be checked at all.
fn check_algorithm(keys: &[VerifyingKey], name: &str, algorithm: &str, what: &str) -> Option<Step> {
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

fn check_checkpoint(
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
fn duplicate_problem(chain: Uuid, seq: u64, inserted: Uuid, genuine: Uuid) -> Problem {
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
fn misfit_problem(chain: Uuid, head: &Head, broken: &Head, why: &str) -> Problem {
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
fn rewritten_problem(chain: Uuid, head: &Head, broken: &Head) -> Problem {
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
fn decide_at_end(chain: Uuid, what: Undecided) -> Problem {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn event_with_metadata() -> AuditEvent {
        let numbers = json!({
            "j_int": 9_007_199_254_740_992_u64,
            "a_one": 1.0,
            "b_big": 1e21,
            "c_tiny": 1e-7,
            "d_micro": 0.000_001,
            "e_negzero": -0.0,
            "f_large": 1e20,
            "g_frac": 4.50,
            "h_milli": 2e-3,
            "i_e27": 1e-27,
        });
        // RFC 8785 section 3.2.3: keys sort by UTF-16 code units.
        let sort = json!({
            "\u{20ac}": 5, "\r": 1, "\u{fb33}": 7, "1": 2, "\u{1f600}": 6, "\u{80}": 3, "\u{f6}": 4,
        });
        AuditEvent::builder("project.update")
            .id(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001))
            .time(OffsetDateTime::UNIX_EPOCH)
            .actor(Actor::user("u_1").email("alice@example.com"))
            .metadata("sort", sort)
            .metadata("numbers", numbers)
            .metadata("text", "\u{1f}\u{e9}\n\"\\/")
            .build()
    }

    #[test]
    fn canonical_json_is_rfc_8785() {
        let bytes = canonical_json(&event_with_metadata()).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let expected_metadata = concat!(
            r#""metadata":{"numbers":{"a_one":1,"b_big":1e+21,"c_tiny":1e-7,"d_micro":0.000001,"#,
            r#""e_negzero":0,"f_large":100000000000000000000,"g_frac":4.5,"h_milli":0.002,"#,
            r#""i_e27":1e-27,"j_int":9007199254740992},"#,
            "\"sort\":{\"\\r\":1,\"1\":2,\"\u{80}\":3,\"\u{f6}\":4,\"\u{20ac}\":5,\"\u{1f600}\":6,\"\u{fb33}\":7},",
            r#""text":"\u001f"#,
            "\u{e9}",
            r#"\n\"\\/"}"#,
        );
        assert!(text.contains(expected_metadata), "{text}");
        // No whitespace between tokens (no string here has any).
        assert!(!text.contains([' ', '\n', '\t']), "{text}");
        // Keys sorted at every level, the whole entry.
        let expected = [
            r#"{"action":"update","actor":{"email":"alice@example.com","id":"u_1","kind":"user"},"#,
            r#""description":"","event":"project.update","#,
            r#""id":"01900000-0000-7000-8000-000000000001","#,
            expected_metadata,
            r#","outcome":"success","time":"1970-01-01T00:00:00.000000Z"}"#,
        ]
        .concat();
        assert_eq!(text, expected);
        // Canonical form is a fixed point.
        assert_eq!(serde_json_canonicalizer::pipe(&text).unwrap(), text);
    }

    #[test]
    fn canonical_json_leaves_out_the_hash_only() {
        let mut seq = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::new("svc"));
        let genesis = seq.genesis().unwrap();
        let mut e = event_with_metadata();
        seq.seal(&mut e).unwrap();
        let text = String::from_utf8(canonical_json(&e).unwrap()).unwrap();
        let link = e.chain.as_ref().unwrap();
        let expected = format!(
            r#""chain":{{"id":"{}","prev":"{}","seq":1}}"#,
            link.id,
            genesis.chain.as_ref().unwrap().hash
        );
        assert!(text.contains(&expected), "{text}");
        assert!(!text.contains(&link.hash));
    }

    #[test]
    fn compute_hash_is_sha256_over_prev_and_canonical_bytes() {
        let key = SigningKey::ed25519_from_bytes(&[7; 32]);
        let mut seq =
            Sequencer::new(Some(key), CheckpointPolicy::default(), ServiceInfo::new("svc"));
        let genesis = seq.genesis().unwrap();
        let link = genesis.chain.as_ref().unwrap();
        assert_eq!((link.seq, link.prev.as_str()), (0, ZERO_HASH));

        let mut hasher = Sha256::new();
        hasher.update([0u8; 32]);
        hasher.update(canonical_json(&genesis).unwrap());
        let expected = hex::encode(hasher.finalize());
        assert_eq!(link.hash, expected);
        assert_eq!(compute_hash(ZERO_HASH, &genesis).unwrap(), expected);

        let mut e = event_with_metadata();
        seq.seal(&mut e).unwrap();
        let mut hasher = Sha256::new();
        hasher.update(hex::decode(&link.hash).unwrap());
        hasher.update(canonical_json(&e).unwrap());
        assert_eq!(e.chain.as_ref().unwrap().hash, hex::encode(hasher.finalize()));
    }

    #[test]
    fn a_lent_chain_is_taken_back_only_when_the_json_was_made() {
        let mut seq = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::new("s"));
        let genesis = seq.genesis().unwrap();
        let mut prev = genesis.chain.unwrap().hash;
        for i in 0..4 {
            let mut plain = AuditEvent::builder("project.update").metadata("i", i).build();
            let (json, _) = seq.seal_encoded(&mut plain, true, true).unwrap();
            let line: AuditEvent = serde_json::from_slice(&json.expect("plain JSON")).unwrap();
            let link = line.chain.clone().unwrap();
            assert_eq!(link.prev, prev, "entry {i} links to the one before");
            assert_eq!(link.hash, compute_hash(&link.prev, &line).unwrap());
            let lent = plain.chain.unwrap();
            assert!(lent.prev.is_empty() && lent.hash.is_empty(), "taken back: {lent:?}");
            prev = link.hash;
        }
        // No JSON made (a float: the general canonicalizer): the entry keeps
        // its chain, and the next one still links to it.
        let mut float = event_with_metadata();
        let (json, _) = seq.seal_encoded(&mut float, true, true).unwrap();
        assert!(json.is_none());
        let kept = float.chain.clone().unwrap();
        assert_eq!(kept.prev, prev);
        assert_eq!(kept.hash, compute_hash(&kept.prev, &float).unwrap());
        let mut next = AuditEvent::builder("project.update").build();
        seq.seal_encoded(&mut next, false, false).unwrap();
        assert_eq!(next.chain.unwrap().prev, kept.hash);
    }

    #[test]
    fn the_entrys_own_hash_never_changes_its_hash() {
        // A plain entry (hashed around the field) and one with floats (hashed
        // through the general canonicalizer), with every kind of stored hash
        // a tampered or hand-made entry can carry.
        let plain = AuditEvent::builder("project.update")
            .actor(Actor::user("u_1"))
            .metadata("n", 7)
            .build();
        for (mut e, is_plain) in [(plain, true), (event_with_metadata(), false)] {
            let mut seq = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::new("s"));
            seq.genesis().unwrap();
            let (json, _) = seq.seal_encoded(&mut e, true, false).unwrap();
            let sealed = e.chain.clone().unwrap();
            let expected = compute_hash(&sealed.prev, &e).unwrap();
            assert_eq!(sealed.hash, expected);
            assert_eq!(json.is_some(), is_plain);
            if let Some(json) = json {
                assert_eq!(json, serde_json::to_vec(&e).unwrap());
            }
            let odd_hashes = [
                String::new(),
                ZERO_HASH.to_owned(),
                "AB".repeat(32),
                format!("\"{}\\", "a".repeat(62)),
                "é".repeat(32),
                "short".to_owned(),
                "f".repeat(65),
            ];
            for odd in odd_hashes {
                e.chain.as_mut().unwrap().hash = odd.clone();
                assert_eq!(compute_hash(&sealed.prev, &e).unwrap(), expected, "{odd:?}");
            }
        }
    }

    #[test]
    fn compute_hash_rejects_bad_prev() {
        let e = event_with_metadata();
        assert!(matches!(compute_hash("not hex", &e), Err(IntegrityError::BadHash(_))));
    }

    #[test]
    fn checkpoints_sign_the_entry_before_them() {
        let key = SigningKey::ed25519_from_bytes(&[7; 32]);
        let mut seq = Sequencer::new(
            Some(key.clone()),
            CheckpointPolicy::new(2, Duration::from_secs(3600)),
            ServiceInfo::new("svc"),
        );
        seq.genesis().unwrap();
        let mut e = event_with_metadata();
        seq.seal(&mut e).unwrap();
        assert!(!seq.checkpoint_due(Instant::now()));
        let mut e2 = event_with_metadata();
        seq.seal(&mut e2).unwrap();
        assert!(seq.checkpoint_due(Instant::now()));
        let cp = seq.checkpoint(false).unwrap();
        let data: CheckpointData =
            serde_json::from_value(cp.metadata["checkpoint"].clone()).unwrap();
        let link = e2.chain.as_ref().unwrap();
        assert_eq!((data.seq, data.hash.as_str()), (link.seq, link.hash.as_str()));
        assert_eq!(data.key_id, Some(key.key_id()));
        let message = checkpoint_message(seq.chain_id(), data.seq, &data.hash);
        assert!(key.verifying_key().verify(&message, data.signature.as_deref().unwrap()));
        assert!(!seq.checkpoint_due(Instant::now()));
    }

    #[test]
    fn problem_kind_names_match_serde() {
        for kind in [
            ProblemKind::Modified,
            ProblemKind::Missing,
            ProblemKind::Inserted,
            ProblemKind::Reordered,
            ProblemKind::BadSignature,
            ProblemKind::MissingSignature,
            ProblemKind::TruncatedTail,
            ProblemKind::Malformed,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
    }

    #[test]
    fn is_hash_wants_64_lowercase_hex_digits() {
        assert!(is_hash(ZERO_HASH));
        assert!(is_hash(&"ab".repeat(32)));
        assert!(!is_hash(&"AB".repeat(32)));
        assert!(!is_hash(&"ab".repeat(31)));
        assert!(!is_hash("é"));
    }
}
