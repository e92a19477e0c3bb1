//! DeleteRecords (`kafka-delete-records`): each partition's leader moves its log start offset up to
//! the requested offset (Kafka's `ReplicaManager.deleteRecords`), and the answer waits, within the
//! request's `timeout_ms`, until every ISR member's log start has followed (the low watermark,
//! Kafka's `DelayedDeleteRecords`).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{by_partition, encode, encode_bytes, KafkaApis};
use crate::errors::code_of;
use crate::network::Reply;
use crate::replica::Partition;

/// A partition whose low watermark has not reached the deletion offset yet: its topic, the
/// partition and that offset.
type Pending = (String, Arc<Partition>, i64);

impl KafkaApis {
    pub(super) async fn delete_records(&self, req: DeleteRecordsRequest, version: i16) -> Reply {
        let view = self.metadata.snapshot();
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        let mut pending: Vec<Pending> = Vec::new();
        let topics = by_partition(
            req.topics,
            |t| (t.name.0.to_string(), std::mem::take(&mut t.partitions)),
            |topic, p| {
                let outcome = self
                    .replicas
                    .hosted_partition(topic, p.partition_index, &view)
                    .and_then(|partition| {
                        let offset = partition.delete_records_on_leader(p.offset)?;
                        let lw = partition.low_watermark();
                        if lw < offset {
                            pending.push((topic.to_string(), partition, offset));
                        }
                        Ok(lw)
                    });
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(*outcome.as_ref().unwrap_or(&-1))
                    .with_error_code(code_of(&outcome))
            },
            |t, partitions| {
                DeleteRecordsTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            },
        );
        let resp = DeleteRecordsResponse::default().with_topics(topics);
        if pending.is_empty() {
            return encode(&resp, version);
        }
        Reply::Later(Box::pin(async move {
            let mut resp = resp;
            let deadline = tokio::time::Instant::now() + timeout;
            for (topic, partition, offset) in pending {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                let result = partition.wait_for_low_watermark(offset, left).await;
                let Some(answer) = resp
                    .topics
                    .iter_mut()
                    .filter(|t| t.name.0.as_str() == topic)
                    .flat_map(|t| t.partitions.iter_mut())
                    .find(|p| p.partition_index == partition.index)
                else {
                    continue;
                };
                match result {
                    Ok(lw) => answer.low_watermark = lw,
                    Err((e, lw)) => {
                        answer.low_watermark = lw;
                        answer.error_code = e.code();
                    }
                }
            }
            match encode_bytes(&resp, version) {
                Ok(bytes) => Some(bytes.into()),
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode DeleteRecords response");
                    None
                }
            }
        }))
    }
}
