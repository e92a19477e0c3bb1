//! One partition hosted on this broker (Kafka's `Partition`): its log, its role, and its high watermark.
//!
//! The log has one writer at a time (the `Mutex` is held only for the append itself); readers go through
//! a `LogReader` and never take that lock. The high watermark lives in a `watch` channel so that
//! acks=all producers and long-polling fetchers wait on a notification instead of polling.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
use tokio::sync::watch;

use crate::log::{AppendInfo, Log, LogError, LogReader};

/// What the controller last said about this partition.
#[derive(Debug, Clone, Default)]
pub struct ReplicaRole {
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
}

/// A partition's log plus its replication state.
pub struct Partition {
    pub topic: String,
    pub index: i32,
    local_broker: i32,
    log: Mutex<Log>,
    reader: LogReader,
    role: RwLock<ReplicaRole>,
    /// Log end offsets followers reported in their fetches (replication adds followers here).
    follower_leo: Mutex<HashMap<i32, i64>>,
    high_watermark: watch::Sender<i64>,
    /// The topic's `min.insync.replicas`, checked by acks=all produces.
    min_insync_replicas: AtomicI32,
    /// The log end offset: followers wait on this, consumers on the high watermark.
    log_end: watch::Sender<i64>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.index)
    }
}

/// Maps a storage error to the Kafka error code a client understands.
pub fn log_error_code(e: &LogError) -> ResponseError {
    ResponseError::try_from_code(e.kafka_error_code()).unwrap_or(ResponseError::UnknownServerError)
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
        Partition {
            topic,
            index,
            local_broker,
            log: Mutex::new(log),
            reader,
            role: RwLock::new(ReplicaRole {
                leader: -1,
                ..ReplicaRole::default()
            }),
            follower_leo: Mutex::new(HashMap::new()),
            high_watermark: tx,
            log_end,
            min_insync_replicas: AtomicI32::new(1),
        }
    }

    /// Takes the log back out (the partition stops being served here but its data stays).
    pub fn into_log(self) -> Log {
        self.log.into_inner().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` with the log's writer lock held (appends, truncation, retention, flushes).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.lock_log())
    }

    pub fn set_min_insync_replicas(&self, n: i32) {
        self.min_insync_replicas.store(n.max(1), Ordering::Relaxed);
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

    /// Applies a LeaderAndIsr partition state. Returns an error code for a stale leader epoch.
    pub fn apply_leader_and_isr(
        &self,
        state: &LeaderAndIsrPartitionState,
    ) -> Result<(), ResponseError> {
        let mut role = self.role.write().unwrap_or_else(|p| p.into_inner());
        if state.leader_epoch < role.leader_epoch {
            return Err(ResponseError::StaleControllerEpoch);
        }
        let new_epoch = state.leader_epoch > role.leader_epoch || role.leader == -1;
        *role = ReplicaRole {
            leader: state.leader.0,
            leader_epoch: state.leader_epoch,
            partition_epoch: state.partition_epoch,
            isr: state.isr.iter().map(|b| b.0).collect(),
            replicas: state.replicas.iter().map(|b| b.0).collect(),
        };
        let leader = role.leader == self.local_broker;
        drop(role);
        if leader {
            if new_epoch {
                self.follower_leo
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clear();
            }
            self.maybe_advance_high_watermark();
        }
        Ok(())
    }

    /// Leader append (the produce path). Checks leadership and `min.insync.replicas` for acks=all,
    /// then appends and moves the high watermark if the ISR already has everything.
    pub fn append_as_leader(
        &self,
        records: Bytes,
        acks: i16,
        now_ms: i64,
    ) -> Result<AppendInfo, ResponseError> {
        let role = self.role();
        if role.leader != self.local_broker {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if acks == -1 && role.isr.len() < self.min_insync_replicas.load(Ordering::Relaxed) as usize
        {
            return Err(ResponseError::NotEnoughReplicas);
        }
        // The frame buffer is shared with the request, so patching offsets needs our own copy unless
        // we are the only holder.
        let buf = records
            .try_into_mut()
            .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
        let info = self
            .lock_log()
            .append_as_leader(buf, role.leader_epoch, now_ms)
            .map_err(|e| log_error_code(&e))?;
        self.log_end.send_replace(self.reader.log_end_offset());
        self.maybe_advance_high_watermark();
        Ok(info)
    }

    /// Records a follower's fetch position (its log end offset) and moves the high watermark.
    pub fn record_follower_fetch(&self, replica: i32, log_end_offset: i64) {
        self.follower_leo
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(replica, log_end_offset);
        self.maybe_advance_high_watermark();
    }

    /// High watermark = the smallest log end offset among ISR members (Kafka never moves it backwards).
    fn maybe_advance_high_watermark(&self) {
        let role = self.role();
        if role.leader != self.local_broker {
            return;
        }
        let mut hw = self.reader.log_end_offset();
        let followers = self.follower_leo.lock().unwrap_or_else(|p| p.into_inner());
        for replica in role.isr.iter().filter(|r| **r != self.local_broker) {
            hw = hw.min(followers.get(replica).copied().unwrap_or(0));
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

    /// Waits until the high watermark reaches `offset` or `timeout` passes; true if reached.
    pub async fn wait_for_high_watermark(&self, offset: i64, timeout: Duration) -> bool {
        let mut rx = self.subscribe();
        let reached = matches!(
            tokio::time::timeout(timeout, rx.wait_for(|hw| *hw >= offset)).await,
            Ok(Ok(_))
        );
        reached
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
