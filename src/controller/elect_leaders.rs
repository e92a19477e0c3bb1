//! Leader elections asked for by the ElectLeaders API (`kafka-leader-election`; Kafka's
//! `processReplicaLeaderElection` with the `AdminClientTriggered` trigger): PREFERRED moves
//! leadership to the first replica of the assignment when it is live and in sync; UNCLEAN gives a
//! leaderless partition (no leader, or a dead one) a leader, a live replica outside the ISR if no
//! ISR member is live, whatever the topic's `unclean.leader.election.enable`. The decisions are
//! written through the same fenced, batched writes as automatic elections.

use std::time::Instant;

use kafka_protocol::error::ResponseError;
use tracing::info;

use super::context::{elect_leader, ClusterModel, LeaderIsr, TopicPartition};
use super::event_loop::Controller;
use super::preferred::preferred_leader;
use crate::zk::ZkError;

/// The outcome of one partition: its new leader, or Kafka's error code and message.
pub type ElectionOutcome = Result<i32, (ResponseError, Option<String>)>;

/// PREFERRED or UNCLEAN (the request's `election_type` 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

/// Whether `tp` needs the election at all (Kafka's partitioning into electable partitions and
/// those that already have a valid leader).
pub fn election_needed(model: &ClusterModel, tp: &TopicPartition, kind: ElectionType) -> bool {
    let Some(state) = model.states.get(tp) else {
        return false;
    };
    match kind {
        ElectionType::Preferred => model.replicas(tp).first() != Some(&state.leader),
        ElectionType::Unclean => state.leader == -1 || !model.live.contains_key(&state.leader),
    }
}

/// The new state of an electable partition, or None if no replica can lead (Kafka's
/// `PreferredReplicaPartitionLeaderElectionStrategy` and `OfflinePartitionLeaderElectionStrategy`
/// with unclean election allowed).
pub fn decide(
    model: &ClusterModel,
    tp: &TopicPartition,
    kind: ElectionType,
    epoch: i32,
) -> Option<LeaderIsr> {
    match kind {
        ElectionType::Preferred => preferred_leader(model, tp, epoch),
        ElectionType::Unclean => {
            let current = model.states.get(tp)?;
            let next = elect_leader(current, model.replicas(tp), &model.eligible(), true, epoch);
            (next.leader != -1).then_some(next)
        }
    }
}

/// Kafka's error for an electable partition whose election found no leader.
fn failed(tp: &TopicPartition, kind: ElectionType) -> (ResponseError, Option<String>) {
    let (code, strategy) = match kind {
        ElectionType::Preferred => (
            ResponseError::PreferredLeaderNotAvailable,
            "PreferredReplicaPartitionLeaderElectionStrategy",
        ),
        ElectionType::Unclean => (
            ResponseError::EligibleLeadersNotAvailable,
            "OfflinePartitionLeaderElectionStrategy(true)",
        ),
    };
    let message = format!(
        "Failed to elect leader for partition {}-{} under strategy {strategy}",
        tp.topic, tp.partition
    );
    (code, Some(message))
}

impl Controller {
    /// Runs an ElectLeaders request for `partitions` (every partition when None) and answers each.
    pub(super) async fn on_elect_leaders(
        &mut self,
        partitions: Option<Vec<TopicPartition>>,
        kind: ElectionType,
    ) -> Result<Vec<(TopicPartition, ElectionOutcome)>, ZkError> {
        let started = Instant::now();
        let partitions = partitions.unwrap_or_else(|| self.model.all_partitions());
        let mut outcomes = Vec::with_capacity(partitions.len());
        let mut electable = Vec::new();
        for tp in partitions {
            let outcome = if !self.model.states.contains_key(&tp) {
                Err((
                    ResponseError::UnknownTopicOrPartition,
                    Some("The partition does not exist.".to_owned()),
                ))
            } else if self.model.deleting.contains_key(&tp.topic) {
                Err((
                    ResponseError::InvalidTopicException,
                    Some("The topic is being deleted".to_owned()),
                ))
            } else if !election_needed(&self.model, &tp, kind) {
                Err((
                    ResponseError::ElectionNotNeeded,
                    Some(ResponseError::ElectionNotNeeded.to_string()),
                ))
            } else {
                electable.push(tp);
                continue;
            };
            outcomes.push((tp, outcome));
        }
        let changed = self
            .decide_and_write(&electable, |model, tp, epoch| {
                decide(model, tp, kind, epoch)
            })
            .await?;
        for tp in electable {
            let outcome = match self.model.states.get(&tp) {
                Some(s) if changed.contains(&tp) => Ok(s.leader),
                _ => Err(failed(&tp, kind)),
            };
            outcomes.push((tp, outcome));
        }
        info!(
            ?kind,
            elected = changed.len(),
            answered = outcomes.len(),
            "leader election requested through ElectLeaders"
        );
        if !changed.is_empty() {
            self.tell_changed(started, &changed);
        }
        Ok(outcomes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::fixtures::model;
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    #[test]
    fn preferred_elections_are_needed_where_the_first_replica_does_not_lead() {
        let m = model(
            &[1, 2],
            &[
                (&[1, 2], 1, &[1, 2]),
                (&[1, 2], 2, &[1, 2]),
                (&[1, 2], 2, &[2]),
            ],
        );
        assert!(!election_needed(&m, &tp(0), ElectionType::Preferred));
        assert!(election_needed(&m, &tp(1), ElectionType::Preferred));
        let s = decide(&m, &tp(1), ElectionType::Preferred, 7).expect("1 is live and in sync");
        assert_eq!((s.leader, s.isr), (1, vec![1, 2]));
        // Needed, but the preferred replica is out of the ISR.
        assert!(election_needed(&m, &tp(2), ElectionType::Preferred));
        assert!(decide(&m, &tp(2), ElectionType::Preferred, 7).is_none());
        assert!(!election_needed(&m, &tp(9), ElectionType::Preferred));
    }

    #[test]
    fn unclean_elections_pick_a_live_replica_outside_the_isr() {
        // Broker 3 is dead: partition 0 leads on a live broker, 1 has a dead leader whose ISR is
        // only itself, 2 has no live replica at all.
        let m = model(
            &[1, 2],
            &[(&[1, 2], 1, &[1, 2]), (&[3, 2], 3, &[3]), (&[3], -1, &[3])],
        );
        assert!(!election_needed(&m, &tp(0), ElectionType::Unclean));
        assert!(election_needed(&m, &tp(1), ElectionType::Unclean));
        let s = decide(&m, &tp(1), ElectionType::Unclean, 7).expect("2 is live");
        assert_eq!(
            (s.leader, s.isr, s.leader_recovery_state),
            (2, vec![2], Some(1))
        );
        assert!(election_needed(&m, &tp(2), ElectionType::Unclean));
        assert!(decide(&m, &tp(2), ElectionType::Unclean, 7).is_none());
    }

    #[test]
    fn failures_carry_kafkas_codes_and_strategy_names() {
        let (code, message) = failed(&tp(3), ElectionType::Preferred);
        assert_eq!(code, ResponseError::PreferredLeaderNotAvailable);
        assert_eq!(
            message.as_deref(),
            Some("Failed to elect leader for partition t-3 under strategy PreferredReplicaPartitionLeaderElectionStrategy")
        );
        assert_eq!(
            failed(&tp(3), ElectionType::Unclean).0,
            ResponseError::EligibleLeadersNotAvailable
        );
    }
}
