//! The subcommands, each over an open store.
//!
//! Each command takes the store, its arguments, where to write its output and
//! a [`Context`], so it can be run against any [`AuditStore`](audit_core::AuditStore) (the tests use
//! the in-memory one). Hints and progress go to standard error; results go to
//! `out`.

mod export;
mod keygen;
mod migrate;
mod purge;
mod query;
mod stats;
mod tail;
mod verify;

use std::io::Write;

pub use export::export;
pub use keygen::keygen;
pub use migrate::migrate;
#[cfg(feature = "postgres")]
pub use purge::purge_partitions;
pub use purge::{purge, purge_files};
pub use query::query;
pub use stats::stats;
pub use tail::tail;
pub use verify::verify;

/// How a command that ran to its end finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// It did what was asked (exit code 0).
    Success,
    /// It ran, and found a problem: `verify` on a damaged chain (exit code 1).
    ProblemFound,
}

impl Status {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::ProblemFound => 1,
        }
    }
}

/// What every command may need besides its arguments.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Context {
    /// `--quiet`: no progress bars or hints on standard error.
    pub quiet: bool,
    /// The width of the terminal standard output goes to, if it is one.
    pub terminal_width: Option<usize>,
}

impl Context {
    /// A context for `--quiet` (or not), with the terminal width of standard
    /// output when it is a terminal.
    pub fn new(quiet: bool) -> Self {
        use std::io::IsTerminal as _;
        let terminal_width = if std::io::stdout().is_terminal() {
            terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
        } else {
            None
        };
        Self { quiet, terminal_width }
    }

    /// Prints a hint on standard error, unless quiet.
    pub(crate) fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{message}");
        }
    }
}

#[cfg(test)]
mod tests;
