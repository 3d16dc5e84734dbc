//! [`FileSink`]: the write side.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::thread::JoinHandle;

use async_trait::async_trait;
use audit_core::{Batch, Sink, SinkError};
use tokio::sync::oneshot;

use super::config::Config;
use super::lines::Encoded;
use super::maintenance::{self, Job};
use super::retention::{RetentionEvents, RetentionReport, WORDING};
use super::writer::Writer;
use super::{FileSinkBuilder, FileSinkError, FileStore};
use crate::retention::{self, EventsSlot};
use audit_core::SinkInput;

/// A sink that writes JSON Lines files in a directory; see the
/// [module docs](super) for the layout, durability, recovery and retention.
///
/// Cheap to clone: clones share one writer, so keep a clone to call
/// [`apply_retention`](Self::apply_retention) or [`store`](Self::store) after
/// handing the sink to the auditor.
#[derive(Clone)]
pub struct FileSink {
    shared: Arc<FileSinkState>,
}

/// The state of a sink, shared by its clones.
struct FileSinkState {
    config: Arc<Config>,
    writer: Mutex<Writer>,
    /// The maintenance thread's queue; `None` once shut down.
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The retention reports, until [`FileSink::retention_events`] takes them.
    events: EventsSlot<RetentionReport>,
    closed: AtomicBool,
}

impl fmt::Debug for FileSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.shared.config;
        f.debug_struct("FileSink")
            .field("name", &c.name)
            .field("dir", &c.dir)
            .field("max_file_bytes", &c.max_file_bytes)
            .field("max_file_age", &c.max_file_age)
            .field("max_files", &c.max_files)
            .field("max_age", &c.max_age)
            .field("gzip_rotated", &c.gzip_rotated)
            .field("fsync", &c.fsync)
            .field("dedup_window", &c.dedup_window)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FileSink {
    /// Starts configuring a file sink writing to `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> FileSinkBuilder {
        FileSinkBuilder::new(dir.into())
    }

    pub(crate) fn open(config: Config) -> Result<Self, FileSinkError> {
        let config = Arc::new(config);
        let (writer, unfinished) = Writer::open(config.clone())?;
        let (reports, events) = retention::channel(WORDING);
        let (jobs_tx, jobs_rx) = mpsc::channel();
        let thread = {
            let config = config.clone();
            std::thread::Builder::new()
                .name("audit-file-sink".to_owned())
                .spawn(move || maintenance::run(config, jobs_rx, reports))
                .map_err(FileSinkError::Thread)?
        };
        for segment in unfinished.compress {
            let _ = jobs_tx.send(Job::Compress(segment));
        }
        // Files may have aged out while the service was down.
        if config.max_files.is_some() || config.max_age.is_some() {
            let _ = jobs_tx.send(Job::StartupRetention);
        }
        Ok(Self {
            shared: Arc::new(FileSinkState {
                config,
                writer: Mutex::new(writer),
                jobs: Mutex::new(Some(jobs_tx)),
                thread: Mutex::new(Some(thread)),
                events,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The log directory.
    pub fn dir(&self) -> &Path {
        &self.shared.config.dir
    }

    /// The retention reports, to record as `audit.retention` entries; see
    /// [`RetentionEvents`]. `None` if they were taken before: there is one
    /// receiver per sink, so that each entry is recorded once.
    ///
    /// Take them before handing the sink to the auditor, and spawn
    /// [`RetentionEvents::record_into`] once the auditor is built.
    pub fn retention_events(&self) -> Option<RetentionEvents> {
        self.shared.events.take()
    }

    /// Applies retention now, after the compressions and retention runs
    /// already queued, and returns what it removed. Retention also runs by
    /// itself at every rotation, at start-up, and periodically with
    /// [`max_age`](FileSinkBuilder::max_age).
    ///
    /// A report that removed files is also sent to [`RetentionEvents`] (so
    /// do not record it a second time when a task records those).
    pub async fn apply_retention(&self) -> Result<RetentionReport, FileSinkError> {
        let (tx, rx) = oneshot::channel();
        self.send_job(Job::Retention(Some(tx)))?;
        rx.await.map_err(|_| FileSinkError::ShutDown)?
    }

    /// A store reading this sink's directory.
    pub fn store(&self) -> FileStore {
        FileStore::at(self.dir().to_path_buf())
    }

    fn send_job(&self, job: Job) -> Result<(), FileSinkError> {
        match &*lock(&self.shared.jobs) {
            Some(jobs) => jobs.send(job).map_err(|_| FileSinkError::ShutDown),
            None => Err(FileSinkError::ShutDown),
        }
    }

    /// Waits until the maintenance thread has done every job queued so far.
    async fn maintenance_idle(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send_job(Job::Barrier(tx)).is_ok() {
            let _ = rx.await;
        }
    }

    /// Runs `f` on the writer, on a blocking thread.
    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Writer) -> Result<T, SinkError> + Send + 'static,
    ) -> Result<T, SinkError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            SinkError::transient(
                "the file sink must be called inside a Tokio runtime (it writes on Tokio's \
                 blocking threads)",
            )
        })?;
        let shared = self.shared.clone();
        handle
            .spawn_blocking(move || {
                let mut writer = lock(&shared.writer);
                f(&mut writer)
            })
            .await
            .map_err(|e| {
                SinkError::transient(format!("the file sink's write task failed: {e}"))
                    .with_source(e)
            })?
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.shared.config.name
    }

    fn input(&self) -> SinkInput {
        SinkInput::Json
    }

    async fn write(&self, batch: Batch<'_>) -> Result<(), SinkError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(SinkError::permanent(FileSinkError::ShutDown.to_string()));
        }
        if batch.is_empty() {
            return Ok(());
        }
        // CPU work on the caller's task; file I/O on a blocking thread.
        let encoded = Encoded::new(batch)?;
        let written = self.with_writer(move |w| w.write(&encoded)).await?;
        if let Some(rotated) = written.rotated {
            let gzip = self.shared.config.gzip_rotated;
            let retention =
                self.shared.config.max_files.is_some() || self.shared.config.max_age.is_some();
            let jobs = lock(&self.shared.jobs);
            if let Some(jobs) = &*jobs {
                if gzip {
                    let _ = jobs.send(Job::Compress(rotated));
                }
                if retention {
                    let _ = jobs.send(Job::Retention(None));
                }
            }
        }
        Ok(())
    }

    /// Syncs the active file (whatever the [`Fsync`](super::Fsync) setting)
    /// and waits for queued compressions and retention runs.
    async fn flush(&self) -> Result<(), SinkError> {
        self.with_writer(Writer::sync).await?;
        self.maintenance_idle().await;
        Ok(())
    }

    /// Flushes, then stops the maintenance thread and closes
    /// [`RetentionEvents`] once its reports are received.
    async fn shutdown(&self) -> Result<(), SinkError> {
        self.flush().await?;
        self.shared.closed.store(true, Ordering::SeqCst);
        drop(lock(&self.shared.jobs).take());
        let thread = lock(&self.shared.thread).take();
        if let (Some(thread), Ok(handle)) = (thread, tokio::runtime::Handle::try_current()) {
            let joined = handle.spawn_blocking(move || thread.join()).await;
            if !matches!(joined, Ok(Ok(()))) {
                tracing::error!("the file sink's maintenance thread panicked");
            }
        }
        Ok(())
    }
}
