//! The writer: appends batches to the active file, rotates it, and skips
//! entries already written (the window of recent ids). Runs on blocking
//! threads only (see the module docs of `file`).

use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use audit_core::SinkError;
use audit_core::json::rfc3339_micros;
use bytes::Bytes;
use time::OffsetDateTime;
use uuid::Uuid;

use super::config::{Config, Fsync};
use super::error::io_error;
use super::lines::{Encoded, LineBuffer};
use super::names::{self, Segment};
use super::recent::{IdSet, RecentIds};
use super::reopen::{load_older_ids, recover};
use super::{FileSinkError, fsutil};

/// The file being written.
#[derive(Debug)]
struct ActiveFile {
    file: File,
    path: PathBuf,
    segment: Segment,
    /// Its length: where the next batch starts.
    size: u64,
}

/// The state of the write side.
#[derive(Debug)]
pub(crate) struct Writer {
    config: Arc<Config>,
    active: Option<ActiveFile>,
    /// After an error that left the file in an unknown state: reopen and
    /// repair before the next write.
    needs_reopen: bool,
    next_seq: u64,
    recent: RecentIds,
    /// The lines of the batch being written.
    lines: LineBuffer,
}

/// Work that an earlier run left unfinished, found by [`Writer::open`] for
/// the maintenance thread.
#[derive(Debug, Default)]
pub(crate) struct Unfinished {
    /// Rotated files that are not compressed yet (or whose compression was
    /// interrupted).
    pub(crate) compress: Vec<Segment>,
}

/// What a write did besides writing.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The file that was rotated before the batch, if any.
    pub(crate) rotated: Option<Segment>,
    /// How many entries were skipped as already written.
    pub(crate) duplicates: usize,
}

impl Writer {
    /// Opens the log directory: creates it if needed, checks that it is
    /// writable, removes leftovers of an interrupted compression, reopens the
    /// newest file (repairing a torn last line) and loads the recent ids.
    pub(crate) fn open(config: Arc<Config>) -> Result<(Self, Unfinished), FileSinkError> {
        let dir = config.dir.as_path();
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(FileSinkError::NotADirectory { path: dir.to_path_buf() }),
            // Missing (or a parent is not a directory): creating it says why not.
            Err(_) => fsutil::create_dir_all(dir)
                .map_err(|source| FileSinkError::CreateDir { path: dir.to_path_buf(), source })?,
        }
        probe_writable(dir)?;
        let (segments, leftovers) =
            names::list(dir).map_err(|e| FileSinkError::file("read", dir, e))?;
        for tmp in leftovers {
            if let Err(e) = fsutil::remove_if_exists(&tmp) {
                tracing::warn!(file = %tmp.display(), error = %e, "cannot remove the leftover of an interrupted compression");
            }
        }
        let mut writer = Self {
            next_seq: segments.last().map_or(1, |s| s.seq + 1),
            recent: RecentIds::new(config.dedup_window),
            lines: LineBuffer::default(),
            active: None,
            needs_reopen: false,
            config,
        };
        let newest_is_active = segments.last().is_some_and(|s| s.plain && !s.gz);
        if let Some(segment) = segments.last().filter(|_| newest_is_active) {
            writer.reopen_active(segment.clone())?;
        }
        let rotated =
            if newest_is_active { &segments[..segments.len() - 1] } else { &segments[..] };
        let dir = writer.config.dir.clone();
        load_older_ids(&mut writer.recent, &dir, rotated);
        let unfinished = Unfinished {
            compress: rotated
                .iter()
                .filter(|s| s.plain && (s.gz || writer.config.gzip_rotated))
                .cloned()
                .collect(),
        };
        Ok((writer, unfinished))
    }

    /// Opens `segment` for appending, moving a torn last line aside, and
    /// remembers the ids it holds.
    fn reopen_active(&mut self, segment: Segment) -> Result<(), FileSinkError> {
        let path = segment.plain_path(&self.config.dir);
        let (file, size, ids) = recover(&path, self.recent.capacity())?;
        for id in ids {
            self.recent.insert(id);
        }
        self.next_seq = self.next_seq.max(segment.seq + 1);
        self.active = Some(ActiveFile { file, path, segment, size });
        Ok(())
    }

    /// Writes a batch, skipping entries already written; rotates first when
    /// the active file is full or old.
    pub(crate) fn write(&mut self, batch: &Encoded) -> Result<Written, SinkError> {
        if self.needs_reopen {
            self.reopen()?;
        }
        let mut written = Written::default();
        // A batch whose ids increase (the pipeline's UUIDv7 ids do) has no
        // id twice; only another one needs a set to find repeats.
        let increasing = batch.entries.windows(2).all(|w| w[0].0 < w[1].0);
        let mut in_batch = IdSet::default();
        let kept: Vec<&(Uuid, Bytes)> = batch
            .entries
            .iter()
            .filter(|(id, _)| !self.recent.contains(id) && (increasing || in_batch.insert(*id)))
            .collect();
        written.duplicates = batch.entries.len() - kept.len();
        if written.duplicates > 0 {
            tracing::debug!(
                duplicates = written.duplicates,
                "skipped entries that are already in the audit log"
            );
        }
        if kept.is_empty() {
            return Ok(written);
        }
        let buf = self.lines.fill(&kept);
        let len = buf.len() as u64;
        let now = OffsetDateTime::now_utc();
        written.rotated = self.rotate_if_due(len, now)?;
        let fsync = self.config.fsync;
        let (result, path, undo_failed) = {
            let active = self.active_file(now)?;
            let before = active.size;
            let result = match fsync {
                Fsync::Batch => active.file.write_all(&buf).and_then(|()| active.file.sync_data()),
                Fsync::Never => active.file.write_all(&buf),
                Fsync::Entry => {
                    let mut at = 0;
                    kept.iter().try_for_each(|(_, json)| {
                        let line = &buf[at..at + json.len() + 1];
                        at += line.len();
                        active.file.write_all(line)?;
                        active.file.sync_data()
                    })
                }
            };
            let mut undo_failed = false;
            match &result {
                Ok(()) => active.size = before + len,
                // Take back whatever part of the batch reached the file, so
                // that the retry does not leave a torn line before it.
                Err(_) => {
                    if let Err(undo) = active.file.set_len(before) {
                        tracing::warn!(
                            file = %active.path.display(),
                            error = %undo,
                            "cannot truncate a partly written batch; the file is repaired before \
                             the next write"
                        );
                        undo_failed = true;
                    }
                }
            }
            (result, active.path.clone(), undo_failed)
        };
        self.lines.recycle(buf);
        if undo_failed {
            self.active = None;
            self.needs_reopen = true;
        }
        if let Err(e) = result {
            return Err(io_error("writing", &path, e));
        }
        for (id, _) in kept {
            self.recent.insert(*id);
        }
        Ok(written)
    }

    /// Syncs the active file to disk.
    pub(crate) fn sync(&mut self) -> Result<(), SinkError> {
        match &self.active {
            Some(active) => {
                active.file.sync_data().map_err(|e| io_error("syncing", &active.path, e))
            }
            None => Ok(()),
        }
    }

    /// Reopens after an error left the file in an unknown state.
    fn reopen(&mut self) -> Result<(), SinkError> {
        let dir = self.config.dir.clone();
        let (segments, _) = names::list(&dir).map_err(|e| io_error("listing", &dir, e))?;
        if let Some(segment) = segments.last().filter(|s| s.plain && !s.gz) {
            self.reopen_active(segment.clone()).map_err(|e| match e {
                FileSinkError::File { path, source, .. } => io_error("repairing", &path, source),
                other => SinkError::transient(other.to_string()).with_source(other),
            })?;
        }
        self.next_seq = self.next_seq.max(segments.last().map_or(1, |s| s.seq + 1));
        self.needs_reopen = false;
        Ok(())
    }

    /// Closes the active file when the next `len` bytes would take it past
    /// the size limit or it is too old; returns the rotated segment.
    fn rotate_if_due(
        &mut self,
        len: u64,
        now: OffsetDateTime,
    ) -> Result<Option<Segment>, SinkError> {
        let Some(active) = &self.active else { return Ok(None) };
        let full = active.size.saturating_add(len) > self.config.max_file_bytes;
        let age = now - active.segment.start;
        let old = age >= self.config.max_file_age;
        if !(full || old) {
            return Ok(None);
        }
        if active.size == 0 {
            // Nothing in it (emptied by a repair): start afresh rather than
            // rotate an empty file.
            if old {
                fsutil::remove_if_exists(&active.path)
                    .map_err(|e| io_error("removing", &active.path, e))?;
                self.active = None;
            }
            return Ok(None);
        }
        active.file.sync_data().map_err(|e| io_error("syncing", &active.path, e))?;
        let segment = active.segment.clone();
        tracing::debug!(file = %active.path.display(), bytes = active.size, "rotating the audit log file");
        self.active = None;
        Ok(Some(segment))
    }

    /// The active file, created if there is none.
    fn active_file(&mut self, now: OffsetDateTime) -> Result<&mut ActiveFile, SinkError> {
        if self.active.is_none() {
            let dir = self.config.dir.clone();
            let start = rfc3339_micros::truncate(now);
            let mut attempts = 0;
            let (file, path, segment) = loop {
                let stem = names::stem(self.next_seq, start);
                let segment = Segment { seq: self.next_seq, stem, start, plain: true, gz: false };
                let path = segment.plain_path(&dir);
                match fsutil::create_new_append(&path) {
                    Ok(file) => {
                        self.next_seq += 1;
                        break (file, path, segment);
                    }
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 16 => {
                        self.next_seq += 1;
                        attempts += 1
                    }
                    // The seq stays free for the retry (a full disk, no
                    // inode left): file numbers grow by one per file, not per
                    // failed attempt.
                    Err(e) => return Err(io_error("creating", &path, e)),
                }
            };
            fsutil::sync_dir(&dir).map_err(|e| io_error("syncing the directory of", &path, e))?;
            self.active = Some(ActiveFile { file, path, segment, size: 0 });
        }
        self.active
            .as_mut()
            .ok_or_else(|| SinkError::transient("the audit log file could not be opened"))
    }
}

/// Checks that files can be created in `dir`.
fn probe_writable(dir: &Path) -> Result<(), FileSinkError> {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    let probe = dir.join(format!(".write-probe-{}-{nanos}", std::process::id()));
    fsutil::create_new_append(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|source| FileSinkError::NotWritable { path: dir.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use audit_core::{AuditEvent, Batch};

    use super::*;
    use crate::file::FileSinkBuilder;

    fn config(dir: &Path) -> Arc<Config> {
        Arc::new(Config {
            dir: dir.to_owned(),
            name: "file".to_owned(),
            max_file_bytes: FileSinkBuilder::DEFAULT_MAX_FILE_BYTES,
            max_file_age: FileSinkBuilder::DEFAULT_MAX_FILE_AGE,
            max_files: None,
            max_age: None,
            gzip_rotated: false,
            fsync: Fsync::Batch,
            dedup_window: 100,
        })
    }

    fn batch(n: usize) -> Encoded {
        let events: Vec<AuditEvent> = (0..n)
            .map(|i| {
                AuditEvent::builder("project.update").id(Uuid::now_v7()).metadata("n", i).build()
            })
            .collect();
        Encoded::new(Batch::new(&events)).unwrap()
    }

    #[test]
    fn a_file_that_cannot_be_created_takes_no_seq() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("audit");
        let (mut writer, _) = Writer::open(config(&log)).unwrap();
        // The directory is gone: every attempt to create the first file fails.
        std::fs::remove_dir(&log).unwrap();
        for _ in 0..3 {
            let err = writer.write(&batch(1)).unwrap_err();
            assert!(err.to_string().starts_with("I/O error creating"), "{err}");
        }
        fsutil::create_dir_all(&log).unwrap();
        writer.write(&batch(2)).unwrap();
        let (segments, _) = names::list(&log).unwrap();
        let seqs: Vec<u64> = segments.iter().map(|s| s.seq).collect();
        assert_eq!(seqs, [1], "the first file is still number 1");
    }
}
