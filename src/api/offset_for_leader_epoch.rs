//! OffsetForLeaderEpoch (v0-4): where a leader epoch ends on this leader's log, so that a follower
//! (KIP-101/279) or a consumer (KIP-320) can find where its log diverges from ours.
//!
//! Kafka's rules: only the leader answers (NOT_LEADER_OR_FOLLOWER otherwise); a `current_leader_epoch`
//! (v2+) other than ours is FENCED_LEADER_EPOCH (older) or UNKNOWN_LEADER_EPOCH (newer); an epoch the
//! log cannot place is answered with epoch -1 and offset -1.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::{by_partition, encode, KafkaApis};
use crate::errors::code_of;
use crate::metadata::ClusterView;
use crate::network::Reply;
use crate::replica::truncation::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn offset_for_leader_epoch(
        &self,
        req: OffsetForLeaderEpochRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let view = self.metadata.snapshot();
        let topics = by_partition(
            req.topics,
            |t| (t.topic.0.to_string(), std::mem::take(&mut t.partitions)),
            |name, p| {
                let current = if version >= 2 {
                    p.current_leader_epoch
                } else {
                    -1
                };
                let answer = if access.topic(AclOperation::Describe, name) {
                    self.end_offset_for(name, p.partition, current, p.leader_epoch, &view)
                } else {
                    Err(kafka_protocol::error::ResponseError::TopicAuthorizationFailed)
                };
                // An error answers the undefined epoch and offset.
                let (epoch, end) = answer.unwrap_or((UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET));
                EpochEndOffset::default()
                    .with_partition(p.partition)
                    .with_error_code(code_of(&answer))
                    .with_end_offset(end)
                    // v0 has no epoch in its answer.
                    .with_leader_epoch(if version >= 1 { epoch } else { UNDEFINED_EPOCH })
            },
            |t, partitions| {
                OffsetForLeaderTopicResult::default()
                    .with_topic(t.topic)
                    .with_partitions(partitions)
            },
        );
        encode(
            &OffsetForLeaderEpochResponse::default().with_topics(topics),
            version,
        )
    }

    fn end_offset_for(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
        leader_epoch: i32,
        view: &ClusterView,
    ) -> Result<(i32, i64), ResponseError> {
        let p = self.replicas.hosted_partition(topic, partition, view)?;
        p.check_leader_epoch(current_leader_epoch)?;
        if !p.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        Ok(p.end_offset_for_epoch(leader_epoch)
            .unwrap_or((UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)))
    }
}
