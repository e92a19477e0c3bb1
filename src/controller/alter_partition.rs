//! AlterPartition on the active controller (Kafka's `KafkaController.processAlterPartition`): a
//! partition leader proposes a new ISR; the controller checks it against its model, writes the state
//! znode (fenced, conditional on the partition epoch) and answers with what is now in ZooKeeper.
//! Leaders never write state znodes themselves, so this is the only way an ISR grows back.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerId, TopicName,
};
use tokio::sync::oneshot;
use tracing::{debug, info};
use uuid::Uuid;

use super::context::{ClusterModel, LeaderIsr, TopicPartition};
use super::event_loop::Controller;
use crate::metadata::str_bytes;
use crate::zk::ZkError;

/// INELIGIBLE_REPLICA (KIP-841); newer than the error enum of kafka-protocol 0.15.
pub const INELIGIBLE_REPLICA: i16 = 107;
/// `LeaderRecoveryState.RECOVERING`.
const RECOVERING: i8 = 1;

/// One partition's proposal, whatever the request version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal {
    pub leader_epoch: i32,
    pub new_isr: Vec<i32>,
    /// Broker epochs of the ISR members (v3+); -1 where unknown.
    pub isr_epochs: Vec<i64>,
    pub leader_recovery_state: i8,
    pub partition_epoch: i32,
}

/// What to do with a valid proposal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// The partition is already in the proposed state (a retry): answer with it, write nothing.
    Unchanged(LeaderIsr),
    /// Write this state, conditional on its `zk_version`.
    Write(LeaderIsr),
}

/// Checks a proposal from `sender` in Kafka's order: epochs ahead of ours (we are probably no longer
/// the controller), a fenced leader epoch, a sender that does not lead, idempotent retries, a stale
/// partition epoch, recovery-state rules, then ISR members that are not live or whose replica is on
/// an offline log dir.
pub fn decide(
    model: &ClusterModel,
    sender: i32,
    tp: &TopicPartition,
    p: &Proposal,
    version: i16,
    controller_epoch: i32,
) -> Result<Accepted, i16> {
    let Some(current) = model.states.get(tp) else {
        return Err(ResponseError::UnknownTopicOrPartition.code());
    };
    if p.partition_epoch > current.zk_version || p.leader_epoch > current.leader_epoch {
        return Err(ResponseError::NotController.code());
    }
    if p.leader_epoch < current.leader_epoch {
        return Err(ResponseError::FencedLeaderEpoch.code());
    }
    if sender != current.leader {
        return Err(ResponseError::NotLeaderOrFollower.code());
    }
    let current_recovery = current.leader_recovery_state.unwrap_or(0);
    if p.new_isr == current.isr && p.leader_recovery_state == current_recovery {
        return Ok(Accepted::Unchanged(current.clone()));
    }
    if p.partition_epoch < current.zk_version {
        return Err(ResponseError::InvalidUpdateVersion.code());
    }
    if p.new_isr.is_empty()
        || (p.leader_recovery_state == RECOVERING && p.new_isr.len() > 1)
        || (current_recovery != RECOVERING && p.leader_recovery_state == RECOVERING)
    {
        return Err(ResponseError::InvalidRequest.code());
    }
    let eligible = model.eligible();
    let ineligible = p.new_isr.iter().enumerate().any(|(i, r)| {
        // The leader itself stays eligible for its own ISR even while it shuts down; a replica
        // on a failed log dir never is (Kafka's `isReplicaOnline`).
        let known = (*r == sender || eligible.contains_key(r)) && model.is_replica_online(*r, tp);
        let epoch = p.isr_epochs.get(i).copied().unwrap_or(-1);
        let same_epoch = epoch < 0 || model.live.get(r).is_some_and(|b| b.epoch == epoch);
        !known || !same_epoch
    });
    if ineligible {
        return Err(if version > 1 {
            INELIGIBLE_REPLICA
        } else {
            ResponseError::OperationNotAttempted.code()
        });
    }
    Ok(Accepted::Write(LeaderIsr {
        isr: p.new_isr.clone(),
        controller_epoch,
        leader_recovery_state: (p.leader_recovery_state == RECOVERING).then_some(RECOVERING),
        ..current.clone()
    }))
}

/// The request's partitions by name; topics given by an unknown id are returned apart.
#[allow(clippy::type_complexity)]
fn proposals(
    model: &ClusterModel,
    req: &AlterPartitionRequest,
    version: i16,
) -> (Vec<(TopicPartition, Proposal)>, Vec<(Uuid, Vec<i32>)>) {
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for topic in &req.topics {
        let name = if version >= 2 {
            match model.topic_name(&topic.topic_id) {
                Some(n) => n.to_string(),
                None => {
                    let parts = topic.partitions.iter().map(|p| p.partition_index);
                    unknown.push((topic.topic_id, parts.collect()));
                    continue;
                }
            }
        } else {
            topic.topic_name.0.to_string()
        };
        for p in &topic.partitions {
            let (new_isr, isr_epochs) = if version >= 3 {
                p.new_isr_with_epochs
                    .iter()
                    .map(|b| (b.broker_id.0, b.broker_epoch))
                    .unzip()
            } else {
                let isr: Vec<i32> = p.new_isr.iter().map(|b| b.0).collect();
                let epochs = vec![-1; isr.len()];
                (isr, epochs)
            };
            let proposal = Proposal {
                leader_epoch: p.leader_epoch,
                new_isr,
                isr_epochs,
                leader_recovery_state: p.leader_recovery_state,
                partition_epoch: p.partition_epoch,
            };
            known.push((
                TopicPartition::new(name.clone(), p.partition_index),
                proposal,
            ));
        }
    }
    (known, unknown)
}

fn partition_ok(index: i32, s: &LeaderIsr) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_leader_id(BrokerId(s.leader))
        .with_leader_epoch(s.leader_epoch)
        .with_isr(s.isr.iter().map(|b| BrokerId(*b)).collect())
        .with_leader_recovery_state(s.leader_recovery_state.unwrap_or(0))
        .with_partition_epoch(s.zk_version)
}

fn partition_err(index: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code)
}

impl Controller {
    /// Handles one AlterPartition request and answers it through `reply`. A ZooKeeper failure ends
    /// the term; the dropped `reply` then reads as NOT_CONTROLLER to the waiting handler.
    pub(super) async fn on_alter_partition(
        &mut self,
        req: AlterPartitionRequest,
        version: i16,
        reply: oneshot::Sender<AlterPartitionResponse>,
    ) -> Result<(), ZkError> {
        let sender = req.broker_id.0;
        if self.model.live.get(&sender).map(|b| b.epoch) != Some(req.broker_epoch) {
            info!(
                broker = sender,
                broker_epoch = req.broker_epoch,
                "AlterPartition from an unknown broker epoch"
            );
            let _ = reply.send(
                AlterPartitionResponse::default()
                    .with_error_code(ResponseError::StaleBrokerEpoch.code()),
            );
            return Ok(());
        }
        let (proposals, unknown) = proposals(&self.model, &req, version);
        let mut answers: BTreeMap<TopicPartition, PartitionData> = BTreeMap::new();
        let mut writes = Vec::new();
        for (tp, p) in &proposals {
            match decide(&self.model, sender, tp, p, version, self.epoch.epoch) {
                Ok(Accepted::Unchanged(s)) => {
                    answers.insert(tp.clone(), partition_ok(tp.partition, &s));
                }
                Ok(Accepted::Write(s)) => writes.push((tp.clone(), s)),
                Err(code) => {
                    debug!(topic = %tp.topic, partition = tp.partition, error_code = code, "AlterPartition refused");
                    answers.insert(tp.clone(), partition_err(tp.partition, code));
                }
            }
        }
        let written = self.write_alterations(writes, &mut answers).await?;
        let exists: Vec<TopicPartition> = proposals
            .iter()
            .map(|(tp, _)| tp.clone())
            .filter(|tp| self.model.states.contains_key(tp))
            .collect();
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        self.send_update_metadata(&brokers, &exists, &[]);
        let _ = reply.send(self.alter_response(answers, unknown, version));
        // An ISR that caught up may complete a reassignment.
        self.continue_reassignments(&written).await
    }

    /// Writes accepted proposals in one fenced batch; a version conflict is INVALID_UPDATE_VERSION.
    async fn write_alterations(
        &mut self,
        writes: Vec<(TopicPartition, LeaderIsr)>,
        answers: &mut BTreeMap<TopicPartition, PartitionData>,
    ) -> Result<Vec<TopicPartition>, ZkError> {
        if writes.is_empty() {
            return Ok(Vec::new());
        }
        let ops: Vec<_> = writes
            .iter()
            .map(|(tp, s)| (tp.clone(), s.to_znode(), s.zk_version))
            .collect();
        let results = self.zk.update_partition_states(&self.epoch, &ops).await?;
        let mut written = Vec::new();
        for ((tp, mut s), result) in writes.into_iter().zip(results) {
            let answer = match result {
                Ok(version) => {
                    s.zk_version = version;
                    let answer = partition_ok(tp.partition, &s);
                    debug!(topic = %tp.topic, partition = tp.partition, isr = ?s.isr, partition_epoch = version,
                        "ISR changed by its leader");
                    self.model.states.insert(tp.clone(), s);
                    written.push(tp.clone());
                    answer
                }
                Err(ZkError::BadVersion(_)) => {
                    partition_err(tp.partition, ResponseError::InvalidUpdateVersion.code())
                }
                Err(_) => partition_err(tp.partition, ResponseError::UnknownServerError.code()),
            };
            answers.insert(tp, answer);
        }
        info!(
            partitions = answers.len(),
            written = written.len(),
            "AlterPartition applied"
        );
        // A version conflict means our model is behind ZooKeeper: read those states back.
        let stale: Vec<TopicPartition> = answers
            .iter()
            .filter(|(_, a)| a.error_code == ResponseError::InvalidUpdateVersion.code())
            .map(|(tp, _)| tp.clone())
            .collect();
        self.reread_states(&stale).await?;
        Ok(written)
    }

    fn alter_response(
        &self,
        answers: BTreeMap<TopicPartition, PartitionData>,
        unknown: Vec<(Uuid, Vec<i32>)>,
        version: i16,
    ) -> AlterPartitionResponse {
        let mut per_topic: BTreeMap<String, Vec<PartitionData>> = BTreeMap::new();
        for (TopicPartition { topic, .. }, answer) in answers {
            per_topic.entry(topic).or_default().push(answer);
        }
        let mut topics: Vec<TopicData> = per_topic
            .into_iter()
            .map(|(name, partitions)| {
                let t = TopicData::default().with_partitions(partitions);
                if version >= 2 {
                    let id = self.model.topics.get(&name).map(|t| t.id);
                    t.with_topic_id(id.unwrap_or_default())
                } else {
                    t.with_topic_name(TopicName(str_bytes(name)))
                }
            })
            .collect();
        topics.extend(unknown.into_iter().map(|(id, parts)| {
            let code = ResponseError::UnknownTopicId.code();
            TopicData::default()
                .with_topic_id(id)
                .with_partitions(parts.into_iter().map(|p| partition_err(p, code)).collect())
        }));
        AlterPartitionResponse::default().with_topics(topics)
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::fixtures::model;
    use super::*;

    fn proposal(leader_epoch: i32, isr: &[i32], partition_epoch: i32) -> Proposal {
        Proposal {
            leader_epoch,
            new_isr: isr.to_vec(),
            isr_epochs: vec![-1; isr.len()],
            leader_recovery_state: 0,
            partition_epoch,
        }
    }

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[test]
    fn expansion_by_the_leader_is_written_with_the_same_leader_epoch() {
        let m = model(&[1, 2, 3], &[(&[1, 2, 3], 1, &[1])]);
        let d = decide(&m, 1, &tp(), &proposal(4, &[1, 2], 7), 2, 9).unwrap();
        let Accepted::Write(s) = d else {
            panic!("expected a write: {d:?}")
        };
        assert_eq!(
            (
                s.leader,
                s.leader_epoch,
                s.isr,
                s.zk_version,
                s.controller_epoch
            ),
            (1, 4, vec![1, 2], 7, 9)
        );
    }

    #[test]
    fn epochs_and_leadership_are_checked_in_kafkas_order() {
        let m = model(&[1, 2, 3], &[(&[1, 2, 3], 1, &[1, 2])]);
        let d = |sender, p: Proposal| decide(&m, sender, &tp(), &p, 2, 9);
        assert_eq!(
            d(1, proposal(5, &[1], 7)),
            Err(ResponseError::NotController.code())
        );
        assert_eq!(
            d(1, proposal(4, &[1], 8)),
            Err(ResponseError::NotController.code())
        );
        assert_eq!(
            d(1, proposal(3, &[1], 7)),
            Err(ResponseError::FencedLeaderEpoch.code())
        );
        assert_eq!(
            d(2, proposal(4, &[2], 7)),
            Err(ResponseError::NotLeaderOrFollower.code())
        );
        assert_eq!(
            d(1, proposal(4, &[1], 6)),
            Err(ResponseError::InvalidUpdateVersion.code())
        );
        // A retry of what is already written is answered, even with a stale partition epoch.
        assert!(matches!(
            d(1, proposal(4, &[1, 2], 6)),
            Ok(Accepted::Unchanged(_))
        ));
        assert_eq!(
            d(1, proposal(4, &[], 7)),
            Err(ResponseError::InvalidRequest.code())
        );
    }

    #[test]
    fn dead_or_bounced_isr_members_are_ineligible() {
        let m = model(&[1, 2], &[(&[1, 2, 3], 1, &[1])]);
        let p = proposal(4, &[1, 3], 7);
        assert_eq!(decide(&m, 1, &tp(), &p, 2, 9), Err(INELIGIBLE_REPLICA));
        assert_eq!(
            decide(&m, 1, &tp(), &p, 1, 9),
            Err(ResponseError::OperationNotAttempted.code())
        );
        let mut bounced = proposal(4, &[1, 2], 7);
        bounced.isr_epochs = vec![1, 99];
        assert_eq!(
            decide(&m, 1, &tp(), &bounced, 3, 9),
            Err(INELIGIBLE_REPLICA)
        );
        let mut shutting = model(&[1, 2], &[(&[1, 2], 1, &[1])]);
        shutting.shutting_down.insert(2);
        assert_eq!(
            decide(&shutting, 1, &tp(), &proposal(4, &[1, 2], 7), 2, 9),
            Err(INELIGIBLE_REPLICA)
        );
        let mut offline_dir = model(&[1, 2], &[(&[1, 2], 1, &[1])]);
        offline_dir
            .offline_replicas
            .entry(2)
            .or_default()
            .insert(tp());
        assert_eq!(
            decide(&offline_dir, 1, &tp(), &proposal(4, &[1, 2], 7), 2, 9),
            Err(INELIGIBLE_REPLICA)
        );
    }

    #[test]
    fn unknown_partitions_are_reported() {
        let m = model(&[1], &[(&[1], 1, &[1])]);
        let other = TopicPartition::new("t", 5);
        assert_eq!(
            decide(&m, 1, &other, &proposal(4, &[1], 7), 2, 9),
            Err(ResponseError::UnknownTopicOrPartition.code())
        );
    }
}
