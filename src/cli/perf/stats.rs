//! Producer benchmark statistics, computed as Kafka's `ProducerPerformance.Stats` does, so numbers
//! from `zkafka perf produce` and `kafka-producer-perf-test.sh` can be compared line by line.

use std::time::{Duration, Instant};

use serde::Serialize;

/// Kafka keeps at most this many latency samples, taking every `sampling`-th record.
const MAX_SAMPLES: u64 = 500_000;

const MB: f64 = 1024.0 * 1024.0;

/// Running totals plus the current reporting window.
#[derive(Debug)]
pub struct Stats {
    start: Instant,
    reporting_interval: Duration,
    sampling: u64,
    iteration: u64,
    latencies: Vec<u32>,
    count: u64,
    bytes: u64,
    total_latency: u64,
    max_latency: u32,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_total_latency: u64,
    window_max_latency: u32,
}

/// The final figures; serialised as the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub records: u64,
    pub records_per_sec: f64,
    pub mb_per_sec: f64,
    pub avg_latency_ms: f64,
    pub max_latency_ms: f64,
    pub p50_latency_ms: u32,
    pub p95_latency_ms: u32,
    pub p99_latency_ms: u32,
    pub p999_latency_ms: u32,
}

impl Stats {
    pub fn new(num_records: u64, reporting_interval: Duration, start: Instant) -> Self {
        let sampling = (num_records / num_records.clamp(1, MAX_SAMPLES)).max(1);
        Self {
            start,
            reporting_interval,
            sampling,
            iteration: 0,
            latencies: Vec::with_capacity(
                (num_records / sampling + 1).min(MAX_SAMPLES + 1) as usize
            ),
            count: 0,
            bytes: 0,
            total_latency: 0,
            max_latency: 0,
            window_start: start,
            window_count: 0,
            window_bytes: 0,
            window_total_latency: 0,
            window_max_latency: 0,
        }
    }

    /// Records one acknowledged record; returns the window line when a reporting interval has
    /// passed (Kafka prints it from inside the callback too).
    pub fn record(&mut self, latency_ms: u32, bytes: usize, now: Instant) -> Option<String> {
        self.count += 1;
        self.bytes += bytes as u64;
        self.total_latency += u64::from(latency_ms);
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes as u64;
        self.window_total_latency += u64::from(latency_ms);
        self.window_max_latency = self.window_max_latency.max(latency_ms);
        if self.iteration.is_multiple_of(self.sampling) {
            self.latencies.push(latency_ms);
        }
        self.iteration += 1;
        if now.duration_since(self.window_start) >= self.reporting_interval {
            let line = self.window_line(now);
            self.window_start = now;
            self.window_count = 0;
            self.window_bytes = 0;
            self.window_total_latency = 0;
            self.window_max_latency = 0;
            return Some(line);
        }
        None
    }

    /// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
    fn window_line(&self, now: Instant) -> String {
        let ms = now.duration_since(self.window_start).as_secs_f64() * 1000.0;
        let per_sec = 1000.0 * self.window_count as f64 / ms;
        let mb_per_sec = 1000.0 * self.window_bytes as f64 / ms / MB;
        let avg = self.window_total_latency as f64 / self.window_count.max(1) as f64;
        format!(
            "{} records sent, {per_sec:.1} records/sec ({mb_per_sec:.2} MB/sec), {avg:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count, self.window_max_latency as f64
        )
    }

    pub fn summary(&self, now: Instant) -> Summary {
        let ms = (now.duration_since(self.start).as_secs_f64() * 1000.0).max(f64::MIN_POSITIVE);
        let p = percentiles(&self.latencies, &[0.5, 0.95, 0.99, 0.999]);
        Summary {
            records: self.count,
            records_per_sec: 1000.0 * self.count as f64 / ms,
            mb_per_sec: 1000.0 * self.bytes as f64 / ms / MB,
            avg_latency_ms: self.total_latency as f64 / self.count.max(1) as f64,
            max_latency_ms: f64::from(self.max_latency),
            p50_latency_ms: p[0],
            p95_latency_ms: p[1],
            p99_latency_ms: p[2],
            p999_latency_ms: p[3],
        }
    }
}

/// Kafka's percentile: sort the samples, take `samples[(int)(p * n)]`; 0 with no samples.
pub fn percentiles(samples: &[u32], ps: &[f64]) -> Vec<u32> {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    ps.iter()
        .map(|p| {
            let i = ((p * sorted.len() as f64) as usize).min(sorted.len().saturating_sub(1));
            sorted.get(i).copied().unwrap_or(0)
        })
        .collect()
}

impl Summary {
    /// The final line exactly as kafka-producer-perf-test prints it.
    pub fn kafka_line(&self) -> String {
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.records,
            self.records_per_sec,
            self.mb_per_sec,
            self.avg_latency_ms,
            self.max_latency_ms,
            self.p50_latency_ms,
            self.p95_latency_ms,
            self.p99_latency_ms,
            self.p999_latency_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_follow_kafka_indexing() {
        let samples: Vec<u32> = (1..=1000).rev().collect();
        assert_eq!(
            percentiles(&samples, &[0.5, 0.95, 0.99, 0.999]),
            vec![501, 951, 991, 1000]
        );
        assert_eq!(percentiles(&[7], &[0.5, 0.999]), vec![7, 7]);
        assert_eq!(percentiles(&[], &[0.5]), vec![0]);
        assert_eq!(percentiles(&[1, 2], &[0.5]), vec![2]);
    }

    #[test]
    fn sampling_keeps_at_most_500k() {
        let t0 = Instant::now();
        let mut s = Stats::new(2_000_000, Duration::from_secs(3600), t0);
        assert_eq!(s.sampling, 4);
        for i in 0..2_000_000u32 {
            s.record(i % 10, 1, t0);
        }
        assert_eq!(s.latencies.len(), 500_000);
        assert_eq!(s.count, 2_000_000);
    }

    #[test]
    fn summary_figures_and_kafka_format() {
        let t0 = Instant::now();
        let mut s = Stats::new(4, Duration::from_secs(3600), t0);
        for l in [10, 20, 30, 40] {
            assert!(s.record(l, 1024 * 1024, t0).is_none());
        }
        let sum = s.summary(t0 + Duration::from_secs(2));
        assert_eq!(sum.records, 4);
        assert!((sum.records_per_sec - 2.0).abs() < 1e-9);
        assert!((sum.mb_per_sec - 2.0).abs() < 1e-9);
        assert_eq!(sum.avg_latency_ms, 25.0);
        assert_eq!(sum.max_latency_ms, 40.0);
        assert_eq!((sum.p50_latency_ms, sum.p999_latency_ms), (30, 40));
        assert_eq!(
            sum.kafka_line(),
            "4 records sent, 2.000000 records/sec (2.00 MB/sec), 25.00 ms avg latency, 40.00 ms max latency, 30 ms 50th, 40 ms 95th, 40 ms 99th, 40 ms 99.9th."
        );
        let json: serde_json::Value = serde_json::to_value(&sum).unwrap();
        assert_eq!(json["p99_latency_ms"], 40);
        assert_eq!(json["records_per_sec"], 2.0);
    }

    #[test]
    fn window_line_after_interval() {
        let t0 = Instant::now();
        let mut s = Stats::new(10, Duration::from_secs(5), t0);
        assert!(s.record(4, 100, t0 + Duration::from_secs(1)).is_none());
        let line = s.record(6, 100, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(
            line,
            "2 records sent, 0.4 records/sec (0.00 MB/sec), 5.0 ms avg latency, 6.0 ms max latency."
        );
        // The window restarts; totals do not.
        assert!(s.record(1, 100, t0 + Duration::from_secs(6)).is_none());
        assert_eq!(s.summary(t0 + Duration::from_secs(6)).records, 3);
    }
}
