//! Topic deletion (Kafka's `TopicDeletionManager`): a topic named under `/admin/delete_topics`
//! stops being served at once, but its znodes go only after every replica confirmed the delete.
//!
//! The controller tells every broker the partitions are gone (UpdateMetadata), asks each live
//! replica to stop and delete them (StopReplica with `delete_partition`), and keeps the topic in
//! `ClusterModel::deleting` until every hosting broker answered without error. A replica on a
//! broker that is down waits for it: when the broker registers again it is asked to delete, so a
//! restarted broker never keeps (or serves) a deleted topic's data. Only then are
//! `/brokers/topics/<t>`, `/config/topics/<t>` and the marker removed, so a topic of the same name
//! cannot be created while old replicas still exist.

use std::collections::{BTreeMap, BTreeSet};

use tokio::sync::oneshot;
use tracing::{info, warn};

use super::channel::ControlRequest;
use super::context::TopicPartition;
use super::election::forward;
use super::event_loop::Controller;
use super::{requests, ControllerEvent};
use crate::zk::ZkError;

/// A topic whose deletion waits for replicas: its assignment and the brokers still to confirm.
#[derive(Debug, Clone, Default)]
pub struct Deletion {
    pub assignment: BTreeMap<i32, Vec<i32>>,
    pub pending: BTreeSet<i32>,
}

impl Controller {
    pub(super) async fn on_deletion_requested(&mut self) -> Result<(), ZkError> {
        let (names, watcher) = self.zk.get_delete_topics_and_watch().await?;
        forward(
            watcher,
            &self.events,
            ControllerEvent::TopicDeletionRequested,
        );
        self.delete_topics(names).await
    }

    pub(super) async fn delete_topics(&mut self, names: Vec<String>) -> Result<(), ZkError> {
        for topic in names {
            if self.model.deleting.contains_key(&topic) {
                continue;
            }
            let Some(model) = self
                .model
                .topics
                .get(&topic)
                .filter(|_| self.config.delete_topic_enable)
            else {
                info!(topic = %topic, enabled = self.config.delete_topic_enable, "removing topic deletion marker");
                self.zk.remove_deletion_marker(&topic).await?;
                continue;
            };
            let assignment = model.assignment.clone();
            let tps: Vec<TopicPartition> = assignment
                .keys()
                .map(|p| TopicPartition::new(topic.clone(), *p))
                .collect();
            let brokers: Vec<i32> = self.model.live.keys().copied().collect();
            self.send_update_metadata(&brokers, &[], &tps);
            let pending: BTreeSet<i32> = assignment.values().flatten().copied().collect();
            info!(topic = %topic, partitions = tps.len(), replicas = ?pending, "topic deletion started");
            self.forget_topic(&topic);
            self.model.deleting.insert(
                topic.clone(),
                Deletion {
                    assignment,
                    pending,
                },
            );
            self.send_deletes(&topic, None);
            self.maybe_finish_deletion(&topic).await?;
        }
        Ok(())
    }

    /// Brokers that (re)registered are asked to delete what they still host of deleted topics.
    pub(super) fn resume_deletions(&self, joined: &BTreeSet<i32>) {
        let topics: Vec<String> = self
            .model
            .deleting
            .iter()
            .filter(|(_, d)| d.pending.iter().any(|b| joined.contains(b)))
            .map(|(t, _)| t.clone())
            .collect();
        for topic in topics {
            self.send_deletes(&topic, Some(joined));
        }
    }

    /// StopReplica with delete to the live pending replicas (only those in `only`, if given); each
    /// clean answer comes back as a `TopicDeletionStopReplicaResponseReceived` event.
    fn send_deletes(&self, topic: &str, only: Option<&BTreeSet<i32>>) {
        let Some(deletion) = self.model.deleting.get(topic) else {
            return;
        };
        let mut targets: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
        for (p, replicas) in &deletion.assignment {
            for r in replicas.iter().filter(|r| {
                deletion.pending.contains(r)
                    && self.model.live.contains_key(r)
                    && only.is_none_or(|o| o.contains(r))
            }) {
                targets
                    .entry(*r)
                    .or_default()
                    .push(TopicPartition::new(topic, *p));
            }
        }
        let reqs = requests::stop_replica(
            &self.model,
            &self.epoch,
            self.config.broker_id,
            &targets,
            true,
        );
        for (broker, req) in reqs {
            let (tx, rx) = oneshot::channel();
            self.channels
                .send(broker, ControlRequest::StopReplica(req, Some(tx)));
            let events = self.events.clone();
            let topic = topic.to_string();
            tokio::spawn(async move {
                match rx.await {
                    Ok(0) => {
                        let _ = events.send(
                            ControllerEvent::TopicDeletionStopReplicaResponseReceived {
                                topic,
                                broker,
                            },
                        );
                    }
                    // Asked again when the broker registers again.
                    Ok(code) => warn!(topic, broker, error_code = code, "replica deletion failed"),
                    Err(_) => {}
                }
            });
        }
    }

    pub(super) async fn on_replica_deleted(
        &mut self,
        topic: &str,
        broker: i32,
    ) -> Result<(), ZkError> {
        if let Some(d) = self.model.deleting.get_mut(topic) {
            d.pending.remove(&broker);
        }
        self.maybe_finish_deletion(topic).await
    }

    async fn maybe_finish_deletion(&mut self, topic: &str) -> Result<(), ZkError> {
        let Some(d) = self.model.deleting.get(topic) else {
            return Ok(());
        };
        if !d.pending.is_empty() {
            return Ok(());
        }
        let partitions = d.assignment.len();
        self.zk.delete_topic(&self.epoch, topic).await?;
        self.model.deleting.remove(topic);
        info!(topic, partitions, "topic deleted");
        Ok(())
    }

    pub(super) fn forget_topic(&mut self, topic: &str) {
        self.model.topics.remove(topic);
        self.model.states.retain(|tp, _| tp.topic != topic);
        self.model.reassignments.retain(|tp, _| tp.topic != topic);
    }
}
