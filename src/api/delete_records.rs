//! DeleteRecords (`kafka-delete-records`): each partition's leader moves its log start offset up to
//! the requested offset (Kafka's `ReplicaManager.deleteRecords`).
//!
//! Unlike Kafka, the answer does not wait for the followers' log starts (Kafka's low watermark is
//! the smallest log start of all replicas): it reports the leader's new log start, and the
//! followers follow on their next fetch (docs/differences.md).

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::{by_partition, encode, KafkaApis};
use crate::errors::code_of;
use crate::network::Reply;

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn delete_records(
        &self,
        req: DeleteRecordsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let view = self.metadata.snapshot();
        let topics = by_partition(
            req.topics,
            |t| (t.name.0.to_string(), std::mem::take(&mut t.partitions)),
            |topic, p| {
                let outcome = Ok(())
                    .and_then(|()| {
                        if access.topic(AclOperation::Delete, topic) {
                            Ok(())
                        } else {
                            Err(kafka_protocol::error::ResponseError::TopicAuthorizationFailed)
                        }
                    })
                    .and_then(|()| {
                        self.replicas
                            .hosted_partition(topic, p.partition_index, &view)
                    })
                    .and_then(|partition| partition.delete_records_on_leader(p.offset));
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
        encode(
            &DeleteRecordsResponse::default().with_topics(topics),
            version,
        )
    }
}
