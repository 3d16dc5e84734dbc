//! What machine the numbers come from, and the process's resident memory.

use serde::{Deserialize, Serialize};

/// The machine a report was measured on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub(crate) cpu: String,
    /// Logical CPUs available to this process.
    pub(crate) cores: usize,
    /// The kernel release (/proc/sys/kernel/osrelease).
    pub(crate) kernel: String,
    /// Total memory, from /proc/meminfo.
    pub(crate) memory_gib: f64,
    /// The 1-minute load average when the run started (a busy machine makes noisy figures).
    pub(crate) load_average: String,
}

impl Machine {
    /// Reads it from /proc; fields that cannot be read say `unknown`.
    pub(crate) fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                (k.trim() == "model name").then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                m.lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse::<f64>()
                    .ok()
            })
            .map(|kib| (kib / 1024.0 / 1024.0 * 10.0).round() / 10.0)
            .unwrap_or(0.0);
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_owned))
            .unwrap_or_else(|| "unknown".to_owned());
        Self { cpu, cores, kernel, memory_gib, load_average }
    }

    /// One line for the Markdown report.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}, {} cores, {} GiB, Linux {} (load average {} at start)",
            self.cpu, self.cores, self.memory_gib, self.kernel, self.load_average
        )
    }
}

/// The current UTC time as RFC 3339 (seconds).
pub(crate) fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339).unwrap_or_else(|_| now.to_string())
}

/// Resident memory of this process in bytes (/proc/self/statm), or 0.
pub(crate) fn rss_bytes() -> u64 {
    const PAGE: u64 = 4096;
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * PAGE)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_machine_and_memory() {
        let m = Machine::detect();
        assert!(m.cores >= 1);
        assert!(m.describe().contains("cores"));
        assert!(rss_bytes() > 0);
        assert!(now_rfc3339().ends_with('Z'));
    }
}
