//! The lab's result: `result.json` (schema in docs/downtime.md), `partitions.csv`, and the
//! statistics both reports draw (percentiles of unavailability over the affected partitions).

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// Version of the `result.json` layout; bumped when a field changes meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// One `zkafka lab failover` invocation: its settings and every repetition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabResult {
    pub schema_version: u32,
    /// What was measured, e.g. "zkafka kill 1000 partitions".
    pub label: String,
    /// `zkafka` or `kafka` (from the cluster's ApiVersions/Metadata: see docs/downtime.md).
    pub target: String,
    pub settings: Settings,
    pub runs: Vec<RunResult>,
    /// Medians over the runs of each run's figures.
    pub summary: Summary,
}

/// The experiment's settings, as given on the command line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub brokers: usize,
    pub topics: usize,
    pub partitions_per_topic: i32,
    pub replication_factor: i16,
    pub min_insync_replicas: i32,
    /// Records per second per partition (one record per partition per tick).
    pub rate_per_partition: f64,
    pub acks: i16,
    pub session_timeout_ms: u64,
    /// `kill`, `stop:<s>`, `term`, `controller`.
    pub fault: String,
    pub command: String,
}

/// One repetition.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub repetition: usize,
    /// Unix ms when the producer started, when the fault was injected, when the run ended.
    pub start_ms: i64,
    pub fault_ms: i64,
    pub end_ms: i64,
    /// The broker the fault hit and whether it was the controller then.
    pub fault_broker: i32,
    pub fault_broker_was_controller: bool,
    pub controller_before: i32,
    pub phases: Vec<PhasePoint>,
    pub partitions: Vec<PartitionResult>,
    pub stats: RunStats,
    pub verification: Verification,
}

/// A controller phase on the timeline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhasePoint {
    pub phase: String,
    pub ts_ms: i64,
    /// Where it was read: `zkafka-events` (the controller event stream), `zookeeper-watch` (the
    /// lab's own watch on /brokers/ids), `zookeeper-mtime` (znode modification times).
    pub source: String,
    /// The controller event it belongs to, when known (e.g. `BrokerChange`).
    pub event: String,
    /// The event's sequence number in its controller term (0 when not from the event stream).
    pub seq: u64,
    pub controller: i32,
    /// Partitions and brokers the phase concerns, as the source tells.
    pub partitions: u64,
    pub brokers: Vec<i32>,
}

/// One partition's availability around the fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionResult {
    pub topic: String,
    pub partition: i32,
    pub leader_before: i32,
    pub leader_after: i32,
    /// Whether the fault hit its leader.
    pub affected: bool,
    /// Ack time of the last record acknowledged before the fault (Unix ms), -1 if none.
    pub last_ack_before_ms: i64,
    /// Ack time of the first record sent after the fault that was acknowledged, -1 if none.
    pub first_ack_after_ms: i64,
    /// `first_ack_after_ms - last_ack_before_ms`: the gap in acknowledgements a producer saw.
    pub gap_ms: i64,
    /// `first_ack_after_ms - fault_ms`: how long after the fault the partition took writes again.
    pub unavailable_ms: i64,
    pub acked: u64,
    pub lost: u64,
    pub duplicated: u64,
}

/// Percentiles of `unavailable_ms` over the affected partitions (all partitions when none was).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunStats {
    pub affected_partitions: usize,
    pub p50_ms: i64,
    pub p99_ms: i64,
    pub max_ms: i64,
    pub min_ms: i64,
    /// Partitions that never took a write again before the run ended.
    pub never_recovered: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    pub acked: u64,
    pub read_back: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Partitions that could not be read back (no leader at the end), which counts their
    /// acknowledged records as unverified, not as lost.
    pub unreadable_partitions: usize,
}

/// Medians (and spread) of the runs' figures.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Summary {
    pub runs: usize,
    pub p50_ms_median: i64,
    pub p99_ms_median: i64,
    pub max_ms_median: i64,
    pub max_ms_min: i64,
    pub max_ms_max: i64,
    pub lost_total: u64,
    pub duplicated_total: u64,
}

/// The `q`-quantile (0..=1) of sorted values, nearest rank; 0 for none.
pub fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl RunStats {
    pub fn of(partitions: &[PartitionResult]) -> RunStats {
        let any_affected = partitions.iter().any(|p| p.affected);
        let chosen: Vec<&PartitionResult> = partitions
            .iter()
            .filter(|p| p.affected || !any_affected)
            .collect();
        let mut values: Vec<i64> = chosen
            .iter()
            .filter(|p| p.first_ack_after_ms >= 0)
            .map(|p| p.unavailable_ms)
            .collect();
        values.sort_unstable();
        RunStats {
            affected_partitions: partitions.iter().filter(|p| p.affected).count(),
            p50_ms: quantile(&values, 0.5),
            p99_ms: quantile(&values, 0.99),
            max_ms: values.last().copied().unwrap_or(0),
            min_ms: values.first().copied().unwrap_or(0),
            never_recovered: chosen.iter().filter(|p| p.first_ack_after_ms < 0).count(),
        }
    }
}

impl Summary {
    pub fn of(runs: &[RunResult]) -> Summary {
        let median = |f: &dyn Fn(&RunResult) -> i64| {
            let mut v: Vec<i64> = runs.iter().map(f).collect();
            v.sort_unstable();
            quantile(&v, 0.5)
        };
        Summary {
            runs: runs.len(),
            p50_ms_median: median(&|r| r.stats.p50_ms),
            p99_ms_median: median(&|r| r.stats.p99_ms),
            max_ms_median: median(&|r| r.stats.max_ms),
            max_ms_min: runs.iter().map(|r| r.stats.max_ms).min().unwrap_or(0),
            max_ms_max: runs.iter().map(|r| r.stats.max_ms).max().unwrap_or(0),
            lost_total: runs.iter().map(|r| r.verification.lost).sum(),
            duplicated_total: runs.iter().map(|r| r.verification.duplicated).sum(),
        }
    }
}

/// Writes `result.json`.
pub fn write_json(result: &LabResult, path: &Path) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(result).context("encoding result.json")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Reads a `result.json` written by [`write_json`].
pub fn read_json(path: &Path) -> anyhow::Result<LabResult> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// `partitions.csv`: one row per partition per repetition.
pub fn csv(result: &LabResult) -> String {
    let mut out = String::from(
        "repetition,topic,partition,leader_before,leader_after,affected,last_ack_before_ms,first_ack_after_ms,gap_ms,unavailable_ms,acked,lost,duplicated\n",
    );
    for run in &result.runs {
        for p in &run.partitions {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                run.repetition,
                p.topic,
                p.partition,
                p.leader_before,
                p.leader_after,
                p.affected,
                p.last_ack_before_ms,
                p.first_ack_after_ms,
                p.gap_ms,
                p.unavailable_ms,
                p.acked,
                p.lost,
                p.duplicated
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&[7], 0.99), 7);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
