//! The maintenance thread: compresses rotated files and applies retention,
//! one job at a time and in order, off the writer's path.

use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::sync::oneshot;

use super::config::Config;
use super::names::Segment;
use super::retention::{self, RetentionReport};
use super::{FileSinkError, fsutil};
use crate::retention::ReportSender;

/// Work for the maintenance thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// Compress a rotated segment (or finish an interrupted compression).
    Compress(Segment),
    /// Apply retention now; the reply, if any, gets the report too.
    Retention(Option<oneshot::Sender<Result<RetentionReport, FileSinkError>>>),
    /// Apply retention when the sink is built (before the application had a
    /// chance to take the reports, so no warning that nobody takes them).
    StartupRetention,
    /// Reply once every job before it is done.
    Barrier(oneshot::Sender<()>),
}

/// How often retention by age runs when nothing rotates.
fn age_check_interval(max_age: Duration) -> Duration {
    (max_age / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// The thread's loop; returns when every job sender is dropped.
pub(crate) fn run(
    config: Arc<Config>,
    jobs: Receiver<Job>,
    mut reports: ReportSender<RetentionReport>,
) {
    let interval = config.max_age.map(age_check_interval);
    let mut next_check = interval.map(|i| Instant::now() + i);
    loop {
        let job = match next_check {
            Some(at) => match jobs.recv_timeout(at.saturating_duration_since(Instant::now())) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            },
            None => match jobs.recv() {
                Ok(job) => Some(job),
                Err(_) => return,
            },
        };
        match job {
            Some(Job::Compress(segment)) => compress(&config.dir, &segment),
            Some(Job::Barrier(done)) => {
                let _ = done.send(());
            }
            Some(Job::StartupRetention) => {
                match retention::apply(&config.dir, config.max_files, config.max_age) {
                    Ok(report) => reports.send(report, false),
                    Err(e) => {
                        tracing::error!(error = %e, "audit log retention failed; it is tried again at the next rotation")
                    }
                }
            }
            Some(Job::Retention(reply)) => {
                let result = retention::apply(&config.dir, config.max_files, config.max_age);
                match &result {
                    Ok(report) => reports.send(report.clone(), true),
                    Err(e) => {
                        tracing::error!(error = %e, "audit log retention failed; it is tried again at the next rotation")
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
                next_check = interval.map(|i| Instant::now() + i);
            }
            None => {
                match retention::apply(&config.dir, config.max_files, config.max_age) {
                    Ok(report) => reports.send(report, true),
                    Err(e) => {
                        tracing::error!(error = %e, "audit log retention failed; it is tried again later")
                    }
                }
                next_check = interval.map(|i| Instant::now() + i);
            }
        }
    }
}

/// Compresses a rotated segment to `.jsonl.gz`: written under a temporary
/// name, synced, renamed, then the plain file removed. A failure leaves the
/// plain file (which the store reads) and is only logged.
fn compress(dir: &Path, segment: &Segment) {
    if let Err(e) = try_compress(dir, segment) {
        let _ = fsutil::remove_if_exists(&segment.gz_tmp_path(dir));
        tracing::warn!(
            file = %segment.plain_path(dir).display(),
            error = %e,
            "cannot compress a rotated audit log file; it stays uncompressed (and readable)"
        );
    }
}

fn try_compress(dir: &Path, segment: &Segment) -> io::Result<()> {
    let (plain, gz, tmp) =
        (segment.plain_path(dir), segment.gz_path(dir), segment.gz_tmp_path(dir));
    if gz.exists() {
        // Compressed before a crash that came before the plain file was removed.
        fsutil::remove_if_exists(&plain)?;
        return fsutil::sync_dir(dir);
    }
    let mut source = match std::fs::File::open(&plain) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let modified = source.metadata()?.modified()?;
    let mut encoder = GzEncoder::new(
        BufWriter::with_capacity(64 * 1024, fsutil::create_truncate(&tmp)?),
        Compression::default(),
    );
    io::copy(&mut source, &mut encoder)?;
    let file = encoder.finish()?.into_inner().map_err(io::IntoInnerError::into_error)?;
    // Retention by age reads the modification time: keep the original one.
    file.set_modified(modified)?;
    file.sync_all()?;
    drop(file);
    if !plain.exists() {
        // Removed (by a purge) while it was being compressed: do not bring it back.
        return fsutil::remove_if_exists(&tmp).map(drop);
    }
    std::fs::rename(&tmp, &gz)?;
    fsutil::sync_dir(dir)?;
    fsutil::remove_if_exists(&plain)?;
    fsutil::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_checks_are_bounded() {
        assert_eq!(age_check_interval(Duration::from_millis(10)), Duration::from_secs(1));
        assert_eq!(age_check_interval(Duration::from_secs(100)), Duration::from_secs(10));
        assert_eq!(
            age_check_interval(Duration::from_secs(400 * 86_400)),
            Duration::from_secs(3600)
        );
    }
}
