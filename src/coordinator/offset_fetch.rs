//! OffsetFetch, in all its shapes: v0 (Kafka's ZooKeeper rules), v1–7 (one group, optional
//! "all partitions"), v8+ (many groups in one request).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::admin::store_error_code;
use super::group_coordinator::GroupCoordinator;
use super::store::{is_znode_safe, CommittedOffset, TopicPartition};
use crate::metadata::str_bytes;

/// One partition's answer, independent of the response shape.
struct Fetched {
    tp: TopicPartition,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    error: i16,
}

/// The partitions a request names, topic by topic (v0–v7 and v8+ requests list them alike).
fn wanted_partitions<'a>(
    topics: impl Iterator<Item = (&'a str, &'a [i32])>,
) -> Vec<TopicPartition> {
    topics
        .flat_map(|(name, ps)| ps.iter().map(move |p| TopicPartition::new(name, *p)))
        .collect()
}

/// The response topics of fetched offsets, for the two shapes of the response (v8+ nests them in
/// groups with their own types; the fields are the same).
macro_rules! response_topics {
    ($fetched:expr, $topic:ident, $partition:ident) => {
        by_topic($fetched)
            .into_iter()
            .map(|(topic, parts)| {
                $topic::default()
                    .with_name(TopicName(str_bytes(&topic)))
                    .with_partitions(
                        parts
                            .into_iter()
                            .map(|f| {
                                $partition::default()
                                    .with_partition_index(f.tp.partition)
                                    .with_committed_offset(f.offset)
                                    .with_committed_leader_epoch(f.leader_epoch)
                                    .with_metadata(Some(str_bytes(&f.metadata)))
                                    .with_error_code(f.error)
                            })
                            .collect(),
                    )
            })
            .collect()
    };
}

impl GroupCoordinator {
    pub async fn offset_fetch(&self, req: OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        if version >= 8 {
            let mut groups = Vec::with_capacity(req.groups.len());
            for g in &req.groups {
                let wanted = g.topics.as_ref().map(|ts| {
                    wanted_partitions(
                        ts.iter()
                            .map(|t| (t.name.0.as_str(), t.partition_indexes.as_slice())),
                    )
                });
                let (fetched, error) = self
                    .fetch_group(g.group_id.0.as_str(), wanted, version)
                    .await;
                let topics = response_topics!(
                    fetched,
                    OffsetFetchResponseTopics,
                    OffsetFetchResponsePartitions
                );
                groups.push(
                    OffsetFetchResponseGroup::default()
                        .with_group_id(g.group_id.clone())
                        .with_topics(topics)
                        .with_error_code(error.map(|e| e.code()).unwrap_or(0)),
                );
            }
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let wanted = req.topics.as_ref().map(|ts| {
            wanted_partitions(
                ts.iter()
                    .map(|t| (t.name.0.as_str(), t.partition_indexes.as_slice())),
            )
        });
        let (fetched, error) = self
            .fetch_group(req.group_id.0.as_str(), wanted, version)
            .await;
        let topics = response_topics!(
            fetched,
            OffsetFetchResponseTopic,
            OffsetFetchResponsePartition
        );
        OffsetFetchResponse::default()
            .with_topics(topics)
            .with_error_code(error.map(|e| e.code()).unwrap_or(0))
    }

    /// Reads one group's offsets. A store failure is a group-level error (v2+) and, for v0/v1
    /// which have no group-level error, also each partition's error.
    async fn fetch_group(
        &self,
        group: &str,
        wanted: Option<Vec<TopicPartition>>,
        version: i16,
    ) -> (Vec<Fetched>, Option<ResponseError>) {
        if self.is_shut_down() {
            return (Vec::new(), Some(ResponseError::NotCoordinator));
        }
        if !is_znode_safe(group) {
            return (Vec::new(), Some(ResponseError::InvalidGroupId));
        }
        // Topics that cannot exist are answered as never committed, without asking the store.
        let (wanted, impossible): (Option<Vec<TopicPartition>>, Vec<TopicPartition>) = match wanted
        {
            Some(tps) => {
                let (ok, bad) = tps.into_iter().partition(|tp| is_znode_safe(&tp.topic));
                (Some(ok), bad)
            }
            None => (None, Vec::new()),
        };
        match self.store_for(version).fetch(group, wanted.clone()).await {
            Ok(found) => {
                let found = found
                    .into_iter()
                    .chain(impossible.into_iter().map(|tp| (tp, None)));
                (found.map(|(tp, c)| fetched(tp, c, version)).collect(), None)
            }
            Err(e) => {
                let code = store_error_code(&e);
                let parts = wanted
                    .unwrap_or_default()
                    .into_iter()
                    .map(|tp| Fetched {
                        tp,
                        offset: -1,
                        leader_epoch: -1,
                        metadata: String::new(),
                        error: code.code(),
                    })
                    .collect();
                (parts, Some(code))
            }
        }
    }
}

fn fetched(tp: TopicPartition, committed: Option<CommittedOffset>, version: i16) -> Fetched {
    match committed {
        Some(c) => {
            let (metadata, leader_epoch) = match c.extra {
                Some(x) => (x.metadata.unwrap_or_default(), x.leader_epoch),
                None => (String::new(), -1),
            };
            Fetched {
                tp,
                offset: c.offset,
                leader_epoch,
                metadata,
                error: 0,
            }
        }
        None => Fetched {
            tp,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
            // Kafka's ZooKeeper rule for v0: a missing offset znode is an unknown partition.
            error: if version == 0 {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                0
            },
        },
    }
}

/// Groups partitions by topic, keeping the order topics first appear in.
fn by_topic(fetched: Vec<Fetched>) -> Vec<(String, Vec<Fetched>)> {
    let mut out: Vec<(String, Vec<Fetched>)> = Vec::new();
    for f in fetched {
        match out.iter_mut().find(|(t, _)| *t == f.tp.topic) {
            Some((_, parts)) => parts.push(f),
            None => out.push((f.tp.topic.clone(), vec![f])),
        }
    }
    out
}
