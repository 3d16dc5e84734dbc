//! The errors a command can end with, and their exit codes.

use std::io;

use audit_core::store::StoreError;

use crate::keys::KeyFileError;

/// Why a command could not do its work.
///
/// Every message says what went wrong and what to do about it. The exit code
/// ([`CliError::exit_code`]) is 2 for everything the caller can fix by
/// changing the command line (bad arguments, no store at that path, a database
/// that cannot be reached or has no audit schema, a store kind this binary
/// does not include, malformed key files), and 1 for failures
/// while running (the store failed, data is corrupt, output could not be
/// written).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// A bad argument that clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// `--store` names no store.
    #[error("no audit store at {path}: {reason}")]
    NoStore {
        /// The path as given (or the URL, with any password hidden).
        path: String,
        /// Why there is none, and what to do.
        reason: String,
    },
    /// `--store` names a database that cannot be reached (or that refuses the
    /// login).
    #[error("cannot connect to the audit store at {store}: {reason}")]
    Unreachable {
        /// The URL, with any password hidden.
        store: String,
        /// Why, and what to check.
        reason: String,
    },
    /// `--store` names a kind of store that this binary does not include.
    #[error("{0}")]
    Unsupported(String),
    /// A key file could not be read or written.
    #[error(transparent)]
    Key(#[from] KeyFileError),
    /// The store failed while answering.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading or writing a file (or standard output) failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, e.g. `could not write to out.csv`.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl CliError {
    /// An I/O error while doing `what`.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io { what: what.into(), source }
    }

    /// An error writing to standard output.
    pub fn stdout(source: io::Error) -> Self {
        Self::io("could not write to standard output", source)
    }

    /// An error writing to a file.
    pub fn write_file(path: &std::path::Path, source: io::Error) -> Self {
        Self::io(format!("could not write to {}", path.display()), source)
    }

    /// The process exit code for this error: 2 for usage errors, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::NoStore { .. }
            | Self::Unreachable { .. }
            | Self::Unsupported(_) => 2,
            Self::Key(e) if e.is_usage() => 2,
            Self::Key(_) | Self::Store(_) | Self::Io { .. } => 1,
        }
    }

    /// Whether this is a write to a pipe whose reader went away (`audit query
    /// | head`): not worth reporting.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Self::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// A path for messages.
pub(crate) fn show_path(path: &std::path::Path) -> String {
    path.display().to_string()
}

/// The no-store error for a directory.
pub(crate) fn no_store(path: &std::path::Path, reason: impl Into<String>) -> CliError {
    CliError::NoStore { path: show_path(path), reason: reason.into() }
}
