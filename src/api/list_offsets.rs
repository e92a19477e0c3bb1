//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), earliest local (-4), and by timestamp;
//! v0 answers with the old list-of-offsets form.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::{by_partition, encode, KafkaApis};
use crate::client::DEBUGGING_REPLICA_ID;
use crate::network::Reply;
use crate::replica::{log_error_code, Partition};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

/// (offset, timestamp, leader epoch) for one query; offset -1 when no record matches.
fn lookup(p: &Partition, timestamp: i64, consumer: bool) -> Result<(i64, i64, i32), ResponseError> {
    let reader = p.reader();
    let visible = if consumer {
        p.high_watermark()
    } else {
        reader.log_end_offset()
    };
    let epoch = p.role().leader_epoch;
    match timestamp {
        LATEST => Ok((visible, -1, epoch)),
        EARLIEST | EARLIEST_LOCAL | LATEST_TIERED => Ok((reader.log_start_offset(), -1, -1)),
        MAX_TIMESTAMP => match reader.max_timestamp_offset() {
            Ok(Some((offset, ts))) if offset < visible => Ok((offset, ts, -1)),
            Ok(_) => Ok((-1, -1, -1)),
            Err(e) => Err(log_error_code(&e)),
        },
        ts if ts >= 0 => match reader.offset_for_timestamp(ts) {
            Ok(Some((offset, ts))) if offset < visible => Ok((offset, ts, -1)),
            Ok(_) => Ok((-1, -1, -1)),
            Err(e) => Err(log_error_code(&e)),
        },
        _ => Err(ResponseError::InvalidRequest),
    }
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn list_offsets(
        &self,
        req: ListOffsetsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let view = self.metadata.snapshot();
        let consumer = req.replica_id.0 != DEBUGGING_REPLICA_ID;
        let topics = by_partition(
            req.topics,
            |t| (t.name.0.to_string(), std::mem::take(&mut t.partitions)),
            |name, q| {
                let mut r =
                    ListOffsetsPartitionResponse::default().with_partition_index(q.partition_index);
                let epoch = if version >= 4 {
                    q.current_leader_epoch
                } else {
                    -1
                };
                let outcome = Ok(())
                    .and_then(|()| {
                        if access.topic(AclOperation::Describe, name) {
                            Ok(())
                        } else {
                            Err(ResponseError::TopicAuthorizationFailed)
                        }
                    })
                    .and_then(|()| {
                        self.replicas
                            .hosted_partition(name, q.partition_index, &view)
                    })
                    .and_then(|p| {
                        // Only the debugging replica id reads from a follower.
                        if consumer && !p.is_leader() {
                            return Err(ResponseError::NotLeaderOrFollower);
                        }
                        p.check_leader_epoch(epoch)?;
                        lookup(&p, q.timestamp, consumer)
                    });
                match outcome {
                    Ok((offset, ts, epoch)) => {
                        if version == 0 {
                            let wanted = q.max_num_offsets.max(0) as usize;
                            r.old_style_offsets = if offset >= 0 && wanted > 0 {
                                vec![offset]
                            } else {
                                vec![]
                            };
                        } else {
                            r.offset = offset;
                            r.timestamp = ts;
                            if version >= 4 {
                                r.leader_epoch = epoch;
                            }
                        }
                    }
                    Err(e) => r.error_code = e.code(),
                }
                r
            },
            |t, partitions| {
                ListOffsetsTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            },
        );
        encode(&ListOffsetsResponse::default().with_topics(topics), version)
    }
}
