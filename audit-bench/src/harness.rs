//! The run's settings, its runtimes, and interleaved rounds.
//!
//! # Threads
//!
//! Servers and the load generator run in this one process on two Tokio
//! runtimes of one worker thread each: every trial gets a fresh server
//! runtime (dropped at its end, so nothing of one variant outlives it),
//! and the load generator keeps one for the whole run. On a 2-core machine
//! each side then has a core, as a real client on another host would, and
//! the split is the same for every variant. What a variant runs beside that
//! (the file sink's writes on Tokio's blocking threads, tracing-appender's
//! writer thread, the Postgres server) competes for the same two cores, which
//! is part of its cost.

use std::path::PathBuf;
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::loadgen::{self, Caller, LoadResult, Plan};

/// An error of a scenario: reported in its notes, the run goes on.
pub(crate) type BenchError = Box<dyn std::error::Error + Send + Sync>;
/// The result of a scenario step.
pub(crate) type BenchResult<T> = Result<T, BenchError>;

/// Makes an error from a message.
pub(crate) fn error(msg: impl Into<String>) -> BenchError {
    msg.into().into()
}

/// What the command line asked for.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) quick: bool,
    pub(crate) rounds: usize,
    /// Measured time per variant per round.
    pub(crate) duration: Duration,
    /// Load before measuring, per variant per round.
    pub(crate) warmup: Duration,
    /// How long the sink is down in the outage scenario.
    pub(crate) outage: Duration,
    /// Where sinks, spools and databases' files go (the disk being measured).
    pub(crate) work_dir: PathBuf,
    /// The Postgres server (a fresh database is created in it per run).
    pub(crate) postgres_url: String,
    /// Keep the scratch directories.
    pub(crate) keep: bool,
}

impl Settings {
    /// The defaults of a full run, or of `--quick`.
    pub(crate) fn new(quick: bool, work_dir: PathBuf) -> Self {
        if quick {
            Self {
                quick,
                rounds: 2,
                duration: Duration::from_millis(600),
                warmup: Duration::from_millis(200),
                outage: Duration::from_secs(4),
                work_dir,
                postgres_url: "postgres://postgres@127.0.0.1:5432".to_owned(),
                keep: false,
            }
        } else {
            Self {
                quick,
                rounds: 3,
                duration: Duration::from_secs(3),
                warmup: Duration::from_millis(750),
                outage: Duration::from_secs(30),
                work_dir,
                postgres_url: "postgres://postgres@127.0.0.1:5432".to_owned(),
                keep: false,
            }
        }
    }

    /// A shorter measurement for scenarios with many points (scaling).
    pub(crate) fn short_duration(&self) -> Duration {
        (self.duration * 2 / 3).max(Duration::from_millis(300))
    }
}

/// The run: its settings and the load generator's runtime.
#[derive(Debug)]
pub(crate) struct Bench {
    pub(crate) settings: Settings,
    load: Runtime,
}

impl Bench {
    pub(crate) fn new(settings: Settings) -> BenchResult<Self> {
        std::fs::create_dir_all(&settings.work_dir)?;
        let load = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-load")
            .enable_all()
            .build()?;
        Ok(Self { settings, load })
    }

    /// A fresh server runtime: one worker thread.
    pub(crate) fn server_runtime(&self) -> BenchResult<Runtime> {
        Ok(server_runtime_builder().build()?)
    }

    /// A fresh server runtime whose threads (worker and blocking pool) are
    /// named after the variant, `srv-<label>`, so that a profile of the
    /// whole scenario (`perf record`, then `perf report --comm`) splits by
    /// variant.
    pub(crate) fn named_server_runtime(&self, label: &str) -> BenchResult<Runtime> {
        let mut b = server_runtime_builder();
        // Linux keeps 15 bytes of a thread's name.
        let name: String = format!("srv-{label}").chars().take(15).collect();
        Ok(b.thread_name(name).build()?)
    }

    /// The default load plan.
    pub(crate) fn plan(&self) -> Plan {
        Plan::new(self.settings.warmup, self.settings.duration)
    }

    /// Runs the callers on the load runtime.
    pub(crate) fn load<C: Caller>(&self, callers: Vec<C>, plan: Plan) -> BenchResult<LoadResult> {
        Ok(self.load.block_on(self.load.spawn(loadgen::run(callers, plan)))?)
    }

    /// Runs a future on the load runtime's worker.
    pub(crate) fn on_load<F>(&self, fut: F) -> BenchResult<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        Ok(self.load.block_on(self.load.spawn(fut))?)
    }

    /// Runs a future on the calling thread, in the load runtime's context
    /// (for set-up whose futures are not `Send`).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn block_on_load<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.load.block_on(fut)
    }

    /// A fresh directory on the measured disk, removed when dropped (kept
    /// with `--keep`, to look at what the sinks wrote).
    pub(crate) fn tempdir(&self, prefix: &str) -> BenchResult<WorkDir> {
        self.tempdir_in(&self.settings.work_dir, prefix)
    }

    /// [`tempdir`](Self::tempdir) under `parent` instead (a tmpfs, say).
    pub(crate) fn tempdir_in(
        &self,
        parent: &std::path::Path,
        prefix: &str,
    ) -> BenchResult<WorkDir> {
        let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
        Ok(if self.settings.keep {
            WorkDir { path: dir.keep(), _dir: None }
        } else {
            WorkDir { path: dir.path().to_owned(), _dir: Some(dir) }
        })
    }
}

/// A scratch directory of one trial.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl WorkDir {
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// The builder of server runtimes (one worker), for variants that need a hook.
pub(crate) fn server_runtime_builder() -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    b.worker_threads(1).thread_name("bench-server").enable_all();
    b
}

/// Shuts a server runtime down without waiting long for stragglers.
pub(crate) fn stop(rt: Runtime) {
    rt.shutdown_timeout(Duration::from_secs(2));
}

/// Runs `trial(round, variant)` for every round and variant, interleaved
/// (A B C, A B C, ...), and returns the results as `[variant][round]`.
/// The first error stops it.
pub(crate) fn interleave<T>(
    rounds: usize,
    variants: usize,
    mut trial: impl FnMut(usize, usize) -> BenchResult<T>,
) -> BenchResult<Vec<Vec<T>>> {
    let mut out: Vec<Vec<T>> = (0..variants).map(|_| Vec::with_capacity(rounds)).collect();
    for round in 0..rounds {
        for (v, results) in out.iter_mut().enumerate() {
            results.push(trial(round, v)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaves_variants_within_rounds() {
        let mut order = Vec::new();
        let out = interleave(3, 2, |r, v| {
            order.push((r, v));
            Ok(r * 10 + v)
        })
        .unwrap();
        assert_eq!(order, vec![(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]);
        assert_eq!(out, vec![vec![0, 10, 20], vec![1, 11, 21]]);
    }

    #[test]
    fn the_first_error_stops_the_rounds() {
        let mut calls = 0;
        let out = interleave(3, 2, |r, v| {
            calls += 1;
            if (r, v) == (1, 0) { Err(error("down")) } else { Ok(()) }
        });
        assert!(out.is_err());
        assert_eq!(calls, 3);
    }
}
