//! Fetch: decodes the request, has the replica manager serve it
//! ([`ReplicaManager::fetch_messages`](crate::replica::ReplicaManager::fetch_messages), held as a
//! `DelayedFetch` when there is less than `min_bytes`), and encodes the answer with each
//! partition's records as a range of a segment file, sent with `sendfile(2)`
//! ([`super::fetch_encode`]). Consumers and followers take the same path; a follower fetch
//! (replica id >= 0) counts only from a believed follower ([`super::follower_epochs`]).

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use uuid::Uuid;

use super::down_convert;
use super::fetch_encode::encode_fetch_response;
use super::{reply_body, KafkaApis};
use crate::metadata::str_bytes;
use crate::network::{FileRange, Reply};
use crate::replica::{FetchOutcome, FetchParams, FetchPartitionData, FetchTarget};

/// The response's topics, in request order, and which topic each requested partition is in.
struct Layout {
    version: i16,
    topics: Vec<(TopicName, Uuid)>,
    /// Each requested partition's topic (index into `topics`) and index, in request order.
    partitions: Vec<(usize, i32)>,
    /// Fetch v0-v3 only: each partition's fetch offset and `message.downconversion.enable`.
    down_convert: Vec<(i64, bool)>,
}

impl KafkaApis {
    pub(super) async fn fetch(&self, req: FetchRequest, version: i16, listener: &str) -> Reply {
        let (replica_id, broker_epoch) = if version >= 15 {
            (
                req.replica_state.replica_id.0,
                req.replica_state.replica_epoch,
            )
        } else {
            (req.replica_id.0, -1)
        };
        let follower = replica_id >= 0;
        let refused = if follower {
            self.authorize_follower_fetch(replica_id, version, broker_epoch, listener)
                .await
                .err()
        } else {
            None
        };
        let requested = if version >= 3 {
            req.max_bytes.max(0) as usize
        } else {
            usize::MAX
        };
        let params = FetchParams {
            replica_id,
            broker_epoch,
            // Kafka caps consumer fetches at the broker's `fetch.max.bytes`; followers are not capped.
            max_bytes: if follower {
                requested
            } else {
                requested.min(usize::try_from(self.config.fetch_max_bytes).unwrap_or(0))
            },
            min_bytes: req.min_bytes.max(0) as usize,
            max_wait_ms: req.max_wait_ms,
            refused,
        };
        let view = self.metadata.snapshot();
        let mut layout = Layout {
            version,
            topics: Vec::with_capacity(req.topics.len()),
            partitions: Vec::new(),
            down_convert: Vec::new(),
        };
        let mut targets = Vec::new();
        for t in &req.topics {
            // v13+ names topics by id only.
            let name = if version >= 13 {
                view.topic_names.get(&t.topic_id).cloned()
            } else {
                Some(t.topic.0.to_string())
            };
            layout.topics.push((
                TopicName(str_bytes(name.clone().unwrap_or_default())),
                t.topic_id,
            ));
            for p in &t.partitions {
                layout
                    .partitions
                    .push((layout.topics.len() - 1, p.partition));
                if down_convert::magic_for(version).is_some() {
                    let enabled = name
                        .as_deref()
                        .and_then(|n| self.replicas.partition(n, p.partition))
                        .is_none_or(|p| p.with_log(|l| l.config.downconversion_enable));
                    layout.down_convert.push((p.fetch_offset, enabled));
                }
                targets.push(FetchTarget {
                    topic: name.clone(),
                    partition: p.partition,
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes.max(0) as usize,
                    current_leader_epoch: if version >= 9 {
                        p.current_leader_epoch
                    } else {
                        -1
                    },
                    last_fetched_epoch: if version >= 12 {
                        p.last_fetched_epoch
                    } else {
                        -1
                    },
                    log_start_offset: if version >= 5 { p.log_start_offset } else { -1 },
                });
            }
        }
        match self.replicas.fetch_messages(params, targets, &view) {
            FetchOutcome::Ready(data) => fetch_reply(layout, data),
            FetchOutcome::Delayed(delayed) => Reply::Later(Box::pin(async move {
                reply_body(fetch_reply(layout, delayed.complete().await))
            })),
        }
    }
}

fn fetch_reply(layout: Layout, data: Vec<FetchPartitionData>) -> Reply {
    let version = layout.version;
    let mut files: Vec<Vec<Option<FileRange>>> = vec![Vec::new(); layout.topics.len()];
    let mut responses: Vec<FetchableTopicResponse> = layout
        .topics
        .into_iter()
        .map(|(name, id)| {
            let mut t = FetchableTopicResponse::default();
            if version >= 13 {
                t.topic_id = id;
            } else {
                t.topic = name;
            }
            t
        })
        .collect();
    for (i, (&(topic, index), d)) in layout.partitions.iter().zip(data).enumerate() {
        let mut p = PartitionData::default()
            .with_partition_index(index)
            .with_high_watermark(d.high_watermark)
            .with_last_stable_offset(d.high_watermark)
            .with_log_start_offset(d.log_start_offset)
            .with_records(Some(Bytes::new()));
        if let Some(e) = d.error {
            p.error_code = e.code();
        }
        if let Some((epoch, end_offset)) = d.diverging_epoch {
            p.diverging_epoch.epoch = epoch;
            p.diverging_epoch.end_offset = end_offset;
        }
        let mut records = d.records;
        if let (Some(magic), Some(&(offset, enabled))) =
            (down_convert::magic_for(version), layout.down_convert.get(i))
        {
            down_convert::convert_partition(&mut p, records.take(), magic, offset, enabled);
        }
        responses[topic].partitions.push(p);
        files[topic].push(records);
    }
    let resp = FetchResponse::default().with_responses(responses);
    match encode_fetch_response(resp, files, version) {
        Ok(b) => Reply::Now(Some(b)),
        Err(e) => Reply::Close(format!("cannot encode fetch response v{version}: {e}")),
    }
}
