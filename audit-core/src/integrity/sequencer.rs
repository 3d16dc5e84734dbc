//! The [`Sequencer`]: one per `Auditor`, it gives each entry its chain
//! position and hash, and writes the genesis and checkpoint entries.

use std::time::Instant;

use bytes::{Bytes, BytesMut};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    CHECKPOINT_EVENT, CheckpointData, CheckpointPolicy, GENESIS_EVENT, GenesisData, IntegrityError,
    SigningKey, ZERO_HASH, checkpoint_message,
};
use crate::canonical::{hash_canonical, hex_string, push_hex};
use crate::json::rfc3339_micros;
use crate::model::{Action, Actor, AuditEvent, ChainLink, Outcome, ServiceInfo};
use crate::sink::SinkInput;

/// How much JSON of sealed entries one allocation holds (an entry larger
/// than this gets one of its own).
const JSON_ARENA_CHUNK: usize = 64 * 1024;

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
        self.seal_encoded(event, SinkInput::Entries).map(drop)
    }

    /// Seals an entry like [`Sequencer::seal`] and, when `needs` wants JSON
    /// and the canonical bytes were serde_json's own output, also returns
    /// the sealed entry's JSON (`serde_json::to_vec` of it, byte for byte),
    /// made from the bytes that were hashed instead of serializing again;
    /// and the length of its canonical form either way.
    ///
    /// With [`SinkInput::Json`], the caller needs only that JSON: when it is
    /// returned, the strings of the entry's `chain.prev` and `chain.hash`
    /// are taken back (left empty) to serve the next entry, instead of a new
    /// pair being allocated for every entry and freed with it.
    pub(crate) fn seal_encoded(
        &mut self,
        event: &mut AuditEvent,
        needs: SinkInput,
    ) -> Result<(Option<Bytes>, usize), IntegrityError> {
        let want_json = needs.wants_json();
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
                return Err(e.into());
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
            Some(link) if needs == SinkInput::Json && json.is_some() => {
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
