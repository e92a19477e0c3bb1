//! DescribeLogDirs (`kafka-log-dirs --describe`): decode, describe this broker's log dirs, encode.
//! zkafka has no future (being-moved) replicas, so every `is_future_key` is false; an offline
//! log dir answers KAFKA_STORAGE_ERROR, as in Kafka.

use std::collections::BTreeSet;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::{encode, KafkaApis};
use crate::metadata::str_bytes;
use crate::network::Reply;
use crate::replica::LogDirInfo;

/// The response body for `dirs` (v4 adds each dir's total and usable bytes).
fn response(dirs: Vec<LogDirInfo>, version: i16) -> DescribeLogDirsResponse {
    let results = dirs
        .into_iter()
        .map(|d| {
            let mut result = DescribeLogDirsResult::default()
                .with_log_dir(str_bytes(d.path))
                .with_error_code(d.error_code)
                .with_topics(
                    d.topics
                        .into_iter()
                        .map(|(name, partitions)| {
                            DescribeLogDirsTopic::default()
                                .with_name(TopicName(str_bytes(name)))
                                .with_partitions(
                                    partitions
                                        .into_iter()
                                        .map(|p| {
                                            DescribeLogDirsPartition::default()
                                                .with_partition_index(p.partition)
                                                .with_partition_size(p.size)
                                                .with_offset_lag(p.offset_lag)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            if version >= 4 {
                result.total_bytes = d.total_bytes;
                result.usable_bytes = d.usable_bytes;
            }
            result
        })
        .collect();
    DescribeLogDirsResponse::default().with_results(results)
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn describe_log_dirs(
        &self,
        req: DescribeLogDirsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.cluster(AclOperation::Describe) {
            // Kafka's: no directories, and from v3 the error saying why.
            let mut resp = response(Vec::new(), version);
            if version >= 3 {
                resp.error_code =
                    kafka_protocol::error::ResponseError::ClusterAuthorizationFailed.code();
            }
            return encode(&resp, version);
        }
        // None: every partition this broker hosts.
        let wanted: Option<BTreeSet<(String, i32)>> = req.topics.as_ref().map(|topics| {
            topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
                .collect()
        });
        let dirs = self
            .replicas
            .describe_log_dirs(&self.config.log_dirs, |t, p| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.contains(&(t.to_owned(), p)))
            });
        encode(&response(dirs, version), version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replica::PartitionLogInfo;

    #[test]
    fn space_is_answered_from_v4_on() {
        let dir = LogDirInfo {
            path: "/data/a".into(),
            topics: [(
                "t".to_string(),
                vec![PartitionLogInfo {
                    partition: 1,
                    size: 70,
                    offset_lag: 0,
                }],
            )]
            .into_iter()
            .collect(),
            total_bytes: 100,
            error_code: 0,
            usable_bytes: 50,
        };
        let v4 = response(vec![dir.clone()], 4);
        assert_eq!(
            (v4.results[0].total_bytes, v4.results[0].usable_bytes),
            (100, 50)
        );
        assert_eq!(v4.results[0].topics[0].partitions[0].partition_size, 70);
        let v3 = response(vec![dir], 3);
        assert_eq!(v3.results[0].total_bytes, -1);
        assert_eq!(v3.results[0].log_dir.as_str(), "/data/a");
    }
}
