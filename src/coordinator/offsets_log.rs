//! The `__consumer_offsets` partitions as the Kafka offset store sees them: append a batch as
//! leader (acks as `offsets.commit.required.acks`), read a partition from its start, and ask which
//! leader epoch this broker leads it in. The broker implements it on the replica manager (the
//! produce path's `Partition::append_as_leader`); unit tests implement it in memory.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::store::{StoreError, StoreFuture};
use crate::api::CONSUMER_OFFSETS;
use crate::replica::ReplicaManager;

/// How much of a partition one read returns while loading (Kafka's `offsets.load.buffer.size`).
const LOAD_BUFFER_BYTES: usize = 5 * 1024 * 1024;

/// One `__consumer_offsets` partition's log, as the offset store uses it.
pub trait OffsetsLog: Send + Sync {
    /// The leader epoch this broker leads `partition` in, `None` when it does not lead it.
    fn leader_epoch(&self, partition: i32) -> Option<i32>;

    /// Appends one record batch as leader; with `acks == -1` resolves once the ISR has it.
    fn append(&self, partition: i32, batch: Bytes, acks: i16) -> StoreFuture<'_, ()>;

    /// Every batch of the partition from its log start to its log end (Kafka loads to the log
    /// end, not the high watermark: `FetchIsolation.LOG_END`), as raw batch bytes.
    fn read_all(&self, partition: i32) -> StoreFuture<'_, Vec<Bytes>>;
}

/// Maps an append failure to what the coordinator answers: leadership or ISR trouble is
/// retriable (COORDINATOR_NOT_AVAILABLE, as Kafka maps NOT_ENOUGH_REPLICAS and friends).
fn append_error(e: ResponseError) -> StoreError {
    match e {
        ResponseError::NotLeaderOrFollower
        | ResponseError::NotEnoughReplicas
        | ResponseError::NotEnoughReplicasAfterAppend
        | ResponseError::RequestTimedOut
        | ResponseError::KafkaStorageError => {
            StoreError::Unavailable(format!("__consumer_offsets append: {e:?}"))
        }
        other => StoreError::Failed(format!("__consumer_offsets append: {other:?}")),
    }
}

/// The replica manager's side, with the commit timeout (`offsets.commit.timeout.ms`).
pub struct ReplicaOffsetsLog {
    pub replicas: std::sync::Arc<ReplicaManager>,
    pub commit_timeout: Duration,
}

impl OffsetsLog for ReplicaOffsetsLog {
    fn leader_epoch(&self, partition: i32) -> Option<i32> {
        let p = self.replicas.partition(CONSUMER_OFFSETS, partition)?;
        let role = p.role();
        (role.leader == self.replicas.broker_id()).then_some(role.leader_epoch)
    }

    fn append(&self, partition: i32, batch: Bytes, acks: i16) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            let p = self
                .replicas
                .partition(CONSUMER_OFFSETS, partition)
                .ok_or_else(|| append_error(ResponseError::NotLeaderOrFollower))?;
            let now = crate::clock::now_ms();
            let info = p.append_as_leader(&batch, acks, now).map_err(|e| {
                if let Some(m) = &e.message {
                    tracing::warn!(partition, error = %m, "__consumer_offsets append refused");
                }
                append_error(e.error)
            })?;
            if acks == -1 {
                p.wait_for_acks_all(info.last_offset + 1, self.commit_timeout)
                    .await
                    .map_err(append_error)?;
            }
            Ok(())
        })
    }

    fn read_all(&self, partition: i32) -> StoreFuture<'_, Vec<Bytes>> {
        Box::pin(async move {
            let p = self
                .replicas
                .partition(CONSUMER_OFFSETS, partition)
                .ok_or_else(|| StoreError::Unavailable("no __consumer_offsets replica".into()))?;
            let reader = p.reader();
            let end = reader.log_end_offset();
            let mut next = reader.log_start_offset();
            let mut out = Vec::new();
            while next < end {
                let bytes = reader
                    .read(next, LOAD_BUFFER_BYTES, end, true)
                    .map_err(|e| StoreError::Unavailable(format!("loading offsets: {e}")))?;
                let Some(after) = next_offset_after(&bytes) else {
                    break;
                };
                next = after;
                out.push(bytes);
            }
            Ok(out)
        })
    }
}

/// The offset after the last whole batch in `bytes` (magic-2 header: base offset at 0, batch
/// length at 8, last offset delta at 23), `None` when `bytes` holds no whole batch.
pub fn next_offset_after(bytes: &[u8]) -> Option<i64> {
    let mut pos = 0usize;
    let mut next = None;
    while bytes.len() >= pos + 27 {
        let base = i64::from_be_bytes(bytes[pos..pos + 8].try_into().ok()?);
        let len = i32::from_be_bytes(bytes[pos + 8..pos + 12].try_into().ok()?);
        let delta = i32::from_be_bytes(bytes[pos + 23..pos + 27].try_into().ok()?);
        let end = pos
            .checked_add(12)?
            .checked_add(usize::try_from(len).ok()?)?;
        if end > bytes.len() {
            break;
        }
        next = Some(base + i64::from(delta) + 1);
        pos = end;
    }
    next
}
