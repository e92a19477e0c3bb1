//! Produce: validate and append each partition's batches as the leader, then answer at once (acks 0
//! or 1) or once the high watermark covers the appended records (acks=all), within `timeout_ms`.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{encode, encode_bytes, KafkaApis};
use crate::log::compression::Codec;
use crate::log::record_batch::Batches;
use crate::network::Reply;
use crate::replica::Partition;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Kafka's `ProduceRequest.validateRecords`: zstd batches need Produce v7+ (KIP-110), since
/// older clients could not read them back.
fn has_zstd(records: &[u8]) -> bool {
    Batches::new(records).any(|b| b.header.compression_codec() == Codec::Zstd.id())
}

/// A partition response still waiting for replication: (topic index, partition index, partition,
/// offset the high watermark must reach).
type Pending = (usize, usize, Arc<Partition>, i64);

impl KafkaApis {
    pub(super) async fn produce(&self, req: ProduceRequest, version: i16) -> Reply {
        let acks = req.acks;
        let view = self.metadata.snapshot();
        let now = now_ms();
        let mut responses = Vec::with_capacity(req.topic_data.len());
        let mut pending: Vec<Pending> = Vec::new();
        for (ti, topic) in req.topic_data.into_iter().enumerate() {
            let name = topic.name.0.to_string();
            let mut partitions = Vec::with_capacity(topic.partition_data.len());
            for (pi, data) in topic.partition_data.into_iter().enumerate() {
                let mut resp = PartitionProduceResponse::default()
                    .with_index(data.index)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1);
                let outcome = if req.transactional_id.is_some() {
                    Err(ResponseError::TransactionalIdAuthorizationFailed.into())
                } else if !matches!(acks, -1..=1) {
                    Err(ResponseError::InvalidRequiredAcks.into())
                } else {
                    match (self.replicas.partition(&name, data.index), data.records) {
                        (None, _) if self.replicas.is_offline(&name, data.index) => {
                            Err(ResponseError::KafkaStorageError.into())
                        }
                        (None, _) if view.partition(&name, data.index).is_some() => {
                            Err(ResponseError::NotLeaderOrFollower.into())
                        }
                        (None, _) => Err(ResponseError::UnknownTopicOrPartition.into()),
                        (Some(_), None) => Err(ResponseError::CorruptMessage.into()),
                        (Some(_), Some(records)) if version < 7 && has_zstd(&records) => {
                            Err(ResponseError::UnsupportedCompressionType.into())
                        }
                        (Some(p), Some(records)) => p
                            .append_as_leader(&records, acks, now)
                            .map(|info| (p, info)),
                    }
                };
                match outcome {
                    Ok((p, info)) => {
                        resp.base_offset = info.first_offset;
                        resp.log_append_time_ms = info.log_append_time_ms;
                        if version >= 5 {
                            resp.log_start_offset = info.log_start_offset;
                        }
                        if acks == -1 && p.high_watermark() <= info.last_offset {
                            pending.push((ti, pi, p, info.last_offset + 1));
                        }
                    }
                    Err(e) => {
                        resp.error_code = e.error.code();
                        // record_errors and error_message exist from v8 (KIP-467).
                        if version >= 8 {
                            resp.error_message = e.message.map(StrBytes::from_string);
                            resp.record_errors = e
                                .record_errors
                                .into_iter()
                                .map(|r| {
                                    BatchIndexAndErrorMessage::default()
                                        .with_batch_index(r.batch_index)
                                        .with_batch_index_error_message(Some(
                                            StrBytes::from_string(r.message),
                                        ))
                                })
                                .collect();
                        }
                    }
                }
                partitions.push(resp);
            }
            responses.push(
                TopicProduceResponse::default()
                    .with_name(topic.name)
                    .with_partition_responses(partitions),
            );
        }
        if acks == 0 {
            return Reply::Now(None);
        }
        let resp = ProduceResponse::default().with_responses(responses);
        if pending.is_empty() {
            return encode(&resp, version);
        }
        let timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
        Reply::Later(Box::pin(async move {
            let mut resp = resp;
            let deadline = tokio::time::Instant::now() + timeout;
            for (ti, pi, partition, offset) in pending {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if let Err(e) = partition.wait_for_acks_all(offset, left).await {
                    resp.responses[ti].partition_responses[pi].error_code = e.code();
                }
            }
            match encode_bytes(&resp, version) {
                Ok(bytes) => Some(bytes.into()),
                Err(e) => {
                    tracing::error!(error = %e, "cannot encode produce response");
                    None
                }
            }
        }))
    }
}
