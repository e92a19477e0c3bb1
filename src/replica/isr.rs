//! A leader's view of its followers and the ISR rules (Kafka's `Replica` fetch state,
//! `Partition.getOutOfSyncReplicas` and `Partition.isFollowerInSync`), written as pure functions of
//! offsets and injected times so that the decisions can be tested without clocks or networks.

use std::collections::HashMap;

/// An offset nobody has reported yet (Kafka's `UnifiedLog.UnknownOffset`).
pub const UNKNOWN_OFFSET: i64 = -1;

/// What the leader knows about one follower, updated on each of its fetches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// The follower's log end offset: the fetch offset of its last fetch.
    pub log_end_offset: i64,
    /// The last time the follower had everything the leader had (drives ISR shrinking).
    pub last_caught_up_ms: i64,
    /// The leader's log end offset when the previous fetch was served.
    pub last_fetch_leader_leo: i64,
    /// When the previous fetch was served.
    pub last_fetch_ms: i64,
    /// The follower's broker epoch from its fetch (v15+), -1 if it did not say.
    pub broker_epoch: i64,
    /// The follower's log start offset from its fetch (v5+), for the low watermark.
    pub log_start_offset: i64,
}

impl FollowerState {
    /// A follower at the start of a leader epoch: an ISR member counts as caught up now, so it gets a
    /// full `replica.lag.time.max.ms` to fetch before it may be removed (Kafka's `resetReplicaState`).
    pub fn new(in_sync: bool, now_ms: i64) -> Self {
        FollowerState {
            log_end_offset: UNKNOWN_OFFSET,
            last_caught_up_ms: if in_sync { now_ms } else { 0 },
            last_fetch_leader_leo: UNKNOWN_OFFSET,
            last_fetch_ms: 0,
            broker_epoch: -1,
            log_start_offset: UNKNOWN_OFFSET,
        }
    }

    /// Records a fetch from `fetch_offset` served when the leader's log ended at `leader_leo`.
    /// A follower that asked from the leader's end is caught up now; one that reached the end the
    /// leader had at the previous fetch was caught up as of that previous fetch (Kafka's rule, so a
    /// steady stream of produces does not make a keeping-up follower look lagging).
    pub fn on_fetch(&mut self, fetch_offset: i64, leader_leo: i64, now_ms: i64, broker_epoch: i64) {
        if fetch_offset >= leader_leo {
            self.last_caught_up_ms = self.last_caught_up_ms.max(now_ms);
        } else if self.last_fetch_leader_leo >= 0 && fetch_offset >= self.last_fetch_leader_leo {
            self.last_caught_up_ms = self.last_caught_up_ms.max(self.last_fetch_ms);
        }
        self.log_end_offset = fetch_offset;
        self.last_fetch_leader_leo = leader_leo;
        self.last_fetch_ms = now_ms;
        if broker_epoch >= 0 {
            self.broker_epoch = broker_epoch;
        }
    }

    /// Kafka's `isCaughtUp`: it has the leader's whole log, or was caught up within `max_lag_ms`.
    pub fn is_caught_up(&self, leader_leo: i64, now_ms: i64, max_lag_ms: i64) -> bool {
        self.log_end_offset == leader_leo || now_ms - self.last_caught_up_ms <= max_lag_ms
    }
}

/// The ISR members (other than the leader) that have not been caught up within `max_lag_ms`; a member
/// the leader has never heard from counts from the start of the leader epoch.
pub fn out_of_sync_replicas(
    isr: &[i32],
    leader: i32,
    followers: &HashMap<i32, FollowerState>,
    leader_leo: i64,
    now_ms: i64,
    max_lag_ms: i64,
) -> Vec<i32> {
    isr.iter()
        .copied()
        .filter(|r| *r != leader)
        .filter(|r| match followers.get(r) {
            Some(state) => !state.is_caught_up(leader_leo, now_ms, max_lag_ms),
            None => true,
        })
        .collect()
}

/// Kafka's `isFollowerInSync` for expansion: an assigned replica outside the ISR joins once its log
/// end reaches the high watermark and the start of the current leader epoch (so it has every record
/// of this epoch the leader may have acknowledged).
pub fn can_join_isr(
    replica: i32,
    replicas: &[i32],
    isr: &[i32],
    follower_leo: i64,
    high_watermark: i64,
    leader_epoch_start_offset: i64,
) -> bool {
    replicas.contains(&replica)
        && !isr.contains(&replica)
        && follower_leo >= 0
        && follower_leo >= high_watermark
        && follower_leo >= leader_epoch_start_offset
}

/// The ISR used for the high watermark while an AlterPartition is in flight (Kafka's "maximal ISR"):
/// the committed one plus any replica being added, so an expansion never lowers the high watermark
/// and a shrink only takes effect once the controller has committed it.
pub fn maximal_isr(committed: &[i32], pending: Option<&[i32]>) -> Vec<i32> {
    let mut isr = committed.to_vec();
    for r in pending.unwrap_or_default() {
        if !isr.contains(r) {
            isr.push(*r);
        }
    }
    isr
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 10_000;

    fn fetched(offset: i64, leader_leo: i64, now: i64) -> FollowerState {
        let mut s = FollowerState::new(true, 0);
        s.on_fetch(offset, leader_leo, now, 7);
        s
    }

    #[test]
    fn caught_up_by_fetching_from_the_leader_end() {
        let s = fetched(100, 100, 5_000);
        assert_eq!(s.last_caught_up_ms, 5_000);
        assert_eq!(s.broker_epoch, 7);
        assert!(s.is_caught_up(120, 15_000, LAG));
        assert!(!s.is_caught_up(120, 15_001, LAG));
        // Having the whole log always counts, however long ago the last fetch was.
        assert!(s.is_caught_up(100, 1_000_000, LAG));
    }

    #[test]
    fn reaching_the_previous_leader_end_counts_from_the_previous_fetch() {
        let mut s = fetched(50, 100, 1_000);
        assert_eq!(s.last_caught_up_ms, 0);
        s.on_fetch(100, 130, 2_000, -1);
        assert_eq!(s.last_caught_up_ms, 1_000);
        assert_eq!(s.broker_epoch, 7);
        // Falling behind the previous end does not move it.
        s.on_fetch(120, 160, 3_000, -1);
        assert_eq!(s.last_caught_up_ms, 1_000);
    }

    #[test]
    fn shrink_removes_lagging_and_silent_members_but_never_the_leader() {
        let mut followers = HashMap::new();
        followers.insert(2, fetched(100, 100, 1_000));
        followers.insert(3, fetched(40, 100, 1_000));
        let isr = [1, 2, 3, 4];
        // At 12s: 2 has the whole log, 3 was last caught up at 0, 4 never fetched (no state).
        let out = out_of_sync_replicas(&isr, 1, &followers, 100, 12_000, LAG);
        assert_eq!(out, vec![3, 4]);
        // A member of the ISR at the start of the leader epoch gets a full lag time from then.
        followers.insert(4, FollowerState::new(true, 5_000));
        let out = out_of_sync_replicas(&isr, 1, &followers, 100, 12_000, LAG);
        assert_eq!(out, vec![3]);
        // 20s later only a follower that has the whole log stays.
        let out = out_of_sync_replicas(&isr, 1, &followers, 100, 20_000, LAG);
        assert_eq!(out, vec![3, 4]);
        let out = out_of_sync_replicas(&isr, 1, &followers, 101, 20_000, LAG);
        assert_eq!(out, vec![2, 3, 4]);
    }

    #[test]
    fn expansion_needs_the_high_watermark_and_the_epoch_start() {
        let replicas = [1, 2, 3];
        assert!(can_join_isr(3, &replicas, &[1, 2], 50, 50, 40));
        assert!(!can_join_isr(3, &replicas, &[1, 2], 49, 50, 40));
        assert!(!can_join_isr(3, &replicas, &[1, 2], 50, 50, 60));
        assert!(!can_join_isr(2, &replicas, &[1, 2], 50, 50, 40));
        assert!(!can_join_isr(4, &replicas, &[1, 2], 50, 50, 40));
        assert!(!can_join_isr(3, &replicas, &[1, 2], UNKNOWN_OFFSET, 0, 0));
    }

    #[test]
    fn maximal_isr_adds_pending_members() {
        assert_eq!(maximal_isr(&[1, 2], Some(&[1, 2, 3])), vec![1, 2, 3]);
        assert_eq!(maximal_isr(&[1, 2, 3], Some(&[1])), vec![1, 2, 3]);
        assert_eq!(maximal_isr(&[1, 2], None), vec![1, 2]);
    }
}
