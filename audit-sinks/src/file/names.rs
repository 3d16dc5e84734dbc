//! File names of the log directory and listing its segments.
//!
//! A segment is one file of the log: `audit-<seq>-<start>.jsonl`, where `seq`
//! is a zero-padded counter that grows by one per file and `start` the UTC time
//! its first entry was written (`20250106T000000.123456Z`). Once rotated it may
//! be compressed to `<name>.jsonl.gz`. Write order is `seq` order; the time is
//! for people and for rotation by age after a restart.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use time::format_description::FormatItem;
use time::macros::format_description;

const PREFIX: &str = "audit-";
pub(crate) const PLAIN_EXT: &str = ".jsonl";
pub(crate) const GZ_EXT: &str = ".jsonl.gz";
/// A compressed file being written; renamed to `.jsonl.gz` when complete.
pub(crate) const GZ_TMP_EXT: &str = ".jsonl.gz.tmp";
/// Where torn lines are moved aside: `<file>.jsonl.corrupt`.
pub(crate) const CORRUPT_SUFFIX: &str = ".corrupt";

const START_FORMAT: &[FormatItem<'static>] =
    format_description!("[year][month][day]T[hour][minute][second].[subsecond digits:6]Z");

/// One file of the log, plain or compressed (or, for a moment while it is
/// being compressed, both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) seq: u64,
    /// The file name without extension: `audit-<seq>-<start>`.
    pub(crate) stem: String,
    pub(crate) start: OffsetDateTime,
    pub(crate) plain: bool,
    pub(crate) gz: bool,
}

impl Segment {
    pub(crate) fn plain_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}{PLAIN_EXT}", self.stem))
    }

    pub(crate) fn gz_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}{GZ_EXT}", self.stem))
    }

    pub(crate) fn gz_tmp_path(&self, dir: &Path) -> PathBuf {
        dir.join(format!("{}{GZ_TMP_EXT}", self.stem))
    }

    /// The file to read: the compressed one when it exists (it is complete:
    /// written under a temporary name and renamed), else the plain one.
    pub(crate) fn path(&self, dir: &Path) -> PathBuf {
        if self.gz { self.gz_path(dir) } else { self.plain_path(dir) }
    }
}

/// The stem of a new segment.
pub(crate) fn stem(seq: u64, start: OffsetDateTime) -> String {
    let start = start.to_offset(time::UtcOffset::UTC);
    let start = start.format(START_FORMAT).unwrap_or_else(|_| start.unix_timestamp().to_string());
    format!("{PREFIX}{seq:08}-{start}")
}

/// Parses `audit-<seq>-<start>` (without extension).
fn parse_stem(stem: &str) -> Option<(u64, OffsetDateTime)> {
    let rest = stem.strip_prefix(PREFIX)?;
    let (seq, start) = rest.split_once('-')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seq = seq.parse().ok()?;
    let start = time::PrimitiveDateTime::parse(start, START_FORMAT).ok()?.assume_utc();
    Some((seq, start))
}

/// What kind of log file a directory entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Plain,
    Gz,
    GzTmp,
}

/// Classifies a file name of the log directory; `None` for anything else
/// (`.corrupt` files, files of other programs).
pub(crate) fn classify(name: &str) -> Option<(u64, OffsetDateTime, String, FileKind)> {
    let (stem, kind) = if let Some(stem) = name.strip_suffix(GZ_TMP_EXT) {
        (stem, FileKind::GzTmp)
    } else if let Some(stem) = name.strip_suffix(GZ_EXT) {
        (stem, FileKind::Gz)
    } else if let Some(stem) = name.strip_suffix(PLAIN_EXT) {
        (stem, FileKind::Plain)
    } else {
        return None;
    };
    let (seq, start) = parse_stem(stem)?;
    Some((seq, start, stem.to_owned(), kind))
}

/// The segments of a log directory, oldest first, and the leftover temporary
/// files of an interrupted compression.
pub(crate) fn list(dir: &Path) -> io::Result<(Vec<Segment>, Vec<PathBuf>)> {
    let mut segments: BTreeMap<(u64, String), Segment> = BTreeMap::new();
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some((seq, start, stem, kind)) = classify(name) else { continue };
        if kind == FileKind::GzTmp {
            leftovers.push(entry.path());
            continue;
        }
        let segment = segments.entry((seq, stem.clone())).or_insert(Segment {
            seq,
            stem,
            start,
            plain: false,
            gz: false,
        });
        match kind {
            FileKind::Plain => segment.plain = true,
            FileKind::Gz => segment.gz = true,
            FileKind::GzTmp => {}
        }
    }
    Ok((segments.into_values().collect(), leftovers))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn stems_round_trip_and_sort_in_write_order() {
        let t = datetime!(2025-01-06 07:08:09.123456 UTC);
        let s = stem(42, t);
        assert_eq!(s, "audit-00000042-20250106T070809.123456Z");
        assert_eq!(parse_stem(&s), Some((42, t)));
        assert!(stem(9, t) < stem(10, t));
    }

    #[test]
    fn classify_knows_every_kind() {
        let s = "audit-00000001-20250106T000000.000000Z";
        assert_eq!(classify(&format!("{s}.jsonl")).map(|c| c.3), Some(FileKind::Plain));
        assert_eq!(classify(&format!("{s}.jsonl.gz")).map(|c| c.3), Some(FileKind::Gz));
        assert_eq!(classify(&format!("{s}.jsonl.gz.tmp")).map(|c| c.3), Some(FileKind::GzTmp));
        assert_eq!(classify(&format!("{s}.jsonl.corrupt")), None);
        assert_eq!(classify("audit-x-20250106T000000.000000Z.jsonl"), None);
        assert_eq!(classify("notes.jsonl"), None);
    }
}
