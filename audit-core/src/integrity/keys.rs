//! The keys that sign and check checkpoints.

use std::fmt;

use ed25519_dalek::{Signer as _, Verifier as _};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::IntegrityError;

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

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
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
