//! Delivery modes and the retry policy: when `record` returns, and how a
//! failing sink is retried.

use std::time::Duration;

use uuid::Uuid;

/// When [`Auditor::record`](super::Auditor::record) returns, and what happens when a sink cannot keep up.
///
/// `record` enriches the entry (UUIDv7 id, microsecond UTC time, service
/// identity, a one-sentence description), redacts it, gives it the next place
/// in the chain and hands it to one bounded queue per sink. Each sink has its
/// own batching worker, so a slow sink never holds back a fast one. The mode
/// decides the rest:
///
/// | mode | `record` returns | full queue | failing sink |
/// |---|---|---|---|
/// | [`Buffered`](Self::Buffered) (default) | once queued (and spooled, with a spool) | spills to the spool, or the caller waits | retried with exponential backoff and jitter until it recovers |
/// | [`Strict`](Self::Strict) | once every sink has written it, or with an error | refused at once ([`RecordError::Backlog`](super::RecordError::Backlog)), nothing recorded | the caller gets [`RecordError::NotDurable`](super::RecordError::NotDurable) at the first failure; the entry is still retried |
/// | [`BestEffort`](Self::BestEffort) | once queued | dropped for that sink, and counted | retried |
///
/// A queue is full at [`AuditorBuilder::queue_capacity`](super::AuditorBuilder::queue_capacity) entries (default
/// 8192) or [`AuditorBuilder::queue_bytes`](super::AuditorBuilder::queue_bytes) of memory (default 64 MiB),
/// whichever comes first; each entry counts an estimate of what it holds, so
/// entries with large bodies cannot take 8192 times their size.
///
/// No mode loses an entry without counting it: [`Auditor::stats`](super::Auditor::stats) reports,
/// per sink, the entries recorded, written, retried, failed (permanently
/// rejected), spooled, replayed and dropped, the queue depth (entries and
/// estimated bytes), the spool backlog and `spool_errors`; the `metrics`
/// feature publishes the same counters through the `metrics` facade.
///
/// # What a crash can lose
///
/// "Acknowledged" means `record` returned `Ok`.
///
/// - `Buffered` with a spool ([`AuditorBuilder::spool_dir`](super::AuditorBuilder::spool_dir)): nothing
///   acknowledged while the spool was writable. The entry is appended to the
///   spool with one `write(2)` before `record` returns and is replayed to
///   every sink after a restart; [`AuditorBuilder::spool_fsync`](super::AuditorBuilder::spool_fsync) extends that
///   to power loss. When a spool write fails (a full disk), the entry is kept
///   in memory up to the queue's bound instead, `stats().spool_errors` counts
///   it, and a crash before it is written loses it.
/// - `Buffered` without a spool, and `BestEffort`: what was still queued in
///   memory, or in a batch being written.
/// - `Strict`: nothing acknowledged, since it acknowledges only entries that
///   every sink has written.
///
/// Delivery is at least once: after a restart the batch that was being
/// written is written again, so every [`Sink`](crate::sink::Sink) must be idempotent by entry
/// id. SECURITY.md has the same as a table, with what a power loss adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Delivery {
    /// `record` returns once the entry is queued, and in the spool when one
    /// is configured. A full queue spills to the spool, or makes the caller
    /// wait (backpressure) when there is none. A failing sink is retried with
    /// exponential backoff and jitter ([`RetryPolicy`]) until it recovers;
    /// meanwhile its entries wait in the spool or in memory and are written
    /// in chain order. Never drops.
    #[default]
    Buffered,
    /// Fail-closed: `record` returns once every sink has written the entry,
    /// and returns an error when one cannot, so that the caller refuses the
    /// operation. `audit_tower::AuditLayer` then answers 503 (HTTP) or `UNAVAILABLE`
    /// (gRPC) without running the handler.
    ///
    /// - A failing sink gives [`RecordError::NotDurable`](super::RecordError::NotDurable) at the first failed
    ///   attempt, not after the retries; the entry is still retried and
    ///   delivered later, like a buffered one.
    /// - A sink that does not answer within the strict timeout gives an
    ///   error too.
    /// - A strict caller never waits for room: when a sink's queue is full
    ///   the entry is refused before it is sequenced
    ///   ([`RecordError::Backlog`](super::RecordError::Backlog)), and when buffered callers ahead of it
    ///   hold the pipeline for the strict timeout it gives up
    ///   ([`RecordError::Busy`](super::RecordError::Busy)). Nothing was sequenced, so the chain has no
    ///   gap.
    ///
    /// With a spool the entry is spooled as well.
    Strict,
    /// Like `Buffered`, but a full queue drops the entry for that sink
    /// instead of spilling or waiting. Every drop is counted
    /// (`stats().dropped`). A failing sink is retried.
    BestEffort,
}

impl std::str::FromStr for Delivery {
    type Err = crate::model::ParseEnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "buffered" => Ok(Self::Buffered),
            "strict" => Ok(Self::Strict),
            "besteffort" => Ok(Self::BestEffort),
            _ => Err(crate::model::ParseEnumError::new(
                "delivery mode",
                s,
                "buffered, strict, best_effort",
            )),
        }
    }
}

/// Exponential backoff with jitter for failed writes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The first wait (default 50 ms).
    pub initial_backoff: Duration,
    /// The longest wait (default 10 s).
    pub max_backoff: Duration,
    /// Growth per attempt (default 2).
    pub multiplier: f64,
    /// Random spread, as a fraction of the wait (default 0.2: ±20 %).
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// A policy with these bounds and the default multiplier and jitter.
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> Self {
        Self { initial_backoff, max_backoff, ..Self::default() }
    }

    /// The wait before retry number `attempt` (0-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.initial_backoff.as_secs_f64()
            * self.multiplier.max(1.0).powi(attempt.min(64) as i32);
        let base = base.min(self.max_backoff.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * base;
        let jittered = base - spread + 2.0 * spread * random_unit();
        Duration::from_secs_f64(jittered.clamp(0.0, self.max_backoff.as_secs_f64()))
    }
}

pub(super) fn random_unit() -> f64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new({
            let mut seed = [0u8; 8];
            let _ = getrandom::fill(&mut seed);
            u64::from_le_bytes(seed) | 1
        });
    }
    STATE.with(|s| {
        // SplitMix64: plenty for spreading retries.
        let mut z = s.get().wrapping_add(0x9E37_79B9_7F4A_7C15);
        s.set(z);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// What `record` accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Receipt {
    /// The entry's id.
    pub id: Uuid,
    /// Its chain.
    pub chain: Uuid,
    /// Its position in the chain.
    pub seq: u64,
    /// Sinks that dropped it (best-effort delivery with a full queue).
    pub dropped_by: Vec<String>,
}
