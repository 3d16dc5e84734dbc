//! Scenario 4, File sink: `FileSink::write` (group commit: one `write(2)` and
//! one `fdatasync(2)` per batch) against a raw loop writing the same bytes
//! in the same batches with `write` + `fdatasync`, and against one
//! `fdatasync` per entry.

use std::fs::File;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use audit_core::{AuditEvent, Batch, Sink as _};
use audit_sinks::file::{FileSink, Fsync};
use bytes::{BufMut as _, Bytes, BytesMut};

use crate::entry;
use crate::harness::{self, Bench, BenchResult, interleave};
use crate::report::{Row, ScenarioReport, Side, Target};
use crate::scenarios::summary;
use crate::stats::{Summary, ratios};

/// Batch sizes measured: the pipeline's default `batch_size` (judged) and a
/// small one (reported): under light load batches stay small, and with 32
/// entries per fsync no group commit can be 50 times one fsync per entry.
const BATCHES: [usize; 2] = [512, 32];
/// The batch size the targets apply to.
const JUDGED: usize = 512;

/// Runs the scenario.
pub(crate) fn run(bench: &Bench) -> BenchResult<ScenarioReport> {
    let mut report = ScenarioReport::new("file-sink", "file sink");
    let template = entry::template();
    let duration = bench.settings.short_duration();
    let rt = bench.server_runtime()?;
    let mut fsync_ms = Vec::new();
    let tmpfs = Some(Path::new(TMPFS)).filter(|p| p.is_dir());
    if tmpfs.is_none() {
        report.note(format!("{TMPFS} is not a directory here: the in-memory row is not measured."));
    }
    for batch in BATCHES {
        let lines = lines(&template, batch)?;
        let in_memory = tmpfs.is_some() && batch == JUDGED;
        let results = interleave(bench.settings.rounds, if in_memory { 8 } else { 5 }, |_, v| {
            let dir = match (v, tmpfs) {
                (5..=7, Some(tmpfs)) => bench.tempdir_in(tmpfs, "file-sink-")?,
                _ => bench.tempdir("file-sink-")?,
            };
            let dir = dir.path();
            let disk = Until::Elapsed(duration);
            match v {
                0 => sink_rate(&rt, dir, &template, batch, disk, Fsync::Batch, true),
                1 => raw_batch_rate(dir, &lines, disk, true),
                3 => sink_rate(&rt, dir, &template, batch, disk, Fsync::Batch, false),
                4 => raw_blocking_rate(&rt, dir, &lines, disk, true),
                7 => raw_blocking_rate(&rt, dir, &lines, IN_MEMORY, false),
                5 => sink_rate(&rt, dir, &template, batch, IN_MEMORY, Fsync::Never, true),
                6 => raw_batch_rate(dir, &lines, IN_MEMORY, false),
                _ => {
                    let (rate, ms) = raw_entry_rate(dir, &lines, duration / 2)?;
                    fsync_ms.push(ms);
                    Ok(rate)
                }
            }
        })?;
        let side = |label: &str, v: usize| Side::new(label, summary(&results[v]), "entries/s");
        let judged = |t: Target| if batch == JUDGED { t } else { Target::Info };
        report.row(Row::ratio(
            &format!("group commit / raw write+fdatasync, batch {batch}"),
            side("sink", 0),
            side("raw", 1),
            summary(&ratios(&results[0], &results[1])),
            judged(Target::AtLeast(0.8)),
        ));
        report.row(Row::ratio(
            &format!("group commit / fdatasync per entry, batch {batch}"),
            side("sink", 0),
            side("per-entry", 2),
            summary(&ratios(&results[0], &results[2])),
            judged(Target::AtLeast(50.0)),
        ));
        report.row(Row::ratio(
            &format!("typed batch (serializing in the sink) / raw write+fdatasync, batch {batch}"),
            side("typed", 3),
            side("raw", 1),
            summary(&ratios(&results[3], &results[1])),
            Target::Info,
        ));
        report.row(Row::ratio(
            &format!("raw write+fdatasync on Tokio's blocking pool / raw, batch {batch}"),
            side("raw on the pool", 4),
            side("raw", 1),
            summary(&ratios(&results[4], &results[1])),
            Target::Info,
        ));
        if in_memory {
            report.row(Row::ratio(
                &format!(
                    "in memory: raw write on Tokio's blocking pool / raw write, batch {batch}"
                ),
                side("raw on the pool", 7),
                side("raw write", 6),
                summary(&ratios(&results[7], &results[6])),
                Target::Info,
            ));
            report.row(Row::ratio(
                &format!("in memory (tmpfs, no fsync): the sink's own cost, sink / raw write, batch {batch}"),
                side("sink", 5),
                side("raw write", 6),
                summary(&ratios(&results[5], &results[6])),
                Target::Info,
            ));
        }
    }
    harness::stop(rt);
    report.detail("one write + fdatasync of one entry (this disk)", summary(&fsync_ms), "ms");
    report.detail(
        "entry size (JSON line)",
        Summary::single(serde_json::to_vec(&entry::finished(&template, 1))?.len() as f64 + 1.0),
        "B",
    );
    report.note(format!(
        "Each round writes to a fresh directory under the work dir for the given time; only the \
         write calls are timed (preparing the next batch's entries is not). The raw loops get \
         the entries already serialized; so does the sink, as the pipeline calls it \
         (`Sink::write` with the JSON the pipeline made of each entry while hashing it, \
         whose cost is in the per-entry scenario); the typed-batch row has the sink \
         serialize them itself. Targets apply to \
         batches of {JUDGED} (the pipeline's default `batch_size`); batches of 32 are shown for \
         light load. The in-memory row writes {IN_MEMORY_BATCHES} batches to a directory \
         under {TMPFS} with `Fsync::Never`, against the raw loop's `write` alone: the disk \
         left out, it is the sink's own CPU per batch (the hop to the blocking pool, the id \
         window, building the write) against the kernel's copy of the bytes. Beside it, the \
         raw loop on the blocking pool in memory: the cost of that hop alone."
    ));
    Ok(report)
}

/// Where the in-memory row writes: a tmpfs on Linux.
const TMPFS: &str = "/dev/shm";
/// Batches per in-memory trial (about 290 MB of a 512-entry batch).
const IN_MEMORY_BATCHES: u64 = 400;
const IN_MEMORY: Until = Until::Batches(IN_MEMORY_BATCHES);

/// How long a trial writes.
#[derive(Debug, Clone, Copy)]
enum Until {
    Elapsed(Duration),
    Batches(u64),
}

impl Until {
    /// Entries per second of a trial: `batch` runs until done, each call
    /// writing `entries` entries and returning the time to count (what it
    /// spends preparing the batch is left out).
    fn rate(
        self,
        entries: usize,
        mut batch: impl FnMut() -> BenchResult<Duration>,
    ) -> BenchResult<f64> {
        let (started, mut batches, mut timed) = (Instant::now(), 0u64, Duration::ZERO);
        while !match self {
            Until::Elapsed(d) => started.elapsed() >= d,
            Until::Batches(n) => batches >= n,
        } {
            timed += batch()?;
            batches += 1;
        }
        Ok((batches * entries as u64) as f64 / timed.as_secs_f64().max(1e-9))
    }
}

/// The JSON lines of `n` finished entries.
fn lines(template: &AuditEvent, n: usize) -> BenchResult<Vec<Vec<u8>>> {
    (0..n as u64)
        .map(|i| {
            let mut line = serde_json::to_vec(&entry::finished(template, i))?;
            line.push(b'\n');
            Ok(line)
        })
        .collect()
}

fn sink_rate(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    template: &AuditEvent,
    batch: usize,
    until: Until,
    fsync: Fsync,
    encoded: bool,
) -> BenchResult<f64> {
    let sink = FileSink::builder(dir.join("log")).fsync(fsync).build()?;
    let mut seq = 0u64;
    let rate = until.rate(batch, || {
        let events: Vec<AuditEvent> = (0..batch)
            .map(|_| {
                seq += 1;
                entry::finished(template, seq)
            })
            .collect();
        // What the pipeline hands the sink: each entry's JSON, made while
        // hashing, as slices of one shared buffer (so a handle's clone is a
        // count, as in the pipeline, not the first clone of a `Vec` turning
        // into a shared buffer).
        let json: Vec<Option<Bytes>> = if encoded {
            let mut arena = BytesMut::new();
            events
                .iter()
                .map(|e| {
                    serde_json::to_writer((&mut arena).writer(), e)?;
                    Ok(Some(arena.split().freeze()))
                })
                .collect::<BenchResult<_>>()?
        } else {
            Vec::new()
        };
        let t = Instant::now();
        rt.block_on(sink.write(Batch::with_json(&events, &json)))?;
        Ok(t.elapsed())
    })?;
    rt.block_on(sink.shutdown())?;
    Ok(rate)
}

fn raw_batch_rate(dir: &Path, lines: &[Vec<u8>], until: Until, sync: bool) -> BenchResult<f64> {
    let mut file = File::create(dir.join("raw.jsonl"))?;
    let bytes: Vec<u8> = lines.concat();
    until.rate(lines.len(), || {
        let t = Instant::now();
        file.write_all(&bytes)?;
        if sync {
            file.sync_data()?;
        }
        Ok(t.elapsed())
    })
}

/// The raw loop with each batch's write + sync handed to Tokio's blocking
/// pool and awaited, as the sink does: the cost of that hop alone.
fn raw_blocking_rate(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    lines: &[Vec<u8>],
    until: Until,
    sync: bool,
) -> BenchResult<f64> {
    let file = std::sync::Arc::new(std::sync::Mutex::new(File::create(dir.join("raw.jsonl"))?));
    let bytes = std::sync::Arc::new(lines.concat());
    until.rate(lines.len(), || {
        let (file, bytes) = (file.clone(), bytes.clone());
        let t = Instant::now();
        let task = rt.spawn_blocking(move || {
            let mut file = file.lock().map_err(|_| std::io::Error::other("poisoned"))?;
            file.write_all(&bytes)?;
            if sync { file.sync_data() } else { Ok(()) }
        });
        rt.block_on(task)??;
        Ok(t.elapsed())
    })
}

/// Entries per second, and the median milliseconds of one write + sync.
fn raw_entry_rate(dir: &Path, lines: &[Vec<u8>], duration: Duration) -> BenchResult<(f64, f64)> {
    let mut file = File::create(dir.join("raw.jsonl"))?;
    let mut timed = Duration::ZERO;
    let mut each = Vec::new();
    let started = Instant::now();
    'outer: loop {
        for line in lines {
            if started.elapsed() >= duration && !each.is_empty() {
                break 'outer;
            }
            let t = Instant::now();
            file.write_all(line)?;
            file.sync_data()?;
            let took = t.elapsed();
            timed += took;
            each.push(took.as_secs_f64() * 1e3);
        }
    }
    let ms = crate::stats::median(&each).unwrap_or(f64::NAN);
    Ok((each.len() as f64 / timed.as_secs_f64().max(1e-9), ms))
}

/// The median time of one `write` + `fdatasync` of a ~1 KB line in `dir`.
pub(crate) fn fsync_ms(dir: &Path, samples: usize) -> BenchResult<f64> {
    let template = entry::template();
    let lines = lines(&template, 1)?;
    let mut file = File::create(dir.join("fsync-probe"))?;
    let mut each = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        file.write_all(&lines[0])?;
        file.sync_data()?;
        each.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(crate::stats::median(&each).unwrap_or(f64::NAN))
}
