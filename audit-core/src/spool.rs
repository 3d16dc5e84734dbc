//! The on-disk spool: a write-ahead log shared by all sinks of one auditor,
//! with one delivery cursor per sink.
//!
//! Layout of the spool directory:
//!
//! ```text
//! wal/<first index, 20 digits>.jsonl   segments of sealed entries, one JSON line each
//! cursors/<sink>.cursor                index of the first entry the sink has not written
//! dead-letter/<sink>.jsonl             batches the sink rejected permanently
//! ```
//!
//! Every entry is appended (one `write` call, so it survives the process
//! being killed) before `record` returns. A sink whose in-memory queue is full
//! or that is failing reads its backlog back from here, in order, so memory
//! stays bounded. A segment is deleted once every sink's cursor has passed it.
//!
//! An append that fails (a full disk: `ENOSPC`, a quota, an I/O error, also
//! at the `fsync`) is taken back: the segment is truncated to where the entry
//! started, so that the spool never holds a torn line or an entry its index
//! does not count, and the next append (once there is space) follows the
//! last whole entry. If even the truncation fails, it is tried again before
//! the next append, and nothing is appended until it succeeds. The error
//! names the file and says what to do; the pipeline then keeps the entry in
//! memory (see `Inner::spool` in the auditor).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{AuditEvent, Batch};

const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

/// What the spool writes of an entry: the JSON made while hashing it, or
/// the entry itself, serialized then.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SpoolLine<'a> {
    /// The entry's JSON (one line, without its newline).
    Json(&'a [u8]),
    /// The entry, for the spool to serialize.
    Entry(&'a AuditEvent),
}

#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    /// Index the next appended entry gets.
    head: u64,
    /// First index of the segment being appended to.
    segment_first: u64,
    segment_bytes: u64,
    file: File,
    fsync: bool,
    buf: Vec<u8>,
    /// A failed append may have left part of a line after `segment_bytes`
    /// that could not be truncated: truncate before appending again.
    torn: bool,
}

/// An I/O error of the spool, saying what was done on which file and what to
/// do about it; keeps the kind and the OS error as its source.
#[derive(Debug)]
struct SpoolIoError {
    message: String,
    source: io::Error,
}

impl std::fmt::Display for SpoolIoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpoolIoError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps an I/O error on `path` (`doing`: "appending to", ...) in one that
/// says what went wrong, where, and what to do; keeps its kind.
fn io_error(doing: &str, path: &Path, e: io::Error) -> io::Error {
    let path = path.display();
    let message = match e.kind() {
        io::ErrorKind::StorageFull => format!(
            "no space left on device (the disk is full) {doing} the audit spool file {path}: \
             free space on that volume or move the spool directory"
        ),
        io::ErrorKind::QuotaExceeded => format!(
            "disk quota exceeded {doing} the audit spool file {path}: raise the quota or free \
             space"
        ),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => format!(
            "permission denied {doing} the audit spool file {path}: {e}: check the owner and \
             mode of the spool directory and that its volume is writable"
        ),
        _ => format!("I/O error {doing} the audit spool file {path}: {e}"),
    };
    io::Error::new(e.kind(), SpoolIoError { message, source: e })
}

fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join("wal").join(format!("{first:020}.jsonl"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut firsts = Vec::new();
    for entry in fs::read_dir(dir.join("wal"))? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".jsonl").and_then(|n| n.parse::<u64>().ok()) {
            firsts.push(n);
        }
    }
    firsts.sort_unstable();
    Ok(firsts)
}

/// Counts complete lines, and truncates a torn last line left by a crash.
fn recover_segment(path: &Path) -> io::Result<(u64, u64)> {
    let mut data = Vec::new();
    io::Read::read_to_end(&mut File::open(path)?, &mut data)?;
    let complete = data.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    if complete < data.len() {
        tracing::warn!(
            path = %path.display(),
            torn_bytes = data.len() - complete,
            "audit spool: removing a torn last line left by a crash (its record call never returned)"
        );
        OpenOptions::new().write(true).open(path)?.set_len(complete as u64)?;
    }
    let lines = data[..complete].iter().filter(|&&b| b == b'\n').count() as u64;
    Ok((lines, complete as u64))
}

/// Creates a directory (and its parents) readable by the owner only.
fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates (or truncates) a file readable by the owner only.
fn private_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).write(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

fn open_append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

impl Spool {
    /// Opens (or creates) the spool in `dir`, repairing a torn tail.
    pub(crate) fn open(dir: &Path, fsync: bool) -> io::Result<Self> {
        for sub in ["wal", "cursors", "dead-letter"] {
            create_private_dir(&dir.join(sub))?;
        }
        let segments = list_segments(dir)?;
        let (segment_first, head, segment_bytes) = match segments.last() {
            Some(&first) => {
                let (lines, bytes) = recover_segment(&segment_path(dir, first))?;
                (first, first + lines, bytes)
            }
            None => (0, 0, 0),
        };
        let file = open_append(&segment_path(dir, segment_first))?;
        Ok(Self {
            dir: dir.to_owned(),
            head,
            segment_first,
            segment_bytes,
            file,
            fsync,
            buf: Vec::with_capacity(4096),
            torn: false,
        })
    }

    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    fn segment(&self) -> PathBuf {
        segment_path(&self.dir, self.segment_first)
    }

    /// Appends one entry; returns its index. The line reaches the kernel in
    /// one `write` before this returns. On error nothing of it stays in the
    /// spool (see the module docs). A [`SpoolLine::Json`] is
    /// `serde_json::to_vec` of the entry (made while hashing), written
    /// instead of serializing the entry again.
    pub(crate) fn append(&mut self, line: SpoolLine<'_>) -> io::Result<u64> {
        if self.torn {
            self.take_back().map_err(|e| io_error("repairing", &self.segment(), e))?;
        }
        if self.segment_bytes >= SEGMENT_BYTES {
            self.roll()?;
        }
        self.buf.clear();
        match line {
            SpoolLine::Json(json) => self.buf.extend_from_slice(json),
            SpoolLine::Entry(event) => {
                serde_json::to_writer(&mut self.buf, event).map_err(io::Error::other)?;
            }
        }
        self.buf.push(b'\n');
        let mut result = self.file.write_all(&self.buf);
        if result.is_ok() && self.fsync {
            result = self.file.sync_data();
        }
        if let Err(e) = result {
            // Leave no partial line (nor a whole one the index does not
            // count) behind for the next append.
            if self.take_back().is_err() {
                self.torn = true;
            }
            return Err(io_error("appending to", &self.segment(), e));
        }
        self.segment_bytes += self.buf.len() as u64;
        let index = self.head;
        self.head += 1;
        Ok(index)
    }

    /// Truncates the segment to its last whole entry.
    fn take_back(&mut self) -> io::Result<()> {
        self.file.set_len(self.segment_bytes)?;
        self.torn = false;
        Ok(())
    }

    fn roll(&mut self) -> io::Result<()> {
        self.file.sync_data().map_err(|e| io_error("syncing", &self.segment(), e))?;
        let next = segment_path(&self.dir, self.head);
        // The state changes only once the new segment is open.
        self.file = open_append(&next).map_err(|e| io_error("creating", &next, e))?;
        self.segment_first = self.head;
        self.segment_bytes = 0;
        Ok(())
    }

    /// Deletes the segments that every cursor has passed.
    pub(crate) fn collect_garbage(&self, min_cursor: u64) -> io::Result<()> {
        let segments = list_segments(&self.dir)?;
        for pair in segments.windows(2) {
            // A segment ends where the next begins.
            if pair[1] <= min_cursor && pair[0] != self.segment_first {
                fs::remove_file(segment_path(&self.dir, pair[0]))?;
            }
        }
        Ok(())
    }
}

/// Reads a sink's backlog from the spool, sequentially.
#[derive(Debug)]
pub(crate) struct SpoolReader {
    dir: PathBuf,
    /// Index of the next line `reader` yields.
    next: u64,
    segment_end: Option<u64>,
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    /// Lines `read` skipped because they are not entries, not yet taken.
    skipped: u64,
}

impl SpoolReader {
    pub(crate) fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            next: 0,
            segment_end: None,
            reader: None,
            line: Vec::new(),
            skipped: 0,
        }
    }

    fn position(&mut self, index: u64) -> io::Result<()> {
        if self.reader.is_some() && self.next == index && self.segment_end.is_none_or(|e| index < e)
        {
            return Ok(());
        }
        let segments = list_segments(&self.dir)?;
        let pos = segments.partition_point(|&f| f <= index);
        let Some(&first) = pos.checked_sub(1).and_then(|p| segments.get(p)) else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("spool entry {index} is no longer on disk (segments: {segments:?})"),
            ));
        };
        self.segment_end = segments.get(pos).copied();
        let mut reader = BufReader::new(File::open(segment_path(&self.dir, first))?);
        reader.seek(SeekFrom::Start(0))?;
        let mut skip = index - first;
        let mut scratch = Vec::new();
        while skip > 0 {
            scratch.clear();
            if reader.read_until(b'\n', &mut scratch)? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("spool segment {first} ends before entry {index}"),
                ));
            }
            skip -= 1;
        }
        self.reader = Some(reader);
        self.next = index;
        Ok(())
    }

    /// How many lines `read` skipped since the last call, because they were
    /// not entries (not UTF-8, not JSON, or not an entry).
    pub(crate) fn take_skipped(&mut self) -> u64 {
        std::mem::take(&mut self.skipped)
    }

    /// Reads entries `from..to` (at most `max`). A line that is not an entry
    /// is skipped (and counted, see [`take_skipped`](Self::take_skipped)), so
    /// one corrupt line costs only itself, not the entries around it.
    pub(crate) fn read(
        &mut self,
        from: u64,
        to: u64,
        max: usize,
    ) -> io::Result<Vec<(u64, AuditEvent)>> {
        let mut out = Vec::new();
        let mut index = from;
        while index < to && out.len() < max {
            self.position(index)?;
            let reader = self.reader.as_mut().expect("positioned");
            self.line.clear();
            if reader.read_until(b'\n', &mut self.line)? == 0 {
                // The segment ended: the next index lives in the next segment.
                self.reader = None;
                self.segment_end = Some(index);
                continue;
            }
            self.next = index + 1;
            match serde_json::from_slice::<AuditEvent>(&self.line) {
                Ok(event) => out.push((index, event)),
                Err(e) => {
                    self.skipped += 1;
                    tracing::error!(
                        spool = %self.dir.display(), index, error = %e,
                        "audit spool: skipping an entry that cannot be read back (corrupt line); \
                         it is counted as failed"
                    );
                }
            }
            index += 1;
        }
        Ok(out)
    }
}

pub(crate) fn cursor_path(dir: &Path, sink: &str) -> PathBuf {
    let safe: String = sink
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    dir.join("cursors").join(format!("{safe}.cursor"))
}

pub(crate) fn load_cursor(dir: &Path, sink: &str) -> io::Result<Option<u64>> {
    match fs::read_to_string(cursor_path(dir, sink)) {
        Ok(s) => s.trim().parse().map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("spool cursor for sink `{sink}` is corrupt: {e}"),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) fn store_cursor(dir: &Path, sink: &str, index: u64) -> io::Result<()> {
    let path = cursor_path(dir, sink);
    let tmp = path.with_extension("cursor.tmp");
    let mut file = private_file(&tmp).map_err(|e| io_error("creating", &tmp, e))?;
    file.write_all(index.to_string().as_bytes()).map_err(|e| io_error("writing", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, &path).map_err(|e| io_error("renaming", &tmp, e))
}

pub(crate) fn dead_letter(dir: &Path, sink: &str, batch: Batch<'_>) -> io::Result<PathBuf> {
    let path = dir.join("dead-letter").join(
        cursor_path(dir, sink)
            .file_stem()
            .map(|s| format!("{}.jsonl", s.to_string_lossy()))
            .unwrap_or_default(),
    );
    let mut buf = Vec::new();
    for i in 0..batch.len() {
        batch.write_json(i, &mut buf).map_err(io::Error::other)?;
        buf.push(b'\n');
    }
    let mut file = open_append(&path).map_err(|e| io_error("opening", &path, e))?;
    let start = file.metadata().map_err(|e| io_error("opening", &path, e))?.len();
    if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
        // No torn line for the next batch to follow.
        let _ = file.set_len(start);
        return Err(io_error("appending to", &path, e));
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u64) -> AuditEvent {
        let mut event = AuditEvent::builder("spool.test").metadata("n", n).build();
        event.id = uuid::Uuid::now_v7();
        event
    }

    fn read_all(dir: &Path, to: u64) -> (Vec<(u64, AuditEvent)>, u64) {
        let mut reader = SpoolReader::new(dir);
        let entries = reader.read(0, to, usize::MAX).unwrap();
        (entries, reader.take_skipped())
    }

    /// `/dev/full`: every write fails with `ENOSPC`, and it cannot be
    /// truncated, like a full disk on which even taking a write back fails.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_says_so_and_leaves_no_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), false).unwrap();
        let first = entry(0);
        assert_eq!(spool.append(SpoolLine::Entry(&first)).unwrap(), 0);

        let segment = spool.segment();
        let real = std::mem::replace(
            &mut spool.file,
            OpenOptions::new().append(true).open("/dev/full").unwrap(),
        );
        let err = spool.append(SpoolLine::Entry(&entry(1))).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "no space left on device (the disk is full) appending to the audit spool file {}",
                segment.display()
            )),
            "{message}"
        );
        assert!(message.ends_with("free space on that volume or move the spool directory"));
        let source = std::error::Error::source(err.get_ref().unwrap()).unwrap();
        assert!(source.to_string().contains("os error 28"), "{source}");
        assert_eq!(spool.head(), 1, "a failed append takes no index");
        assert!(spool.torn, "the take-back failed, so it is tried again first");

        // Part of the line had reached the file when the disk filled up.
        let mut partial = open_append(&segment).unwrap();
        partial.write_all(br#"{"id":"0190"#).unwrap();
        spool.file = real;
        let third = entry(2);
        assert_eq!(
            spool.append(SpoolLine::Entry(&third)).unwrap(),
            1,
            "space again: the next index"
        );
        assert!(!spool.torn);

        let (entries, skipped) = read_all(dir.path(), spool.head());
        assert_eq!(skipped, 0, "no torn line before the next entry");
        let ids: Vec<_> = entries.iter().map(|(i, e)| (*i, e.id)).collect();
        assert_eq!(ids, [(0, first.id), (1, third.id)]);
        let bytes = fs::read(&segment).unwrap();
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 2);
    }

    #[test]
    fn io_errors_name_the_file_and_keep_their_kind() {
        let path = Path::new("/var/spool/audit/cursors/file.cursor.tmp");
        for (kind, says) in [
            (io::ErrorKind::StorageFull, "no space left on device (the disk is full) writing"),
            (io::ErrorKind::QuotaExceeded, "disk quota exceeded writing"),
            (io::ErrorKind::PermissionDenied, "permission denied writing"),
            (io::ErrorKind::Other, "I/O error writing"),
        ] {
            let err = io_error("writing", path, io::Error::from(kind));
            assert_eq!(err.kind(), kind);
            let message = err.to_string();
            assert!(message.starts_with(says), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
    }

    #[test]
    fn a_failed_roll_keeps_appending_to_the_open_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), false).unwrap();
        spool.append(SpoolLine::Entry(&entry(0))).unwrap();
        // The next segment cannot be created: its directory is gone.
        let wal_dir = dir.path().join("wal");
        let moved = dir.path().join("wal-moved");
        fs::rename(&wal_dir, &moved).unwrap();
        spool.segment_bytes = SEGMENT_BYTES;
        let err = spool.roll().unwrap_err();
        assert!(err.to_string().starts_with("I/O error creating the audit spool file"), "{err}");
        assert_eq!((spool.segment_first, spool.segment_bytes), (0, SEGMENT_BYTES), "unchanged");
        fs::rename(&moved, &wal_dir).unwrap();
        spool.roll().unwrap();
        assert_eq!((spool.segment_first, spool.segment_bytes), (1, 0));
        assert_eq!(spool.append(SpoolLine::Entry(&entry(1))).unwrap(), 1);
        let (entries, skipped) = read_all(dir.path(), spool.head());
        assert_eq!((entries.len(), skipped), (2, 0));
    }
}
