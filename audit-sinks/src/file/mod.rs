//! The file sink and store: JSON Lines files in a directory, with rotation,
//! retention, group-commit fsync and crash repair.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use audit_core::Auditor;
//! use audit_core::query::Query;
//! use audit_core::store::AuditStore as _;
//! use audit_sinks::file::{FileSink, FileStore};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sink = FileSink::builder("./audit-log")
//!     .max_files(100)
//!     .max_age(Duration::from_secs(365 * 24 * 3600))
//!     .gzip_rotated(true)
//!     .build()?;
//! let retention = sink.retention_events();
//! let auditor = Auditor::builder().service("projects-api", "1.0.0").sink(sink).build()?;
//! if let Some(retention) = retention {
//!     tokio::spawn(retention.record_into(auditor.clone()));
//! }
//! // ... record entries ...
//! auditor.shutdown(Duration::from_secs(10)).await?;
//!
//! let store = FileStore::open("./audit-log")?;
//! let page = store.query(&Query::new().tenant("acme").limit(20)).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! One entry per line, as the JSON of [`AuditEvent`](audit_core::AuditEvent),
//! in files named `audit-<seq>-<start>.jsonl`: `seq` is a zero-padded counter
//! that grows by one per file, `start` the UTC time of the file's first write
//! (`audit-00000042-20250106T070809.123456Z.jsonl`). The file with the highest
//! `seq` is the active one; the others are rotated and, with
//! [`gzip_rotated`](FileSinkBuilder::gzip_rotated), compressed to
//! `.jsonl.gz`. Write order is `seq` order (not time order: a clock that goes
//! back cannot reorder files), and the active file is never renamed, so a
//! reader never misses a file that rotates while it reads. Files are created
//! with mode 0600, and the directory with 0700 when the sink creates it.
//!
//! # Rotation
//!
//! Before a batch, the active file is rotated if the batch would take it past
//! [`max_file_bytes`](FileSinkBuilder::max_file_bytes) (default 64 MiB) or
//! it is older than [`max_file_age`](FileSinkBuilder::max_file_age) (default
//! 24 h). A batch is never split across files. The next file is created at
//! the first write after that (no empty files).
//!
//! # Durability and threads
//!
//! A batch is serialized on the caller's task into one buffer, then written
//! with one `write(2)` and synced with one `fdatasync(2)` ([`Fsync::Batch`],
//! the default: group commit), or synced per entry ([`Fsync::Entry`]), or not
//! synced ([`Fsync::Never`]). The file I/O never runs on the async executor:
//! each `write` runs its write on Tokio's blocking threads
//! (`spawn_blocking`), one at a time (the pipeline calls a sink from one
//! worker; a lock keeps the order anyway). Compression and retention run on a
//! dedicated maintenance thread, one job at a time, so a rotation never holds
//! up the next batch; `flush` waits for them.
//!
//! A write that fails is taken back (the file is truncated to where the batch
//! started), so the retry does not follow a torn line.
//!
//! # Errors
//!
//! Every file system error is transient: the pipeline keeps the entries
//! (queue or spool) and retries with backoff. A full disk says so: "no space
//! left on device writing `<file>`; the entries stay queued and are retried:
//! free space on that volume or move the audit log directory". The part of
//! the batch that reached the file is taken back, a file that could not be
//! created takes no file number, and once there is space again the next
//! retry writes the batch whole, after the last whole entry: no restart is
//! needed. Only an entry that cannot be serialized is a permanent error.
//!
//! # Crash repair
//!
//! When the sink is built, the end of the active file is checked. A last line
//! without a newline that is a whole entry gets its newline. Any other torn
//! last line (cut by a crash, unparseable) is appended to
//! `<file>.corrupt`, after a `#` line with the time and where it came from,
//! then cut from the file with a `tracing` warning; writing continues after
//! the last whole entry. Unparseable lines before the last one are left in
//! place for `audit verify` to report.
//!
//! # Idempotency
//!
//! After a crash, the pipeline may hand over again the last batches it had
//! not seen acknowledged. The sink remembers the ids of the last
//! [`dedup_window`](FileSinkBuilder::dedup_window) entries written (default
//! 100 000, 1.6 MB while their ids are in order; loaded from the newest files
//! when the sink is built)
//! and skips entries it has already written. The bound: an entry replayed
//! after more than that many newer entries were written is written twice
//! (the store then returns it twice, and verification reports the second copy).
//!
//! # Retention
//!
//! With [`max_files`](FileSinkBuilder::max_files) (by count, the active file
//! included) or [`max_age`](FileSinkBuilder::max_age) (by the time a file
//! was last written), the maintenance thread removes the oldest rotated files
//! at every rotation, at start-up, periodically (with `max_age`), and on
//! [`FileSink::apply_retention`]. It removes only a run of oldest files, never
//! the active one, so the chains that remain have no gaps; they start later,
//! which verification accepts.
//!
//! **The `audit.retention` entry.** The design requires that retention be
//! recorded in the log. The sink cannot write that entry itself: an entry
//! outside the sequencer would have no place in the hash chain, and
//! verification would report it as inserted. Nor can it record through the
//! auditor from inside `Sink::write`, which would wait on the sink's own
//! queue (a deadlock with strict delivery or a full queue). So each retention
//! run that removed files produces a [`RetentionReport`] (the files, their
//! entry counts and time ranges, the chain seqs they held, and the rule that
//! removed them) on [`FileSink::retention_events`], and the application
//! records it through its auditor with
//! [`RetentionEvents::record_into`]: the `audit.retention` entry is then
//! chained and signed like any other. A report that arrives while the auditor
//! shuts down cannot be recorded and is logged with `tracing::error!`.
//!
//! [`FileStore::purge_files`] (for `audit purge`) removes files in the same
//! way and returns the same report, for the caller to record.
//!
//! # The store
//!
//! [`FileStore`] reads the directory anew on every call, files in `seq`
//! order, line by line (gzip decompressed as it goes), on Tokio's blocking
//! threads:
//!
//! - `scan` streams entries in write order and memory independent of the
//!   log's size. A line that is not an entry yields `StoreError::Corrupt`
//!   with the location `<file>:<line>`, and the scan goes on.
//! - `query` makes one pass over the whole log per page, keeping the best
//!   `limit + 1` matches after the cursor in a bounded heap: time linear in
//!   the log's size, memory linear in the page size. Fine for the CLI and
//!   for logs of some gigabytes; use the Postgres store for interactive
//!   search over large logs.
//! - `purge` removes whole rotated files whose every entry is older than the
//!   cut-off; see [`FileStore::purge_files`].

mod config;
mod error;
mod fsutil;
mod lines;
mod maintenance;
mod names;
mod read;
mod recent;
mod reopen;
mod retention;
mod sink;
mod store;
mod writer;

pub use config::{FileSinkBuilder, Fsync};
pub use error::FileSinkError;
#[cfg(test)]
pub(crate) use retention::WORDING as RETENTION_WORDING;
pub use retention::{RemovedFile, RetentionEvents, RetentionReport, RetentionRule};
pub use sink::FileSink;
pub use store::FileStore;

pub use crate::retention::{ChainSpan, RETENTION_EVENT};
