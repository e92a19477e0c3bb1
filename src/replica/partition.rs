//! One partition hosted on this broker (Kafka's `Partition`): its log, its role, and its high watermark.
//!
//! The log has one writer at a time (the `Mutex` is held only for the append itself); readers go through
//! a `LogReader` and never take that lock. The high watermark lives in a `watch` channel so that
//! acks=all producers and long-polling fetchers wait on a notification instead of polling.
//!
//! As leader it tracks each follower's fetches (`isr`), computes the high watermark from the ISR and
//! proposes ISR changes, which the controller commits through AlterPartition; the follower side (appends
//! of fetched data, truncation) is in `follower.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
use tokio::sync::watch;
use tracing::{info, warn};
use uuid::Uuid;

use super::isr::{can_join_isr, maximal_isr, out_of_sync_replicas, FollowerState, UNKNOWN_OFFSET};
use crate::log::cleaner::CleanableLog;
use crate::log::dir_failure::LogDirFailureChannel;
use crate::log::{AppendInfo, Log, LogError, LogReader, RecordError};

/// What the controller last said about this partition.
#[derive(Debug, Clone, Default)]
pub struct ReplicaRole {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
    /// The ISR proposed to the controller and not yet answered (at most one AlterPartition in flight).
    pub pending_isr: Option<Vec<i32>>,
    /// The log end when this broker became leader in `leader_epoch`: a follower must reach it to join.
    pub leader_epoch_start_offset: i64,
}

/// An ISR change to send to the controller in an AlterPartition request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub new_isr: Vec<i32>,
    /// Broker epochs of the new ISR's members, -1 where unknown (AlterPartition v3).
    pub broker_epochs: Vec<i64>,
}

/// A partition's log plus its replication state.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    local_broker: i32,
    /// The topic id from LeaderAndIsr v5+ (nil before), needed for Fetch v13+ and AlterPartition v2+.
    topic_id: RwLock<Uuid>,
    pub(super) log: Mutex<Log>,
    reader: LogReader,
    role: RwLock<ReplicaRole>,
    /// What each follower's fetches told us while we lead (LEO, last caught-up time).
    pub(super) followers: Mutex<HashMap<i32, FollowerState>>,
    pub(super) high_watermark: watch::Sender<i64>,
    /// The topic's `min.insync.replicas`, checked by acks=all produces.
    min_insync_replicas: AtomicI32,
    /// The log end offset: followers wait on this, consumers on the high watermark.
    pub(super) log_end: watch::Sender<i64>,
    /// Signalled when the low watermark may have moved: DeleteRecords waits on it.
    pub(super) low_watermark: watch::Sender<()>,
    /// Where an I/O error on this log is reported, and the log dir it takes offline.
    pub(super) storage_failures: OnceLock<(Arc<LogDirFailureChannel>, PathBuf)>,
    /// Its log dir failed: nothing is appended any more, and waiting producers are answered
    /// KAFKA_STORAGE_ERROR (Kafka's `HostedPartition.Offline`).
    pub(super) offline: AtomicBool,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.index)
    }
}

/// Maps a storage error to the Kafka error code a client understands.
/// A Kafka error's name for logs, including the codes newer than kafka-protocol 0.15's enum that
/// a controller answers AlterPartition with (KIP-841, KIP-903).
pub fn error_name(e: ResponseError) -> String {
    match e {
        ResponseError::Unknown(107) => "INELIGIBLE_REPLICA".to_string(),
        ResponseError::Unknown(108) => "NEW_LEADER_ELECTED".to_string(),
        ResponseError::Unknown(code) => format!("error code {code}"),
        known => format!("{known:?}"),
    }
}

/// A refused leader append: the error code, and for records refused one by one what Kafka's
/// produce response adds (v8+): each record's index and reason, and the summary message.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendError {
    pub error: ResponseError,
    pub message: Option<String>,
    pub record_errors: Vec<RecordError>,
}

impl From<ResponseError> for AppendError {
    fn from(error: ResponseError) -> Self {
        AppendError {
            error,
            message: None,
            record_errors: Vec::new(),
        }
    }
}

impl From<LogError> for AppendError {
    fn from(e: LogError) -> Self {
        let error = log_error_code(&e);
        match e {
            LogError::RecordErrors(record_errors) => AppendError {
                error,
                message: Some(LogError::RecordErrors(record_errors.clone()).to_string()),
                record_errors,
            },
            LogError::InvalidTimestamp(record_errors) => AppendError {
                error,
                message: Some(LogError::InvalidTimestamp(Vec::new()).to_string()),
                record_errors,
            },
            _ => error.into(),
        }
    }
}

pub fn log_error_code(e: &LogError) -> ResponseError {
    ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError)
}

/// The log cleaner reaches a partition's log through its writer lock, and cleans nothing at or
/// above the high watermark.
impl CleanableLog for Partition {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn partition(&self) -> i32 {
        self.index
    }

    fn high_watermark(&self) -> i64 {
        Partition::high_watermark(self)
    }

    fn lock_log(&self) -> MutexGuard<'_, Log> {
        Partition::lock_log(self)
    }

    fn cleaning_failed(&self, error: &LogError) {
        self.report_storage_error(error);
    }
}

impl Partition {
    /// Wraps an opened log; `high_watermark` comes from `replication-offset-checkpoint`.
    pub fn new(
        topic: String,
        index: i32,
        local_broker: i32,
        log: Log,
        high_watermark: i64,
    ) -> Self {
        let reader = log.reader();
        let hw = high_watermark.clamp(log.log_start_offset(), log.log_end_offset());
        let (tx, _) = watch::channel(hw);
        let (log_end, _) = watch::channel(log.log_end_offset());
        let (low_watermark, _) = watch::channel(());
        Partition {
            topic,
            index,
            local_broker,
            topic_id: RwLock::new(Uuid::nil()),
            log: Mutex::new(log),
            reader,
            role: RwLock::new(ReplicaRole {
                leader: -1,
                ..ReplicaRole::default()
            }),
            followers: Mutex::new(HashMap::new()),
            high_watermark: tx,
            log_end,
            low_watermark,
            min_insync_replicas: AtomicI32::new(1),
            storage_failures: OnceLock::new(),
            offline: AtomicBool::new(false),
        }
    }

    /// Takes the log back out (the partition stops being served here but its data stays).
    pub fn into_log(self) -> Log {
        self.log.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn lock_log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the log's writer lock held (appends, truncation, retention, flushes).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.lock_log())
    }

    pub fn set_min_insync_replicas(&self, n: i32) {
        self.min_insync_replicas.store(n.max(1), Ordering::Relaxed);
    }

    /// The topic's `min.insync.replicas`, as last set.
    pub fn min_insync_replicas(&self) -> usize {
        self.min_insync_replicas.load(Ordering::Relaxed) as usize
    }

    pub fn set_topic_id(&self, id: Uuid) {
        if !id.is_nil() {
            *self.topic_id.write().unwrap_or_else(|p| p.into_inner()) = id;
        }
    }

    pub fn topic_id(&self) -> Uuid {
        *self.topic_id.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn role(&self) -> ReplicaRole {
        self.role
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn is_leader(&self) -> bool {
        self.role().leader == self.local_broker
    }

    pub fn reader(&self) -> &LogReader {
        &self.reader
    }

    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// A receiver that changes whenever the high watermark moves (new data is visible to consumers).
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// A receiver that changes whenever records are appended (what followers wait for).
    pub fn subscribe_log_end(&self) -> watch::Receiver<i64> {
        self.log_end.subscribe()
    }

    /// Applies a LeaderAndIsr partition state. Returns whether the leader or the leader epoch changed
    /// (a follower must then truncate and fetch from the new leader; a new leader starts tracking its
    /// followers afresh). An older leader epoch is refused.
    pub fn apply_leader_and_isr(
        &self,
        state: &LeaderAndIsrPartitionState,
        now_ms: i64,
    ) -> Result<bool, ResponseError> {
        let mut role = self.role.write().unwrap_or_else(|p| p.into_inner());
        if state.leader_epoch < role.leader_epoch {
            return Err(ResponseError::StaleControllerEpoch);
        }
        let changed = state.leader_epoch > role.leader_epoch
            || role.leader == -1
            || role.leader != state.leader.0;
        let leo = self.reader.log_end_offset();
        let start_offset = if changed {
            leo
        } else {
            role.leader_epoch_start_offset
        };
        *role = ReplicaRole {
            leader: state.leader.0,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            isr: state.isr.iter().map(|b| b.0).collect(),
            replicas: state.replicas.iter().map(|b| b.0).collect(),
            // The controller's word replaces whatever we proposed.
            pending_isr: None,
            leader_epoch_start_offset: start_offset,
        };
        let leader = role.leader == self.local_broker;
        let isr = role.isr.clone();
        drop(role);
        let mut followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        if !leader {
            followers.clear();
        } else if changed {
            followers.clear();
            for r in isr.iter().filter(|r| **r != self.local_broker) {
                followers.insert(*r, FollowerState::new(true, now_ms));
            }
        }
        drop(followers);
        if leader {
            self.maybe_advance_high_watermark();
        }
        self.refresh_low_watermark();
        self.wake_waiters();
        Ok(changed)
    }

    /// Wakes acks=all waiters and long polls so they re-check leadership and the ISR.
    pub(super) fn wake_waiters(&self) {
        self.high_watermark.send_modify(|_| {});
    }

    /// Leader append (the produce path). Checks leadership and `min.insync.replicas` for acks=all,
    /// then appends and moves the high watermark if the ISR already has everything.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        acks: i16,
        now_ms: i64,
    ) -> Result<AppendInfo, AppendError> {
        if self.is_offline() {
            return Err(ResponseError::KafkaStorageError.into());
        }
        let role = self.role();
        if role.leader != self.local_broker {
            return Err(ResponseError::NotLeaderOrFollower.into());
        }
        if acks == -1 && role.isr.len() < self.min_insync_replicas.load(Ordering::Relaxed) as usize
        {
            return Err(ResponseError::NotEnoughReplicas.into());
        }
        let appended = self
            .lock_log()
            .append_as_leader(records, role.leader_epoch, now_ms);
        let info = self.storage(appended)?;
        crate::metrics::produced(records.len(), &info);
        self.log_end.send_replace(self.reader.log_end_offset());
        self.maybe_advance_high_watermark();
        Ok(info)
    }

    /// Records a follower's fetch from `fetch_offset` (its log end offset), moves the high watermark,
    /// and proposes adding the follower to the ISR when it has caught up (Kafka's `maybeExpandIsr`).
    pub fn record_follower_fetch(
        &self,
        replica: i32,
        fetch_offset: i64,
        log_start_offset: i64,
        broker_epoch: i64,
        now_ms: i64,
    ) -> Option<IsrProposal> {
        let role = self.role();
        // Only an assigned replica has a log end the high watermark may wait for.
        if role.leader != self.local_broker || !role.replicas.contains(&replica) {
            return None;
        }
        let leo = self.reader.log_end_offset();
        self.followers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(replica)
            .or_insert_with(|| FollowerState::new(false, now_ms))
            .on_fetch(fetch_offset, leo, now_ms, broker_epoch);
        if log_start_offset >= 0 {
            if let Some(f) = self
                .followers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&replica)
            {
                f.log_start_offset = log_start_offset;
            }
        }
        self.maybe_advance_high_watermark();
        self.refresh_low_watermark();
        if role.pending_isr.is_some()
            || !can_join_isr(
                replica,
                &role.replicas,
                &role.isr,
                fetch_offset,
                self.high_watermark(),
                role.leader_epoch_start_offset,
            )
        {
            return None;
        }
        let mut new_isr = role.isr.clone();
        new_isr.push(replica);
        info!(topic = %self.topic, partition = self.index, replica, leader_epoch = role.leader_epoch,
            isr = ?role.isr, new_isr = ?new_isr, "expanding ISR");
        self.propose_isr(role.leader_epoch, new_isr)
            .inspect(|_| crate::metrics::isr_expand())
    }

    /// Proposes removing ISR members that have not caught up within `max_lag_ms` (Kafka's
    /// `maybeShrinkIsr`); nothing while another proposal is in flight.
    pub fn maybe_shrink_isr(&self, now_ms: i64, max_lag_ms: i64) -> Option<IsrProposal> {
        let role = self.role();
        if role.leader != self.local_broker || role.pending_isr.is_some() {
            return None;
        }
        let leo = self.reader.log_end_offset();
        let out = {
            let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
            out_of_sync_replicas(
                &role.isr,
                self.local_broker,
                &followers,
                leo,
                now_ms,
                max_lag_ms,
            )
        };
        if out.is_empty() {
            return None;
        }
        let new_isr: Vec<i32> = role
            .isr
            .iter()
            .copied()
            .filter(|r| !out.contains(r))
            .collect();
        info!(topic = %self.topic, partition = self.index, leader_epoch = role.leader_epoch,
            isr = ?role.isr, new_isr = ?new_isr, out_of_sync = ?out, leader_end_offset = leo,
            high_watermark = self.high_watermark(), "shrinking ISR");
        self.propose_isr(role.leader_epoch, new_isr)
            .inspect(|_| crate::metrics::isr_shrink())
    }

    /// Marks `new_isr` as pending if we still lead in `leader_epoch` and nothing else is pending.
    fn propose_isr(&self, leader_epoch: i32, new_isr: Vec<i32>) -> Option<IsrProposal> {
        let mut role = self.role.write().unwrap_or_else(|p| p.into_inner());
        if role.leader != self.local_broker
            || role.leader_epoch != leader_epoch
            || role.pending_isr.is_some()
        {
            return None;
        }
        role.pending_isr = Some(new_isr.clone());
        let partition_epoch = role.partition_epoch;
        drop(role);
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        let broker_epochs = new_isr
            .iter()
            .map(|r| followers.get(r).map_or(-1, |f| f.broker_epoch))
            .collect();
        Some(IsrProposal {
            topic: self.topic.clone(),
            topic_id: self.topic_id(),
            partition: self.index,
            leader_epoch,
            partition_epoch,
            new_isr,
            broker_epochs,
        })
    }

    /// Applies the controller's answer to a proposal made in `leader_epoch`: the committed ISR and
    /// partition epoch, or an error. A stale leader or partition epoch keeps the proposal pending, so
    /// nothing more is proposed until LeaderAndIsr brings the controller's state; other errors drop it
    /// so the next check proposes again.
    pub fn apply_isr_update(
        &self,
        leader_epoch: i32,
        result: Result<(Vec<i32>, i32), ResponseError>,
    ) {
        let mut role = self.role.write().unwrap_or_else(|p| p.into_inner());
        if role.leader != self.local_broker || role.leader_epoch != leader_epoch {
            return;
        }
        match result {
            Ok((isr, partition_epoch)) => {
                if partition_epoch < role.partition_epoch {
                    return;
                }
                info!(topic = %self.topic, partition = self.index, leader_epoch, partition_epoch,
                    isr = ?isr, "ISR updated");
                role.isr = isr;
                role.partition_epoch = partition_epoch;
                role.pending_isr = None;
            }
            Err(e @ (ResponseError::InvalidUpdateVersion | ResponseError::FencedLeaderEpoch)) => {
                warn!(topic = %self.topic, partition = self.index, leader_epoch, error = %error_name(e),
                    "controller refused the ISR change; waiting for LeaderAndIsr");
            }
            Err(e) => {
                warn!(topic = %self.topic, partition = self.index, leader_epoch, error = %error_name(e),
                    "ISR change failed; it will be proposed again");
                role.pending_isr = None;
            }
        }
        drop(role);
        self.maybe_advance_high_watermark();
        self.wake_waiters();
    }

    /// High watermark = the smallest log end offset among the (maximal) ISR; never moves backwards.
    fn maybe_advance_high_watermark(&self) {
        let role = self.role();
        if role.leader != self.local_broker {
            return;
        }
        let mut hw = self.reader.log_end_offset();
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        for replica in maximal_isr(&role.isr, role.pending_isr.as_deref())
            .iter()
            .filter(|r| **r != self.local_broker)
        {
            hw = hw.min(
                followers
                    .get(replica)
                    .map_or(UNKNOWN_OFFSET, |f| f.log_end_offset),
            );
        }
        drop(followers);
        self.high_watermark.send_if_modified(|current| {
            if hw > *current {
                *current = hw;
                true
            } else {
                false
            }
        });
    }

    /// Waits until every ISR member has the records below `offset` (acks=all, Kafka's
    /// `DelayedProduce`): Ok once the high watermark passes it with at least `min.insync.replicas` in
    /// the ISR; NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below that; NOT_LEADER_OR_FOLLOWER if
    /// leadership moved; KAFKA_STORAGE_ERROR if its log dir failed; REQUEST_TIMED_OUT after
    /// `timeout`.
    pub async fn wait_for_acks_all(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<(), ResponseError> {
        let mut rx = self.subscribe();
        let wait = async {
            loop {
                let hw = *rx.borrow_and_update();
                if self.is_offline() {
                    return Err(ResponseError::KafkaStorageError);
                }
                let role = self.role();
                if role.leader != self.local_broker {
                    return Err(ResponseError::NotLeaderOrFollower);
                }
                if hw >= offset {
                    let min_isr = self.min_insync_replicas.load(Ordering::Relaxed) as usize;
                    return if role.isr.len() < min_isr {
                        Err(ResponseError::NotEnoughReplicasAfterAppend)
                    } else {
                        Ok(())
                    };
                }
                if rx.changed().await.is_err() {
                    return Err(ResponseError::NotLeaderOrFollower);
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or(Err(ResponseError::RequestTimedOut))
    }

    /// Makes the high watermark at most the log end (after truncation) and notifies waiters.
    pub fn clamp_high_watermark(&self) {
        let leo = self.reader.log_end_offset();
        self.high_watermark.send_if_modified(|hw| {
            if *hw > leo {
                *hw = leo;
                true
            } else {
                false
            }
        });
    }
}

#[cfg(test)]
#[path = "partition_tests.rs"]
mod tests;
