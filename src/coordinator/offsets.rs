//! OffsetCommit, OffsetFetch and OffsetDelete: the group checks are Kafka's; storage is the
//! [`OffsetStore`](super::store::OffsetStore) (ZooKeeper's `/consumers/<group>/offsets`).

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetDeleteRequest, OffsetDeleteResponse, TopicName,
};

use super::admin::store_error_code;
use super::config::OFFSET_METADATA_MAX_BYTES;
use super::group::GroupState;
use super::group_coordinator::GroupCoordinator;
use super::store::{is_znode_safe, OffsetExtra, OffsetWrite, TopicPartition};
use super::sync::validate_member;
use crate::clock::now_ms;
use crate::metadata::str_bytes;

impl GroupCoordinator {
    pub async fn offset_commit(
        &self,
        req: OffsetCommitRequest,
        version: i16,
    ) -> OffsetCommitResponse {
        let group_id = req.group_id.0.as_str();
        if version > 0 {
            self.ensure_group_loaded(group_id).await;
        }
        // v0 is Kafka's ZooKeeper commit: no group checks at all.
        let group_error = if !is_znode_safe(group_id) {
            Some(ResponseError::InvalidGroupId)
        } else if version == 0 {
            None
        } else {
            self.validate_commit(
                group_id,
                req.member_id.as_str(),
                req.group_instance_id.as_deref(),
                req.generation_id_or_member_epoch,
            )
        };
        let now = now_ms();
        let mut results: BTreeMap<(usize, usize), Option<ResponseError>> = BTreeMap::new();
        let mut writes = Vec::new();
        let mut written = Vec::new();
        for (ti, topic) in req.topics.iter().enumerate() {
            for (pi, p) in topic.partitions.iter().enumerate() {
                let metadata = p.committed_metadata.as_deref();
                let error = if group_error.is_some() {
                    group_error
                } else if !is_znode_safe(topic.name.0.as_str()) {
                    Some(ResponseError::UnknownTopicOrPartition)
                } else if metadata.is_some_and(|m| m.len() > OFFSET_METADATA_MAX_BYTES) {
                    Some(ResponseError::OffsetMetadataTooLarge)
                } else {
                    None
                };
                results.insert((ti, pi), error);
                if error.is_some() {
                    continue;
                }
                let extra = (version > 0).then(|| OffsetExtra {
                    metadata: metadata.map(str::to_string),
                    leader_epoch: p.committed_leader_epoch,
                    // Only v1 carries a commit timestamp; -1 (and later versions) mean "now".
                    commit_timestamp_ms: if version == 1 && p.commit_timestamp >= 0 {
                        p.commit_timestamp
                    } else {
                        now
                    },
                });
                writes.push(OffsetWrite {
                    tp: TopicPartition::new(topic.name.0.as_str(), p.partition_index),
                    offset: p.committed_offset,
                    extra,
                });
                written.push((ti, pi));
            }
        }
        if !writes.is_empty() {
            if let Err(e) = self.store_for(version).commit(group_id, writes).await {
                tracing::warn!(group = %group_id, error = %e, "offset commit failed");
                let code = store_error_code(&e);
                for key in written {
                    results.insert(key, Some(code));
                }
            }
        }
        let topics = req
            .topics
            .iter()
            .enumerate()
            .map(|(ti, topic)| {
                let partitions = topic
                    .partitions
                    .iter()
                    .enumerate()
                    .map(|(pi, p)| {
                        let code = results
                            .get(&(ti, pi))
                            .copied()
                            .flatten()
                            .map(|e| e.code())
                            .unwrap_or(0);
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(topic.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        OffsetCommitResponse::default().with_topics(topics)
    }

    /// Kafka's `validateOffsetCommit` plus the CompletingRebalance rule of `doCommitOffsets`.
    fn validate_commit(
        &self,
        group_id: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Option<ResponseError> {
        if self.is_shut_down() {
            return Some(ResponseError::NotCoordinator);
        }
        if group_id.is_empty() {
            return Some(ResponseError::InvalidGroupId);
        }
        let mut groups = self.lock();
        let Some(group) = groups.get_mut(group_id) else {
            // No live group: a simple consumer (generation < 0) may commit; anyone else is from a
            // generation this coordinator does not know.
            return (generation >= 0).then_some(ResponseError::IllegalGeneration);
        };
        if group.state == GroupState::Dead {
            return Some(ResponseError::CoordinatorNotAvailable);
        }
        if generation < 0 && group.state == GroupState::Empty {
            // The admin client, or a consumer not using group management.
            return None;
        }
        if generation >= 0 || !member_id.is_empty() || instance_id.is_some() {
            if let Some(e) = validate_member(group, member_id, instance_id, generation) {
                return Some(e);
            }
        } else if group.state != GroupState::Empty {
            // Only members may commit to a group that has members.
            return Some(ResponseError::UnknownMemberId);
        }
        if group.state == GroupState::CompletingRebalance {
            return Some(ResponseError::RebalanceInProgress);
        }
        Self::touch(group, member_id);
        None
    }

    pub async fn offset_delete(
        &self,
        req: OffsetDeleteRequest,
        _version: i16,
    ) -> OffsetDeleteResponse {
        let group_id = req.group_id.0.as_str();
        let top = |e: ResponseError| OffsetDeleteResponse::default().with_error_code(e.code());
        if self.is_shut_down() {
            return top(ResponseError::NotCoordinator);
        }
        // None: delete anything; Some(topics): refuse these (the group consumes them).
        let in_memory = {
            let groups = self.lock();
            groups.get(group_id).map(|g| match g.state {
                GroupState::Dead => Err(ResponseError::GroupIdNotFound),
                GroupState::Empty => Ok(None),
                _ => g
                    .subscribed_topics()
                    .map(Some)
                    .ok_or(ResponseError::NonEmptyGroup),
            })
        };
        let subscribed = match in_memory {
            Some(Ok(s)) => s,
            Some(Err(e)) => return top(e),
            None => match self.store.fetch(group_id, None).await {
                Ok(offsets) if !offsets.is_empty() => None,
                Ok(_) => return top(ResponseError::GroupIdNotFound),
                Err(e) => return top(store_error_code(&e)),
            },
        };
        let is_subscribed = |t: &str| subscribed.as_ref().is_some_and(|s| s.contains(t));
        let deletable: Vec<TopicPartition> = req
            .topics
            .iter()
            .filter(|t| !is_subscribed(t.name.0.as_str()))
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|p| TopicPartition::new(t.name.0.as_str(), p.partition_index))
            })
            .collect();
        let store_error = if deletable.is_empty() {
            None
        } else {
            self.store
                .delete_offsets(group_id, deletable)
                .await
                .err()
                .map(|e| store_error_code(&e))
        };
        if let Some(e) = store_error {
            return top(e);
        }
        let topics = req
            .topics
            .iter()
            .map(|t| {
                let code = if is_subscribed(t.name.0.as_str()) {
                    ResponseError::GroupSubscribedToTopic.code()
                } else {
                    0
                };
                OffsetDeleteResponseTopic::default()
                    .with_name(TopicName(str_bytes(t.name.0.as_str())))
                    .with_partitions(
                        t.partitions
                            .iter()
                            .map(|p| {
                                OffsetDeleteResponsePartition::default()
                                    .with_partition_index(p.partition_index)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetDeleteResponse::default().with_topics(topics)
    }
}
