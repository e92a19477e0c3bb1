//! Kafka's `ReplicaManager.fetchMessages`: one pass over a Fetch's partitions. Each partition is
//! looked up as its leader (Kafka's `getPartitionOrError`), fenced by leader epoch (KIP-320),
//! checked for divergence when a follower names its last fetched epoch (v12+), and read as a range
//! of a segment file without reading the batches: the range goes out with `sendfile(2)`. A
//! follower's fetch offset is its log end, which moves the high watermark and the ISR.
//!
//! When a pass finds less than `min_bytes`, [`super::delayed_fetch`] holds the fetch (Kafka's
//! `DelayedFetch`). Consumers read up to the high watermark, followers up to the log end.

use std::sync::Arc;

use kafka_protocol::error::ResponseError;

use super::delayed_fetch::{capped_wait, DelayedFetch};
use super::{log_error_code, Partition, ReplicaManager};
use crate::log::LogError;
use crate::metadata::ClusterView;
use crate::network::FileRange;

/// Who fetches and how much, for the whole request (Kafka's `FetchParams`).
#[derive(Debug, Clone, Copy)]
pub struct FetchParams {
    /// The follower's broker id, or a negative id for a consumer.
    pub replica_id: i32,
    /// The follower's broker epoch (Fetch v15+), -1 when not given.
    pub broker_epoch: i64,
    /// Record bytes for the whole response, after the broker's cap.
    pub max_bytes: usize,
    pub min_bytes: usize,
    /// As requested; capped by [`capped_wait`].
    pub max_wait_ms: i32,
    /// A refusal of the whole request (an unbelieved follower): every partition gets it.
    pub refused: Option<ResponseError>,
}

impl FetchParams {
    pub fn is_follower(&self) -> bool {
        self.replica_id >= 0
    }
}

/// One requested partition, as decoded (Kafka's `FetchRequest.PartitionData`).
#[derive(Debug, Clone)]
pub struct FetchTarget {
    /// `None` when the request named a topic id this broker does not know.
    pub topic: Option<String>,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: usize,
    /// -1 when not given (before v9).
    pub current_leader_epoch: i32,
    /// The follower's newest epoch (v12+), -1 when not given.
    pub last_fetched_epoch: i32,
    /// The follower's log start offset (v5+), -1 when not given.
    pub log_start_offset: i64,
}

/// What one partition answers (Kafka's `FetchPartitionData`).
#[derive(Debug, Default)]
pub struct FetchPartitionData {
    pub error: Option<ResponseError>,
    /// -1 when the partition was not found.
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// (epoch, end offset) where the follower's log diverges from ours.
    pub diverging_epoch: Option<(i32, i64)>,
    /// The records as a range of a segment file (`None`: no records).
    pub records: Option<FileRange>,
}

/// What a Fetch gets: every partition's answer at once, or a fetch held for more data.
pub enum FetchOutcome {
    Ready(Vec<FetchPartitionData>),
    Delayed(DelayedFetch),
}

/// A target resolved once: the partition it names, or why not.
pub(super) struct Resolved {
    pub(super) target: FetchTarget,
    pub(super) partition: Result<Arc<Partition>, ResponseError>,
}

/// One pass over the resolved partitions.
pub(super) struct Read {
    pub(super) data: Vec<FetchPartitionData>,
    /// Record bytes found, counted against `max_bytes` and `min_bytes`.
    pub(super) bytes: usize,
    /// Whether any partition has an error (which ends a long poll at once, as in Kafka).
    pub(super) errors: bool,
}

impl Partition {
    /// Kafka's leader-epoch fencing of fetches and offset requests (KIP-320): -1 skips the check.
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ResponseError> {
        let current = self.role().leader_epoch;
        if requested == -1 || requested == current {
            Ok(())
        } else if requested > current {
            Err(ResponseError::UnknownLeaderEpoch)
        } else {
            Err(ResponseError::FencedLeaderEpoch)
        }
    }
}

impl ReplicaManager {
    /// Serves a Fetch: reads every partition once and answers when that found `min_bytes`, found
    /// an error, or the fetch may not wait; else returns the fetch held until one of its partitions
    /// changes or `max_wait_ms` passes. `view` tells a partition of another broker (NOT_LEADER)
    /// from one the cluster does not have.
    pub fn fetch_messages(
        self: &Arc<Self>,
        params: FetchParams,
        targets: Vec<FetchTarget>,
        view: &ClusterView,
    ) -> FetchOutcome {
        let resolved: Vec<Resolved> = targets
            .into_iter()
            .map(|target| Resolved {
                partition: self.fetch_partition(&params, &target, view),
                target,
            })
            .collect();
        let first = self.read_all(&resolved, &params);
        let max_wait = capped_wait(params.max_wait_ms);
        if max_wait.is_zero() || first.bytes >= params.min_bytes.max(1) || first.errors {
            self.record_leader_throttled(&resolved, &first.data, &params);
            return FetchOutcome::Ready(first.data);
        }
        FetchOutcome::Delayed(DelayedFetch::new(self.clone(), params, resolved, max_wait))
    }

    /// Kafka's `getPartitionOrError` for a fetch: this broker must lead the partition, and a
    /// follower must be one of its replicas ("fetch request from non-replica").
    fn fetch_partition(
        &self,
        params: &FetchParams,
        target: &FetchTarget,
        view: &ClusterView,
    ) -> Result<Arc<Partition>, ResponseError> {
        if let Some(refusal) = params.refused {
            return Err(refusal);
        }
        let topic = target
            .topic
            .as_deref()
            .ok_or(ResponseError::UnknownTopicId)?;
        let p = self.hosted_partition(topic, target.partition, view)?;
        if !p.is_leader()
            || (params.is_follower() && !p.role().replicas.contains(&params.replica_id))
        {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        Ok(p)
    }

    /// Kafka's `getPartitionOrError`: the partition hosted here, else KAFKA_STORAGE_ERROR when its
    /// log dir failed, NOT_LEADER_OR_FOLLOWER when the cluster has it (the client's metadata is
    /// stale) and UNKNOWN_TOPIC_OR_PARTITION when it does not. Whether this broker leads it is the
    /// caller's question.
    pub fn hosted_partition(
        &self,
        topic: &str,
        partition: i32,
        view: &ClusterView,
    ) -> Result<Arc<Partition>, ResponseError> {
        self.partition(topic, partition).ok_or_else(|| {
            if self.is_offline(topic, partition) {
                ResponseError::KafkaStorageError
            } else if view.partition(topic, partition).is_some() {
                ResponseError::NotLeaderOrFollower
            } else {
                ResponseError::UnknownTopicOrPartition
            }
        })
    }

    /// Reads every resolved partition once: finds the stored batches to send, without reading them.
    pub(super) fn read_all(&self, resolved: &[Resolved], params: &FetchParams) -> Read {
        let mut read = Read {
            data: Vec::with_capacity(resolved.len()),
            bytes: 0,
            errors: false,
        };
        for r in resolved {
            let data = match &r.partition {
                Ok(p) => self.read_partition(p, &r.target, params, &mut read.bytes),
                Err(e) => FetchPartitionData {
                    error: Some(*e),
                    high_watermark: -1,
                    log_start_offset: -1,
                    ..FetchPartitionData::default()
                },
            };
            read.errors |= data.error.is_some();
            read.data.push(data);
        }
        crate::metrics::fetched(params.is_follower(), read.bytes);
        read
    }

    /// One partition of one pass; `total` counts the response's record bytes so far.
    fn read_partition(
        &self,
        partition: &Arc<Partition>,
        target: &FetchTarget,
        params: &FetchParams,
        total: &mut usize,
    ) -> FetchPartitionData {
        let reader = partition.reader();
        let mut data = FetchPartitionData {
            high_watermark: partition.high_watermark(),
            log_start_offset: reader.log_start_offset(),
            ..FetchPartitionData::default()
        };
        if let Err(e) = partition.check_leader_epoch(target.current_leader_epoch) {
            data.error = Some(e);
            return data;
        }
        if params.is_follower() && target.last_fetched_epoch >= 0 {
            match diverging_epoch(partition, target.last_fetched_epoch, target.fetch_offset) {
                Ok(None) => {}
                Ok(Some(diverging)) => {
                    data.diverging_epoch = Some(diverging);
                    return data;
                }
                Err(e) => {
                    data.error = Some(e);
                    return data;
                }
            }
        }
        let upper = if params.is_follower() {
            reader.log_end_offset()
        } else {
            data.high_watermark
        };
        let budget = target
            .max_bytes
            .min(params.max_bytes.saturating_sub(*total));
        // A throttled follower gets no records while the leader's quota is exceeded, but its
        // fetch still counts (Kafka's `shouldLeaderThrottle` in `readFromLocalLog`).
        let slice = if params.is_follower() && self.should_leader_throttle(partition, params) {
            Ok(None)
        } else {
            reader.read_slice(target.fetch_offset, budget, upper, *total == 0)
        };
        match slice {
            Ok(slice) => {
                if let Some(slice) = slice {
                    *total += slice.len;
                    data.records = Some(FileRange {
                        file: slice.file().clone(),
                        position: slice.position,
                        len: slice.len,
                    });
                }
                if params.is_follower() {
                    self.follower_fetched(
                        partition,
                        params.replica_id,
                        target.fetch_offset,
                        target.log_start_offset,
                        params.broker_epoch,
                    );
                    // The follower's fetch may have moved the high watermark.
                    data.high_watermark = partition.high_watermark();
                }
            }
            Err(e @ LogError::OffsetOutOfRange { .. }) => data.error = Some(log_error_code(&e)),
            Err(e) => {
                tracing::warn!(topic = %partition.topic, partition = partition.index, error = %e, "fetch read failed");
                data.error = Some(log_error_code(&e));
            }
        }
        data
    }
}

impl ReplicaManager {
    /// Kafka's `shouldLeaderThrottle`: a follower outside the ISR fetching a partition throttled
    /// on this leader, while the leader's replication quota is exceeded.
    fn should_leader_throttle(&self, partition: &Partition, params: &FetchParams) -> bool {
        let quota = &self.quotas().leader;
        quota.is_throttled(&partition.topic, partition.index)
            && !partition.role().isr.contains(&params.replica_id)
            && quota.is_quota_exceeded()
    }

    /// Counts the record bytes of throttled partitions in a follower's answer against the
    /// leader's quota, once per response (Kafka's `KafkaApis` records them as the response goes).
    pub(super) fn record_leader_throttled(
        &self,
        resolved: &[Resolved],
        data: &[FetchPartitionData],
        params: &FetchParams,
    ) {
        if !params.is_follower() {
            return;
        }
        let quota = &self.quotas().leader;
        let bytes: usize = resolved
            .iter()
            .zip(data)
            .filter(|(r, _)| {
                r.partition
                    .as_ref()
                    .is_ok_and(|p| quota.is_throttled(&p.topic, p.index))
            })
            .filter_map(|(_, d)| d.records.as_ref().map(|range| range.len))
            .sum();
        quota.record(bytes);
    }
}

/// Kafka's divergence check for a follower's `last_fetched_epoch`: where that epoch ends on our log;
/// `Some` when it ends before the fetch offset or we only know a lower epoch (the follower must
/// truncate). An epoch we cannot place at all is OFFSET_OUT_OF_RANGE, as in Kafka.
fn diverging_epoch(
    partition: &Partition,
    last_fetched_epoch: i32,
    fetch_offset: i64,
) -> Result<Option<(i32, i64)>, ResponseError> {
    match partition.end_offset_for_epoch(last_fetched_epoch) {
        None => Err(ResponseError::OffsetOutOfRange),
        Some((epoch, end)) if end < fetch_offset || epoch < last_fetched_epoch => {
            Ok(Some((epoch, end)))
        }
        Some(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};

    use crate::client::batch::build_batch;
    use crate::log::{Log, LogConfig};
    use kafka_protocol::messages::leader_and_isr_request::LeaderAndIsrPartitionState;
    use kafka_protocol::messages::BrokerId;

    /// A leader log with epoch 0 at offsets 0..5 and epoch 2 at 5..8.
    fn leader(dir: &std::path::Path) -> Partition {
        let log = Log::open(dir, LogConfig::default(), 0, 0).unwrap();
        let p = Partition::new("t".into(), 0, 1, log, 0);
        let state = LeaderAndIsrPartitionState::default()
            .with_leader(BrokerId(1))
            .with_leader_epoch(2)
            .with_isr(vec![BrokerId(1)])
            .with_replicas(vec![BrokerId(1)]);
        p.apply_leader_and_isr(&state, 0).unwrap();
        let batch = |n| build_batch(&Bytes::from_static(b"v"), n, 0).unwrap();
        p.with_log(|log| {
            log.append_as_leader(&BytesMut::from(&batch(5)[..]), 0, 0)
                .unwrap();
            log.append_as_leader(&BytesMut::from(&batch(3)[..]), 2, 0)
                .unwrap();
        });
        p
    }

    #[test]
    fn diverging_epoch_follows_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader(dir.path());
        // Consistent: epoch 0 ends at 5 on the leader too, and the follower is within it.
        assert_eq!(diverging_epoch(&p, 0, 5), Ok(None));
        assert_eq!(diverging_epoch(&p, 2, 8), Ok(None));
        // The follower has epoch-0 records beyond where the leader's epoch 0 ended.
        assert_eq!(diverging_epoch(&p, 0, 7), Ok(Some((0, 5))));
        // An epoch the leader never had: it answers the epoch below it and where it ends.
        assert_eq!(diverging_epoch(&p, 1, 6), Ok(Some((0, 5))));
        // Beyond the leader's latest epoch there is nothing to compare with.
        assert_eq!(
            diverging_epoch(&p, 3, 8),
            Err(ResponseError::OffsetOutOfRange)
        );
    }

    #[test]
    fn leader_epochs_are_fenced_as_kip_320_says() {
        let dir = tempfile::tempdir().unwrap();
        let p = leader(dir.path());
        assert_eq!(p.check_leader_epoch(-1), Ok(()));
        assert_eq!(p.check_leader_epoch(2), Ok(()));
        assert_eq!(
            p.check_leader_epoch(3),
            Err(ResponseError::UnknownLeaderEpoch)
        );
        assert_eq!(
            p.check_leader_epoch(1),
            Err(ResponseError::FencedLeaderEpoch)
        );
    }
}
