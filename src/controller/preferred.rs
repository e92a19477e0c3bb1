//! Preferred leaders: the first replica of a partition's assignment is its preferred leader, and
//! Kafka moves leadership back to it (a) when `/admin/preferred_replica_election` asks, and (b) with
//! `auto.leader.rebalance.enable`, every `leader.imbalance.check.interval.seconds`, for brokers
//! whose share of "not led by their preferred replica" partitions exceeds
//! `leader.imbalance.per.broker.percentage` (Kafka's `checkAndTriggerAutoLeaderRebalance`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tracing::info;

use super::context::{ClusterModel, LeaderIsr, TopicPartition};
use super::election::forward;
use super::event_loop::Controller;
use super::ControllerEvent;
use crate::zk::ZkError;

/// Kafka schedules the first imbalance check 5 seconds after a controller failover.
pub const FIRST_CHECK_DELAY: Duration = Duration::from_secs(5);

/// Kafka's preferred-replica election: the preferred replica leads if it is live (and not shutting
/// down) and in the ISR; the ISR is kept. None if it cannot lead or already does.
pub fn preferred_leader(
    model: &ClusterModel,
    tp: &TopicPartition,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    let current = model.states.get(tp)?;
    let preferred = *model.replicas(tp).first()?;
    let can_lead = model.live.contains_key(&preferred)
        && !model.shutting_down.contains(&preferred)
        && current.isr.contains(&preferred);
    if !can_lead || current.leader == preferred {
        return None;
    }
    Some(current.next(preferred, current.isr.clone(), controller_epoch))
}

/// The partitions to move back to their preferred leader: for each broker, the partitions that
/// prefer it but are led elsewhere; if their share of all partitions preferring it is above
/// `percentage`, those whose preferred replica can lead now. Partitions being reassigned are left
/// alone.
pub fn imbalanced_partitions(model: &ClusterModel, percentage: i32) -> Vec<TopicPartition> {
    // preferred broker -> (partitions preferring it, those led by someone else)
    let mut per_broker: BTreeMap<i32, (usize, Vec<TopicPartition>)> = BTreeMap::new();
    for tp in model.all_partitions() {
        let Some(preferred) = model.replicas(&tp).first().copied() else {
            continue;
        };
        let entry = per_broker.entry(preferred).or_default();
        entry.0 += 1;
        if model.states.get(&tp).is_some_and(|s| s.leader != preferred) {
            entry.1.push(tp);
        }
    }
    let threshold = f64::from(percentage) / 100.0;
    per_broker
        .into_values()
        .filter(|(total, off)| off.len() as f64 / *total as f64 > threshold)
        .flat_map(|(_, off)| off)
        .filter(|tp| {
            !model.reassignments.contains_key(tp) && preferred_leader(model, tp, 0).is_some()
        })
        .collect()
}

impl Controller {
    /// Arms the next imbalance check as an event on the controller queue.
    pub(super) fn schedule_leader_imbalance_check(&mut self, delay: Duration) {
        if !self.config.auto_leader_rebalance_enable {
            return;
        }
        if let Some(old) = self.rebalance_timer.take() {
            old.abort();
        }
        let events = self.events.clone();
        self.rebalance_timer = Some(tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = events.send(ControllerEvent::LeaderImbalanceCheck);
        }));
    }

    pub(super) async fn on_leader_imbalance_check(&mut self) -> Result<(), ZkError> {
        let tps = imbalanced_partitions(
            &self.model,
            self.config.leader_imbalance_per_broker_percentage,
        );
        if !tps.is_empty() {
            info!(
                partitions = tps.len(),
                "leader imbalance found; electing preferred leaders"
            );
            self.elect_preferred(&tps).await?;
        }
        let interval = self.config.leader_imbalance_check_interval;
        self.schedule_leader_imbalance_check(interval);
        Ok(())
    }

    /// Processes `/admin/preferred_replica_election` (if present) and deletes it; re-arms its watch.
    pub(super) async fn on_preferred_election_requested(&mut self) -> Result<(), ZkError> {
        let (znode, watcher) = self.zk.get_preferred_election_and_watch().await?;
        forward(
            watcher,
            &self.events,
            ControllerEvent::PreferredElectionRequested,
        );
        let Some(znode) = znode else {
            return Ok(());
        };
        let tps: Vec<TopicPartition> = znode
            .partitions
            .into_iter()
            .map(|e| TopicPartition::new(e.topic, e.partition))
            .filter(|tp| self.model.states.contains_key(tp))
            .collect();
        info!(
            partitions = tps.len(),
            "preferred replica election requested"
        );
        self.elect_preferred(&tps).await?;
        self.zk.delete_preferred_election(&self.epoch).await
    }

    /// Elects the preferred replica of each partition where it can lead, and tells the brokers.
    async fn elect_preferred(&mut self, tps: &[TopicPartition]) -> Result<(), ZkError> {
        let started = Instant::now();
        let changed = self.decide_and_write(tps, preferred_leader).await?;
        info!(
            partitions = changed.len(),
            ms = started.elapsed().as_millis() as u64,
            "phase: preferred leaders elected and ZooKeeper written"
        );
        if changed.is_empty() {
            return Ok(());
        }
        self.tell_changed(started, &changed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::fixtures::model;
    use super::*;

    #[test]
    fn the_preferred_replica_leads_only_when_live_and_in_sync() {
        let m = model(
            &[1, 2],
            &[
                (&[1, 2], 2, &[1, 2]),
                (&[1, 2], 2, &[2]),
                (&[3, 2], 2, &[3, 2]),
                (&[2, 1], 2, &[1, 2]),
            ],
        );
        let s = preferred_leader(&m, &TopicPartition::new("t", 0), 9).unwrap();
        assert_eq!((s.leader, s.isr, s.leader_epoch), (1, vec![1, 2], 5));
        for p in 1..4 {
            assert!(
                preferred_leader(&m, &TopicPartition::new("t", p), 9).is_none(),
                "p{p}"
            );
        }
    }

    #[test]
    fn only_brokers_above_the_imbalance_percentage_are_rebalanced() {
        // Broker 1 prefers 4 partitions and leads 3 (25% imbalance); broker 2 prefers 2, leads 0.
        let m = model(
            &[1, 2, 3],
            &[
                (&[1, 2], 1, &[1, 2]),
                (&[1, 2], 1, &[1, 2]),
                (&[1, 2], 1, &[1, 2]),
                (&[1, 2], 2, &[1, 2]),
                (&[2, 1], 1, &[1, 2]),
                (&[2, 3], 3, &[3]),
            ],
        );
        // 10%: both brokers are over; partition 5's preferred replica is out of the ISR.
        assert_eq!(
            imbalanced_partitions(&m, 10),
            vec![
                TopicPartition::new("t".to_string(), 3),
                TopicPartition::new("t".to_string(), 4)
            ]
        );
        // 30%: only broker 2 (100%) is over.
        assert_eq!(
            imbalanced_partitions(&m, 30),
            vec![TopicPartition::new("t".to_string(), 4)]
        );
        assert!(imbalanced_partitions(&m, 100).is_empty());
    }
}
