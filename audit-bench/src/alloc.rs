//! The counting global allocator of the bench binary.
//!
//! `stats_alloc` wraps the system allocator with atomic counters, so this
//! crate keeps `unsafe_code = "forbid"`. Every variant of every scenario runs
//! under it, so its small cost is the same on both sides of a ratio. The
//! counts are process-wide: the load generator's allocations are in them too,
//! which is why scenarios report the *difference* between variants as the
//! cost of auditing.

use std::alloc::System;

use stats_alloc::{INSTRUMENTED_SYSTEM, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allocation counters since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Calls to `alloc` (reallocations not included).
    pub(crate) allocations: u64,
    /// Calls to `realloc`.
    pub(crate) reallocations: u64,
    /// Bytes handed out by `alloc` and grown by `realloc`.
    pub(crate) bytes: u64,
}

impl Counts {
    /// What happened between `earlier` and `self`.
    pub(crate) fn since(self, earlier: Counts) -> Counts {
        Counts {
            allocations: self.allocations.saturating_sub(earlier.allocations),
            reallocations: self.reallocations.saturating_sub(earlier.reallocations),
            bytes: self.bytes.saturating_sub(earlier.bytes),
        }
    }
}

/// The counters now.
pub(crate) fn counts() -> Counts {
    let s = GLOBAL.stats();
    Counts {
        allocations: s.allocations as u64,
        reallocations: s.reallocations as u64,
        bytes: (s.bytes_allocated + s.bytes_reallocated.max(0) as usize) as u64,
    }
}

/// Bytes allocated and not yet freed (heap in use), from the counters.
pub(crate) fn live_bytes() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 + s.bytes_reallocated as i64 - s.bytes_deallocated as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_allocations() {
        let before = counts();
        let v: Vec<Vec<u8>> = (0..100).map(|i| vec![0u8; 64 + i]).collect();
        std::hint::black_box(&v);
        let d = counts().since(before);
        // Other test threads allocate too: at least ours are counted.
        assert!(d.allocations >= 100, "{d:?}");
        assert!(d.bytes >= 6400, "{d:?}");
    }
}
