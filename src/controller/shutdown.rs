//! Controlled shutdown on the active controller (Kafka's `KafkaController.doControlledShutdown`):
//! before a broker stops, leadership of the partitions it leads moves to another ISR member
//! (`ControlledShutdownPartitionLeaderElectionStrategy`) and it leaves the ISR of the partitions it
//! follows, so clients see a leader change instead of an outage. The broker retries while it still
//! leads partitions (e.g. with replication factor 1) and then stops anyway.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::channel::ControlRequest;
use super::context::{ClusterModel, LeaderIsr, TopicPartition};
use super::event_loop::Controller;
use super::event_stream::Phase;
use super::{requests, ShutdownOutcome};
use crate::zk::ZkError;

/// The partitions controlled shutdown acts on for `broker`: replicated ones (more than one replica)
/// that have a state, split into (led by it, followed by it).
pub fn partitions_to_act_on(
    model: &ClusterModel,
    broker: i32,
) -> (Vec<TopicPartition>, Vec<TopicPartition>) {
    model
        .states
        .iter()
        .filter(|(tp, _)| {
            let replicas = model.replicas(tp);
            replicas.len() > 1 && replicas.contains(&broker)
        })
        .map(|(tp, s)| (tp.clone(), s.leader == broker))
        .fold(
            (Vec::new(), Vec::new()),
            |(mut led, mut followed), (tp, leads)| {
                if leads {
                    led.push(tp)
                } else {
                    followed.push(tp)
                }
                (led, followed)
            },
        )
}

/// Kafka's controlled-shutdown election: the first assigned replica that is live, in the ISR and
/// not shutting down leads; shutting-down brokers leave the ISR. None when no such replica exists
/// (the partition stays with the shutting-down broker and is reported as remaining).
pub fn controlled_shutdown_leader(
    model: &ClusterModel,
    tp: &TopicPartition,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    let current = model.states.get(tp)?;
    let leader = model.replicas(tp).iter().copied().find(|r| {
        model.live.contains_key(r) && current.isr.contains(r) && !model.shutting_down.contains(r)
    })?;
    let isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|r| !model.shutting_down.contains(r))
        .collect();
    Some(current.next(leader, isr, controller_epoch))
}

/// Kafka's OfflineReplica transition for a follower: it leaves the ISR (which never becomes empty),
/// with a new leader epoch. None when it is not in the ISR.
pub fn remove_from_isr(
    current: &LeaderIsr,
    replica: i32,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    if !current.isr.contains(&replica) {
        return None;
    }
    let isr: Vec<i32> = if current.isr.len() == 1 {
        current.isr.clone()
    } else {
        current
            .isr
            .iter()
            .copied()
            .filter(|r| *r != replica)
            .collect()
    };
    let leader = if current.leader == replica {
        -1
    } else {
        current.leader
    };
    Some(current.next(leader, isr, controller_epoch))
}

impl Controller {
    /// Handles a ControlledShutdown request and answers with the partitions the broker still leads.
    pub(super) async fn on_controlled_shutdown(
        &mut self,
        broker: i32,
        broker_epoch: i64,
        reply: oneshot::Sender<ShutdownOutcome>,
    ) -> Result<(), ZkError> {
        let Some(cached) = self.model.live.get(&broker).map(|b| b.epoch) else {
            let _ = reply.send(Err(ResponseError::BrokerNotAvailable));
            return Ok(());
        };
        // Only the broker's current registration may shut it down: a forged or old epoch would
        // otherwise move every leadership away from a healthy broker. A newer epoch than the model
        // holds may be a re-registration whose watch has not fired yet; ZooKeeper decides.
        let current = broker_epoch == cached
            || (broker_epoch > cached
                && self.zk.get_broker_epoch(broker).await? == Some(broker_epoch));
        if !current {
            warn!(
                broker,
                broker_epoch,
                registered_epoch = cached,
                "refusing ControlledShutdown for another registration"
            );
            let _ = reply.send(Err(ResponseError::StaleBrokerEpoch));
            return Ok(());
        }
        let started = Instant::now();
        self.model.shutting_down.insert(broker);
        let (led, followed) = partitions_to_act_on(&self.model, broker);
        info!(
            broker,
            led = led.len(),
            followed = followed.len(),
            ms = started.elapsed().as_millis() as u64,
            "phase: controlled shutdown started"
        );
        // The broker stops following (logs kept) before it leaves those ISRs.
        let stops = requests::stop_replica(
            &self.model,
            &self.epoch,
            self.config.broker_id,
            &BTreeMap::from([(broker, followed.clone())]),
            false,
        );
        for (b, req) in stops {
            self.channels
                .send(b, ControlRequest::StopReplica(req, None));
        }
        // New leaders for what it leads and smaller ISRs for what it follows go out in the same
        // pipelined batches: one pass of ZooKeeper round trips instead of two.
        let all: Vec<TopicPartition> = led.iter().chain(&followed).cloned().collect();
        let changed = self
            .decide_and_write(&all, |model, tp, epoch| {
                let current = model.states.get(tp)?;
                if current.leader == broker {
                    controlled_shutdown_leader(model, tp, epoch)
                } else {
                    remove_from_isr(current, broker, epoch)
                }
            })
            .await?;
        info!(
            broker,
            partitions = changed.len(),
            ms = started.elapsed().as_millis() as u64,
            "phase: controlled shutdown leaders moved, ISRs shrunk and ZooKeeper written"
        );
        // Every registered broker gets the requests, the leaving one too (Kafka's
        // `liveOrShuttingDownBrokerIds`), but only the staying ones count as "brokers updated":
        // the leaving broker answers last, busy shutting down, and then it is gone.
        let staying: Vec<i32> = self
            .model
            .live
            .keys()
            .copied()
            .filter(|b| *b != broker)
            .collect();
        // The leaving broker learns its leaderships moved (it becomes a follower and refuses
        // produce); the ISR shrinks that drop it go to the other replicas only.
        let led: BTreeSet<TopicPartition> = led.into_iter().collect();
        self.mark.emit(Phase::ZkWritten, changed.len(), &[broker]);
        let mut lai = self.send_leader_and_isr_to(&changed, false, &led);
        lai.retain(|(b, _)| *b != broker);
        let um = self.send_update_metadata(&staying, &changed, &[]);
        self.send_update_metadata(&[broker], &changed, &[]);
        info!(
            broker,
            partitions = changed.len(),
            ms = started.elapsed().as_millis() as u64,
            "phase: controlled shutdown LeaderAndIsr and UpdateMetadata sent"
        );
        self.await_acks(started, changed.len(), lai, um);
        // Kafka's `replicatedPartitionsBrokerLeads`: a partition with one replica has nowhere to
        // go, so it never holds the shutdown up.
        let remaining: Vec<TopicPartition> = self
            .model
            .states
            .iter()
            .filter(|(tp, s)| s.leader == broker && self.model.replicas(tp).len() > 1)
            .map(|(tp, _)| tp.clone())
            .collect();
        info!(
            broker,
            remaining = remaining.len(),
            ms = started.elapsed().as_millis() as u64,
            "phase: controlled shutdown answered"
        );
        let _ = reply.send(Ok(remaining));
        self.continue_reassignments(&changed).await
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
    fn splits_replicated_partitions_into_led_and_followed() {
        let m = model(
            &[1, 2, 3],
            &[
                (&[1, 2, 3], 1, &[1, 2, 3]),
                (&[2, 1, 3], 2, &[2, 1, 3]),
                (&[1], 1, &[1]),
                (&[2, 3], 2, &[2, 3]),
            ],
        );
        assert_eq!(partitions_to_act_on(&m, 1), (vec![tp(0)], vec![tp(1)]));
    }

    #[test]
    fn leadership_moves_to_the_next_isr_member_not_shutting_down() {
        let mut m = model(&[1, 2, 3], &[(&[1, 2, 3], 1, &[1, 3]), (&[1, 2], 1, &[1])]);
        m.shutting_down.insert(1);
        let s = controlled_shutdown_leader(&m, &tp(0), 9).unwrap();
        assert_eq!((s.leader, s.isr, s.leader_epoch), (3, vec![3], 5));
        // No other ISR member: the partition stays where it is.
        assert!(controlled_shutdown_leader(&m, &tp(1), 9).is_none());
    }

    #[test]
    fn a_follower_leaves_the_isr_but_never_empties_it() {
        let m = model(&[1, 2], &[(&[1, 2], 1, &[1, 2])]);
        let s = remove_from_isr(&m.states[&tp(0)], 2, 9).unwrap();
        assert_eq!((s.leader, s.isr.clone(), s.leader_epoch), (1, vec![1], 5));
        let lonely = remove_from_isr(&s, 1, 9).unwrap();
        assert_eq!((lonely.leader, lonely.isr), (-1, vec![1]));
        assert!(remove_from_isr(&s, 2, 9).is_none());
    }
}
