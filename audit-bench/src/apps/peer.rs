//! The HTTP peer's logging: tracing-subscriber's JSON format through
//! tracing-appender's non-blocking writer in lossless mode (the caller waits
//! when the writer's channel is full, as an audit trail must), to a file.
//!
//! The subscriber is the default of the server runtime's threads only (set
//! when each thread starts, removed when it stops), so the other variants,
//! and the load generator, run with no subscriber at all.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use tokio::runtime::Runtime;
use tracing::Dispatch;
use tracing::dispatcher::DefaultGuard;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};

use crate::harness::{BenchResult, server_runtime_builder};

thread_local! {
    static GUARD: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// A JSON log file and the runtime whose threads log to it.
#[derive(Debug)]
pub(crate) struct PeerLog {
    /// Flushes the writer when dropped: drop it after the runtime.
    guard: WorkerGuard,
    path: PathBuf,
}

impl PeerLog {
    /// The log file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes and closes the writer (waits for its thread).
    pub(crate) fn finish(self) {
        drop(self.guard);
    }
}

/// A server runtime whose threads log to `dir/peer.jsonl`.
pub(crate) fn runtime(dir: &Path) -> BenchResult<(Runtime, PeerLog)> {
    let path = dir.join("peer.jsonl");
    let file = std::fs::File::create(&path)?;
    let (writer, guard) = NonBlockingBuilder::default().lossy(false).finish(file);
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(writer)
        .finish();
    let dispatch = Dispatch::new(subscriber);
    let rt = server_runtime_builder()
        .thread_name("srv-peer")
        .on_thread_start(move || {
            let guard = tracing::dispatcher::set_default(&dispatch);
            GUARD.with(|g| *g.borrow_mut() = Some(guard));
        })
        .on_thread_stop(|| {
            GUARD.with(|g| g.borrow_mut().take());
        })
        .build()?;
    Ok((rt, PeerLog { guard, path }))
}
