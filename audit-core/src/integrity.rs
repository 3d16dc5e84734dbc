//! Tamper evidence: the hash chain, signed checkpoints and verification.
//!
//! Every entry recorded by one [`Auditor`](crate::Auditor) run belongs to one
//! chain (`chain.id`). The sequencer gives each entry the next `chain.seq`, the
//! previous entry's hash as `chain.prev`, and
//!
//! ```text
//! chain.hash = hex(SHA-256(prev_hash_bytes || JCS(entry without chain.hash)))
//! ```
//!
//! where JCS is the RFC 8785 canonical JSON form, so any language can verify a
//! chain. The first entry of a chain (`seq` 0) is an `audit.genesis` entry whose
//! `prev` is 64 zeros; it records the checkpoint policy and key id.
//!
//! Every N entries or T seconds the sequencer appends an `audit.checkpoint`
//! entry signing `(chain.id, seq, hash)` of the entry before it, with an
//! Ed25519 key (or an HMAC key) that does not live in the store. Whoever can
//! write to the store but does not hold the key can recompute hashes but not
//! signatures, so a rewritten chain fails verification. Shutdown appends a
//! closing checkpoint, so a sealed chain whose tail was cut is detected too.

use std::fmt;
use std::time::{Duration, Instant};

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
    let mut out = Vec::with_capacity(1024);
    write_canonical(event, &mut out)?;
    Ok(out)
}

fn write_canonical<W: std::io::Write>(
    event: &AuditEvent,
    out: &mut W,
) -> Result<(), IntegrityError> {
    match &event.chain {
        Some(link) if !link.hash.is_empty() => {
            // Serialize a copy of the link without its hash.
            let mut e = event.clone();
            if let Some(l) = e.chain.as_mut() {
                l.hash.clear();
            }
            serde_json_canonicalizer::to_writer(&e, out)
        }
        _ => serde_json_canonicalizer::to_writer(event, out),
    }
    .map_err(|e| IntegrityError::Canonical(e.to_string()))
}

/// Computes `chain.hash` for an entry whose `chain.prev` is `prev` (hex).
///
/// The entry's own `chain.hash`, if set, is ignored.
pub fn compute_hash(prev: &str, event: &AuditEvent) -> Result<String, IntegrityError> {
    let prev_bytes = hex::decode(prev).map_err(|_| IntegrityError::BadHash(prev.to_owned()))?;
    let mut hasher = HashWriter(Sha256::new());
    hasher.0.update(&prev_bytes);
    write_canonical(event, &mut hasher)?;
    Ok(hex::encode(hasher.0.finalize()))
}

struct HashWriter(Sha256);

impl std::io::Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
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
    signer: Option<SigningKey>,
    policy: CheckpointPolicy,
    service: ServiceInfo,
    since_checkpoint: u64,
    last_checkpoint: Instant,
}

impl Sequencer {
    /// A new chain with a fresh id.
    pub fn new(signer: Option<SigningKey>, policy: CheckpointPolicy, service: ServiceInfo) -> Self {
        Self {
            chain_id: Uuid::now_v7(),
            next_seq: 0,
            prev: ZERO_HASH.to_owned(),
            signer,
            policy,
            service,
            since_checkpoint: 0,
            last_checkpoint: Instant::now(),
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
    pub fn genesis(&mut self) -> Result<AuditEvent, IntegrityError> {
        let data = GenesisData {
            schema_version: crate::SCHEMA_VERSION,
            algorithm: self.signer.as_ref().map_or("none", SigningKey::algorithm).to_owned(),
            key_id: self.signer.as_ref().map(SigningKey::key_id),
            checkpoint_every: self.policy.every_entries,
            checkpoint_interval_secs: self.policy.every_interval.as_secs(),
        };
        let mut e = self.system_event(GENESIS_EVENT, "genesis", json!(data));
        e.description = "audit chain started".to_owned();
        self.seal(&mut e)?;
        self.since_checkpoint = 0;
        Ok(e)
    }

    /// Gives an entry the next chain position and its hash.
    pub fn seal(&mut self, event: &mut AuditEvent) -> Result<(), IntegrityError> {
        event.chain = Some(ChainLink {
            id: self.chain_id,
            seq: self.next_seq,
            prev: self.prev.clone(),
            hash: String::new(),
        });
        let hash = compute_hash(&self.prev, event)?;
        if let Some(link) = event.chain.as_mut() {
            link.hash.clone_from(&hash);
        }
        self.prev = hash;
        self.next_seq += 1;
        self.since_checkpoint += 1;
        Ok(())
    }

    /// Whether a checkpoint is due, by count or by time.
    pub fn checkpoint_due(&self, now: Instant) -> bool {
        self.since_checkpoint > 0
            && (self.since_checkpoint >= self.policy.every_entries
                || now.duration_since(self.last_checkpoint) >= self.policy.every_interval)
    }

    /// Makes and seals a checkpoint entry over the last sealed entry.
    /// `closing` marks the end of the chain (at shutdown).
    pub fn checkpoint(&mut self, closing: bool) -> Result<AuditEvent, IntegrityError> {
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
        self.seal(&mut e)?;
        self.since_checkpoint = 0;
        self.last_checkpoint = Instant::now();
        Ok(e)
    }
}
