//! The partitions hosted on this broker and their roles (Kafka's `ReplicaManager`).
//!
//! The controller decides; this module applies: LeaderAndIsr creates or re-roles partitions, StopReplica
//! removes them (`api::controller_fence` has already checked that they come from the controller).
//! Produce and fetch look partitions up here. Followers fetch from their leaders through the
//! fetchers of `replication.rs`; leaders manage their ISR through AlterPartition.

mod alter_partition;
mod append_records;
mod delayed_fetch;
mod delayed_produce;
mod delete_records;
mod dir_failure;
mod fetch_messages;
mod fetcher;
mod fetcher_io;
mod fetcher_manager;
mod follower;
mod housekeeping;
pub mod isr;
mod log_dirs;
mod partition;
mod quota;
mod replication;
pub mod truncation;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leader_and_isr_request::{
    LeaderAndIsrLiveLeader, LeaderAndIsrPartitionState,
};
use kafka_protocol::messages::leader_and_isr_response::{
    LeaderAndIsrPartitionError, LeaderAndIsrTopicError,
};
use kafka_protocol::messages::stop_replica_response::StopReplicaPartitionError;
use kafka_protocol::messages::{
    LeaderAndIsrRequest, LeaderAndIsrResponse, StopReplicaRequest, StopReplicaResponse,
};
use tracing::{debug, info, warn};

pub use append_records::{AppendOutcome, AppendParams, AppendTarget};
pub use delayed_fetch::DelayedFetch;
pub use delayed_produce::DelayedProduce;
pub use dir_failure::run_log_dir_failure_handler;
pub use fetch_messages::{FetchOutcome, FetchParams, FetchPartitionData, FetchTarget};
pub use follower::FetchPosition;
pub use housekeeping::{run_housekeeping, HousekeepingIntervals};
pub use log_dirs::{LogDirInfo, PartitionLogInfo};
pub use partition::{log_error_code, IsrProposal, Partition, ReplicaRole};
pub use quota::{ReplicationQuotaManager, ReplicationQuotas};

use crate::config::TopicConfig;
use crate::errors::{code_of, NONE};
use crate::log::manager::log_config;
use crate::log::manager::{CheckpointEntry, LoadedLog, LogManager};

/// (topic, partition)
pub type TopicPartition = (String, i32);

/// A control request's work on one partition, unless its topic name is illegal: Kafka answers
/// INVALID_TOPIC_EXCEPTION for that partition (counted in `illegal`). The code to answer.
fn unless_illegal(
    topic: &str,
    illegal: &mut usize,
    apply: impl FnOnce() -> Result<(), ResponseError>,
) -> i16 {
    if crate::topic::is_valid(topic) {
        code_of(&apply())
    } else {
        *illegal += 1;
        ResponseError::InvalidTopicException.code()
    }
}

/// All partitions on this broker.
pub struct ReplicaManager {
    /// Held while a partition's log is opened or created, so no directory is opened twice.
    creating: Mutex<()>,
    broker_id: i32,
    logs: LogManager,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    /// Logs found on disk at start-up that no LeaderAndIsr has claimed yet.
    unclaimed: Mutex<HashMap<TopicPartition, LoadedLog>>,
    /// Partitions whose log dir failed (Kafka's `HostedPartition.Offline`): client requests
    /// for them answer KAFKA_STORAGE_ERROR, and so do LeaderAndIsr and StopReplica, which is how
    /// the controller learns that these replicas are offline.
    offline: RwLock<HashSet<TopicPartition>>,
    /// This broker's registration czxid; control requests naming another are for a previous life.
    /// Shared with the fetchers, which send it in Fetch v15+.
    broker_epoch: Arc<AtomicI64>,
    /// Fetchers and the AlterPartition queue, once [`ReplicaManager::start_replication`] ran.
    replication: OnceLock<replication::Replication>,
    /// The replication throttles, shared with the fetchers.
    quotas: Arc<ReplicationQuotas>,
}

impl ReplicaManager {
    pub fn new(
        broker_id: i32,
        logs: LogManager,
        loaded: HashMap<TopicPartition, LoadedLog>,
    ) -> Self {
        ReplicaManager {
            creating: Mutex::new(()),
            broker_id,
            logs,
            partitions: RwLock::new(HashMap::new()),
            unclaimed: Mutex::new(loaded),
            offline: RwLock::new(HashSet::new()),
            broker_epoch: Arc::new(AtomicI64::new(-1)),
            replication: OnceLock::new(),
            quotas: Arc::new(ReplicationQuotas::default()),
        }
    }

    /// The leader and follower replication throttles.
    pub fn quotas(&self) -> &ReplicationQuotas {
        &self.quotas
    }

    pub fn broker_id(&self) -> i32 {
        self.broker_id
    }

    pub fn set_broker_epoch(&self, epoch: i64) {
        self.broker_epoch.store(epoch, Ordering::SeqCst);
    }

    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::SeqCst)
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Option<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.get(&(topic.to_string(), partition)).cloned()
    }

    /// Whether the partition's log was on a log dir that failed.
    pub fn is_offline(&self, topic: &str, partition: i32) -> bool {
        let offline = self.offline.read().unwrap_or_else(|p| p.into_inner());
        offline.contains(&(topic.to_string(), partition))
    }

    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        let map = self.partitions.read().unwrap_or_else(|p| p.into_inner());
        map.values().cloned().collect()
    }

    /// Applies LeaderAndIsr, which the caller has checked comes from the controller (see
    /// `api::controller_fence`). `configs` holds the log config of every topic named in the request.
    pub fn become_leader_or_follower(
        &self,
        req: &LeaderAndIsrRequest,
        configs: &HashMap<String, TopicConfig>,
    ) -> LeaderAndIsrResponse {
        let mut errors: Vec<(LeaderAndIsrPartitionError, uuid::Uuid)> = Vec::new();
        // v0-v4 list partition states flat (each names its topic); v5+ group them under topic states.
        let ungrouped = req
            .ungrouped_partition_states
            .iter()
            .map(|s| (s.topic_name.0.to_string(), s, uuid::Uuid::nil()));
        let grouped = req.topic_states.iter().flat_map(|t| {
            t.partition_states
                .iter()
                .map(move |s| (t.topic_name.0.to_string(), s, t.topic_id))
        });
        let mut illegal = 0usize;
        for (topic, state, topic_id) in ungrouped.chain(grouped) {
            let code = unless_illegal(&topic, &mut illegal, || {
                self.apply_state(&topic, state, topic_id, configs, &req.live_leaders)
            });
            errors.push((
                LeaderAndIsrPartitionError::default()
                    .with_topic_name(kafka_protocol::messages::TopicName(
                        crate::metadata::str_bytes(topic),
                    ))
                    .with_partition_index(state.partition_index)
                    .with_error_code(code),
                topic_id,
            ));
        }
        // One line per request: a failover touches thousands of partitions, each logged at debug.
        let failed = errors.iter().filter(|(e, _)| e.error_code != NONE).count();
        info!(
            controller = req.controller_id.0,
            controller_epoch = req.controller_epoch,
            partitions = errors.len(),
            failed,
            illegal_topic_names = illegal,
            "applied LeaderAndIsr"
        );
        let mut resp = LeaderAndIsrResponse::default();
        if req.topic_states.is_empty() {
            resp.partition_errors = errors.into_iter().map(|(e, _)| e).collect();
        } else {
            let mut by_topic: HashMap<uuid::Uuid, Vec<LeaderAndIsrPartitionError>> = HashMap::new();
            for (e, id) in errors {
                by_topic.entry(id).or_default().push(e);
            }
            resp.topics = by_topic
                .into_iter()
                .map(|(id, errs)| {
                    LeaderAndIsrTopicError::default()
                        .with_topic_id(id)
                        .with_partition_errors(errs)
                })
                .collect();
        }
        resp
    }

    fn apply_state(
        &self,
        topic: &str,
        state: &LeaderAndIsrPartitionState,
        topic_id: uuid::Uuid,
        configs: &HashMap<String, TopicConfig>,
        live_leaders: &[LeaderAndIsrLiveLeader],
    ) -> Result<(), ResponseError> {
        if self.is_offline(topic, state.partition_index) {
            return Err(ResponseError::KafkaStorageError);
        }
        if !state.replicas.iter().any(|r| r.0 == self.broker_id) {
            return Ok(());
        }
        if let Some(config) = configs.get(topic) {
            self.quotas.apply_topic(topic, config, self.broker_id);
        }
        let partition = match self.partition(topic, state.partition_index) {
            Some(p) => p,
            None => self.create_partition(topic, state, topic_id, configs)?,
        };
        partition.set_topic_id(topic_id);
        let changed = partition.apply_leader_and_isr(state, crate::clock::now_ms())?;
        let role = partition.role();
        if changed {
            let position = partition.fetch_position();
            debug!(topic, partition = state.partition_index, leader = role.leader,
                leader_epoch = role.leader_epoch, isr = ?role.isr,
                role = if role.leader == self.broker_id { "leader" } else { "follower" },
                log_end_offset = position.log_end_offset, high_watermark = position.high_watermark,
                "partition role changed");
        }
        self.update_fetcher(&partition, changed, live_leaders);
        if role.leader != self.broker_id && self.replication.get().is_none() && changed {
            warn!(
                topic,
                partition = state.partition_index,
                "replication not started; not fetching"
            );
        }
        Ok(())
    }

    fn create_partition(
        &self,
        topic: &str,
        state: &LeaderAndIsrPartitionState,
        topic_id: uuid::Uuid,
        configs: &HashMap<String, TopicConfig>,
    ) -> Result<Arc<Partition>, ResponseError> {
        let index = state.partition_index;
        let key = (topic.to_string(), index);
        // Two LeaderAndIsr requests (an old and a new controller, on different connections) may both
        // miss this partition; only one may open its directory, since opening runs recovery.
        let _creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.partition(topic, index) {
            return Ok(existing);
        }
        let config = configs.get(topic);
        let loaded = self
            .unclaimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let (mut log, hw) = match loaded {
            Some(l) => (l.log, l.high_watermark),
            // Its log may be on a dir that is offline since start-up: an existing replica is
            // never re-created empty elsewhere (Kafka's `getOrCreateLog` with `isNew` false).
            None if !state.is_new && self.logs.any_offline() => {
                warn!(
                    topic,
                    partition = index,
                    "no log found and a log dir is offline"
                );
                return Err(ResponseError::KafkaStorageError);
            }
            None => {
                let config = config.ok_or(ResponseError::UnknownTopicOrPartition)?;
                let log = self.logs.create_log(topic, index, log_config(config)).map_err(|e| {
                    warn!(topic, partition = index, error = %format!("{e:#}"), "cannot create log");
                    ResponseError::KafkaStorageError
                })?;
                (log, 0)
            }
        };
        if let Some(config) = config {
            log.update_config(log_config(config));
        }
        let Some(log_dir) = self.logs.log_dir_of(log.dir()).cloned() else {
            warn!(topic, partition = index, dir = %log.dir().display(), "log outside every log dir");
            return Err(ResponseError::KafkaStorageError);
        };
        if self.logs.failures().is_offline(&log_dir) {
            return Err(ResponseError::KafkaStorageError);
        }
        let stored_id = crate::log::checkpoint::read_partition_metadata(log.dir())
            .ok()
            .flatten();
        if !topic_id.is_nil()
            && stored_id.as_deref() != Some(crate::zk::topic_id_to_string(&topic_id).as_str())
        {
            // Written (with fsyncs) only when the file is missing or names another id.
            let id = crate::zk::topic_id_to_string(&topic_id);
            if let Err(e) = log.write_partition_metadata(&id) {
                warn!(topic, partition = index, error = %e, "cannot write partition.metadata");
            }
        }
        let partition = Arc::new(Partition::new(
            topic.to_string(),
            index,
            self.broker_id,
            log,
            hw,
        ));
        partition.report_storage_errors_to(self.logs.failures().clone(), log_dir);
        if let Some(config) = config {
            partition.set_min_insync_replicas(config.min_insync_replicas);
        }
        let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        Ok(map.entry(key).or_insert(partition).clone())
    }

    /// Applies StopReplica (from the controller, checked by the caller): the partitions stop being
    /// served here, and their logs are deleted when asked.
    pub fn stop_replicas(&self, req: &StopReplicaRequest) -> StopReplicaResponse {
        let mut targets: Vec<(String, i32, bool)> = Vec::new();
        for p in &req.ungrouped_partitions {
            targets.push((
                p.topic_name.0.to_string(),
                p.partition_index,
                req.delete_partitions,
            ));
        }
        for t in &req.topics {
            for p in &t.partition_indexes {
                targets.push((t.name.0.to_string(), *p, req.delete_partitions));
            }
        }
        for t in &req.topic_states {
            for p in &t.partition_states {
                targets.push((
                    t.topic_name.0.to_string(),
                    p.partition_index,
                    p.delete_partition,
                ));
            }
        }
        let mut errors = Vec::new();
        let mut illegal = 0usize;
        for (topic, index, delete) in targets {
            let code = unless_illegal(&topic, &mut illegal, || {
                self.stop_partition(&topic, index, delete)
            });
            errors.push(
                StopReplicaPartitionError::default()
                    .with_topic_name(kafka_protocol::messages::TopicName(
                        crate::metadata::str_bytes(topic),
                    ))
                    .with_partition_index(index)
                    .with_error_code(code),
            );
        }
        if illegal > 0 {
            warn!(
                controller = req.controller_id.0,
                partitions = illegal,
                "StopReplica named illegal topic names; nothing stopped for them"
            );
        }
        StopReplicaResponse::default().with_partition_errors(errors)
    }

    fn stop_partition(&self, topic: &str, index: i32, delete: bool) -> Result<(), ResponseError> {
        if self.is_offline(topic, index) {
            return Err(ResponseError::KafkaStorageError);
        }
        let key = (topic.to_string(), index);
        self.stop_fetching(&key);
        let removed = self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        let unclaimed = self
            .unclaimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        if !delete {
            if let Some(p) = removed {
                // Kept on disk; it becomes "unclaimed" again so a later LeaderAndIsr picks it up.
                if let Ok(p) = Arc::try_unwrap(p) {
                    let hw = p.high_watermark();
                    let log = p.into_log();
                    self.unclaimed
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(
                            key,
                            LoadedLog {
                                log,
                                high_watermark: hw,
                            },
                        );
                }
            } else if let Some(l) = unclaimed {
                self.unclaimed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key, l);
            }
            return Ok(());
        }
        let dir = match (removed, unclaimed) {
            (Some(p), _) => p.with_log(|log| log.dir().to_path_buf()),
            (None, Some(l)) => l.log.dir().to_path_buf(),
            (None, None) => return Ok(()),
        };
        // Requests still holding the partition keep their open files; the directory goes now.
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            warn!(topic, partition = index, dir = %dir.display(), error = %e, "cannot delete log");
            return Err(ResponseError::KafkaStorageError);
        }
        info!(topic, partition = index, "replica stopped and deleted");
        Ok(())
    }

    /// Writes recovery points, high watermarks and log start offsets of every partition (a log
    /// dir whose files cannot be written goes offline).
    pub fn checkpoint(&self) {
        let entries: Vec<CheckpointEntry> = self
            .all_partitions()
            .iter()
            .map(|p| {
                let (dir, recovery_point, log_start_offset) = p.with_log(|log| {
                    (
                        log.dir().to_path_buf(),
                        log.recovery_point(),
                        log.log_start_offset(),
                    )
                });
                CheckpointEntry {
                    topic: p.topic.clone(),
                    partition: p.index,
                    dir,
                    recovery_point,
                    high_watermark: p.high_watermark(),
                    log_start_offset,
                }
            })
            .collect();
        self.logs.write_checkpoints(&entries);
    }

    /// Flushes every log and writes the checkpoints: the clean-shutdown path.
    pub fn shutdown(&self) -> anyhow::Result<()> {
        self.stop_all_fetchers();
        for p in self.all_partitions() {
            if let Err(e) = p.storage(p.with_log(|log| log.flush_for_shutdown())) {
                warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed at shutdown");
            }
        }
        self.checkpoint();
        Ok(())
    }
}
