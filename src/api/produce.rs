//! Produce: decodes the request, has the replica manager append it
//! ([`ReplicaManager::append_records`](crate::replica::ReplicaManager::append_records)), and
//! answers at once (acks 0 or 1) or once the appends are replicated (acks=all, a `DelayedProduce`
//! within `timeout_ms`).

use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{encode, encode_bytes, KafkaApis};
use crate::clock::now_ms;
use crate::metadata::str_bytes;
use crate::network::Reply;
use crate::replica::{AppendParams, AppendTarget};

impl KafkaApis {
    pub(super) async fn produce(&self, req: ProduceRequest, version: i16) -> Reply {
        let params = AppendParams {
            acks: req.acks,
            transactional: req.transactional_id.is_some(),
            allow_zstd: version >= 7,
            allow_legacy: version < 3,
            timeout_ms: req.timeout_ms,
            now_ms: now_ms(),
        };
        // Each target's place in the response: (topic index, index within the topic, partition).
        let mut places = Vec::new();
        let mut targets = Vec::new();
        for (ti, topic) in req.topic_data.iter().enumerate() {
            for (pi, data) in topic.partition_data.iter().enumerate() {
                places.push((ti, pi, data.index));
                targets.push(AppendTarget {
                    topic: topic.name.0.as_str(),
                    partition: data.index,
                    records: data.records.as_ref(),
                });
            }
        }
        let view = self.metadata.snapshot();
        let outcome = self.replicas.append_records(params, &targets, &view);
        drop(targets);
        if params.acks == 0 {
            return Reply::Now(None);
        }
        let mut responses: Vec<TopicProduceResponse> = req
            .topic_data
            .into_iter()
            .map(|t| {
                TopicProduceResponse::default()
                    .with_name(t.name)
                    .with_partition_responses(Vec::with_capacity(t.partition_data.len()))
            })
            .collect();
        for (&(ti, _, index), result) in places.iter().zip(outcome.results) {
            let mut resp = PartitionProduceResponse::default()
                .with_index(index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1);
            match result {
                Ok(info) => {
                    resp.base_offset = info.first_offset;
                    resp.log_append_time_ms = info.log_append_time_ms;
                    if version >= 5 {
                        resp.log_start_offset = info.log_start_offset;
                    }
                }
                Err(e) => {
                    resp.error_code = e.error.code();
                    // record_errors and error_message exist from v8 (KIP-467).
                    if version >= 8 {
                        resp.error_message = e.message.map(str_bytes);
                        resp.record_errors = e
                            .record_errors
                            .into_iter()
                            .map(|r| {
                                BatchIndexAndErrorMessage::default()
                                    .with_batch_index(r.batch_index)
                                    .with_batch_index_error_message(Some(str_bytes(r.message)))
                            })
                            .collect();
                    }
                }
            }
            responses[ti].partition_responses.push(resp);
        }
        let resp = ProduceResponse::default().with_responses(responses);
        match outcome.delayed {
            None => encode(&resp, version),
            Some(delayed) => Reply::Later(Box::pin(async move {
                let mut resp = resp;
                for (i, e) in delayed.complete().await {
                    let (ti, pi, _) = places[i];
                    resp.responses[ti].partition_responses[pi].error_code = e.code();
                }
                match encode_bytes(&resp, version) {
                    Ok(bytes) => Some(bytes.into()),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot encode produce response");
                        None
                    }
                }
            })),
        }
    }
}
