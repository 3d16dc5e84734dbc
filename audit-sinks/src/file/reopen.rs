//! Opening the log again after a stop or a crash: the end of the active
//! file repaired, and the id window filled from the newest entries.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use audit_core::json::rfc3339_micros;
use time::OffsetDateTime;
use uuid::Uuid;

use super::names::{CORRUPT_SUFFIX, Segment};
use super::read::{self, EntryStub, Line};
use super::recent::RecentIds;
use super::{FileSinkError, fsutil};

/// Opens the active file for appending and repairs its end: a last line
/// without a newline that is a whole entry gets its newline; any other torn
/// or unparseable last line is moved to `<file>.corrupt` and cut off.
/// Returns the file, its length and the ids of its last `keep` entries.
pub(crate) fn recover(path: &Path, keep: usize) -> Result<(File, u64, Vec<Uuid>), FileSinkError> {
    let err = |action| move |e| FileSinkError::file(action, path, e);
    let mut file = fsutil::open_append(path).map_err(err("open"))?;
    let len = file.metadata().map_err(err("open"))?.len();
    let mut reader = read::bounded_reader(file.try_clone().map_err(err("open"))?, len);
    let mut ids: VecDeque<Uuid> = VecDeque::new();
    let (mut buf, mut last) = (Vec::new(), Vec::new());
    // The last non-blank line, in `last`.
    let mut tail: Option<LastLine> = None;
    let mut unreadable = 0u64;
    loop {
        let start = reader.offset;
        let Some(line) = reader.next_line(&mut buf).map_err(err("read"))? else { break };
        if line == Line::Complete && read::is_blank(&buf) {
            continue;
        }
        if tail.as_ref().is_some_and(|t| !t.has_id) {
            // A bad line that turned out not to be the last one.
            unreadable += 1;
        }
        std::mem::swap(&mut buf, &mut last);
        let id = match line {
            Line::TooLong => None,
            _ => serde_json::from_slice::<EntryStub>(&last).ok().map(|h| h.id),
        };
        if let Some(id) = id {
            ids.push_back(id);
            if ids.len() > keep {
                ids.pop_front();
            }
        }
        tail = Some(LastLine { start, line_no: reader.line_no, line, has_id: id.is_some() });
    }
    if unreadable > 0 {
        tracing::warn!(
            file = %path.display(),
            lines = unreadable,
            "the active audit log file has lines that are not entries; they are left in place \
             (`audit verify` reports them)"
        );
    }
    let mut size = len;
    if let Some(LastLine { start, line_no, line, has_id }) = tail {
        let whole = line != Line::TooLong
            && serde_json::from_slice::<audit_core::AuditEvent>(&last).is_ok();
        match (line, whole) {
            (Line::Complete, true) => {}
            (Line::Unterminated, true) => {
                // Everything but the newline reached the disk: the entry is whole.
                file.write_all(b"\n").and_then(|()| file.sync_data()).map_err(err("repair"))?;
                size += 1;
                tracing::warn!(file = %path.display(), line = line_no, "completed the last line of the audit log file with its missing newline");
            }
            _ => {
                if has_id && !whole {
                    ids.pop_back();
                }
                move_aside(&mut file, path, start, len, line_no).map_err(err("repair"))?;
                size = start;
            }
        }
    }
    Ok((file, size, ids.into()))
}

/// The last non-blank line of the active file: where it starts, its
/// number, how it ended, and whether an id could be read from it.
#[derive(Debug)]
struct LastLine {
    start: u64,
    line_no: u64,
    line: Line,
    has_id: bool,
}

/// Appends bytes `start..len` of `file` to `<path>.corrupt` (with a header
/// line saying where they came from), then truncates `file` to `start`.
fn move_aside(file: &mut File, path: &Path, start: u64, len: u64, line_no: u64) -> io::Result<()> {
    let mut corrupt_path = path.as_os_str().to_owned();
    corrupt_path.push(CORRUPT_SUFFIX);
    let corrupt_path = PathBuf::from(corrupt_path);
    let mut corrupt = fsutil::create_or_append(&corrupt_path)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    writeln!(
        corrupt,
        "# {} torn line {line_no} of {name} (bytes {start}..{len}), moved aside by the file sink on reopen",
        rfc3339_micros::format(OffsetDateTime::now_utc()),
    )?;
    let mut source = file.try_clone()?;
    source.seek(SeekFrom::Start(start))?;
    io::copy(&mut io::Read::take(source, len - start), &mut corrupt)?;
    corrupt.write_all(b"\n")?;
    corrupt.sync_data()?;
    file.set_len(start)?;
    file.sync_data()?;
    tracing::warn!(
        file = %path.display(),
        line = line_no,
        bytes = len - start,
        moved_to = %corrupt_path.display(),
        "the audit log file ended with a torn line (a crash during a write); it was moved aside \
         and writing continues after the last whole entry"
    );
    Ok(())
}

/// Fills the id window from rotated files, newest first, as far as it has
/// room. Best effort: a file that cannot be read is logged and ends it.
pub(crate) fn load_older_ids(recent: &mut RecentIds, dir: &Path, rotated: &[Segment]) {
    for segment in rotated.iter().rev() {
        if recent.len() >= recent.capacity() {
            return;
        }
        let mut ids = Vec::new();
        let result = (|| -> io::Result<()> {
            let Some((_, mut reader)) = read::open_segment(dir, segment)? else {
                return Ok(());
            };
            let mut buf = Vec::new();
            while let Some(line) = reader.next_line(&mut buf)? {
                if line != Line::Complete {
                    continue;
                }
                if let Ok(stub) = serde_json::from_slice::<EntryStub>(&buf) {
                    ids.push(stub.id);
                }
            }
            Ok(())
        })();
        recent.prepend(&ids);
        if let Err(e) = result {
            tracing::warn!(
                file = %segment.path(dir).display(),
                error = %e,
                "cannot read the ids of an older audit log file; entries replayed from it \
                 after a crash may be written twice"
            );
            return;
        }
    }
}
