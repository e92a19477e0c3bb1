//! The active controller's term: load the cluster from ZooKeeper, then react to events until the term
//! ends (another controller, an expired session, shutdown).
//!
//! Every reaction follows the same three steps, each timed: decide (pure, in memory), write the
//! partition states to ZooKeeper in fenced batches, then tell brokers with one request each.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio::sync::{mpsc, watch};
use tracing::info;

use super::channel::ChannelManager;
use super::context::{
    ClusterModel, LeaderIsr, LiveBroker, Reassignment, TopicModel, TopicPartition,
};
use super::election::forward;
use super::event_stream::{EventMark, EventStream, Phase};
use super::writes::unclean_setting;
use super::{ControllerConfig, ControllerEvent};
use crate::zk::{self, ControllerEpoch, KafkaZkClient, StateRead, ZkError};

pub(super) struct Controller {
    pub(super) config: Arc<ControllerConfig>,
    pub(super) zk: KafkaZkClient,
    pub(super) epoch: ControllerEpoch,
    pub(super) events: mpsc::UnboundedSender<ControllerEvent>,
    pub(super) model: ClusterModel,
    pub(super) channels: ChannelManager,
    /// The pending leader-imbalance timer of this term; aborted when the term ends.
    pub(super) rebalance_timer: Option<tokio::task::JoinHandle<()>>,
    /// The event being handled, for the event stream (`zkafka.controller.events.file`).
    pub(super) mark: EventMark,
    stream: EventStream,
    /// Sequence number of the last event of this term (Startup is 1).
    seq: u64,
    /// Set when the event's acknowledgements are awaited in a task, which then writes `event_done`.
    pub(super) done_deferred: bool,
    /// Whether `leaders_chosen` was written for the current event (decisions may run twice).
    pub(super) chosen_announced: bool,
}

impl Controller {
    pub fn new(
        config: Arc<ControllerConfig>,
        zk: KafkaZkClient,
        epoch: ControllerEpoch,
        events: mpsc::UnboundedSender<ControllerEvent>,
        stream: EventStream,
    ) -> Self {
        let channels = ChannelManager::new(config.broker_id, events.clone());
        let mark = EventMark::new(&stream, config.broker_id, epoch.epoch, "Startup", 1);
        Controller {
            mark,
            stream,
            seq: 1,
            done_deferred: false,
            chosen_announced: false,
            config,
            zk,
            epoch,
            events,
            model: ClusterModel::default(),
            channels,
            rebalance_timer: None,
        }
    }

    /// Runs the term; returns when it ends. An error means the term ended because of ZooKeeper.
    pub async fn run(
        mut self,
        events: &mut mpsc::UnboundedReceiver<ControllerEvent>,
        shutdown: &mut watch::Receiver<bool>,
        started: Instant,
        elected_at: SystemTime,
    ) -> Result<(), ZkError> {
        self.mark
            .emit_at(elected_at, Phase::ControllerElected, 0, &[]);
        self.load(started).await?;
        self.event_done();
        self.finish_event();
        loop {
            let event = tokio::select! {
                _ = shutdown.wait_for(|s| *s) => return Ok(()),
                event = events.recv() => match event { Some(e) => e, None => return Ok(()) },
            };
            self.seq += 1;
            self.mark = EventMark::new(
                &self.stream,
                self.config.broker_id,
                self.epoch.epoch,
                crate::metrics::event_name(&event),
                self.seq,
            );
            self.done_deferred = false;
            self.chosen_announced = false;
            crate::metrics::controller_event(&event);
            self.handle(event).await?;
            self.event_done();
            self.finish_event();
        }
    }

    /// Writes `event_done` unless a task awaiting the event's acknowledgements will.
    fn finish_event(&self) {
        if !self.done_deferred {
            self.mark.emit(Phase::EventDone, 0, &[]);
        }
    }

    /// Reacts to one event; an error ends the term.
    async fn handle(&mut self, event: ControllerEvent) -> Result<(), ZkError> {
        match event {
            ControllerEvent::ControllerChanged => {
                let (current, watcher) = self.zk.get_controller_and_watch().await?;
                forward(watcher, &self.events, ControllerEvent::ControllerChanged);
                if current != Some(self.config.broker_id) {
                    return Err(ZkError::ControllerMoved);
                }
            }
            // Sent after every session loss. A controller that already runs on the resumed
            // session (it took its own `/controller` back) has nothing to redo; one still on
            // the lost session must stop.
            ControllerEvent::SessionRenewed => {
                if !matches!(self.zk.owns_controller().await, Ok(true)) {
                    return Err(ZkError::ControllerMoved);
                }
            }
            ControllerEvent::BrokersChanged => self.on_brokers_changed().await?,
            ControllerEvent::LogDirEventNotification => self.on_log_dir_event().await?,
            ControllerEvent::LeaderAndIsrResponseReceived {
                broker,
                online,
                offline,
            } => {
                self.on_leader_and_isr_response(broker, online, offline)
                    .await?
            }
            ControllerEvent::TopicsChanged => self.on_topics_changed().await?,
            ControllerEvent::TopicModified(topic) => self.on_topic_modified(&topic).await?,
            ControllerEvent::TopicDeletionRequested => self.on_deletion_requested().await?,
            ControllerEvent::TopicDeletionStopReplicaResponseReceived { topic, broker } => {
                self.on_replica_deleted(&topic, broker).await?
            }
            ControllerEvent::ReassignmentRequested => self.on_reassignment_requested().await?,
            ControllerEvent::PreferredElectionRequested => {
                self.on_preferred_election_requested().await?
            }
            ControllerEvent::LeaderImbalanceCheck => self.on_leader_imbalance_check().await?,
            ControllerEvent::UncleanLeaderElectionEnabled(topic) => {
                self.on_unclean_election_enabled(&topic).await?
            }
            ControllerEvent::AlterPartition {
                request,
                version,
                reply,
            } => self.on_alter_partition(request, version, reply).await?,
            ControllerEvent::ElectLeaders {
                partitions,
                kind,
                reply,
            } => {
                let outcomes = self.on_elect_leaders(partitions, kind).await?;
                let _ = reply.send(Ok(outcomes));
            }
            ControllerEvent::AlterReassignments { partitions, reply } => {
                let outcomes = self.on_alter_reassignments(partitions).await?;
                let _ = reply.send(Ok(outcomes));
            }
            ControllerEvent::ListReassignments { partitions, reply } => {
                let _ = reply.send(Ok(self.on_list_reassignments(partitions)));
            }
            ControllerEvent::ControlledShutdown {
                broker_id,
                broker_epoch,
                reply,
            } => {
                self.on_controlled_shutdown(broker_id, broker_epoch, reply)
                    .await?
            }
        }
        Ok(())
    }

    /// The end of an event: the controller's gauges as they now stand, and the phase timing.
    fn event_done(&self) {
        let m = &self.model;
        crate::metrics::controller_counts(crate::metrics::ControllerCounts {
            topics: m.topics.len(),
            partitions: m.states.len(),
            offline: m.offline_partitions(),
            preferred_imbalance: m.preferred_replica_imbalance(),
        });
        crate::metrics::controller_event_done();
    }

    /// Controller failover: read brokers, topics and partition states (pipelined), elect leaders where
    /// needed, and send every broker its full picture.
    async fn load(&mut self, started: Instant) -> Result<(), ZkError> {
        let live = self.read_live_brokers().await?;
        for (id, b) in &live {
            self.channels.add_broker(*id, b.control_addr.clone());
        }
        self.model.live = live;
        self.watch_log_dir_events().await?;
        let (names, watcher) = self.zk.get_topics_and_watch().await?;
        forward(watcher, &self.events, ControllerEvent::TopicsChanged);
        self.load_topics(&names).await?;
        let all = self.model.all_partitions();
        let states = self.zk.get_partition_states_or_malformed(&all).await?;
        let mut missing = Vec::new();
        for (tp, state) in all.iter().zip(states) {
            match state {
                StateRead::Found(s, version) => {
                    self.model
                        .states
                        .insert(tp.clone(), LeaderIsr::from_znode(&s, version));
                }
                StateRead::Missing => missing.push(tp.clone()),
                // Logged by the read; the partition stays without a leader until its state
                // znode is repaired and a controller loads it again.
                StateRead::Malformed => {}
            }
        }
        let loaded = started.elapsed();
        crate::metrics::controller_phase(crate::metrics::Phase::ClusterLoaded);
        self.mark.emit(Phase::ClusterLoaded, all.len(), &[]);
        let offline: Vec<TopicPartition> = self
            .model
            .states
            .iter()
            .filter(|(_, s)| !self.model.live.contains_key(&s.leader))
            .map(|(tp, _)| tp.clone())
            .collect();
        let mut changed = self.elect_and_write(&offline).await?;
        changed.extend(self.create_states(&missing).await?);
        self.mark.emit(Phase::ZkWritten, changed.len(), &[]);
        let all = self.model.all_partitions();
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        // Kafka's `onControllerFailover`: the live brokers first (no partitions), so a broker that
        // restarted meanwhile knows every leader its LeaderAndIsr names.
        self.send_update_metadata(&brokers, &[], &[]);
        let lai = self.send_leader_and_isr(&all, false);
        let um = self.send_update_metadata(&brokers, &all, &[]);
        self.await_acks(started, all.len(), lai, um);
        info!(
            brokers = self.model.live.len(),
            topics = self.model.topics.len(),
            partitions = all.len(),
            elected = changed.len(),
            load_ms = loaded.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "controller loaded the cluster"
        );
        let (deletions, watcher) = self.zk.get_delete_topics_and_watch().await?;
        forward(
            watcher,
            &self.events,
            ControllerEvent::TopicDeletionRequested,
        );
        if !deletions.is_empty() {
            self.delete_topics(deletions).await?;
        }
        // Admin requests left by tools while no controller was running, then the imbalance timer.
        self.on_reassignment_requested().await?;
        // Reassignments an earlier controller left in progress may have caught up meanwhile.
        let reassigning: Vec<TopicPartition> = self.model.reassignments.keys().cloned().collect();
        self.continue_reassignments(&reassigning).await?;
        self.on_preferred_election_requested().await?;
        self.schedule_leader_imbalance_check(super::preferred::FIRST_CHECK_DELAY);
        Ok(())
    }

    async fn read_live_brokers(&mut self) -> Result<BTreeMap<i32, LiveBroker>, ZkError> {
        let (ids, watcher) = self.zk.get_broker_ids_and_watch().await?;
        forward(watcher, &self.events, ControllerEvent::BrokersChanged);
        let regs = self.zk.get_brokers(&ids).await?;
        Ok(regs
            .into_iter()
            .filter_map(|(id, (reg, epoch))| {
                let endpoints = reg.listener_endpoints();
                // Kafka's listeners by name; a broker without them is reached on its first one
                // (and refuses what does not belong there, which shows in its log).
                let named = |name: &str| {
                    endpoints
                        .iter()
                        .find(|e| e.listener == name)
                        .or_else(|| endpoints.first())
                        .cloned()
                };
                let ep = named(&self.config.inter_broker_listener)?;
                let control = named(&self.config.control_listener)?;
                let live = LiveBroker {
                    host: ep.host,
                    port: i32::from(ep.port),
                    listener: ep.listener,
                    control_addr: address(&control.host, control.port),
                    endpoints,
                    rack: reg.rack.clone(),
                    epoch,
                };
                Some((id, live))
            })
            .collect())
    }

    /// Reads topic znodes (pipelined) into the model, arming a data watch on each, and gives a topic id
    /// to topics created without one (older tools).
    async fn load_topics(&mut self, names: &[String]) -> Result<Vec<String>, ZkError> {
        let reads = self.zk.get_topics_and_watch_each(names).await?;
        for (name, watcher) in reads.malformed {
            forward(
                watcher,
                &self.events,
                ControllerEvent::TopicModified(name.clone()),
            );
            // A known topic keeps its last good assignment; its watch brings the next write.
            if !self.model.topics.contains_key(&name) {
                self.model.malformed_topics.insert(name);
            }
        }
        let topics = reads.found;
        // Pipelined like the topic reads; only the override the controller acts on is kept.
        let configs = self.zk.get_topic_configs(names).await?;
        let mut loaded = Vec::new();
        for (name, (mut znode, version, watcher)) in topics {
            forward(
                watcher,
                &self.events,
                ControllerEvent::TopicModified(name.clone()),
            );
            let id = match znode.topic_id.as_deref().and_then(zk::topic_id_from_str) {
                Some(id) => id,
                None => {
                    let id = uuid::Uuid::new_v4();
                    znode.topic_id = Some(zk::topic_id_to_string(&id));
                    znode.version = 3;
                    self.zk.set_topic_assignment(&name, &znode, version).await?;
                    info!(topic = %name, topic_id = %zk::topic_id_to_string(&id), "assigned a topic id");
                    id
                }
            };
            // A reassignment left in progress by an earlier controller (KIP-455 layout).
            for (p, rs) in &znode.partitions {
                let tp = TopicPartition::new(name.as_str(), *p);
                let adding = znode.adding_replicas.get(p);
                let removing = znode.removing_replicas.get(p);
                if (adding.is_some() || removing.is_some())
                    && !self.model.reassignments.contains_key(&tp)
                {
                    let without = |gone: Option<&Vec<i32>>| -> Vec<i32> {
                        let gone = gone.map(Vec::as_slice).unwrap_or(&[]);
                        rs.iter().copied().filter(|r| !gone.contains(r)).collect()
                    };
                    let r = Reassignment {
                        original: without(adding),
                        target: without(removing),
                    };
                    self.model.reassignments.insert(tp, r);
                }
            }
            let assignment = znode.partitions.clone();
            self.model.topics.insert(
                name.clone(),
                TopicModel {
                    id,
                    assignment,
                    unclean_leader_election: configs.get(&name).and_then(unclean_setting),
                },
            );
            loaded.push(name);
        }
        Ok(loaded)
    }

    async fn on_brokers_changed(&mut self) -> Result<(), ZkError> {
        let seen = Instant::now();
        let seen_at = SystemTime::now();
        let live = self.read_live_brokers().await?;
        let old = std::mem::replace(&mut self.model.live, live);
        let dead: Vec<i32> = old
            .keys()
            .filter(|id| !self.model.live.contains_key(id))
            .copied()
            .collect();
        let bounced: Vec<i32> = old
            .iter()
            .filter(|(id, b)| self.model.live.get(id).is_some_and(|n| n.epoch != b.epoch))
            .map(|(id, _)| *id)
            .collect();
        let added: Vec<i32> = self
            .model
            .live
            .keys()
            .filter(|id| !old.contains_key(id))
            .copied()
            .collect();
        if dead.is_empty() && bounced.is_empty() && added.is_empty() {
            return Ok(());
        }
        if !dead.is_empty() || !bounced.is_empty() {
            crate::metrics::controller_phase(crate::metrics::Phase::BrokerLostSeen);
        }
        for id in dead.iter().chain(&bounced).chain(&added) {
            // A broker that left or restarted is no longer in controlled shutdown, and its log
            // dirs are whatever its next LeaderAndIsr answer says (Kafka's `onBrokerStartup`).
            self.model.shutting_down.remove(id);
            self.model.offline_replicas.remove(id);
        }
        for id in &dead {
            self.channels.remove_broker(*id);
        }
        for id in added.iter().chain(&bounced) {
            if let Some(b) = self.model.live.get(id) {
                self.channels.add_broker(*id, b.control_addr.clone());
            }
        }
        let gone: BTreeSet<i32> = dead.iter().chain(&bounced).copied().collect();
        // Partitions whose leader is gone or bounced, or that had no leader and may get one now.
        let offline: Vec<TopicPartition> = self
            .model
            .states
            .iter()
            .filter(|(_, s)| gone.contains(&s.leader) || s.leader == -1)
            .map(|(tp, _)| tp.clone())
            .collect();
        info!(dead = ?dead, bounced = ?bounced, added = ?added, partitions = offline.len(),
            "phase: broker change seen");
        let lost: Vec<i32> = gone.iter().copied().collect();
        if !lost.is_empty() {
            self.mark
                .emit_at(seen_at, Phase::BrokerLostSeen, offline.len(), &lost);
        }
        let mut changed = self.elect_and_write(&offline).await?;
        let offline_set: BTreeSet<TopicPartition> = offline.into_iter().collect();
        let shrinkable: Vec<TopicPartition> = self
            .model
            .states
            .iter()
            .filter(|(tp, s)| !offline_set.contains(*tp) && s.isr.iter().any(|r| dead.contains(r)))
            .map(|(tp, _)| tp.clone())
            .collect();
        changed.extend(self.shrink_and_write(&shrinkable).await?);
        self.mark.emit(Phase::ZkWritten, changed.len(), &lost);
        let written = seen.elapsed();
        info!(
            partitions = changed.len(),
            ms = written.as_millis() as u64,
            "phase: leaders chosen and ZooKeeper written"
        );
        // Brokers that (re)joined get every partition they host; the rest get what changed.
        let mut to_tell: BTreeSet<TopicPartition> = changed.iter().cloned().collect();
        let joined: BTreeSet<i32> = added.iter().chain(&bounced).copied().collect();
        if !joined.is_empty() {
            to_tell.extend(
                self.model
                    .all_partitions()
                    .into_iter()
                    .filter(|tp| self.model.replicas(tp).iter().any(|r| joined.contains(r))),
            );
        }
        let to_tell: Vec<TopicPartition> = to_tell.into_iter().collect();
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        // Kafka's `onBrokerStartup`: UpdateMetadata first, so every broker knows the (re)joined
        // brokers and the joined ones know every leader before their LeaderAndIsr arrives. A
        // Kafka broker refuses to follow a leader missing from its metadata cache ("cannot become
        // follower since the new leader is unavailable") and never retries.
        let mut um = if joined.is_empty() {
            Vec::new()
        } else {
            self.send_update_metadata(&brokers, &self.model.all_partitions(), &[])
        };
        let lai = self.send_leader_and_isr(&to_tell, false);
        um.extend(self.send_update_metadata(&brokers, &changed, &[]));
        self.await_acks(seen, changed.len(), lai, um);
        self.resume_deletions(&joined);
        // New leaders or shrunk ISRs may let reassignments move on.
        self.continue_reassignments(&changed).await
    }

    async fn on_topics_changed(&mut self) -> Result<(), ZkError> {
        let (names, watcher) = self.zk.get_topics_and_watch().await?;
        forward(watcher, &self.events, ControllerEvent::TopicsChanged);
        let present: BTreeSet<&String> = names.iter().collect();
        let removed: Vec<String> = self
            .model
            .topics
            .keys()
            .filter(|t| !present.contains(t))
            .cloned()
            .collect();
        for t in &removed {
            self.forget_topic(t);
        }
        // A deleted topic's znode removed by hand: nothing is left to wait for.
        self.model.deleting.retain(|t, _| present.contains(t));
        self.model.malformed_topics.retain(|t| present.contains(t));
        let new: Vec<String> = names
            .iter()
            .filter(|t| {
                !self.model.topics.contains_key(*t)
                    && !self.model.deleting.contains_key(*t)
                    && !self.model.malformed_topics.contains(*t)
            })
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        self.start_topics(&new).await
    }

    /// Loads these topics' znodes into the model and starts their partitions (the new-partition
    /// path of Kafka's `onNewPartitionCreation`).
    async fn start_topics(&mut self, names: &[String]) -> Result<(), ZkError> {
        let loaded = self.load_topics(names).await?;
        let tps: Vec<TopicPartition> = self
            .model
            .all_partitions()
            .into_iter()
            .filter(|tp| loaded.contains(&tp.topic))
            .collect();
        self.on_new_partitions(tps).await
    }

    async fn on_topic_modified(&mut self, topic: &str) -> Result<(), ZkError> {
        // A malformed topic znode was rewritten: read it as a new topic.
        if self.model.malformed_topics.remove(topic) {
            return self.start_topics(&[topic.to_string()]).await;
        }
        if !self.model.topics.contains_key(topic) {
            return Ok(());
        }
        let before: BTreeSet<i32> = self.model.topics[topic]
            .assignment
            .keys()
            .copied()
            .collect();
        self.load_topics(&[topic.to_string()]).await?;
        let new: Vec<TopicPartition> = self
            .model
            .topics
            .get(topic)
            .map(|t| {
                t.assignment
                    .keys()
                    .filter(|p| !before.contains(p))
                    .map(|p| TopicPartition::new(topic.to_string(), *p))
                    .collect()
            })
            .unwrap_or_default();
        if !new.is_empty() {
            self.on_new_partitions(new).await?;
        }
        Ok(())
    }

    async fn on_new_partitions(&mut self, tps: Vec<TopicPartition>) -> Result<(), ZkError> {
        let created = self.create_states(&tps).await?;
        let brokers: Vec<i32> = self.model.live.keys().copied().collect();
        self.send_leader_and_isr(&created, true);
        self.send_update_metadata(&brokers, &created, &[]);
        info!(partitions = created.len(), "new partitions online");
        Ok(())
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        if let Some(timer) = self.rebalance_timer.take() {
            timer.abort();
        }
    }
}

/// `host:port`, with brackets around an IPv6 host.
fn address(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
