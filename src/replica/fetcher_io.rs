//! The requests a replica fetcher sends (Fetch, OffsetForLeaderEpoch; ListOffsets is
//! `client::list_offset_as`) and what their answers mean per partition, kept apart from the
//! fetcher's state machine in `fetcher.rs`.

use crate::topic_partition::TopicPartition;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::{ParseResponseErrorCode, ResponseError};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, OffsetForLeaderEpochRequest, TopicName};
use uuid::Uuid;

use super::fetcher::FetcherConfig;
use super::partition::Partition;
use crate::client::{ClientError, Connection};
use crate::metadata::str_bytes;

/// Highest Fetch version we send (Kafka 3.9).
const FETCH_MAX_VERSION: i16 = 17;
/// Fetch v15 moved the replica id into `replica_state`, with the broker epoch. It is also the
/// lowest version we send: a leader believes a follower fetch only with its broker epoch
/// (`api::follower_epochs`), and v15+ names topics by id, which LeaderAndIsr v5+ always carries.
const FETCH_REPLICA_STATE_VERSION: i16 = 15;
const OFFSET_FOR_LEADER_EPOCH_MAX_VERSION: i16 = 4;
/// OffsetForLeaderEpoch v3 added the replica id.
const OFFSET_FOR_LEADER_EPOCH_REPLICA_ID_VERSION: i16 = 3;

/// A partition as the fetcher asks for it: the replica and the leader epoch it follows.
pub(super) struct PartitionRequest {
    pub partition: Arc<Partition>,
    pub leader_epoch: i32,
}

/// What a fetch response says about one partition.
#[derive(Debug)]
pub(super) enum FetchOutcome {
    Data {
        records: Option<Bytes>,
        high_watermark: i64,
        log_start_offset: i64,
    },
    /// The leader's log diverges from ours at the end of `epoch` (Fetch v12+).
    Diverging {
        epoch: i32,
        end_offset: i64,
    },
    OutOfRange,
    /// The leader is in a newer epoch than ours: wait for LeaderAndIsr.
    Fenced(ResponseError),
    Failed(ResponseError),
}

/// Errors after which a partition waits for the controller's next LeaderAndIsr: only a leader in a
/// newer epoch (our epoch is stale). NOT_LEADER_OR_FOLLOWER and UNKNOWN_LEADER_EPOCH mean the leader
/// has not yet applied the LeaderAndIsr we already have (the controller tells all replicas at
/// once), so, as in Kafka's `AbstractFetcherThread`, the partition backs off and tries again; dropping
/// it would leave the follower idle for good.
pub(super) fn is_fenced(e: &ResponseError) -> bool {
    matches!(e, ResponseError::FencedLeaderEpoch)
}

/// One FetchRequest for `parts` at the highest version both sides speak; the outcomes are in the
/// order of `parts`.
pub(super) async fn fetch(
    conn: &Connection,
    config: &FetcherConfig,
    parts: &[PartitionRequest],
) -> Result<Vec<FetchOutcome>, ClientError> {
    let version = conn.version_for::<FetchRequest>(FETCH_MAX_VERSION)?;
    if version < FETCH_REPLICA_STATE_VERSION {
        return Err(ClientError::UnsupportedApi {
            addr: conn.addr().to_string(),
            api: kafka_protocol::messages::ApiKey::Fetch as i16,
        });
    }
    let mut topics: Vec<FetchTopic> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for req in parts {
        let p = &req.partition;
        let position = p.fetch_position();
        let slot = *index.entry(p.topic.clone()).or_insert_with(|| {
            topics.push(FetchTopic::default().with_topic_id(p.topic_id()));
            topics.len() - 1
        });
        let fp = FetchPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(req.leader_epoch)
            .with_fetch_offset(position.log_end_offset)
            .with_log_start_offset(position.log_start_offset)
            .with_partition_max_bytes(config.partition_max_bytes)
            .with_last_fetched_epoch(position.latest_epoch.unwrap_or(-1));
        topics[slot].partitions.push(fp);
    }
    let request = FetchRequest::default()
        .with_max_wait_ms(config.max_wait_ms)
        .with_min_bytes(config.min_bytes)
        .with_max_bytes(config.response_max_bytes)
        .with_topics(topics)
        .with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(config.broker_id))
                .with_replica_epoch(config.broker_epoch.load(Ordering::SeqCst)),
        );
    let resp = conn.send(request, version).await?;
    let top = resp.error_code.err();
    let mut by_key: HashMap<TopicPartition, FetchOutcome> = HashMap::new();
    let names: HashMap<Uuid, String> = parts
        .iter()
        .map(|p| (p.partition.topic_id(), p.partition.topic.clone()))
        .collect();
    for t in resp.responses {
        let name = names.get(&t.topic_id).cloned().unwrap_or_default();
        for d in t.partitions {
            let outcome = match d.error_code.err() {
                None if d.diverging_epoch.epoch >= 0 => FetchOutcome::Diverging {
                    epoch: d.diverging_epoch.epoch,
                    end_offset: d.diverging_epoch.end_offset,
                },
                None => FetchOutcome::Data {
                    records: d.records,
                    high_watermark: d.high_watermark,
                    log_start_offset: d.log_start_offset,
                },
                Some(ResponseError::OffsetOutOfRange) => FetchOutcome::OutOfRange,
                Some(e) if is_fenced(&e) => FetchOutcome::Fenced(e),
                Some(e) => FetchOutcome::Failed(e),
            };
            by_key.insert(
                TopicPartition::new(name.as_str(), d.partition_index),
                outcome,
            );
        }
    }
    Ok(parts
        .iter()
        .map(|req| {
            let key = TopicPartition::new(req.partition.topic.as_str(), req.partition.index);
            match (top, by_key.remove(&key)) {
                (Some(e), _) => FetchOutcome::Failed(e),
                (None, Some(o)) => o,
                (None, None) => FetchOutcome::Failed(ResponseError::UnknownServerError),
            }
        })
        .collect())
}

/// Asks the leader where each `(partition, our latest epoch)` ends on its log; answers are
/// `(epoch, end offset)` per entry of `ask`, in order.
pub(super) async fn offsets_for_leader_epoch(
    conn: &Connection,
    broker_id: i32,
    ask: &[(PartitionRequest, i32)],
) -> Result<Vec<Result<(i32, i64), ResponseError>>, ClientError> {
    let version =
        conn.version_for::<OffsetForLeaderEpochRequest>(OFFSET_FOR_LEADER_EPOCH_MAX_VERSION)?;
    let mut topics: Vec<OffsetForLeaderTopic> = Vec::new();
    for (req, epoch) in ask {
        let p = &req.partition;
        let entry = OffsetForLeaderPartition::default()
            .with_partition(p.index)
            .with_current_leader_epoch(if version >= 2 { req.leader_epoch } else { -1 })
            .with_leader_epoch(*epoch);
        match topics.iter_mut().find(|t| t.topic.0.as_str() == p.topic) {
            Some(t) => t.partitions.push(entry),
            None => topics.push(
                OffsetForLeaderTopic::default()
                    .with_topic(TopicName(str_bytes(p.topic.clone())))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    let mut request = OffsetForLeaderEpochRequest::default().with_topics(topics);
    if version >= OFFSET_FOR_LEADER_EPOCH_REPLICA_ID_VERSION {
        request.replica_id = BrokerId(broker_id);
    }
    let resp = conn.send(request, version).await?;
    let mut answers: HashMap<TopicPartition, Result<(i32, i64), ResponseError>> = HashMap::new();
    for t in resp.topics {
        for p in t.partitions {
            let answer = match p.error_code.err() {
                None => Ok((p.leader_epoch, p.end_offset)),
                Some(e) => Err(e),
            };
            answers.insert(TopicPartition::new(t.topic.as_str(), p.partition), answer);
        }
    }
    Ok(ask
        .iter()
        .map(|(req, _)| {
            answers
                .remove(&TopicPartition::new(
                    req.partition.topic.as_str(),
                    req.partition.index,
                ))
                .unwrap_or(Err(ResponseError::UnknownServerError))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_newer_leader_epoch_parks_a_partition() {
        assert!(is_fenced(&ResponseError::FencedLeaderEpoch));
        // The leader has not caught up with the controller yet: retry after a backoff.
        assert!(!is_fenced(&ResponseError::UnknownLeaderEpoch));
        assert!(!is_fenced(&ResponseError::NotLeaderOrFollower));
    }
}
