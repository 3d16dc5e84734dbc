//! Delivery modes and the retry policy: when `record` returns, and how a
//! failing sink is retried.

use std::time::Duration;

use uuid::Uuid;

/// When `record` returns, and what happens when a sink cannot keep up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Delivery {
    /// `record` returns once the entry is queued (and in the spool, when one is
    /// configured). A full queue spills to the spool, or makes the caller wait
    /// when there is none. A failing sink is retried with backoff until it
    /// recovers. Never drops.
    #[default]
    Buffered,
    /// `record` returns once every sink has written the entry, and returns an
    /// error when one cannot (down, rejecting, or not within the strict
    /// timeout). Fail-closed: the caller should refuse the operation. The entry
    /// is still retried and delivered later, like a buffered one. A strict
    /// caller never waits for room: when a sink's queue is full, or the
    /// pipeline stays busy for the strict timeout, the entry is refused
    /// before it is recorded ([`RecordError::Backlog`](super::RecordError::Backlog), [`RecordError::Busy`](super::RecordError::Busy)).
    Strict,
    /// Like `Buffered`, but a full queue drops the entry for that sink instead
    /// of spilling or waiting. Every drop is counted.
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
