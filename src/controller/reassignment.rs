//! Partition reassignment through `/admin/reassign_partitions` (Kafka's `onPartitionReassignment`,
//! KIP-455 layout): with ORS the original and TRS the target replicas,
//! 1. the topic znode gets RS = TRS + ORS, `adding_replicas` = TRS - ORS and `removing_replicas` =
//!    ORS - TRS, the leader epoch is bumped and every replica in RS gets LeaderAndIsr (new ones
//!    start following); a target already in the ISR skips the bump and goes on to step 2;
//! 2. when every TRS member is in the ISR (the leader reports catching-up replicas through
//!    AlterPartition, so this is re-checked after every ISR change), a leader in TRS is elected if
//!    needed, ORS - TRS leave the ISR and get StopReplica with delete, the topic znode gets RS = TRS,
//!    and the entry is removed from `/admin/reassign_partitions`.
//!
//! A reassignment survives controller failover: the new controller rebuilds it from the topic
//! znode's adding/removing replicas.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tracing::{info, warn};

use super::channel::ControlRequest;
use super::context::{ClusterModel, LeaderIsr, Reassignment, TopicPartition};
use super::election::forward;
use super::event_loop::Controller;
use super::{requests, ControllerEvent};
use crate::zk::{ReassignmentZnode, TopicZnode, ZkError};

/// Attempts at rewriting a topic znode that someone else changed meanwhile.
const TOPIC_WRITE_ATTEMPTS: usize = 3;

/// Why a requested target cannot be used (Kafka drops such entries from the znode).
pub fn invalid_target(
    model: &ClusterModel,
    tp: &TopicPartition,
    target: &[i32],
) -> Option<&'static str> {
    if !model.states.contains_key(tp) {
        return Some("unknown partition");
    }
    let distinct: BTreeSet<i32> = target.iter().copied().collect();
    if target.is_empty() || distinct.len() != target.len() {
        return Some("empty or duplicate replicas");
    }
    None
}

/// Whether the reassignment can finish (Kafka's `isReassignmentComplete`): it adds and removes
/// nothing (a cancellation, a reordering), or every target replica is in the ISR.
pub fn caught_up(model: &ClusterModel, tp: &TopicPartition, r: &Reassignment) -> bool {
    if r.adding().is_empty() && r.removing().is_empty() {
        return true;
    }
    model
        .states
        .get(tp)
        .is_some_and(|s| r.target.iter().all(|t| s.isr.contains(t)))
}

/// The state that finishes a reassignment: the leader stays if it is in TRS and can lead, else the
/// first TRS member that is live and in the ISR leads (`ReassignPartitionLeaderElectionStrategy`);
/// every replica outside TRS leaves the ISR (ORS - TRS, and the adding replicas of a replaced or
/// cancelled reassignment); the leader epoch is bumped. None if no TRS member can lead.
pub fn finishing_state(
    model: &ClusterModel,
    tp: &TopicPartition,
    r: &Reassignment,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    let current = model.states.get(tp)?;
    let can_lead = |b: &i32| {
        model.live.contains_key(b) && !model.shutting_down.contains(b) && current.isr.contains(b)
    };
    let leader = if r.target.contains(&current.leader) && can_lead(&current.leader) {
        current.leader
    } else {
        r.target.iter().copied().find(can_lead)?
    };
    let isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|b| r.target.contains(b))
        .collect();
    Some(current.next(leader, isr, controller_epoch))
}

/// The state that starts (or replaces) a reassignment whose replica set is now `model.replicas`:
/// a new leader epoch, so replicas accept the new set; replicas a replaced reassignment was adding
/// and no longer is leave the ISR (Kafka's `OfflineReplica` transition of U3), and a leader among
/// them hands over to the first live in-sync replica left.
fn restarted(
    model: &ClusterModel,
    tp: &TopicPartition,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    let current = model.states.get(tp)?;
    let replicas = model.replicas(tp);
    let isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|b| replicas.contains(b))
        .collect();
    let leader = if replicas.contains(&current.leader) {
        current.leader
    } else {
        let eligible = model.eligible();
        replicas
            .iter()
            .copied()
            .find(|b| isr.contains(b) && eligible.contains_key(b))
            .unwrap_or(current.leader)
    };
    Some(current.next(leader, isr, controller_epoch))
}

impl Controller {
    /// Reads `/admin/reassign_partitions` and re-arms its watch (it becomes a
    /// `ReassignmentRequested` event); `None` when the znode is absent.
    async fn watch_reassignment(&mut self) -> Result<Option<ReassignmentZnode>, ZkError> {
        let (znode, watcher) = self.zk.get_reassignment_and_watch().await?;
        forward(
            watcher,
            &self.events,
            ControllerEvent::ReassignmentRequested,
        );
        Ok(znode)
    }

    /// Reads `/admin/reassign_partitions` (re-arming its watch) and starts what is new in it.
    pub(super) async fn on_reassignment_requested(&mut self) -> Result<(), ZkError> {
        let Some(znode) = self.watch_reassignment().await? else {
            return Ok(());
        };
        let mut start = Vec::new();
        let mut drop = Vec::new();
        for e in &znode.partitions {
            let tp: TopicPartition = TopicPartition::new(e.topic.clone(), e.partition);
            if let Some(why) = invalid_target(&self.model, &tp, &e.replicas) {
                warn!(topic = %tp.topic, partition = tp.partition, replicas = ?e.replicas, why, "ignoring reassignment");
                drop.push(tp);
                continue;
            }
            match self.model.reassignments.get(&tp) {
                Some(r) if r.target == e.replicas => {}
                Some(r) => start.push((tp, r.original.clone(), e.replicas.clone())),
                None if self.model.replicas(&tp) == e.replicas.as_slice() => drop.push(tp),
                None => {
                    let original = self.model.replicas(&tp).to_vec();
                    start.push((tp, original, e.replicas.clone()))
                }
            }
        }
        if !start.is_empty() {
            info!(partitions = start.len(), "reassignment requested");
            self.start_reassignments(start).await?;
        }
        self.remove_reassignment_entries(&drop).await
    }

    /// Step 1: RS = TRS + ORS in the topic znode and the model, new leader epoch, LeaderAndIsr to RS.
    /// A reassignment that replaces (or cancels) one in progress stops the replicas the old one was
    /// adding and the new one does not keep (Kafka's step U3).
    pub(super) async fn start_reassignments(
        &mut self,
        new: Vec<(TopicPartition, Vec<i32>, Vec<i32>)>,
    ) -> Result<(), ZkError> {
        let started = Instant::now();
        let mut topics = BTreeSet::new();
        let mut tps = Vec::new();
        let mut unneeded: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for (tp, original, target) in new {
            let r = Reassignment { original, target };
            let replicas = r.all_replicas();
            for b in self.model.replicas(&tp) {
                if !replicas.contains(b) {
                    unneeded.entry(*b).or_default().push(tp.clone());
                }
            }
            self.set_replicas(&tp, replicas);
            topics.insert(tp.topic.clone());
            self.model.reassignments.insert(tp.clone(), r);
            tps.push(tp);
        }
        self.write_topic_znodes(&topics).await?;
        // A target already in sync (a reordering, or replicas removed) goes straight to step 2,
        // as Kafka's onPartitionReassignment does: one leader epoch bump, not two.
        let behind: Vec<TopicPartition> = tps
            .iter()
            .filter(|tp| {
                self.model
                    .reassignments
                    .get(*tp)
                    .is_some_and(|r| !caught_up(&self.model, tp, r))
            })
            .cloned()
            .collect();
        let changed = self.decide_and_write(&behind, restarted).await?;
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        self.send_leader_and_isr(&changed, false);
        self.send_update_metadata(&brokers, &changed, &[]);
        self.stop_replicas(unneeded);
        info!(
            partitions = changed.len(),
            ms = started.elapsed().as_millis() as u64,
            "reassignment started: new replicas told"
        );
        self.continue_reassignments(&tps).await
    }

    /// Step 2 for the partitions among `changed` whose reassignment has caught up.
    pub(super) async fn continue_reassignments(
        &mut self,
        changed: &[TopicPartition],
    ) -> Result<(), ZkError> {
        let done: Vec<TopicPartition> = changed
            .iter()
            .filter(|tp| {
                self.model
                    .reassignments
                    .get(*tp)
                    .is_some_and(|r| caught_up(&self.model, tp, r))
            })
            .cloned()
            .collect();
        if done.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let plans: BTreeMap<TopicPartition, Reassignment> = done
            .iter()
            .filter_map(|tp| Some((tp.clone(), self.model.reassignments.get(tp)?.clone())))
            .collect();
        let written = self
            .decide_and_write(&done, |model, tp, epoch| {
                finishing_state(model, tp, plans.get(tp)?, epoch)
            })
            .await?;
        let mut topics = BTreeSet::new();
        let mut removed: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for tp in &written {
            let Some(r) = self.model.reassignments.remove(tp) else {
                continue;
            };
            for b in r.removing() {
                removed.entry(b).or_default().push(tp.clone());
            }
            self.set_replicas(tp, r.target);
            topics.insert(tp.topic.clone());
        }
        self.write_topic_znodes(&topics).await?;
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        self.send_leader_and_isr(&written, false);
        self.stop_replicas(removed);
        self.send_update_metadata(&brokers, &written, &[]);
        self.remove_reassignment_entries(&written).await?;
        info!(
            partitions = written.len(),
            ms = started.elapsed().as_millis() as u64,
            "reassignment completed"
        );
        Ok(())
    }

    /// StopReplica with delete to the live brokers among `removed` (replicas leaving a partition).
    fn stop_replicas(&self, mut removed: BTreeMap<i32, Vec<TopicPartition>>) {
        removed.retain(|b, _| self.model.live.contains_key(b));
        for (b, req) in requests::stop_replica(
            &self.model,
            &self.epoch,
            self.config.broker_id,
            &removed,
            true,
        ) {
            info!(broker = b, partitions = ?removed.get(&b), "stopping replicas a reassignment removed");
            self.channels
                .send(b, ControlRequest::StopReplica(req, None));
        }
    }

    fn set_replicas(&mut self, tp: &TopicPartition, replicas: Vec<i32>) {
        if let Some(t) = self.model.topics.get_mut(&tp.topic) {
            t.assignment.insert(tp.partition, replicas);
        }
    }

    /// Writes each topic's znode from the model: the assignment plus adding/removing replicas of the
    /// reassignments in progress (conditional on the version read, fenced).
    async fn write_topic_znodes(&mut self, topics: &BTreeSet<String>) -> Result<(), ZkError> {
        for topic in topics {
            let Some(model_topic) = self.model.topics.get(topic) else {
                continue;
            };
            let mut adding = BTreeMap::new();
            let mut removing = BTreeMap::new();
            for (
                TopicPartition {
                    topic: t,
                    partition: p,
                },
                r,
            ) in &self.model.reassignments
            {
                if t == topic {
                    adding.insert(*p, r.adding());
                    removing.insert(*p, r.removing());
                }
            }
            adding.retain(|_, v: &mut Vec<i32>| !v.is_empty());
            removing.retain(|_, v: &mut Vec<i32>| !v.is_empty());
            let partitions = model_topic.assignment.clone();
            for attempt in 1..=TOPIC_WRITE_ATTEMPTS {
                let current = self.zk.get_topics(std::slice::from_ref(topic)).await?;
                let Some((old, version)) = current.get(topic) else {
                    break;
                };
                let znode = TopicZnode {
                    partitions: partitions.clone(),
                    adding_replicas: adding.clone(),
                    removing_replicas: removing.clone(),
                    version: 3,
                    topic_id: old.topic_id.clone(),
                };
                match self
                    .zk
                    .set_topic_assignment_fenced(&self.epoch, topic, &znode, *version)
                    .await
                {
                    Ok(_) => break,
                    Err(ZkError::BadVersion(_)) if attempt < TOPIC_WRITE_ATTEMPTS => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// Removes finished or invalid entries from `/admin/reassign_partitions` (deleting it when empty).
    pub(super) async fn remove_reassignment_entries(
        &mut self,
        done: &[TopicPartition],
    ) -> Result<(), ZkError> {
        if done.is_empty() {
            return Ok(());
        }
        let Some(znode) = self.watch_reassignment().await? else {
            return Ok(());
        };
        let remaining = ReassignmentZnode {
            version: znode.version,
            partitions: znode
                .partitions
                .into_iter()
                .filter(|e| !done.contains(&TopicPartition::new(e.topic.clone(), e.partition)))
                .collect(),
        };
        self.zk.update_reassignment(&self.epoch, &remaining).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::fixtures::model;
    use super::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[test]
    fn replica_sets_follow_kip_455() {
        let r = Reassignment {
            original: vec![1, 2, 3],
            target: vec![4, 3, 2],
        };
        assert_eq!(r.all_replicas(), vec![4, 3, 2, 1]);
        assert_eq!(r.adding(), vec![4]);
        assert_eq!(r.removing(), vec![1]);
    }

    #[test]
    fn completes_only_when_every_target_replica_is_in_sync() {
        let m = model(&[1, 2, 3, 4], &[(&[4, 3, 2, 1], 1, &[1, 2, 3])]);
        let r = Reassignment {
            original: vec![1, 2, 3],
            target: vec![4, 3, 2],
        };
        assert!(!caught_up(&m, &tp(), &r));
        let m = model(&[1, 2, 3, 4], &[(&[4, 3, 2, 1], 1, &[1, 2, 3, 4])]);
        assert!(caught_up(&m, &tp(), &r));
        // The leader is being removed: the first in-sync target replica takes over.
        let s = finishing_state(&m, &tp(), &r, 9).unwrap();
        assert_eq!((s.leader, s.isr, s.leader_epoch), (4, vec![2, 3, 4], 5));
    }

    #[test]
    fn a_leader_in_the_target_keeps_leading() {
        let m = model(&[1, 2, 3], &[(&[2, 3, 1], 2, &[1, 2, 3])]);
        let r = Reassignment {
            original: vec![1, 2, 3],
            target: vec![2, 3],
        };
        let s = finishing_state(&m, &tp(), &r, 9).unwrap();
        assert_eq!((s.leader, s.isr), (2, vec![2, 3]));
    }

    #[test]
    fn invalid_targets_are_named() {
        let m = model(&[1, 2], &[(&[1, 2], 1, &[1, 2])]);
        assert!(invalid_target(&m, &tp(), &[2, 1]).is_none());
        assert!(invalid_target(&m, &tp(), &[]).is_some());
        assert!(invalid_target(&m, &tp(), &[1, 1]).is_some());
        assert!(invalid_target(&m, &TopicPartition::new("t", 7), &[1]).is_some());
    }
}
