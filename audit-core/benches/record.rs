//! Cost of `Auditor::record` for a ~1 KB entry (enrich + redact + sequence +
//! hash + enqueue), side by side with `serde_json::to_vec` of the same entry
//! (`audit_testkit::sample::entry`, the entry audit-bench writes).
//!
//! ```text
//! cargo bench -p audit-core --bench record
//! ```
//!
//! The criterion group `per_entry` times `to_vec` and `record` with each
//! entry made just before it is used, as a request's entry is built and
//! recorded at once. The ratio the target (at most 3x) is for is
//! printed at the end of the run (alone: `cargo bench -p audit-core --bench
//! record -- ratio`), measured entry by entry: `to_vec` of one entry, then
//! `record` of another, and so on, with the sink's worker running alongside
//! as in a service. On shared machines the speed changes from one minute
//! to the next, and criterion's groups run one after the other, so the
//! ratio of two criterion figures moves with it; the paired figure does
//! not, because both sides see the same machine. The same lines show the older
//! measure, short rounds of each side alternating (with the sink idle
//! between rounds), warm and cold (a round's entries made in advance).
//! `*_cloned_in_batches` times `record` of entries cloned in batches
//! beforehand. The `stages` group times each stage of `record` alone.
//! Two sinks that discard what they get stand for the two kinds of sink:
//! one that takes the pipeline's JSON alone (as the file, webhook and stdout
//! sinks do; the default file sink is the headline) and one that takes typed
//! entries (as the Postgres and OTLP sinks do).

#![allow(missing_docs)] // criterion_group! generates an undocumented function

use std::time::{Duration, Instant};

use audit_core::integrity::{CheckpointPolicy, Sequencer};
use audit_core::testing::DiscardSink;
use audit_core::{AuditEvent, Auditor, ServiceInfo};
use audit_testkit::sample;
use criterion::{BatchSize, Criterion, criterion_group};

fn auditor(rt: &tokio::runtime::Runtime, json: bool) -> Auditor {
    rt.block_on(async {
        Auditor::builder()
            .service("bench", "1.0.0")
            .sink(if json { DiscardSink::json() } else { DiscardSink::typed() })
            .queue_capacity(1 << 16)
            .build()
    })
    .expect("auditor")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let event = sample::entry();
    let size = serde_json::to_vec(&event).expect("json").len();
    println!("entry size: {size} bytes of JSON");

    // Each entry cloned just before it is used and timed alone (see
    // `Feed::Warm`), on both sides; `*_cloned_in_batches` times `record` of
    // entries cloned in batches beforehand (criterion's `iter_batched`),
    // which `to_vec` of one entry in cache does not compare with.
    let clock = clock_cost(2_000, 41);
    let mut group = c.benchmark_group("per_entry");
    group.bench_function("serde_json_to_vec", |b| {
        b.iter_custom(|iters| to_vec_round(&event, iters, Feed::Warm, clock))
    });
    for (name, json) in [("record", true), ("record_typed_sink", false)] {
        let auditor = auditor(&rt, json);
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter_custom(|iters| record_round(&auditor, &event, iters, Feed::Warm, clock))
        });
        group.bench_function(format!("{name}_cloned_in_batches"), |b| {
            b.to_async(&rt).iter_batched(
                || event.clone(),
                |e| {
                    let auditor = &auditor;
                    async move { auditor.record(e).await.expect("record") }
                },
                BatchSize::SmallInput,
            )
        });
        rt.block_on(auditor.shutdown(Duration::from_secs(10))).expect("shutdown");
    }
    group.finish();

    // The stages of `record`, each alone, to show where its time goes.
    let mut group = c.benchmark_group("stages");
    let redactor = audit_core::Redactor::default();
    group.bench_function("redact", |b| {
        b.iter_batched_ref(|| event.clone(), |e| redactor.redact_event(e), BatchSize::SmallInput)
    });
    let mut warm = event.clone();
    group.bench_function("redact_warm", |b| b.iter(|| redactor.redact_event(&mut warm)));
    let mut sequencer = Sequencer::new(None, CheckpointPolicy::default(), ServiceInfo::default());
    sequencer.genesis().expect("genesis");
    let mut sealed = event.clone();
    group.bench_function("seal", |b| {
        b.iter(|| {
            // A new entry each time as far as the sequencer is concerned.
            sealed.chain = None;
            sequencer.seal(&mut sealed).expect("seal")
        })
    });
    // The floor of sealing: serde_json of the sealed entry, and SHA-256 of
    // those bytes.
    group.bench_function("to_vec_sealed", |b| {
        b.iter(|| serde_json::to_vec(std::hint::black_box(&sealed)).expect("json"))
    });
    let sealed_json = serde_json::to_vec(&sealed).expect("json");
    group.bench_function("sha256_sealed", |b| {
        b.iter(|| <sha2::Sha256 as sha2::Digest>::digest(std::hint::black_box(&sealed_json)))
    });
    group.bench_function("clone_and_drop", |b| b.iter(|| event.clone()));
    group.bench_function("uuid_v7", |b| b.iter(uuid::Uuid::now_v7));
    group.bench_function("default_description", |b| b.iter(|| event.default_description()));
    group.bench_function("timestamp", |b| {
        b.iter(|| audit_core::json::rfc3339_micros::format(std::hint::black_box(event.time)))
    });
    group.finish();

    // Field-level changes of a record before and after an update, as a
    // handler records them (`AuditScope::record_changes`): `diff_serialize`
    // against what it used to do, both sides made into `serde_json::Value`s
    // and compared.
    let mut group = c.benchmark_group("changes");
    let (before, after) = project_update();
    group.bench_function("diff_serialize", |b| {
        b.iter(|| audit_core::diff::diff_serialize(&before, std::hint::black_box(&after)))
    });
    group.bench_function("to_value_then_diff", |b| {
        b.iter(|| {
            let before = serde_json::to_value(&before).expect("json");
            let after = serde_json::to_value(std::hint::black_box(&after)).expect("json");
            audit_core::diff::diff(&before, &after)
        })
    });
    group.finish();
}

/// A project as a SaaS API keeps it.
#[derive(Debug, Clone, serde::Serialize)]
struct Project {
    id: String,
    name: String,
    description: String,
    visibility: String,
    members: Vec<String>,
    archived: bool,
}

/// A project before and after a `PATCH` of its description and visibility.
fn project_update() -> (Project, Project) {
    let before = Project {
        id: "p_42".to_owned(),
        name: "Apollo".to_owned(),
        description: "Flight software".to_owned(),
        visibility: "private".to_owned(),
        members: vec!["u_1".to_owned(), "u_2".to_owned()],
        archived: false,
    };
    let mut after = before.clone();
    after.description = "Flight software for the command and lunar modules".to_owned();
    after.visibility = "internal".to_owned();
    (before, after)
}

/// How the entries meet `to_vec` and `record` in [`ratio`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    /// Each entry is cloned just before it is used and timed alone, as a
    /// request's entry is built and then recorded at once: the entry is in
    /// cache, and the allocator hands out what the last one freed. This is
    /// what criterion's `iter` measures `to_vec` with (one entry, in cache),
    /// for both sides.
    Warm,
    /// A round's entries are cloned in advance and used in a row: most are
    /// out of cache by their turn, and `record` frees them in a burst.
    Cold,
}

impl Feed {
    fn describe(self, n: u32) -> String {
        match self {
            Self::Warm => "each entry made just before it is used, timed one by one".to_owned(),
            Self::Cold => format!("{n} entries made in advance, timed in a row"),
        }
    }
}

/// Measures both side by side once more with plain loops and prints the
/// ratios, for each kind of sink and each [`Feed`]: short rounds of
/// `to_vec` and `record` alternate (A B A B ...), with the sink's worker
/// left to finish between rounds (the ratio of the medians, and of the
/// fastest rounds beside it). The warm feed is the one criterion's
/// `per_entry` group uses; the cold one shows what a cache-cold burst
/// costs. Then the judged figure, [`paired`].
fn ratio() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let event = sample::entry();
    let (n, rounds) = (2_000u32, 41);
    let clock = clock_cost(n, rounds);
    println!("timer cost subtracted from each timed entry: {:.3} us", clock.as_secs_f64() * 1e6);
    for feed in [Feed::Warm, Feed::Cold] {
        for (label, json) in [("JSON sink (file, webhook, stdout)", true), ("typed sink", false)] {
            let auditor = auditor(&rt, json);
            let (mut to_vec, mut record) = (Vec::new(), Vec::new());
            for _round in 0..rounds {
                to_vec.push(per_entry(to_vec_round(&event, n.into(), feed, clock), n));
                record.push(per_entry(
                    rt.block_on(record_round(&auditor, &event, n.into(), feed, clock)),
                    n,
                ));
                // Let the sink's worker finish the round (it frees what it
                // took) so that it does not share the next round's time.
                while {
                    let stats = auditor.stats();
                    stats.sinks.iter().any(|s| s.written < stats.recorded)
                } {
                    std::thread::sleep(Duration::from_millis(1));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            rt.block_on(auditor.shutdown(Duration::from_secs(10))).expect("shutdown");
            let (tv, rec) = (Summary::of(to_vec), Summary::of(record));
            let how = feed.describe(n);
            println!(
                "{label}, {how}: to_vec {tv} us/entry, record {rec} us/entry ({rounds} interleaved rounds of {n})"
            );
            println!(
                "{label}, {how}: ratio record / serde_json::to_vec: {:.2} of the medians, {:.2} of the fastest rounds{}",
                rec.median / tv.median,
                rec.min / tv.min,
                if feed == Feed::Warm { " (sink idle between rounds)" } else { "" }
            );
        }
    }
    paired(&rt, &event, clock);
}

/// The judged ratio: `to_vec` and `record` alternate entry by entry (each
/// entry cloned just before it is used, as in the warm feed), with the
/// sink's worker running alongside as it does in a service, never waited
/// for. A change of the machine's speed (on a shared machine, from one
/// minute to the next) then slows both sides alike, which criterion's groups, run one after the
/// other, cannot promise. Rounds of 2 000 pairs; the ratio is each round's,
/// and its median over the rounds is the figure.
fn paired(rt: &tokio::runtime::Runtime, event: &AuditEvent, clock: Duration) {
    let (n, rounds) = (2_000u32, 41);
    for (label, json) in [("JSON sink (file, webhook, stdout)", true), ("typed sink", false)] {
        let auditor = auditor(rt, json);
        let (mut to_vec, mut record, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _round in 0..rounds {
            let (mut tv, mut rec) = (Duration::ZERO, Duration::ZERO);
            rt.block_on(async {
                for _ in 0..n {
                    tv += to_vec_round(event, 1, Feed::Warm, clock);
                    rec += record_round(&auditor, event, 1, Feed::Warm, clock).await;
                }
            });
            let (tv, rec) = (per_entry(tv, n), per_entry(rec, n));
            to_vec.push(tv);
            record.push(rec);
            ratios.push(rec / tv);
        }
        rt.block_on(auditor.shutdown(Duration::from_secs(10))).expect("shutdown");
        let (tv, rec, ratio) = (Summary::of(to_vec), Summary::of(record), Summary::of(ratios));
        println!(
            "{label}, paired entry by entry: to_vec {tv} us/entry, record {rec} us/entry ({rounds} rounds of {n} pairs)"
        );
        println!(
            "{label}, paired entry by entry: ratio record / serde_json::to_vec: {:.2} (per-round ratios: min {:.2}, max {:.2}){}",
            ratio.median,
            ratio.min,
            ratio.max,
            if json { " (the target, <= 3.0, is judged on this figure)" } else { "" }
        );
    }
}

/// What reading the clock around an entry costs (the median of `rounds`
/// rounds of `n` empty timings), to take out of the warm feed's timings.
fn clock_cost(n: u32, rounds: usize) -> Duration {
    let mut per_round: Vec<Duration> = (0..rounds)
        .map(|_| {
            let mut sum = Duration::ZERO;
            for _ in 0..n {
                let t = Instant::now();
                std::hint::black_box(());
                sum += t.elapsed();
            }
            sum / n
        })
        .collect();
    per_round.sort();
    per_round[per_round.len() / 2]
}

/// One round of `serde_json::to_vec`: the time spent in it.
fn to_vec_round(event: &AuditEvent, n: u64, feed: Feed, clock: Duration) -> Duration {
    match feed {
        Feed::Warm => {
            let mut sum = Duration::ZERO;
            for _ in 0..n {
                let e = event.clone();
                let t = Instant::now();
                std::hint::black_box(serde_json::to_vec(&e).expect("json"));
                sum += t.elapsed().saturating_sub(clock);
                // `record` consumes (and frees) its entry; `to_vec` does
                // not, so it is freed outside the timing.
                drop(e);
            }
            sum
        }
        Feed::Cold => {
            let events: Vec<AuditEvent> = (0..n).map(|_| event.clone()).collect();
            let t = Instant::now();
            for e in &events {
                std::hint::black_box(serde_json::to_vec(e).expect("json"));
            }
            t.elapsed()
        }
    }
}

/// One round of `record`: the time spent in it.
async fn record_round(
    auditor: &Auditor,
    event: &AuditEvent,
    n: u64,
    feed: Feed,
    clock: Duration,
) -> Duration {
    match feed {
        Feed::Warm => {
            let mut sum = Duration::ZERO;
            for _ in 0..n {
                let e = event.clone();
                let t = Instant::now();
                auditor.record(e).await.expect("record");
                sum += t.elapsed().saturating_sub(clock);
            }
            sum
        }
        Feed::Cold => {
            let events: Vec<AuditEvent> = (0..n).map(|_| event.clone()).collect();
            let t = Instant::now();
            for e in events {
                auditor.record(e).await.expect("record");
            }
            t.elapsed()
        }
    }
}

fn per_entry(d: Duration, n: u32) -> f64 {
    d.as_secs_f64() * 1e6 / f64::from(n)
}

/// Median, min and max of per-entry times in microseconds.
struct Summary {
    median: f64,
    min: f64,
    max: f64,
}

impl Summary {
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        Self {
            median: samples[samples.len() / 2],
            min: samples[0],
            max: samples[samples.len() - 1],
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "median {:.2} (min {:.2}, max {:.2})", self.median, self.min, self.max)
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    // The ratio takes a minute: run it on a whole run, or when asked for by
    // name (`cargo bench -p audit-core --bench record -- ratio`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = args.iter().enumerate().find(|(i, a)| {
        !a.starts_with('-')
            && (*i == 0 || args[i - 1] == "--bench" || !args[i - 1].starts_with("--"))
    });
    if filter.is_none_or(|(_, f)| f.contains("ratio")) {
        ratio();
    }
    Criterion::default().configure_from_args().final_summary();
}
