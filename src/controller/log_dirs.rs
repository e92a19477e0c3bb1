//! Replicas on failed log dirs (Kafka's `processLogDirEventNotification`,
//! `onBrokerLogDirFailure`, `processLeaderAndIsrResponseReceived` and `onReplicasBecomeOffline`).
//!
//! A broker whose log dir fails writes `/log_dir_event_notification/log_dir_event_<seq>`. The
//! notification does not say which replicas are gone, so, as Kafka does, the controller deletes
//! it and sends that broker a LeaderAndIsr for every replica it hosts; the broker answers
//! KAFKA_STORAGE_ERROR for those on the failed dir. Those replicas are then offline: the ones
//! leading get a new leader from the rest of the ISR, the others leave the ISR, the broker gets
//! a StopReplica (no delete) for them, and everyone learns the new states. The same answer to a
//! new controller's first LeaderAndIsr finds offline replicas after a controller failover.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use tracing::info;

use super::channel::ControlRequest;
use super::context::TopicPartition;
use super::election::forward;
use super::event_loop::Controller;
use super::{requests, ControllerEvent};
use crate::zk::ZkError;

impl Controller {
    /// Arms the watch on `/log_dir_event_notification`; at the start of a term, deletes the
    /// notifications found (Kafka's failover does: the first LeaderAndIsr to every broker finds
    /// their offline replicas anyway).
    pub(super) async fn watch_log_dir_events(&mut self) -> Result<(), ZkError> {
        let (names, watcher) = self.zk.get_log_dir_events_and_watch().await?;
        forward(
            watcher,
            &self.events,
            ControllerEvent::LogDirEventNotification,
        );
        self.zk.delete_log_dir_events(&self.epoch, &names).await
    }

    /// New notifications: read which brokers they name, delete them, and ask each of those
    /// brokers about all its replicas.
    pub(super) async fn on_log_dir_event(&mut self) -> Result<(), ZkError> {
        let (names, watcher) = self.zk.get_log_dir_events_and_watch().await?;
        forward(
            watcher,
            &self.events,
            ControllerEvent::LogDirEventNotification,
        );
        if names.is_empty() {
            return Ok(());
        }
        let brokers = self.zk.get_log_dir_event_brokers(&names).await;
        // Deleted whatever the read found, as Kafka's `finally` does.
        self.zk.delete_log_dir_events(&self.epoch, &names).await?;
        let brokers: BTreeSet<i32> = brokers?.into_iter().collect();
        info!(brokers = ?brokers, notifications = names.len(), "phase: log dir failure notified");
        for broker in brokers {
            if !self.model.live.contains_key(&broker) {
                continue;
            }
            let hosted: Vec<TopicPartition> = self
                .model
                .all_partitions()
                .into_iter()
                .filter(|tp| self.model.replicas(tp).contains(&broker))
                .collect();
            let mut reqs = requests::leader_and_isr(
                &self.model,
                &self.epoch,
                self.config.broker_id,
                &hosted,
                false,
                &BTreeSet::new(),
            );
            if let Some(req) = reqs.remove(&broker) {
                self.channels
                    .send(broker, ControlRequest::LeaderAndIsr(req, None));
            }
        }
        Ok(())
    }

    /// A broker's LeaderAndIsr answer: replicas it answered NONE for are online again, those it
    /// answered KAFKA_STORAGE_ERROR for are offline; newly offline ones are handled.
    pub(super) async fn on_leader_and_isr_response(
        &mut self,
        broker: i32,
        online: Vec<TopicPartition>,
        offline: Vec<TopicPartition>,
    ) -> Result<(), ZkError> {
        if !self.model.live.contains_key(&broker)
            || (offline.is_empty() && !self.model.offline_replicas.contains_key(&broker))
        {
            return Ok(());
        }
        let known = self.model.offline_replicas.entry(broker).or_default();
        for tp in &online {
            known.remove(tp);
        }
        let newly: Vec<TopicPartition> = offline
            .into_iter()
            .filter(|tp| known.insert(tp.clone()))
            .collect();
        if known.is_empty() {
            self.model.offline_replicas.remove(&broker);
        }
        if newly.is_empty() {
            return Ok(());
        }
        self.on_replicas_offline(broker, newly).await
    }

    /// Kafka's `onReplicasBecomeOffline` for `broker`'s replicas of `tps`.
    async fn on_replicas_offline(
        &mut self,
        broker: i32,
        tps: Vec<TopicPartition>,
    ) -> Result<(), ZkError> {
        let seen = Instant::now();
        info!(broker, partitions = tps.len(), examples = ?tps.iter().take(5).collect::<Vec<_>>(),
            "phase: replicas on an offline log dir");
        let led: Vec<TopicPartition> = tps
            .iter()
            .filter(|tp| {
                self.model
                    .states
                    .get(*tp)
                    .is_some_and(|s| s.leader == broker)
            })
            .cloned()
            .collect();
        let mut changed = self.elect_and_write(&led).await?;
        // The replica leaves every ISR whose leader is elsewhere (the OfflineReplica transition).
        changed.extend(
            self.decide_and_write(&tps, move |model, tp, epoch| {
                let s = model.states.get(tp)?;
                if s.leader == broker || s.leader < 0 || !s.isr.contains(&broker) {
                    return None;
                }
                let isr: Vec<i32> = s.isr.iter().copied().filter(|r| *r != broker).collect();
                Some(s.next(s.leader, isr, epoch))
            })
            .await?,
        );
        let targets = BTreeMap::from([(broker, tps)]);
        for (b, req) in requests::stop_replica(
            &self.model,
            &self.epoch,
            self.config.broker_id,
            &targets,
            false,
        ) {
            self.channels
                .send(b, ControlRequest::StopReplica(req, None));
        }
        self.tell_changed(seen, &changed);
        self.continue_reassignments(&changed).await
    }
}
