//! ListOffsets: where a partition's log starts or ends, so a reader can (re)position itself as
//! Kafka's consumer does for `auto.offset.reset`.

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ListOffsetsRequest, TopicName};

use super::connection::Connection;
use super::error::{check_code, ClientError};
use crate::metadata::str_bytes;

/// Timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Timestamp asking for the log end offset.
pub const LATEST_TIMESTAMP: i64 = -1;

/// Highest ListOffsets version we send (v7 is what Kafka 3.x consumers use for earliest/latest).
const LIST_OFFSETS_MAX_VERSION: i16 = 7;

/// The replica id a consumer sends: it sees offsets up to the high watermark.
pub const CONSUMER_REPLICA_ID: i32 = -1;
/// Kafka's `DEBUGGING_REPLICA_ID`, which a follower sends to see its leader's whole log, up to the
/// log end rather than the high watermark.
pub const DEBUGGING_REPLICA_ID: i32 = -2;

/// Asks the leader `conn` for the offset of `topic`-`partition` at `timestamp`
/// ([`EARLIEST_TIMESTAMP`], [`LATEST_TIMESTAMP`] or a time in ms), as a consumer.
pub async fn list_offset(
    conn: &Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, ClientError> {
    list_offset_as(conn, CONSUMER_REPLICA_ID, topic, partition, timestamp).await
}

/// [`list_offset`] as `replica_id` ([`CONSUMER_REPLICA_ID`] or [`DEBUGGING_REPLICA_ID`]).
pub async fn list_offset_as(
    conn: &Connection,
    replica_id: i32,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, ClientError> {
    let req = ListOffsetsRequest::default()
        .with_replica_id(replica_id.into())
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(timestamp)
                .with_max_num_offsets(1)])]);
    let (version, resp) = conn.send_negotiated(req, LIST_OFFSETS_MAX_VERSION).await?;
    let context = || format!("listing offsets of {topic}-{partition}");
    let p = resp
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| ClientError::Decode {
            api: 2,
            version,
            message: format!("{}: partition missing from response", context()),
        })?;
    check_code(p.error_code, context)?;
    if version == 0 {
        return p
            .old_style_offsets
            .first()
            .copied()
            .ok_or_else(|| ClientError::Decode {
                api: 2,
                version,
                message: format!("{}: no offset in v0 response", context()),
            });
    }
    Ok(p.offset)
}
