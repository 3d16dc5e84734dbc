//! Key files for checkpoint signing, as `audit keygen` writes them.
//!
//! - `signing.key`: the 32-byte Ed25519 seed as 64 lowercase hex digits and a
//!   newline, mode 0600. It signs checkpoints; give it to the service and keep
//!   it away from the store.
//! - `signing.pub`: the 32-byte Ed25519 public key, in the same form. It
//!   checks signatures (`audit verify --public-key`).
//!
//! Readers accept upper- or lowercase hex and surrounding whitespace.
//!
//! ```
//! use audit_cli::keys;
//! use audit_core::SigningKey;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let key = SigningKey::generate_ed25519()?;
//! let paths = keys::write_key_pair(dir.path(), &key, false)?;
//!
//! let signing = keys::read_signing_key(&paths.signing_key)?;
//! let public = keys::read_public_key(&paths.public_key)?;
//! assert_eq!(signing.key_id(), key.key_id());
//! assert_eq!(public, key.verifying_key());
//! # Ok(()) }
//! ```

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use audit_core::{SigningKey, VerifyingKey};

/// The file name of the signing key in a key directory.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// The file name of the public key in a key directory.
pub const PUBLIC_KEY_FILE: &str = "signing.pub";

/// Key files larger than this are not key files.
const MAX_KEY_FILE: u64 = 4096;

/// Why a key file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("could not {action} key file {}: {source}", path.display())]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The file does not hold a key in the expected form.
    #[error(
        "{} is not a valid {what} file: {reason}; expected 64 hex digits (32 bytes) on one \
         line, as `audit keygen` writes to {file}",
        path.display()
    )]
    Malformed {
        /// The file.
        path: PathBuf,
        /// `signing key` or `public key`.
        what: &'static str,
        /// The file name `audit keygen` gives it.
        file: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A key file exists and overwriting was not allowed.
    #[error(
        "{} already exists; refusing to overwrite a key (checkpoints it signed could no longer \
         be verified without it). Pass --force to replace it, or choose another --out directory",
        path.display()
    )]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// The key is of a kind that has no key file form.
    #[error("{0} keys cannot be written as key files; only Ed25519 keys can")]
    Unsupported(&'static str),
    /// The system's random number generator failed.
    #[error("could not generate a key: {0}")]
    Generate(String),
}

impl KeyFileError {
    /// Whether the caller can fix this by changing arguments or files
    /// (malformed or existing files), as opposed to a system failure.
    pub fn is_usage(&self) -> bool {
        match self {
            Self::Malformed { .. } | Self::Exists { .. } | Self::Unsupported(_) => true,
            Self::Io { source, .. } => {
                matches!(source.kind(), io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied)
            }
            Self::Generate(_) => false,
        }
    }
}

/// Where [`write_key_pair`] wrote the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyPairPaths {
    /// `DIR/signing.key`.
    pub signing_key: PathBuf,
    /// `DIR/signing.pub`.
    pub public_key: PathBuf,
}

/// The text of a `signing.key` file: the seed as hex and a newline.
pub fn encode_signing_key(key: &SigningKey) -> Result<String, KeyFileError> {
    match key {
        SigningKey::Ed25519(k) => Ok(format!("{}\n", hex::encode(k.to_bytes()))),
        other => Err(KeyFileError::Unsupported(other.algorithm())),
    }
}

/// The text of a `signing.pub` file: the public key as hex and a newline.
pub fn encode_public_key(key: &VerifyingKey) -> Result<String, KeyFileError> {
    match key {
        VerifyingKey::Ed25519(k) => Ok(format!("{}\n", hex::encode(k.as_bytes()))),
        other => Err(KeyFileError::Unsupported(other.algorithm())),
    }
}

/// Reads a signing key from the text of a `signing.key` file; `path` names it
/// in errors.
pub fn parse_signing_key(text: &str, path: &Path) -> Result<SigningKey, KeyFileError> {
    let bytes = parse_hex32(text, path, "signing key", SIGNING_KEY_FILE)?;
    Ok(SigningKey::ed25519_from_bytes(&bytes))
}

/// Reads a public key from the text of a `signing.pub` file; `path` names it
/// in errors.
pub fn parse_public_key(text: &str, path: &Path) -> Result<VerifyingKey, KeyFileError> {
    let bytes = parse_hex32(text, path, "public key", PUBLIC_KEY_FILE)?;
    VerifyingKey::ed25519_from_bytes(&bytes).map_err(|e| KeyFileError::Malformed {
        path: path.to_owned(),
        what: "public key",
        file: PUBLIC_KEY_FILE,
        reason: format!("the 32 bytes are not an Ed25519 public key ({e})"),
    })
}

/// Reads a `signing.key` file written by `audit keygen` (or [`write_key_pair`]).
pub fn read_signing_key(path: impl AsRef<Path>) -> Result<SigningKey, KeyFileError> {
    let path = path.as_ref();
    parse_signing_key(&read_small(path, "signing key", SIGNING_KEY_FILE)?, path)
}

/// Reads a `signing.pub` file written by `audit keygen` (or [`write_key_pair`]).
pub fn read_public_key(path: impl AsRef<Path>) -> Result<VerifyingKey, KeyFileError> {
    let path = path.as_ref();
    parse_public_key(&read_small(path, "public key", PUBLIC_KEY_FILE)?, path)
}

/// A new random Ed25519 signing key.
pub fn generate() -> Result<SigningKey, KeyFileError> {
    SigningKey::generate_ed25519().map_err(|e| KeyFileError::Generate(e.to_string()))
}

/// Writes `DIR/signing.key` (mode 0600) and `DIR/signing.pub`, creating `dir`
/// (mode 0700) if it does not exist.
///
/// Without `overwrite`, fails with [`KeyFileError::Exists`] before writing
/// anything if either file exists. With it, existing files are replaced.
pub fn write_key_pair(
    dir: &Path,
    key: &SigningKey,
    overwrite: bool,
) -> Result<KeyPairPaths, KeyFileError> {
    let secret = encode_signing_key(key)?;
    let public = encode_public_key(&key.verifying_key())?;
    let paths = KeyPairPaths {
        signing_key: dir.join(SIGNING_KEY_FILE),
        public_key: dir.join(PUBLIC_KEY_FILE),
    };
    if !overwrite {
        for path in [&paths.signing_key, &paths.public_key] {
            if fs::symlink_metadata(path).is_ok() {
                return Err(KeyFileError::Exists { path: path.clone() });
            }
        }
    }
    create_dir(dir)?;
    write_new(&paths.signing_key, &secret, 0o600, overwrite)?;
    write_new(&paths.public_key, &public, 0o644, overwrite)?;
    Ok(paths)
}

fn create_dir(dir: &Path) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { action: "write", path: dir.to_owned(), source };
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io)
}

/// Writes a new file with `mode`, replacing an existing one only if `overwrite`
/// (by removing it first, so that its old permissions do not carry over).
fn write_new(path: &Path, text: &str, mode: u32, overwrite: bool) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io { action: "write", path: path.to_owned(), source };
    if overwrite {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            KeyFileError::Exists { path: path.to_owned() }
        } else {
            io(e)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

fn read_small(path: &Path, what: &'static str, file: &'static str) -> Result<String, KeyFileError> {
    let io = |source| KeyFileError::Io { action: "read", path: path.to_owned(), source };
    let malformed = |reason: &str| KeyFileError::Malformed {
        path: path.to_owned(),
        what,
        file,
        reason: reason.to_owned(),
    };
    let meta = fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(malformed("it is not a regular file"));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(malformed("it is too large to be a key file"));
    }
    let bytes = fs::read(path).map_err(io)?;
    String::from_utf8(bytes).map_err(|_| malformed("it is not text"))
}

fn parse_hex32(
    text: &str,
    path: &Path,
    what: &'static str,
    file: &'static str,
) -> Result<[u8; 32], KeyFileError> {
    let malformed =
        |reason: String| KeyFileError::Malformed { path: path.to_owned(), what, file, reason };
    let hex_text = text.trim();
    if hex_text.is_empty() {
        return Err(malformed("it is empty".to_owned()));
    }
    if hex_text.lines().count() > 1 {
        return Err(malformed("it has more than one line".to_owned()));
    }
    if let Some(c) = hex_text.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(malformed(format!(
            "it contains `{}`, which is not a hex digit",
            c.escape_default()
        )));
    }
    if hex_text.len() != 64 {
        return Err(malformed(format!("it has {} hex digits", hex_text.len())));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut out).map_err(|e| malformed(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::ed25519_from_bytes(&[7; 32])
    }

    #[test]
    fn file_formats() {
        let text = encode_signing_key(&key()).unwrap();
        assert_eq!(text, format!("{}\n", "07".repeat(32)));
        let public = encode_public_key(&key().verifying_key()).unwrap();
        assert_eq!(public.len(), 65);
        assert!(public.ends_with('\n'));
        let p = Path::new("k");
        assert_eq!(parse_signing_key(&text, p).unwrap().key_id(), key().key_id());
        assert_eq!(parse_public_key(&public, p).unwrap(), key().verifying_key());
        // Uppercase and surrounding whitespace are fine.
        assert!(parse_public_key(&format!("  {}\r\n", public.trim().to_uppercase()), p).is_ok());
    }

    #[test]
    fn malformed_files_say_what_is_wrong() {
        let p = Path::new("keys/signing.pub");
        let cases = [
            ("", "it is empty"),
            ("abcd\n", "it has 4 hex digits"),
            (&"zz".repeat(32), "`z`, which is not a hex digit"),
            (&format!("{}\n{}\n", "00".repeat(32), "00".repeat(32)), "more than one line"),
            ("-----BEGIN PUBLIC KEY-----", "`-`, which is not a hex digit"),
        ];
        for (text, why) in cases {
            let err = parse_public_key(text, p).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(why), "{msg}");
            assert!(msg.contains("keys/signing.pub is not a valid public key file"), "{msg}");
            assert!(msg.contains("64 hex digits"), "{msg}");
            assert!(err.is_usage());
        }
    }

    #[test]
    fn hmac_keys_have_no_file_form() {
        let err = encode_signing_key(&SigningKey::hmac_sha256(b"k".to_vec())).unwrap_err();
        assert!(err.to_string().contains("hmac-sha256"));
    }

    #[test]
    fn writes_refuse_to_overwrite_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("new/keys");
        let paths = write_key_pair(&out, &key(), false).unwrap();
        assert_eq!(read_signing_key(&paths.signing_key).unwrap().key_id(), key().key_id());
        assert_eq!(read_public_key(&paths.public_key).unwrap(), key().verifying_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&paths.signing_key), 0o600);
            assert_eq!(mode(&out), 0o700);
        }

        let other = SigningKey::ed25519_from_bytes(&[9; 32]);
        let err = write_key_pair(&out, &other, false).unwrap_err();
        assert!(matches!(err, KeyFileError::Exists { .. }), "{err}");
        assert!(err.to_string().contains("--force"));
        // Nothing was changed.
        assert_eq!(read_signing_key(&paths.signing_key).unwrap().key_id(), key().key_id());

        write_key_pair(&out, &other, true).unwrap();
        assert_eq!(read_signing_key(&paths.signing_key).unwrap().key_id(), other.key_id());
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read_public_key("/nonexistent/signing.pub").unwrap_err();
        assert!(err.to_string().contains("could not read key file /nonexistent/signing.pub"));
        assert!(err.is_usage());
    }
}
