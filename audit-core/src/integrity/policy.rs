//! What a chain records about itself: the checkpoint policy, and the data of
//! its genesis and checkpoint entries.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

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
