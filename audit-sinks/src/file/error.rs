//! [`FileSinkError`]: why a file sink could not be opened or maintained.

use std::io;
use std::path::{Path, PathBuf};

use audit_core::SinkError;

/// Why a [`FileSink`](super::FileSink) could not be built, or retention could
/// not be applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileSinkError {
    /// A setting is out of range.
    #[error("invalid file sink configuration: {0}")]
    InvalidConfig(String),
    /// The log directory does not exist and cannot be created.
    #[error(
        "cannot create the audit log directory {path}: {source} (create it, or choose a path \
         the service may write to)"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The log path exists but is not a directory.
    #[error(
        "the audit log path {path} exists but is not a directory; point the file sink at a directory"
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
    },
    /// The log directory exists but files cannot be created in it.
    #[error(
        "the audit log directory {path} is not writable: {source} (the file sink creates files \
         in it: check its owner and mode, and that the volume is not read-only or full)"
    )]
    NotWritable {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A log file could not be read, repaired or removed.
    #[error("cannot {action} the audit log file {path}: {source}")]
    File {
        /// What was being done: `open`, `read`, `repair`, `remove`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The background thread that compresses and removes old files could not
    /// be started.
    #[error("cannot start the file sink's maintenance thread: {0}")]
    Thread(#[source] io::Error),
    /// The sink was shut down.
    #[error("the file sink was shut down; build a new one to write or apply retention")]
    ShutDown,
}

impl FileSinkError {
    pub(crate) fn file(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::File { action, path: path.into(), source }
    }
}

/// A transient sink error for an I/O failure on `path`, saying what to do.
pub(crate) fn io_error(doing: &str, path: &Path, e: io::Error) -> SinkError {
    let path = path.display();
    let message = match e.kind() {
        io::ErrorKind::StorageFull => format!(
            "no space left on device {doing} {path}; the entries stay queued and are retried: \
             free space on that volume or move the audit log directory"
        ),
        io::ErrorKind::QuotaExceeded => format!(
            "disk quota exceeded {doing} {path}; the entries stay queued and are retried: raise \
             the quota or free space"
        ),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => format!(
            "permission denied {doing} {path}: {e}; the entries stay queued and are retried: \
             check the owner and mode of the file and its directory"
        ),
        _ => format!("I/O error {doing} {path}: {e}; the entries stay queued and are retried"),
    };
    // No file system failure is the batch's fault: every one is worth retrying.
    SinkError::transient(message).with_source(e)
}
