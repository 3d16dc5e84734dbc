//! [`FileSinkBuilder`] and the durability setting [`Fsync`].

use std::path::PathBuf;
use std::time::Duration;

use super::{FileSink, FileSinkError};

/// When the file sink makes writes durable with `fdatasync(2)`.
///
/// [`flush`](audit_core::Sink::flush) (called before shutdown) and rotation
/// always sync, whatever the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Fsync {
    /// One sync per [`write`](audit_core::Sink::write), after the
    /// whole batch was written with one `write(2)` (group commit): a batch is
    /// durable when `write` returns. The default.
    #[default]
    Batch,
    /// One write and one sync per entry: slower, for very large batches on
    /// slow disks where a partial batch should survive power loss.
    Entry,
    /// Never sync on write: the operating system writes the data back when it
    /// likes (a power loss may lose the last seconds; a process crash loses
    /// nothing that `write` returned for).
    Never,
}

/// The settings of a [`FileSink`], validated by [`FileSinkBuilder::build`].
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) dir: PathBuf,
    pub(crate) name: String,
    pub(crate) max_file_bytes: u64,
    pub(crate) max_file_age: Duration,
    pub(crate) max_files: Option<usize>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) gzip_rotated: bool,
    pub(crate) fsync: Fsync,
    pub(crate) dedup_window: usize,
}

/// Builder for [`FileSink`]; see [`FileSink::builder`].
///
/// ```no_run
/// use std::time::Duration;
/// use audit_sinks::file::{FileSink, Fsync};
///
/// let sink = FileSink::builder("/var/log/projects-api/audit")
///     .max_file_bytes(128 * 1024 * 1024)
///     .max_file_age(Duration::from_secs(24 * 3600))
///     .max_age(Duration::from_secs(400 * 24 * 3600)) // keep 400 days
///     .gzip_rotated(true)
///     .fsync(Fsync::Batch)
///     .build()?;
/// # Ok::<(), audit_sinks::file::FileSinkError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a FileSinkBuilder does nothing until `build` is called"]
pub struct FileSinkBuilder {
    config: Config,
}

impl FileSinkBuilder {
    /// The default for [`max_file_bytes`](Self::max_file_bytes): 64 MiB.
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
    /// The default for [`max_file_age`](Self::max_file_age): 24 hours.
    pub const DEFAULT_MAX_FILE_AGE: Duration = Duration::from_secs(24 * 3600);
    /// The default for [`dedup_window`](Self::dedup_window): 100 000 ids.
    pub const DEFAULT_DEDUP_WINDOW: usize = 100_000;

    pub(crate) fn new(dir: PathBuf) -> Self {
        Self {
            config: Config {
                dir,
                name: "file".to_owned(),
                max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
                max_file_age: Self::DEFAULT_MAX_FILE_AGE,
                max_files: None,
                max_age: None,
                gzip_rotated: false,
                fsync: Fsync::default(),
                dedup_window: Self::DEFAULT_DEDUP_WINDOW,
            },
        }
    }

    /// Rotates the active file before a batch would take it past this size
    /// (default 64 MiB). A batch is never split: a file exceeds the limit
    /// only when one batch alone is larger.
    pub fn max_file_bytes(mut self, bytes: u64) -> Self {
        self.config.max_file_bytes = bytes;
        self
    }

    /// Rotates the active file at the first write after it is this old,
    /// counted from its first entry (default 24 hours; `Duration::MAX`
    /// turns rotation by age off).
    pub fn max_file_age(mut self, age: Duration) -> Self {
        self.config.max_file_age = age;
        self
    }

    /// Retention by count: keeps at most this many files, the active one
    /// included, removing the oldest rotated files (default: no limit).
    pub fn max_files(mut self, files: usize) -> Self {
        self.config.max_files = Some(files);
        self
    }

    /// Retention by age: removes rotated files last written longer ago than
    /// this (their modification time; default: no limit). Checked at every
    /// rotation and periodically (every tenth of `age`, between once a
    /// second and once an hour).
    pub fn max_age(mut self, age: Duration) -> Self {
        self.config.max_age = Some(age);
        self
    }

    /// Compresses rotated files to `.jsonl.gz` in the background (default
    /// `false`). [`FileStore`](super::FileStore) reads both.
    pub fn gzip_rotated(mut self, gzip: bool) -> Self {
        self.config.gzip_rotated = gzip;
        self
    }

    /// When writes are synced to disk (default [`Fsync::Batch`]).
    pub fn fsync(mut self, fsync: Fsync) -> Self {
        self.config.fsync = fsync;
        self
    }

    /// How many of the most recent entry ids are remembered to skip entries
    /// written again after a crash or a retry (default 100 000; 16 bytes each
    /// while the ids come in order, as the pipeline's UUIDv7 ids do, and about
    /// 40 while an id out of order is among them). An entry replayed after more than this many newer entries were
    /// written is written twice. 0 turns the check off.
    pub fn dedup_window(mut self, ids: usize) -> Self {
        self.config.dedup_window = ids;
        self
    }

    /// The sink's name in the pipeline's counters and spool (default `file`);
    /// give each file sink of one auditor its own.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = name.into();
        self
    }

    /// Opens the log directory (creating it with mode 0700 if needed), checks
    /// that it is writable, repairs a torn last line left by a crash, and
    /// loads the ids of the most recent entries.
    ///
    /// This does blocking file I/O: call it at start-up (as here), or from
    /// `tokio::task::spawn_blocking`, not on a busy runtime.
    pub fn build(self) -> Result<FileSink, FileSinkError> {
        let c = &self.config;
        let invalid = |message: &str| Err(FileSinkError::InvalidConfig(message.to_owned()));
        if c.name.trim().is_empty() {
            return invalid("the sink name is empty; give it a name such as `file`");
        }
        if c.max_file_bytes == 0 {
            return invalid(
                "max_file_bytes is 0; give the largest file size in bytes (e.g. 64 MiB)",
            );
        }
        if c.max_file_age.is_zero() {
            return invalid("max_file_age is 0; give a duration, or Duration::MAX for no limit");
        }
        if c.max_files == Some(0) {
            return invalid("max_files is 0; it counts the active file, so it must be at least 1");
        }
        if c.max_age.is_some_and(|a| a.is_zero()) {
            return invalid("max_age is 0; give how long rotated files are kept");
        }
        FileSink::open(self.config)
    }
}
