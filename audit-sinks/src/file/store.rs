//! [`FileStore`]: the read side.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use audit_core::AuditEvent;
use audit_core::query::{Cursor, Order, Query};
use audit_core::store::{AuditStore, Page, PurgeReport, StoreError};
use futures::StreamExt as _;
use futures::stream::BoxStream;
use time::OffsetDateTime;
use tokio::sync::mpsc;

use super::names;
use super::read::{self, Line};
use super::retention::{self, RetentionReport};

/// Reads the directory of a [`FileSink`](super::FileSink): every file, rotated
/// and compressed ones included, in write order. See the
/// [module docs](super#the-store) for the costs.
///
/// Opening is cheap; every call reads the directory anew, so a store sees
/// what the sink wrote up to that moment, also from another process.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: Arc<PathBuf>,
}

impl FileStore {
    /// A store over the log directory `dir`, which must exist.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        match std::fs::metadata(&dir) {
            Ok(m) if m.is_dir() => Ok(Self::at(dir)),
            Ok(_) => Err(StoreError::unavailable(format!(
                "{} is not a directory; give the directory of the file sink",
                dir.display()
            ))),
            Err(e) => Err(StoreError::unavailable_with(
                format!("cannot open the audit log directory {}: {e}", dir.display()),
                e,
            )),
        }
    }

    pub(crate) fn at(dir: PathBuf) -> Self {
        Self { dir: Arc::new(dir) }
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes (or with `dry_run` only lists) the oldest rotated files whose
    /// every entry is older than `before`, and says what they held: the
    /// whole-file form of [`AuditStore::purge`].
    ///
    /// Removes only a run of oldest files, never one in the middle, and never
    /// the newest file (which a sink may be writing); it stops at the first
    /// file with an entry at or after `before`, or with a line that cannot be
    /// read (run `audit verify`). Record the result with
    /// [`RetentionReport::event`] so the log says what was removed.
    ///
    /// Run it while no sink with retention compresses or removes files in the
    /// same directory, or let that sink's own retention do the job.
    pub async fn purge_files(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<RetentionReport, StoreError> {
        let dir = self.dir.clone();
        blocking(move || {
            retention::purge(&dir, before, dry_run)
                .map_err(|e| StoreError::unavailable_with(e.to_string(), e))
        })
        .await
    }
}

/// Runs `f` on Tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let handle = tokio::runtime::Handle::try_current().map_err(|_| no_runtime())?;
    handle
        .spawn_blocking(f)
        .await
        .map_err(|e| StoreError::unavailable_with("the file store's read task failed", e))?
}

fn no_runtime() -> StoreError {
    StoreError::unavailable(
        "the file store must be used inside a Tokio runtime (it reads on Tokio's blocking threads)",
    )
}

/// Reads every entry of the directory in write order, handing each entry (or
/// the error for a line or file) to `f` until it breaks.
fn for_each_entry(
    dir: &Path,
    mut f: impl FnMut(Result<AuditEvent, StoreError>) -> ControlFlow<()>,
) {
    let segments = match names::list(dir) {
        Ok((segments, _)) => segments,
        Err(e) => {
            let _ = f(Err(StoreError::unavailable_with(
                format!("cannot list the audit log directory {}: {e}", dir.display()),
                e,
            )));
            return;
        }
    };
    let newest = segments.last().map(|s| s.seq);
    let mut buf = Vec::new();
    for segment in &segments {
        let (path, mut reader) = match read::open_segment(dir, segment) {
            Ok(Some(opened)) => opened,
            // Removed by retention since the listing.
            Ok(None) => continue,
            Err(e) => {
                let path = segment.path(dir);
                let error = StoreError::unavailable_with(
                    format!("cannot open the audit log file {}: {e}", path.display()),
                    e,
                );
                if f(Err(error)).is_break() {
                    return;
                }
                continue;
            }
        };
        let is_gz = path.extension().is_some_and(|e| e == "gz");
        let active = Some(segment.seq) == newest && !is_gz;
        loop {
            let item = match reader.next_line(&mut buf) {
                Ok(None) => break,
                Ok(Some(Line::Complete)) if read::is_blank(&buf) => continue,
                Ok(Some(Line::Complete)) => serde_json::from_slice::<AuditEvent>(&buf)
                    .map_err(|e| corrupt(&path, reader.line_no, format!("not an entry: {e}"))),
                // The sink is writing it right now.
                Ok(Some(Line::Unterminated)) if active => break,
                Ok(Some(Line::Unterminated)) => Err(corrupt(
                    &path,
                    reader.line_no,
                    "the last line has no newline (a torn write)".to_owned(),
                )),
                Ok(Some(Line::TooLong)) => Err(corrupt(
                    &path,
                    reader.line_no,
                    format!("the line is longer than {} bytes", read::MAX_LINE),
                )),
                Err(e) if is_damage(&e) => {
                    let error = corrupt(
                        &path,
                        reader.line_no + 1,
                        format!("the rest of the file cannot be decompressed: {e}"),
                    );
                    if f(Err(error)).is_break() {
                        return;
                    }
                    break;
                }
                Err(e) => {
                    let error = StoreError::unavailable_with(
                        format!("cannot read the audit log file {}: {e}", path.display()),
                        e,
                    );
                    if f(Err(error)).is_break() {
                        return;
                    }
                    break;
                }
            };
            if f(item).is_break() {
                return;
            }
        }
    }
}

/// Whether a read error means the data is damaged (a bad gzip stream) rather
/// than unreadable.
fn is_damage(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
    )
}

fn corrupt(path: &Path, line: u64, message: String) -> StoreError {
    StoreError::corrupt(format!("{}:{line}", path.display()), message)
}

/// An entry ranked by its place in a query's order: the greatest is the one
/// that comes last.
struct Ranked {
    key: Cursor,
    order: Order,
    event: AuditEvent,
}

impl Ranked {
    fn new(event: AuditEvent, order: Order) -> Self {
        Self { key: Cursor::after(&event), order, event }
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.order {
            Order::OldestFirst => self.key.cmp(&other.key),
            Order::NewestFirst => other.key.cmp(&self.key),
        }
    }
}

/// One page: a single pass over every file, keeping the first `limit + 1`
/// matches after the cursor in a bounded heap.
fn query_page(dir: &Path, query: &Query) -> Result<Page, StoreError> {
    let query = query.resolved(OffsetDateTime::now_utc());
    let limit = query.effective_limit();
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(limit + 1);
    let mut failure = None;
    let mut skipped: Vec<String> = Vec::new();
    for_each_entry(dir, |item| {
        match item {
            Ok(event) => {
                if query.matches(&event) && query.is_after_cursor(&event) {
                    heap.push(Ranked::new(event, query.order));
                    if heap.len() > limit + 1 {
                        heap.pop();
                    }
                }
            }
            Err(StoreError::Corrupt { location, .. }) => skipped.push(location),
            Err(e) => {
                failure = Some(e);
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if !skipped.is_empty() {
        tracing::warn!(
            dir = %dir.display(),
            lines = skipped.len(),
            first = %skipped[0],
            "the query skipped lines that are not entries; run `audit verify` to list them"
        );
    }
    let ranked = heap.into_sorted_vec();
    Ok(Page::from_ordered(ranked.into_iter().map(|r| r.event), limit))
}

/// How many results a scan reads ahead of its consumer.
const SCAN_AHEAD: usize = 256;

#[async_trait]
impl AuditStore for FileStore {
    /// One page, newest first by default.
    ///
    /// Reads every file once per page (a forward pass, gzip included),
    /// keeping only the best `limit + 1` matches after the cursor: time
    /// linear in the size of the log, memory linear in the limit. Lines that
    /// are not entries are skipped (with a warning); [`scan`](Self::scan)
    /// reports them.
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        let dir = self.dir.clone();
        let query = query.clone();
        blocking(move || query_page(&dir, &query)).await
    }

    /// Every matching entry in write order, streamed from a blocking thread
    /// that reads line by line ahead of the consumer (at most 256 entries).
    ///
    /// A line that is not an entry yields [`StoreError::Corrupt`] with the
    /// location `<file>:<line>`, and the scan goes on with the next line, so
    /// a consumer that wants every problem keeps polling after an error. A
    /// file that cannot be read yields [`StoreError::Unavailable`] and the
    /// scan goes on with the next file. The unterminated last line of the
    /// newest file is a write in progress and is not read.
    fn scan<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<AuditEvent, StoreError>> {
        enum ScanStage {
            Start(Arc<PathBuf>, Box<Query>),
            Running(mpsc::Receiver<Result<AuditEvent, StoreError>>),
            Done,
        }
        let query = query.resolved(OffsetDateTime::now_utc());
        futures::stream::unfold(
            ScanStage::Start(self.dir.clone(), Box::new(query)),
            |state| async move {
                let mut rx = match state {
                    ScanStage::Done => return None,
                    ScanStage::Running(rx) => rx,
                    ScanStage::Start(dir, query) => {
                        let Ok(handle) = tokio::runtime::Handle::try_current() else {
                            return Some((Err(no_runtime()), ScanStage::Done));
                        };
                        let (tx, rx) = mpsc::channel(SCAN_AHEAD);
                        handle.spawn_blocking(move || {
                            for_each_entry(&dir, |item| {
                                if item.as_ref().is_ok_and(|e| !query.matches(e)) {
                                    return ControlFlow::Continue(());
                                }
                                // Stops when the stream is dropped.
                                match tx.blocking_send(item) {
                                    Ok(()) => ControlFlow::Continue(()),
                                    Err(_) => ControlFlow::Break(()),
                                }
                            });
                        });
                        rx
                    }
                };
                let item = rx.recv().await?;
                Some((item, ScanStage::Running(rx)))
            },
        )
        .boxed()
    }

    /// Removes whole rotated files whose every entry is before `before`; see
    /// [`FileStore::purge_files`], which also names the files.
    async fn purge(
        &self,
        before: OffsetDateTime,
        dry_run: bool,
    ) -> Result<PurgeReport, StoreError> {
        let report = self.purge_files(before, dry_run).await?;
        Ok(PurgeReport::new(report.entries(), before, dry_run))
    }
}
