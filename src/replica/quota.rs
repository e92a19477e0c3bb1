//! Replication throttles (Kafka's `ReplicationQuotaManager`): one quota for what this broker sends
//! to followers as a leader (`leader.replication.throttled.rate`) and one for what it fetches as a
//! follower (`follower.replication.throttled.rate`), each applied only to the partitions its
//! topic's `leader.replication.throttled.replicas` / `follower.replication.throttled.replicas`
//! name on this broker (what `kafka-reassign-partitions --throttle` sets for a move).
//!
//! The rate is measured as Kafka's `Rate` over `replication.quota.window.num` samples of
//! `replication.quota.window.size.seconds`: bytes recorded in the live samples divided by their
//! span, the span counted as at least `num - 1` whole windows. A quota is exceeded when that rate
//! is above the bound; a throttled partition is then skipped (the leader answers it without
//! records, the follower leaves it out of its next fetch) until the rate drops, so a move runs at
//! about the bound once the first `num - 1` windows' worth of bytes has passed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, RwLock};

use tracing::info;

use crate::clock::now_ms;
use crate::config::{KafkaConfig, ThrottledReplicas, TopicConfig};

/// Kafka's default bound: no throttle.
const UNLIMITED: i64 = i64::MAX;

/// Which of a topic's partitions are throttled on this broker (Kafka's `AllReplicas` or a list).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Throttled {
    All,
    Partitions(Vec<i32>),
}

/// Kafka's `SampledStat` of a `Rate`: `(window start ms, bytes)`, oldest first.
#[derive(Debug)]
struct Samples {
    window_ms: i64,
    num: usize,
    samples: Vec<(i64, u64)>,
}

impl Samples {
    fn new(num: usize, window_ms: i64) -> Self {
        Samples {
            window_ms: window_ms.max(1),
            num: num.max(1),
            samples: Vec::new(),
        }
    }

    /// Drops the samples older than `num` windows (Kafka's `purgeObsoleteSamples`).
    fn purge(&mut self, now: i64) {
        let expire = self.window_ms * self.num as i64;
        self.samples.retain(|(start, _)| now - start < expire);
    }

    fn record(&mut self, bytes: u64, now: i64) {
        self.purge(now);
        match self.samples.last_mut() {
            Some((start, total)) if now - *start < self.window_ms => *total += bytes,
            _ => {
                if self.samples.len() == self.num {
                    self.samples.remove(0);
                }
                self.samples.push((now, bytes));
            }
        }
    }

    /// Bytes per second over the live samples (Kafka's `Rate.measure` with `windowSize`).
    fn rate(&mut self, now: i64) -> f64 {
        self.purge(now);
        let total: u64 = self.samples.iter().map(|(_, b)| b).sum();
        let oldest = self.samples.first().map_or(now, |(start, _)| *start);
        let mut elapsed = now - oldest;
        let full = elapsed / self.window_ms;
        let min_full = self.num as i64 - 1;
        if full < min_full {
            elapsed += (min_full - full) * self.window_ms;
        }
        total as f64 * 1000.0 / elapsed.max(1) as f64
    }
}

/// One replication quota: its bound, its measured rate and the partitions it applies to.
#[derive(Debug)]
pub struct ReplicationQuotaManager {
    /// `leader.` or `follower.`, for logs.
    kind: &'static str,
    bound: AtomicI64,
    samples: Mutex<Samples>,
    throttled: RwLock<HashMap<String, Throttled>>,
}

impl ReplicationQuotaManager {
    fn new(kind: &'static str) -> Self {
        ReplicationQuotaManager {
            kind,
            bound: AtomicI64::new(UNLIMITED),
            samples: Mutex::new(Samples::new(11, 1000)),
            throttled: RwLock::new(HashMap::new()),
        }
    }

    fn samples(&self) -> std::sync::MutexGuard<'_, Samples> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the bound in bytes per second (Kafka's `updateQuota`).
    fn update_quota(&self, bytes_per_second: i64) {
        let old = self.bound.swap(bytes_per_second, Ordering::Relaxed);
        if old != bytes_per_second {
            info!(
                quota = self.kind,
                bytes_per_second, "replication throttle rate changed"
            );
        }
    }

    /// Whether `topic`'s `partition` is throttled on this broker (Kafka's `isThrottled`).
    pub fn is_throttled(&self, topic: &str, partition: i32) -> bool {
        let map = self.throttled.read().unwrap_or_else(|p| p.into_inner());
        match map.get(topic) {
            Some(Throttled::All) => true,
            Some(Throttled::Partitions(list)) => list.contains(&partition),
            None => false,
        }
    }

    /// Whether the measured rate is above the bound (Kafka's `isQuotaExceeded`).
    pub fn is_quota_exceeded(&self) -> bool {
        let bound = self.bound.load(Ordering::Relaxed);
        bound != UNLIMITED && self.samples().rate(now_ms()) > bound as f64
    }

    /// Counts bytes of throttled partitions sent or fetched (Kafka's `record`).
    pub fn record(&self, bytes: usize) {
        if bytes > 0 {
            self.samples().record(bytes as u64, now_ms());
        }
    }

    /// Replaces the throttled partitions of `topic` on `broker_id` (Kafka's `markThrottled` /
    /// `removeThrottle`, as `QuotaConfigHandler.processConfigChanges` calls them).
    fn mark(&self, topic: &str, replicas: &ThrottledReplicas, broker_id: i32) {
        let next = match replicas {
            ThrottledReplicas::All => Some(Throttled::All),
            ThrottledReplicas::None => None,
            ThrottledReplicas::Listed(list) => {
                let mut partitions: Vec<i32> = list
                    .iter()
                    .filter(|(_, broker)| *broker == broker_id)
                    .map(|(p, _)| *p)
                    .collect();
                partitions.sort_unstable();
                partitions.dedup();
                (!partitions.is_empty()).then_some(Throttled::Partitions(partitions))
            }
        };
        let mut map = self.throttled.write().unwrap_or_else(|p| p.into_inner());
        let changed = map.get(topic) != next.as_ref();
        match &next {
            Some(t) => map.insert(topic.to_string(), t.clone()),
            None => map.remove(topic),
        };
        if changed {
            info!(quota = self.kind, topic, throttled = ?next, "replication throttled replicas changed");
        }
    }
}

/// The leader and follower replication quotas of this broker.
#[derive(Debug)]
pub struct ReplicationQuotas {
    pub leader: ReplicationQuotaManager,
    pub follower: ReplicationQuotaManager,
}

impl Default for ReplicationQuotas {
    fn default() -> Self {
        ReplicationQuotas {
            leader: ReplicationQuotaManager::new("leader"),
            follower: ReplicationQuotaManager::new("follower"),
        }
    }
}

impl ReplicationQuotas {
    /// Applies the broker's configuration: the sampling windows (static, read at start-up) when
    /// `windows` is set, and the two rates (dynamic broker configs).
    pub fn apply_broker(&self, config: &KafkaConfig, windows: bool) {
        for (quota, rate) in [
            (&self.leader, config.leader_replication_throttled_rate),
            (&self.follower, config.follower_replication_throttled_rate),
        ] {
            if windows {
                *quota.samples() = Samples::new(
                    config.replication_quota_window_num as usize,
                    config.replication_quota_window_size_seconds as i64 * 1000,
                );
            }
            quota.update_quota(rate);
        }
    }

    /// Applies a topic's `*.replication.throttled.replicas` on broker `broker_id`.
    pub fn apply_topic(&self, topic: &str, config: &TopicConfig, broker_id: i32) {
        self.leader
            .mark(topic, &config.leader_throttled_replicas, broker_id);
        self.follower
            .mark(topic, &config.follower_throttled_replicas, broker_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_counts_at_least_num_minus_one_windows() {
        let mut s = Samples::new(11, 1000);
        s.record(5_000, 0);
        // 10 s assumed even though only an instant passed: Kafka lets a first burst through.
        assert_eq!(s.rate(0), 500.0);
        let mut s = Samples::new(2, 1000);
        s.record(5_000, 0);
        assert_eq!(s.rate(0), 5_000.0);
        s.record(1_000, 1_500);
        assert_eq!(s.rate(1_500), 4_000.0);
        // Both samples expire after two windows.
        assert_eq!(s.rate(3_600), 0.0);
    }

    #[test]
    fn a_quota_applies_to_the_listed_partitions_on_this_broker() {
        let q = ReplicationQuotaManager::new("leader");
        q.mark("t", &ThrottledReplicas::Listed(vec![(0, 1), (1, 2)]), 1);
        assert!(q.is_throttled("t", 0));
        assert!(!q.is_throttled("t", 1));
        assert!(!q.is_throttled("u", 0));
        q.mark("u", &ThrottledReplicas::All, 1);
        assert!(q.is_throttled("u", 7));
        q.mark("t", &ThrottledReplicas::None, 1);
        assert!(!q.is_throttled("t", 0));
    }

    #[test]
    fn an_unlimited_quota_is_never_exceeded() {
        let q = ReplicationQuotaManager::new("follower");
        q.record(usize::MAX / 2);
        assert!(!q.is_quota_exceeded());
        q.update_quota(1_000);
        assert!(q.is_quota_exceeded());
    }
}
