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

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::AuditEvent;

const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    /// Index the next appended entry gets.
    head: u64,
    /// First index of the segment being appended to.
    segment_first: u64,
    segment_bytes: u64,
    file: File,
    fsync: bool,
    buf: Vec<u8>,
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

impl Wal {
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
        })
    }

    pub(crate) fn head(&self) -> u64 {
        self.head
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one entry; returns its index. The line reaches the kernel in
    /// one `write` before this returns.
    pub(crate) fn append(&mut self, event: &AuditEvent) -> io::Result<u64> {
        if self.segment_bytes >= SEGMENT_BYTES {
            self.roll()?;
        }
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, event).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        if let Err(e) = self.file.write_all(&self.buf) {
            // Leave no partial line behind for the next append.
            let _ = self.file.set_len(self.segment_bytes);
            return Err(e);
        }
        if self.fsync {
            self.file.sync_data()?;
        }
        self.segment_bytes += self.buf.len() as u64;
        let index = self.head;
        self.head += 1;
        Ok(index)
    }

    fn roll(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.segment_first = self.head;
        self.segment_bytes = 0;
        self.file = open_append(&segment_path(&self.dir, self.segment_first))?;
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
pub(crate) struct WalReader {
    dir: PathBuf,
    /// Index of the next line `reader` yields.
    next: u64,
    segment_end: Option<u64>,
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    /// Lines `read` skipped because they are not entries, not yet taken.
    skipped: u64,
}

impl WalReader {
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
    let mut file = private_file(&tmp)?;
    file.write_all(index.to_string().as_bytes())?;
    drop(file);
    fs::rename(tmp, path)
}

pub(crate) fn dead_letter(dir: &Path, sink: &str, batch: &[AuditEvent]) -> io::Result<PathBuf> {
    let path = dir.join("dead-letter").join(
        cursor_path(dir, sink)
            .file_stem()
            .map(|s| format!("{}.jsonl", s.to_string_lossy()))
            .unwrap_or_default(),
    );
    let mut file = open_append(&path)?;
    let mut buf = Vec::new();
    for e in batch {
        serde_json::to_writer(&mut buf, e).map_err(io::Error::other)?;
        buf.push(b'\n');
    }
    file.write_all(&buf)?;
    file.sync_data()?;
    Ok(path)
}
