//! The controller's write and tell steps: decide new partition states, write them to ZooKeeper in
//! fenced batches (re-deciding partitions whose version check failed), and queue the LeaderAndIsr,
//! UpdateMetadata and StopReplica requests that tell brokers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::channel::ControlRequest;
use super::context::{
    elect_leader, new_partition_state, shrink_isr, ClusterModel, LeaderIsr, LiveBroker,
    TopicPartition,
};
use super::event_loop::Controller;
use super::event_stream::EventMark;
use super::requests;
use crate::metrics::{controller_phase, Phase};
use crate::zk::ZkError;

/// One acknowledgement per broker a control request went to: (broker id, its error code).
pub(super) type Acks = Vec<(i32, oneshot::Receiver<i16>)>;

/// Attempts at a partition-state write whose version check keeps failing.
const WRITE_ATTEMPTS: usize = 3;

impl Controller {
    /// Writes initial states for new partitions; a state that already exists (a previous controller
    /// wrote it) is read back instead.
    pub(super) async fn create_states(
        &mut self,
        tps: &[TopicPartition],
    ) -> Result<Vec<TopicPartition>, ZkError> {
        let mut states = Vec::new();
        // Brokers in controlled shutdown neither lead nor join the ISR of a new partition.
        let eligible = self.model.eligible();
        for tp in tps {
            match new_partition_state(self.model.replicas(tp), &eligible, self.epoch.epoch) {
                Some(s) => states.push((tp.clone(), s)),
                None => {
                    warn!(topic = %tp.topic, partition = tp.partition, "no live replica for new partition")
                }
            }
        }
        controller_phase(Phase::LeadersChosen);
        let writes: Vec<(TopicPartition, crate::zk::PartitionState)> = states
            .iter()
            .map(|(tp, s)| (tp.clone(), s.to_znode()))
            .collect();
        let results = self
            .zk
            .create_partition_states(&self.epoch, &writes)
            .await?;
        controller_phase(Phase::ZkWritten);
        let mut created = Vec::new();
        let mut reread = Vec::new();
        for ((tp, mut s), result) in states.into_iter().zip(results) {
            match result {
                Ok(version) => {
                    s.zk_version = version;
                    self.model.states.insert(tp.clone(), s);
                    created.push(tp);
                }
                Err(e) => {
                    warn!(topic = %tp.topic, partition = tp.partition, error = %e, "partition state exists; reading it");
                    reread.push(tp);
                }
            }
        }
        self.reread_states(&reread).await?;
        created.extend(reread);
        Ok(created)
    }

    pub(super) async fn reread_states(&mut self, tps: &[TopicPartition]) -> Result<(), ZkError> {
        if tps.is_empty() {
            return Ok(());
        }
        let states = self.zk.get_partition_states(tps).await?;
        for (tp, state) in tps.iter().zip(states) {
            if let Some((s, v)) = state {
                self.model
                    .states
                    .insert(tp.clone(), LeaderIsr::from_znode(&s, v));
            }
        }
        Ok(())
    }

    pub(super) async fn elect_and_write(
        &mut self,
        tps: &[TopicPartition],
    ) -> Result<Vec<TopicPartition>, ZkError> {
        let broker_default = self.config.unclean_leader_election_enable;
        // A broker in controlled shutdown is still registered but must not be chosen.
        let eligible = self.model.eligible();
        self.refresh_unclean_settings(tps, &eligible).await?;
        self.decide_and_write(tps, move |model, tp, epoch| {
            let current = model.states.get(tp)?;
            let unclean = model.unclean_election_allowed(&tp.topic, broker_default);
            // Replicas on a failed log dir cannot lead (Kafka's `isReplicaOnline`).
            let candidates = model.online_for(tp, &eligible);
            let next = elect_leader(current, model.replicas(tp), &candidates, unclean, epoch);
            if next.leader != -1 && !current.isr.contains(&next.leader) {
                crate::metrics::unclean_election();
            }
            // Still leaderless: nothing to write.
            (next.leader != -1 || current.leader != -1).then_some(next)
        })
        .await
    }

    /// Re-reads `/config/topics/<t>` for the topics of partitions that have no eligible ISR
    /// member left, so an `unclean.leader.election.enable` set since the topic was loaded is
    /// honoured: Kafka's controller reads the topic configs at exactly this point
    /// (`collectUncleanLeaderElectionState`), and only for those partitions, so a clean failover
    /// costs no extra ZooKeeper reads.
    async fn refresh_unclean_settings(
        &mut self,
        tps: &[TopicPartition],
        eligible: &BTreeMap<i32, LiveBroker>,
    ) -> Result<(), ZkError> {
        let topics: BTreeSet<String> = tps
            .iter()
            .filter(|tp| {
                self.model
                    .states
                    .get(tp)
                    .is_some_and(|s| !s.isr.iter().any(|r| eligible.contains_key(r)))
            })
            .map(|tp| tp.topic.clone())
            .collect();
        if topics.is_empty() {
            return Ok(());
        }
        let topics: Vec<String> = topics.into_iter().collect();
        let configs = self.zk.get_topic_configs(&topics).await?;
        for (name, config) in configs {
            if let Some(t) = self.model.topics.get_mut(&name) {
                t.unclean_leader_election = unclean_setting(&config);
            }
        }
        Ok(())
    }

    pub(super) async fn shrink_and_write(
        &mut self,
        tps: &[TopicPartition],
    ) -> Result<Vec<TopicPartition>, ZkError> {
        self.decide_and_write(tps, |model, tp, epoch| {
            shrink_isr(model.states.get(tp)?, &model.live, epoch)
        })
        .await
    }

    /// Decides a new state per partition and writes them all in fenced batches; partitions whose
    /// version check failed are re-read and decided again.
    pub(super) async fn decide_and_write(
        &mut self,
        tps: &[TopicPartition],
        decide: impl Fn(&ClusterModel, &TopicPartition, i32) -> Option<LeaderIsr>,
    ) -> Result<Vec<TopicPartition>, ZkError> {
        let mut pending: Vec<TopicPartition> = tps.to_vec();
        let mut changed = Vec::new();
        for _ in 0..WRITE_ATTEMPTS {
            let updates: Vec<(TopicPartition, LeaderIsr)> = pending
                .iter()
                .filter_map(|tp| decide(&self.model, tp, self.epoch.epoch).map(|s| (tp.clone(), s)))
                .collect();
            if !self.chosen_announced {
                self.chosen_announced = true;
                self.mark.emit(Phase::LeadersChosen, updates.len(), &[]);
            }
            if updates.is_empty() {
                break;
            }
            controller_phase(Phase::LeadersChosen);
            let writes: Vec<(TopicPartition, crate::zk::PartitionState, i32)> = updates
                .iter()
                .map(|(tp, s)| (tp.clone(), s.to_znode(), s.zk_version))
                .collect();
            let results = self
                .zk
                .update_partition_states(&self.epoch, &writes)
                .await?;
            controller_phase(Phase::ZkWritten);
            let mut retry = Vec::new();
            for ((tp, mut s), result) in updates.into_iter().zip(results) {
                match result {
                    Ok(version) => {
                        s.zk_version = version;
                        self.model.states.insert(tp.clone(), s);
                        changed.push(tp);
                    }
                    Err(ZkError::BadVersion(_)) => retry.push(tp),
                    Err(e) => {
                        warn!(topic = %tp.topic, partition = tp.partition, error = %e, "partition state write failed")
                    }
                }
            }
            if retry.is_empty() {
                break;
            }
            self.reread_states(&retry).await?;
            pending = retry;
        }
        Ok(changed)
    }

    pub(super) fn send_leader_and_isr(&self, tps: &[TopicPartition], is_new: bool) -> Acks {
        self.send_leader_and_isr_to(tps, is_new, &BTreeSet::new())
    }

    /// [`Self::send_leader_and_isr`], telling brokers in controlled shutdown of the partitions in
    /// `tell_shutting_down` too.
    pub(super) fn send_leader_and_isr_to(
        &self,
        tps: &[TopicPartition],
        is_new: bool,
        tell_shutting_down: &BTreeSet<TopicPartition>,
    ) -> Acks {
        let mut acks = Vec::new();
        let reqs = requests::leader_and_isr(
            &self.model,
            &self.epoch,
            self.config.broker_id,
            tps,
            is_new,
            tell_shutting_down,
        );
        for (broker, req) in reqs {
            let (tx, rx) = oneshot::channel();
            if self
                .channels
                .send(broker, ControlRequest::LeaderAndIsr(req, Some(tx)))
            {
                acks.push((broker, rx));
            }
        }
        controller_phase(Phase::LeaderAndIsrSent);
        acks
    }

    /// Tells brokers about partitions whose state changed: LeaderAndIsr to their replicas,
    /// UpdateMetadata to every live broker, and the acknowledgement phases logged from `started`.
    pub(super) fn tell_changed(&mut self, started: Instant, changed: &[TopicPartition]) {
        self.mark.emit(Phase::ZkWritten, changed.len(), &[]);
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        let lai = self.send_leader_and_isr(changed, false);
        let um = self.send_update_metadata(&brokers, changed, &[]);
        self.await_acks(started, changed.len(), lai, um);
    }

    /// Notes that the LeaderAndIsr requests are queued and hands the acknowledgements to a task
    /// that logs them and writes the event's last phases, `event_done` included.
    pub(super) fn await_acks(&mut self, started: Instant, partitions: usize, lai: Acks, um: Acks) {
        let brokers: Vec<i32> = lai.iter().map(|(b, _)| *b).collect();
        self.mark
            .emit(Phase::LeaderAndIsrSent, partitions, &brokers);
        self.done_deferred = true;
        report_acks(started, partitions, lai, um, self.mark.clone());
    }

    pub(super) fn send_update_metadata(
        &self,
        brokers: &[i32],
        tps: &[TopicPartition],
        deleted: &[TopicPartition],
    ) -> Acks {
        let template = requests::update_metadata(
            &self.model,
            &self.epoch,
            self.config.broker_id,
            tps,
            deleted,
        );
        let mut acks = Vec::new();
        for broker in brokers {
            let epoch = self.model.live.get(broker).map(|b| b.epoch).unwrap_or(-1);
            let (tx, rx) = oneshot::channel();
            let req = template.clone().with_broker_epoch(epoch);
            if self
                .channels
                .send(*broker, ControlRequest::UpdateMetadata(req, Some(tx)))
            {
                acks.push((*broker, rx));
            }
        }
        acks
    }
}

/// Logs when every broker has acknowledged the LeaderAndIsr and UpdateMetadata requests of a broker
/// change, measured from the moment the change was seen.
fn report_acks(seen: Instant, partitions: usize, lai: Acks, um: Acks, mark: EventMark) {
    let clock = crate::metrics::controller_clock();
    tokio::spawn(async move {
        let n = lai.len();
        let lai_brokers: Vec<i32> = lai.iter().map(|(b, _)| *b).collect();
        for (_, rx) in lai {
            let _ = rx.await;
        }
        mark.emit(Phase::LeaderAndIsrAcked, partitions, &lai_brokers);
        info!(
            partitions,
            brokers = n,
            ms = seen.elapsed().as_millis() as u64,
            "phase: LeaderAndIsr acknowledged"
        );
        crate::metrics::controller_phase_of(clock, Phase::LeaderAndIsrAcked);
        let n = um.len();
        let um_brokers: Vec<i32> = um.iter().map(|(b, _)| *b).collect();
        for (_, rx) in um {
            let _ = rx.await;
        }
        mark.emit(Phase::UpdateMetadataAcked, partitions, &um_brokers);
        mark.emit(Phase::EventDone, partitions, &[]);
        info!(
            partitions,
            brokers = n,
            ms = seen.elapsed().as_millis() as u64,
            "phase: UpdateMetadata acknowledged"
        );
        crate::metrics::controller_phase_of(clock, Phase::UpdateMetadataAcked);
    });
}

/// A topic's own `unclean.leader.election.enable`, if it sets one.
pub(super) fn unclean_setting(config: &BTreeMap<String, String>) -> Option<bool> {
    config
        .get("unclean.leader.election.enable")
        .map(|v| v.eq_ignore_ascii_case("true"))
}
