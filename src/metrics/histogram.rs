//! A lock-free latency histogram with fixed millisecond buckets: one relaxed `fetch_add` per
//! observation, so request and ZooKeeper timings can be recorded from any task without a lock or an
//! allocation. Buckets are counted separately (not cumulatively); the scrape adds them up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds in milliseconds, from a local request (1 ms) to a slow failover (60 s); the last
/// bucket (+Inf) catches the rest.
pub(crate) const BUCKETS_MS: [f64; 15] = [
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0,
];

/// Counts per bucket plus the sum of every observation (in microseconds, so sub-millisecond
/// requests still add up).
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: [AtomicU64; BUCKETS_MS.len() + 1],
    sum_us: AtomicU64,
}

/// What a scrape reads: the sum in milliseconds, the count, and per-bucket counts with their upper
/// bound (`f64::MAX` for +Inf, as `prometheus-client` expects).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramSnapshot {
    pub(crate) sum_ms: f64,
    pub(crate) count: u64,
    pub(crate) buckets: Vec<(f64, u64)>,
}

impl Histogram {
    pub(crate) const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BUCKETS_MS.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        let i = BUCKETS_MS
            .iter()
            .position(|b| ms <= *b)
            .unwrap_or(BUCKETS_MS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The count is the sum of the buckets read, so `_count` always equals the +Inf bucket.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let buckets: Vec<(f64, u64)> = BUCKETS_MS
            .iter()
            .copied()
            .chain([f64::MAX])
            .zip(&self.buckets)
            .map(|(le, n)| (le, n.load(Ordering::Relaxed)))
            .collect();
        HistogramSnapshot {
            sum_ms: self.sum_us.load(Ordering::Relaxed) as f64 / 1000.0,
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_the_first_bucket_that_holds_them() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(300));
        h.observe(Duration::from_millis(1));
        h.observe(Duration::from_millis(7));
        h.observe(Duration::from_secs(3600));
        let s = h.snapshot();
        assert_eq!(s.count, 4);
        assert_eq!(s.buckets[0], (1.0, 2));
        assert_eq!(s.buckets[3], (10.0, 1));
        assert_eq!(s.buckets.last(), Some(&(f64::MAX, 1)));
        assert!((s.sum_ms - 3_600_008.3).abs() < 1e-6, "{}", s.sum_ms);
    }
}
