//! Retention of the file store: which old files go, what they held, and
//! the report that the `audit.retention` entry is made of.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use audit_core::AuditEventBuilder;
use audit_core::json::rfc3339_micros;
use serde_json::json;
use time::OffsetDateTime;

use super::FileSinkError;
use super::fsutil;
use super::names::{self, Segment};
use super::read::{self, EntryStub, Line};
use crate::retention::{self as shared, ChainSpan, Report, Wording};

/// How the file sink's reports are spoken of in the logs.
pub(crate) const WORDING: Wording =
    Wording { removed: "removed audit log files", events_method: "FileSink::retention_events()" };

/// The receiving end of the retention reports of a [`FileSink`](super::FileSink):
/// one report for each retention run that removed files. See
/// [`RetentionEvents`](crate::retention::RetentionEvents).
pub type RetentionEvents = shared::RetentionEvents<RetentionReport>;

/// What a retention run (or a purge) removed, or with `dry_run` would remove.
///
/// Turn it into the `audit.retention` entry with [`event`](Self::event) and
/// record that through the auditor, or let
/// [`RetentionEvents::record_into`] do it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionReport {
    /// The log directory.
    pub dir: PathBuf,
    /// Whether nothing was removed because this was a dry run.
    pub dry_run: bool,
    /// The files removed, oldest first.
    pub files: Vec<RemovedFile>,
}

/// One file removed by retention or a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemovedFile {
    /// The file name (in [`RetentionReport::dir`]).
    pub name: String,
    /// Its size on disk, in bytes.
    pub bytes: u64,
    /// How many entries it held.
    pub entries: u64,
    /// Lines that could not be read as entries.
    pub unreadable_lines: u64,
    /// The time of its oldest entry.
    pub oldest: Option<OffsetDateTime>,
    /// The time of its newest entry.
    pub newest: Option<OffsetDateTime>,
    /// The chain links it held, per chain: what verification will find
    /// missing at the start of those chains.
    pub chains: Vec<ChainSpan>,
    /// Why it was removed.
    pub rule: RetentionRule,
}

/// Why a file was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RetentionRule {
    /// More files than [`max_files`](super::FileSinkBuilder::max_files).
    MaxFiles(usize),
    /// Last written longer ago than [`max_age`](super::FileSinkBuilder::max_age).
    MaxAge(Duration),
    /// Every entry older than the cut-off of
    /// [`FileStore::purge_files`](super::FileStore::purge_files).
    Purge(OffsetDateTime),
}

impl fmt::Display for RetentionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MaxFiles(n) => write!(f, "more than {n} files"),
            Self::MaxAge(age) => write!(f, "last written more than {}s ago", age.as_secs()),
            Self::Purge(before) => {
                write!(f, "every entry older than {}", rfc3339_micros::format(*before))
            }
        }
    }
}

impl RetentionReport {
    pub(crate) fn new(dir: &Path, dry_run: bool) -> Self {
        Self { dir: dir.to_path_buf(), dry_run, files: Vec::new() }
    }

    /// Whether no file was removed.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// How many entries the removed files held.
    pub fn entries(&self) -> u64 {
        self.files.iter().map(|f| f.entries).sum()
    }

    /// How many bytes the removed files took.
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// The `audit.retention` entry that records this run, to be recorded
    /// through the auditor (which gives it its place in the chain).
    ///
    /// Action `delete`, actor `system:audit-retention`, resource
    /// `audit_log:<dir>`, and `metadata.retention` with every removed file:
    /// name, bytes, entries, oldest and newest entry time, the chain seqs it
    /// held, and the rule that removed it. Change the actor with the
    /// builder's `actor` (e.g. the operator who ran a purge).
    pub fn event(&self) -> AuditEventBuilder {
        let dir = self.dir.display().to_string();
        let files: Vec<serde_json::Value> = self
            .files
            .iter()
            .map(|f| {
                let rule = match f.rule {
                    RetentionRule::MaxFiles(n) => json!({"rule": "max_files", "max_files": n}),
                    RetentionRule::MaxAge(age) => shared::max_age_json(age),
                    RetentionRule::Purge(before) => shared::purge_json(before),
                };
                json!({
                    "name": f.name,
                    "bytes": f.bytes,
                    "entries": f.entries,
                    "unreadable_lines": f.unreadable_lines,
                    "oldest": f.oldest.map(rfc3339_micros::format),
                    "newest": f.newest.map(rfc3339_micros::format),
                    "chains": shared::chains_json(&f.chains),
                    "removed_because": rule,
                })
            })
            .collect();
        let what = if self.dry_run { "would remove" } else { "removed" };
        let description = format!(
            "retention {what} {} audit log file{} with {} entries from {dir}",
            self.files.len(),
            if self.files.len() == 1 { "" } else { "s" },
            self.entries()
        );
        let metadata = json!({
            "dir": dir,
            "dry_run": self.dry_run,
            "files": files,
            "entries": self.entries(),
            "bytes": self.bytes(),
        });
        shared::event(&dir, description, metadata)
    }
}

impl Report for RetentionReport {
    fn event(&self) -> AuditEventBuilder {
        self.event()
    }

    fn is_empty(&self) -> bool {
        self.is_empty()
    }

    fn is_dry_run(&self) -> bool {
        self.dry_run
    }

    fn entries(&self) -> u64 {
        self.entries()
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn removed(&self) -> Vec<String> {
        self.files.iter().map(|f| f.name.clone()).collect()
    }
}

/// Reads a segment and summarizes what it holds. `Ok(None)` if it is gone.
pub(crate) fn summarize(
    dir: &Path,
    segment: &Segment,
    rule: RetentionRule,
) -> Result<Option<RemovedFile>, FileSinkError> {
    let path = segment.path(dir);
    let Some((path, mut reader)) =
        read::open_segment(dir, segment).map_err(|e| FileSinkError::file("read", &path, e))?
    else {
        return Ok(None);
    };
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut file = RemovedFile {
        name,
        bytes,
        entries: 0,
        unreadable_lines: 0,
        oldest: None,
        newest: None,
        chains: Vec::new(),
        rule,
    };
    let mut buf = Vec::new();
    loop {
        let line = match reader.next_line(&mut buf) {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(e) => {
                // A damaged compressed file: what could not be read counts as unreadable.
                tracing::warn!(file = %path.display(), error = %e, "cannot read the rest of an audit log file");
                file.unreadable_lines += 1;
                break;
            }
        };
        if line == Line::Complete && read::is_blank(&buf) {
            continue;
        }
        let head = match line {
            Line::Complete | Line::Unterminated => serde_json::from_slice::<EntryStub>(&buf).ok(),
            Line::TooLong => None,
        };
        let Some(head) = head else {
            file.unreadable_lines += 1;
            continue;
        };
        file.entries += 1;
        file.oldest = Some(file.oldest.map_or(head.time, |t| t.min(head.time)));
        file.newest = Some(file.newest.map_or(head.time, |t| t.max(head.time)));
        if let Some(at) = head.chain {
            ChainSpan::add(&mut file.chains, at.id, at.seq);
        }
    }
    Ok(Some(file))
}

/// Removes every file of a segment (plain and compressed).
pub(crate) fn remove_segment(dir: &Path, segment: &Segment) -> Result<(), FileSinkError> {
    for path in [segment.gz_path(dir), segment.plain_path(dir), segment.gz_tmp_path(dir)] {
        fsutil::remove_if_exists(&path).map_err(|e| FileSinkError::file("remove", &path, e))?;
    }
    Ok(())
}

/// When a segment was last written: its modification time.
fn modified(dir: &Path, segment: &Segment) -> Option<SystemTime> {
    [segment.path(dir), segment.plain_path(dir)]
        .iter()
        .find_map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
}

/// Applies retention by count and age: removes the oldest rotated files
/// (never the newest file, which the sink writes to) while there are more than
/// `max_files` or they were last written longer ago than `max_age`. Only a
/// run of oldest files is removed, never one in the middle, so the chains that
/// remain have no gaps.
pub(crate) fn apply(
    dir: &Path,
    max_files: Option<usize>,
    max_age: Option<Duration>,
) -> Result<RetentionReport, FileSinkError> {
    let mut report = RetentionReport::new(dir, false);
    if max_files.is_none() && max_age.is_none() {
        return Ok(report);
    }
    let (segments, _) = names::list(dir).map_err(|e| FileSinkError::file("read", dir, e))?;
    let Some((_newest, rotated)) = segments.split_last() else { return Ok(report) };
    let now = SystemTime::now();
    for (i, segment) in rotated.iter().enumerate() {
        let rule = if let Some(n) = max_files.filter(|&n| segments.len() - i > n) {
            RetentionRule::MaxFiles(n)
        } else if let Some(age) = max_age.filter(|&age| {
            modified(dir, segment)
                .is_some_and(|m| now.duration_since(m).is_ok_and(|elapsed| elapsed >= age))
        }) {
            RetentionRule::MaxAge(age)
        } else {
            break;
        };
        let summary = summarize(dir, segment, rule)?;
        remove_segment(dir, segment)?;
        if let Some(summary) = summary {
            report.files.push(summary);
        }
    }
    if !report.is_empty() {
        fsutil::sync_dir(dir).map_err(|e| FileSinkError::file("sync", dir, e))?;
        tracing::info!(
            dir = %dir.display(),
            files = report.files.len(),
            entries = report.entries(),
            "retention removed old audit log files"
        );
    }
    Ok(report)
}

/// Removes (or with `dry_run` only lists) the oldest rotated files whose every
/// entry is older than `before`. Stops at the first file that holds a newer
/// entry or a line that cannot be read (its time is unknown), so only a run of
/// oldest files goes. Never the newest file.
pub(crate) fn purge(
    dir: &Path,
    before: OffsetDateTime,
    dry_run: bool,
) -> Result<RetentionReport, FileSinkError> {
    let mut report = RetentionReport::new(dir, dry_run);
    let (segments, _) = names::list(dir).map_err(|e| FileSinkError::file("read", dir, e))?;
    let Some((_newest, rotated)) = segments.split_last() else { return Ok(report) };
    let mut doomed = Vec::new();
    for segment in rotated {
        let Some(summary) = summarize(dir, segment, RetentionRule::Purge(before))? else {
            continue;
        };
        if summary.unreadable_lines > 0 || summary.newest.is_some_and(|t| t >= before) {
            break;
        }
        doomed.push(segment);
        report.files.push(summary);
    }
    if !dry_run && !doomed.is_empty() {
        for segment in doomed {
            remove_segment(dir, segment)?;
        }
        fsutil::sync_dir(dir).map_err(|e| FileSinkError::file("sync", dir, e))?;
    }
    Ok(report)
}
