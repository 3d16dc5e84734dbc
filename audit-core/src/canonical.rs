//! Canonical JSON (RFC 8785, JCS) and the chain hash of an entry.
//!
//! ```text
//! chain.hash = hex(SHA-256(prev_hash_bytes || JCS(entry without chain.hash)))
//! ```
//!
//! [`canonical_json`] writes the canonical form and [`compute_hash`] the
//! hash; the sequencer and the verifier share the faster path inside, which
//! serializes an entry once with serde_json and hashes it around its own
//! `chain.hash` field when serde_json's output is already canonical.
//!
//! That fast path relies on the field order that
//! [`AuditEvent`] documents: every struct of the event
//! model declares its fields in sorted key order, with `chain` the third key
//! of an entry.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::json::MAP_KEYS_SORTED;
use crate::model::AuditEvent;

/// `chain.prev` of a genesis entry.
pub const ZERO_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Why an entry has no canonical form, or a hash cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalError {
    /// The entry could not be written as canonical JSON (e.g. a non-finite number).
    #[error("entry cannot be written as canonical JSON: {0}")]
    NotCanonical(String),
    /// A hash was not 64 hex digits.
    #[error("`{0}` is not a SHA-256 hash in hex")]
    BadHash(String),
}

/// Writes the RFC 8785 canonical JSON of an entry without `chain.hash`.
pub fn canonical_json(event: &AuditEvent) -> Result<Vec<u8>, CanonicalError> {
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
) -> Result<bool, CanonicalError> {
    buf.clear();
    let mut differs = false;
    let watch = CanonicalWatch { in_key: false, differs: &mut differs };
    event
        .serialize(&mut serde_json::Serializer::with_formatter(&mut *buf, watch))
        .map_err(|e| CanonicalError::NotCanonical(e.to_string()))?;
    Ok(!differs && (*MAP_KEYS_SORTED || serde_json_output_is_canonical(event)))
}

/// Writes the RFC 8785 form of `event` to `buf` (cleared first) with the
/// general canonicalizer.
fn write_general_canonical(event: &AuditEvent, buf: &mut Vec<u8>) -> Result<(), CanonicalError> {
    buf.clear();
    serde_json_canonicalizer::to_writer(event, &mut *buf)
        .map_err(|e| CanonicalError::NotCanonical(e.to_string()))
}

/// The largest integer that JCS (which writes numbers as IEEE doubles) keeps exact.
const MAX_EXACT_INTEGER: u64 = 1 << 53;

/// Whether serde_json's compact output of this entry is already its RFC 8785
/// form, found by walking the entry. Only needed when `serde_json::Map`
/// keeps insertion order (see [`MAP_KEYS_SORTED`]); otherwise
/// [`CanonicalWatch`] learns the same while serializing.
///
/// Every struct of the event model declares its fields in sorted key order
/// (see [`AuditEvent`]), and serde_json escapes strings exactly as JCS does. What
/// can still differ is checked here: map keys must be in ascending order and
/// inside the Basic Multilingual Plane (where UTF-8 byte order is UTF-16 code
/// unit order, and whatever feature unification did to `serde_json::Map`), and
/// numbers must be integers that a double holds exactly (JCS writes floats in
/// the ECMAScript form, which serde_json does not). Anything else takes the
/// general canonicalizer; a property test checks that both agree.
fn serde_json_output_is_canonical(event: &AuditEvent) -> bool {
    use crate::model::{Body, Request};

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
pub fn compute_hash(prev: &str, event: &AuditEvent) -> Result<String, CanonicalError> {
    hash_canonical(&decode_hash(prev)?, event, |_| ()).map(|(_, hex, ())| hex_string(&hex))
}

/// A hash's hex digits as a `String`.
pub(crate) fn hex_string(hex: &[u8; HASH_HEX_LEN]) -> String {
    let mut out = String::with_capacity(HASH_HEX_LEN);
    push_hex(&mut out, hex);
    out
}

/// Appends a hash's hex digits to `out`.
pub(crate) fn push_hex(out: &mut String, hex: &[u8; HASH_HEX_LEN]) {
    out.push_str(std::str::from_utf8(hex).expect("hex digits are ASCII"));
}

fn decode_hash(hex_hash: &str) -> Result<[u8; 32], CanonicalError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_hash, &mut bytes)
        .map_err(|_| CanonicalError::BadHash(hex_hash.to_owned()))?;
    Ok(bytes)
}

/// The length of a SHA-256 hash in hex.
pub(crate) const HASH_HEX_LEN: usize = 64;

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
pub(crate) fn hash_canonical<R>(
    prev: &[u8; 32],
    event: &AuditEvent,
    also: impl FnOnce(Option<&[u8]>) -> R,
) -> Result<([u8; 32], [u8; HASH_HEX_LEN], R), CanonicalError> {
    thread_local! {
        // Serializing into one reused buffer and hashing it in a few large
        // updates costs much less than feeding serde's many small writes to
        // SHA-256.
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
            CanonicalError::NotCanonical("compute_hash re-entered on one thread".to_owned())
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
                    CanonicalError::NotCanonical("chain.hash not found in the entry's JSON".into())
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
) -> Result<([u8; 32], [u8; HASH_HEX_LEN], R), CanonicalError> {
    let mut copy = event.clone();
    if let Some(link) = copy.chain.as_mut() {
        link.hash.clear();
    }
    fn ignore(_: Option<&[u8]>) {}
    hash_canonical(prev, &copy, ignore).map(|(bytes, hex, ())| (bytes, hex, also(None)))
}

/// serde_json's compact formatter, watching for what RFC 8785 writes
/// differently, so that whether an entry's serde_json output is its
/// canonical form is learned while serializing it, without a walk of its
/// own.
///
/// Every struct of the event model declares its fields in sorted key order
/// (see [`AuditEvent`]), maps are `BTreeMap`s (see [`MAP_KEYS_SORTED`] for
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
