//! [`OffsetStore`] on `__consumer_offsets` (`offsets.storage=kafka`), as Kafka 3.x keeps offsets:
//! a commit is one batch of OffsetCommitKey/OffsetCommitValue records appended to the group's
//! partition with `offsets.commit.required.acks`; deletions are tombstones; reads come from a
//! cache of the partition, built by replaying it from its log start when this broker becomes its
//! leader (Kafka's `GroupMetadataManager.loadGroupsAndOffsets`; [`OffsetStore::load_partition`]),
//! or by the first request of a leader epoch the cache does not have, so a new epoch always
//! reloads.
//! `offsets.retention.minutes` expires offsets of groups without members
//! ([`KafkaOffsetStore::expire`], Kafka's `cleanupGroupMetadata`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
};
use tracing::{info, warn};

use super::group_records::{decode_group_value, group_value, GroupMetadataValue};
use super::hash::partition_for;
use super::offsets_log::OffsetsLog;
use super::offsets_records::{
    decode_key, decode_offset_value, group_key, offset_key, offset_value, OffsetValue, OffsetsKey,
};
use super::store::{
    select_committed, CommittedOffset, MemberMirror, OffsetExtra, OffsetStore, OffsetWrite,
    StoreError, StoreFuture, TopicPartition,
};
use crate::clock::now_ms;

/// Committed offsets of one group.
type GroupOffsets = BTreeMap<TopicPartition, CommittedOffset>;

/// What a `__consumer_offsets` partition holds: committed offsets and group metadata, by group.
#[derive(Default)]
struct Groups {
    offsets: HashMap<String, GroupOffsets>,
    metadata: HashMap<String, GroupMetadataValue>,
}

/// One loaded `__consumer_offsets` partition: the leader epoch it was loaded in, and its groups.
struct Loaded {
    leader_epoch: i32,
    groups: Groups,
}

/// Settings of the Kafka offset store (broker keys `offsets.*`).
#[derive(Debug, Clone, Copy)]
pub struct KafkaStoreConfig {
    /// `offsets.topic.num.partitions`: places groups as Kafka does.
    pub partitions: i32,
    /// `offsets.commit.required.acks` (-1).
    pub required_acks: i16,
    /// `offsets.retention.minutes`, in milliseconds.
    pub retention_ms: i64,
}

/// Offsets in `__consumer_offsets`, through an [`OffsetsLog`].
pub struct KafkaOffsetStore {
    log: Arc<dyn OffsetsLog>,
    config: KafkaStoreConfig,
    loaded: Mutex<HashMap<i32, Loaded>>,
    /// One load at a time: two requests racing after a leadership change replay once.
    loading: tokio::sync::Mutex<()>,
}

fn committed(v: OffsetValue) -> CommittedOffset {
    CommittedOffset {
        offset: v.offset,
        extra: Some(OffsetExtra {
            metadata: Some(v.metadata),
            leader_epoch: v.leader_epoch,
            commit_timestamp_ms: v.commit_timestamp,
        }),
    }
}

/// One record of a batch, keyed; `value == None` is a tombstone.
fn record(i: usize, now: i64, key: Bytes, value: Option<Bytes>) -> Record {
    Record {
        transactional: false,
        control: false,
        partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        timestamp_type: TimestampType::Creation,
        offset: i as i64,
        // kafka-protocol keeps records in one batch only while offset - sequence is constant;
        // the header's base sequence stays -1 (no idempotence).
        sequence: NO_SEQUENCE.wrapping_add(i as i32),
        timestamp: now,
        key: Some(key),
        value,
        headers: Default::default(),
    }
}

fn encode_batch(records: &[Record]) -> Result<Bytes, StoreError> {
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, records, &options)
        .map_err(|e| StoreError::Failed(format!("cannot encode offsets batch: {e}")))?;
    Ok(buf.freeze())
}

/// Applies one record of the log to the cache, as Kafka's loader does: the last value of a key
/// wins, a tombstone removes it. Records of the new protocol carry nothing zkafka keeps.
fn apply(cache: &mut Groups, key: &[u8], value: Option<&[u8]>) {
    let key = match decode_key(key) {
        Ok(k) => k,
        Err(e) => {
            warn!(error = %e, "skipping unreadable __consumer_offsets key");
            return;
        }
    };
    let (group, topic, partition) = match key {
        OffsetsKey::Offset {
            group,
            topic,
            partition,
        } => (group, topic, partition),
        OffsetsKey::GroupMetadata { group } => {
            match value.map(decode_group_value) {
                Some(Ok(v)) => {
                    cache.metadata.insert(group, v);
                }
                Some(Err(e)) => {
                    warn!(group = %group, error = %e, "skipping unreadable group metadata")
                }
                None => {
                    cache.metadata.remove(&group);
                }
            }
            return;
        }
        OffsetsKey::Other => return,
    };
    let groups = &mut cache.offsets;
    let tp = TopicPartition::new(topic, partition);
    match value.map(decode_offset_value) {
        Some(Ok(v)) => {
            groups.entry(group).or_default().insert(tp, committed(v));
        }
        Some(Err(e)) => warn!(group = %group, error = %e, "skipping unreadable offset value"),
        None => {
            if let Some(g) = groups.get_mut(&group) {
                g.remove(&tp);
                if g.is_empty() {
                    groups.remove(&group);
                }
            }
        }
    }
}

impl KafkaOffsetStore {
    pub fn new(log: Arc<dyn OffsetsLog>, config: KafkaStoreConfig) -> Self {
        Self {
            log,
            config,
            loaded: Mutex::new(HashMap::new()),
            loading: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, Loaded>> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn partition(&self, group: &str) -> i32 {
        partition_for(group, self.config.partitions)
    }

    /// Makes sure `partition` is loaded in the epoch this broker leads it in; returns the epoch.
    async fn ensure_loaded(&self, partition: i32) -> Result<i32, StoreError> {
        let epoch = self.log.leader_epoch(partition).ok_or_else(|| {
            StoreError::Unavailable(format!("not the leader of __consumer_offsets-{partition}"))
        })?;
        if self.lock().get(&partition).map(|l| l.leader_epoch) == Some(epoch) {
            return Ok(epoch);
        }
        let _one = self.loading.lock().await;
        if self.lock().get(&partition).map(|l| l.leader_epoch) == Some(epoch) {
            return Ok(epoch);
        }
        let batches = self.log.read_all(partition).await?;
        let mut groups = Groups::default();
        let mut records = 0usize;
        for mut bytes in batches {
            let sets = RecordBatchDecoder::decode_all(&mut bytes)
                .map_err(|e| StoreError::Failed(format!("__consumer_offsets-{partition}: {e}")))?;
            for r in sets.iter().flat_map(|s| s.records.iter()) {
                if r.control {
                    continue;
                }
                if let Some(key) = &r.key {
                    apply(&mut groups, key, r.value.as_deref());
                    records += 1;
                }
            }
        }
        info!(
            partition,
            leader_epoch = epoch,
            records,
            groups = groups.metadata.len(),
            groups_with_offsets = groups.offsets.len(),
            "loaded groups and offsets from __consumer_offsets"
        );
        let mut loaded = self.lock();
        // Partitions this broker no longer leads (in their loaded epoch) are dropped here, so the
        // cache holds only what this broker coordinates (Kafka's `onResignation` unload).
        loaded.retain(|p, l| self.log.leader_epoch(*p) == Some(l.leader_epoch));
        loaded.insert(
            partition,
            Loaded {
                leader_epoch: epoch,
                groups,
            },
        );
        Ok(epoch)
    }

    /// Appends `records` to `partition` and, once acknowledged, applies them to the cache if
    /// the partition is still loaded in `epoch` (otherwise the next load replays them).
    async fn write(
        &self,
        partition: i32,
        epoch: i32,
        records: Vec<Record>,
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let batch = encode_batch(&records)?;
        self.log
            .append(partition, batch, self.config.required_acks)
            .await?;
        let mut loaded = self.lock();
        if let Some(l) = loaded
            .get_mut(&partition)
            .filter(|l| l.leader_epoch == epoch)
        {
            for r in &records {
                if let Some(key) = &r.key {
                    apply(&mut l.groups, key, r.value.as_deref());
                }
            }
        }
        Ok(())
    }

    /// Tombstones for the given offsets of `group`.
    fn tombstones(group: &str, tps: &[TopicPartition], now: i64) -> Vec<Record> {
        tps.iter()
            .enumerate()
            .map(|(i, tp)| record(i, now, offset_key(group, &tp.topic, tp.partition), None))
            .collect()
    }

    /// Expires, in every loaded partition this broker still leads, the offsets of groups
    /// without members (`is_active` false) committed at least `offsets.retention.minutes` before
    /// `now` (Kafka's rule for offsets whose group is empty or has no protocol). Returns how many
    /// offsets were removed.
    pub async fn expire(&self, now: i64, is_active: &(dyn Fn(&str) -> bool + Sync)) -> usize {
        let retention = self.config.retention_ms;
        let due: Vec<(i32, i32, String, Vec<TopicPartition>)> = self
            .lock()
            .iter()
            .filter(|(p, l)| self.log.leader_epoch(**p) == Some(l.leader_epoch))
            .flat_map(|(p, l)| {
                l.groups.offsets.iter().filter_map(move |(g, offsets)| {
                    let old: Vec<TopicPartition> = offsets
                        .iter()
                        .filter(|(_, c)| {
                            let ts = c.extra.as_ref().map_or(-1, |e| e.commit_timestamp_ms);
                            ts.saturating_add(retention) <= now
                        })
                        .map(|(tp, _)| tp.clone())
                        .collect();
                    (!old.is_empty()).then(|| (*p, l.leader_epoch, g.clone(), old))
                })
            })
            .collect();
        let mut removed = 0;
        for (partition, epoch, group, tps) in due {
            if is_active(&group) {
                continue;
            }
            let n = tps.len();
            match self
                .write(partition, epoch, Self::tombstones(&group, &tps, now))
                .await
            {
                Ok(()) => {
                    info!(group = %group, partitions = n, "expired committed offsets");
                    removed += n;
                }
                Err(e) => warn!(group = %group, error = %e, "cannot expire offsets"),
            }
        }
        removed
    }
}

impl OffsetStore for KafkaOffsetStore {
    fn commit<'a>(&'a self, group: &'a str, writes: Vec<OffsetWrite>) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let partition = self.partition(group);
            let epoch = self.ensure_loaded(partition).await?;
            let now = now_ms();
            let records = writes
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let extra = w.extra.as_ref();
                    let value = OffsetValue {
                        offset: w.offset,
                        leader_epoch: extra.map_or(-1, |e| e.leader_epoch),
                        metadata: extra.and_then(|e| e.metadata.clone()).unwrap_or_default(),
                        commit_timestamp: extra.map_or(now, |e| e.commit_timestamp_ms),
                    };
                    let key = offset_key(group, &w.tp.topic, w.tp.partition);
                    record(i, now, key, Some(offset_value(&value)))
                })
                .collect();
            self.write(partition, epoch, records).await
        })
    }

    fn fetch<'a>(
        &'a self,
        group: &'a str,
        partitions: Option<Vec<TopicPartition>>,
    ) -> StoreFuture<'a, Vec<(TopicPartition, Option<CommittedOffset>)>> {
        Box::pin(async move {
            let partition = self.partition(group);
            self.ensure_loaded(partition).await?;
            let loaded = self.lock();
            let offsets = loaded
                .get(&partition)
                .and_then(|l| l.groups.offsets.get(group));
            Ok(select_committed(offsets, partitions))
        })
    }

    fn delete_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let partition = self.partition(group);
            let epoch = self.ensure_loaded(partition).await?;
            let tps: Vec<TopicPartition> = self
                .lock()
                .get(&partition)
                .and_then(|l| l.groups.offsets.get(group))
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            let now = now_ms();
            let mut records = Self::tombstones(group, &tps, now);
            records.push(record(records.len(), now, group_key(group), None));
            self.write(partition, epoch, records).await?;
            Ok(!tps.is_empty())
        })
    }

    fn delete_offsets<'a>(
        &'a self,
        group: &'a str,
        partitions: Vec<TopicPartition>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let partition = self.partition(group);
            let epoch = self.ensure_loaded(partition).await?;
            let present: Vec<TopicPartition> = {
                let loaded = self.lock();
                let offsets = loaded
                    .get(&partition)
                    .and_then(|l| l.groups.offsets.get(group));
                partitions
                    .into_iter()
                    .filter(|tp| offsets.is_some_and(|o| o.contains_key(tp)))
                    .collect()
            };
            self.write(
                partition,
                epoch,
                Self::tombstones(group, &present, now_ms()),
            )
            .await
        })
    }

    /// Groups with offsets in the partitions this broker leads (what Kafka's ListGroups knows).
    fn list_groups_with_offsets(&self) -> StoreFuture<'_, Vec<String>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for p in 0..self.config.partitions {
                if self.log.leader_epoch(p).is_none() || self.ensure_loaded(p).await.is_err() {
                    continue;
                }
                if let Some(l) = self.lock().get(&p) {
                    out.extend(l.groups.offsets.keys().cloned());
                }
            }
            out.sort();
            Ok(out)
        })
    }

    fn load_partition(&self, partition: i32) -> StoreFuture<'_, Vec<(String, GroupMetadataValue)>> {
        Box::pin(async move {
            self.ensure_loaded(partition).await?;
            Ok(self
                .lock()
                .get(&partition)
                .map(|l| {
                    l.groups
                        .metadata
                        .iter()
                        .map(|(g, v)| (g.clone(), v.clone()))
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn store_group<'a>(&'a self, group: &'a str, value: GroupMetadataValue) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let partition = self.partition(group);
            let epoch = self.ensure_loaded(partition).await?;
            let record = record(0, now_ms(), group_key(group), Some(group_value(&value)));
            self.write(partition, epoch, vec![record]).await
        })
    }

    fn stored_group<'a>(&'a self, group: &'a str) -> StoreFuture<'a, Option<GroupMetadataValue>> {
        Box::pin(async move {
            let partition = self.partition(group);
            self.ensure_loaded(partition).await?;
            Ok(self
                .lock()
                .get(&partition)
                .and_then(|l| l.groups.metadata.get(group).cloned()))
        })
    }

    /// Kafka keeps no membership mirror; members live in the coordinator's memory.
    fn mirror_members<'a>(&'a self, _: &'a str, _: Vec<MemberMirror>) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn mirror_owners<'a>(
        &'a self,
        _: &'a str,
        _: Vec<(TopicPartition, String)>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
#[path = "kafka_store_tests.rs"]
mod tests;
