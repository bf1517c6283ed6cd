//! Shared by the benchmark harnesses (plain `harness = false` binaries).

use std::time::Duration;

/// The `p`-quantile (0..=1) of sorted latencies, nearest rank; zero for no samples.
#[allow(dead_code, reason = "not every harness reports latency percentiles")]
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = (sorted.len().saturating_sub(1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// Reads a count from the environment, or the default.
#[allow(dead_code, reason = "not every harness takes counts from the environment")]
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// CPU time the calling thread has run (Linux `/proc/thread-self/schedstat`), or zero where
/// it cannot be read: on a shared machine, time the thread was preempted does not count.
#[allow(dead_code, reason = "not every harness reports CPU time")]
pub fn thread_cpu() -> Duration {
    schedstat_cpu(std::path::Path::new("/proc/thread-self")).unwrap_or(Duration::ZERO)
}

/// CPU time a task has run, from the first field of `<dir>/schedstat` (`dir` a
/// `/proc/<pid>` or `/proc/<pid>/task/<tid>` directory); `None` where it cannot be read.
#[allow(dead_code, reason = "not every harness reports CPU time")]
pub fn schedstat_cpu(dir: &std::path::Path) -> Option<Duration> {
    std::fs::read_to_string(dir.join("schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse().ok()))
        .map(Duration::from_nanos)
}
