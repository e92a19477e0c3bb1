//! AlterPartitionReassignments and ListPartitionReassignments (`kafka-reassign-partitions
//! --bootstrap-server`), v0 as Kafka 3.9 serves them in ZooKeeper mode: decoded here, run by the
//! active controller ([`crate::controller`]), answered grouped by topic. A broker that is not the
//! controller answers NOT_CONTROLLER with Kafka's message; the admin client then retries against
//! the controller.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse, BrokerId,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};

use super::{encode, KafkaApis};
use crate::controller::{OngoingReassignment, ReassignOutcome, Tp};
use crate::metadata::str_bytes;
use crate::network::Reply;

/// Kafka's message for NOT_CONTROLLER (the only top-level error these APIs answer with).
const NOT_CONTROLLER_MESSAGE: &str = "This is not the correct controller for this cluster.";

fn top_level(e: ResponseError) -> (i16, Option<String>) {
    let message = match e {
        ResponseError::NotController => NOT_CONTROLLER_MESSAGE.to_owned(),
        other => format!("{other:?}"),
    };
    (e.code(), Some(message))
}

fn broker_ids(ids: &[i32]) -> Vec<BrokerId> {
    ids.iter().copied().map(BrokerId).collect()
}

/// The AlterPartitionReassignments response for the controller's per-partition outcomes.
fn alter_response(
    outcome: Result<Vec<(Tp, ReassignOutcome)>, ResponseError>,
) -> AlterPartitionReassignmentsResponse {
    let outcomes = match outcome {
        Ok(o) => o,
        Err(e) => {
            let (code, message) = top_level(e);
            return AlterPartitionReassignmentsResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(str_bytes));
        }
    };
    let mut by_topic: BTreeMap<String, Vec<ReassignablePartitionResponse>> = BTreeMap::new();
    for ((topic, partition), o) in outcomes {
        let (code, message) = match o {
            Ok(()) => (0, None),
            Err((e, m)) => (e.code(), m),
        };
        by_topic.entry(topic).or_default().push(
            ReassignablePartitionResponse::default()
                .with_partition_index(partition)
                .with_error_code(code)
                .with_error_message(message.map(str_bytes)),
        );
    }
    AlterPartitionReassignmentsResponse::default().with_responses(
        by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                ReassignableTopicResponse::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(partitions)
            })
            .collect(),
    )
}

/// The ListPartitionReassignments response for the reassignments the controller reports.
fn list_response(
    outcome: Result<Vec<(Tp, OngoingReassignment)>, ResponseError>,
) -> ListPartitionReassignmentsResponse {
    let ongoing = match outcome {
        Ok(o) => o,
        Err(e) => {
            let (code, message) = top_level(e);
            return ListPartitionReassignmentsResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(str_bytes));
        }
    };
    let mut by_topic: BTreeMap<String, Vec<OngoingPartitionReassignment>> = BTreeMap::new();
    for ((topic, partition), r) in ongoing {
        by_topic.entry(topic).or_default().push(
            OngoingPartitionReassignment::default()
                .with_partition_index(partition)
                .with_replicas(broker_ids(&r.replicas))
                .with_adding_replicas(broker_ids(&r.adding))
                .with_removing_replicas(broker_ids(&r.removing)),
        );
    }
    ListPartitionReassignmentsResponse::default().with_topics(
        by_topic
            .into_iter()
            .map(|(topic, partitions)| {
                OngoingTopicReassignment::default()
                    .with_name(TopicName(str_bytes(topic)))
                    .with_partitions(partitions)
            })
            .collect(),
    )
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn alter_partition_reassignments(
        &self,
        req: AlterPartitionReassignmentsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.cluster(AclOperation::Alter) {
            let refused = Err(ResponseError::ClusterAuthorizationFailed);
            return encode(&alter_response(refused), version);
        }
        // A partition listed twice keeps its last entry, as Kafka's map does.
        let mut partitions: BTreeMap<Tp, Option<Vec<i32>>> = BTreeMap::new();
        for t in &req.topics {
            for p in &t.partitions {
                let target = p
                    .replicas
                    .as_ref()
                    .map(|rs| rs.iter().map(|b| b.0).collect());
                partitions.insert((t.name.0.to_string(), p.partition_index), target);
            }
        }
        let outcome = self
            .controller
            .alter_reassignments(partitions.into_iter().collect())
            .await;
        encode(&alter_response(outcome), version)
    }

    pub(super) async fn list_partition_reassignments(
        &self,
        req: ListPartitionReassignmentsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        if !access.cluster(AclOperation::Describe) {
            let refused = Err(ResponseError::ClusterAuthorizationFailed);
            return encode(&list_response(refused), version);
        }
        let partitions: Option<Vec<Tp>> = req.topics.as_ref().map(|topics| {
            let mut tps: Vec<Tp> = topics
                .iter()
                .flat_map(|t| {
                    t.partition_indexes
                        .iter()
                        .map(|p| (t.name.0.to_string(), *p))
                })
                .collect();
            tps.sort();
            tps.dedup();
            tps
        });
        let outcome = self.controller.list_reassignments(partitions).await;
        encode(&list_response(outcome), version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_grouped_by_topic_with_kafka_messages() {
        let r = alter_response(Ok(vec![
            (("b".into(), 0), Ok(())),
            (
                ("a".into(), 3),
                Err((
                    ResponseError::UnknownTopicOrPartition,
                    Some("The partition does not exist.".into()),
                )),
            ),
        ]));
        assert_eq!(r.error_code, 0);
        assert_eq!(r.responses.len(), 2);
        assert_eq!(r.responses[0].name.0.as_str(), "a");
        let p = &r.responses[0].partitions[0];
        assert_eq!((p.partition_index, p.error_code), (3, 3));
        assert_eq!(
            p.error_message.as_deref(),
            Some("The partition does not exist.")
        );
        assert_eq!(r.responses[1].partitions[0].error_message, None);
    }

    #[test]
    fn not_controller_is_a_top_level_error() {
        let r = alter_response(Err(ResponseError::NotController));
        assert_eq!(r.error_code, 41);
        assert_eq!(r.error_message.as_deref(), Some(NOT_CONTROLLER_MESSAGE));
        let l = list_response(Err(ResponseError::NotController));
        assert_eq!(l.error_code, 41);
        assert!(l.topics.is_empty());
    }

    #[test]
    fn ongoing_reassignments_show_rs_ar_and_rr() {
        let l = list_response(Ok(vec![(
            ("t".into(), 1),
            OngoingReassignment {
                replicas: vec![4, 2, 1],
                adding: vec![4],
                removing: vec![1],
            },
        )]));
        let p = &l.topics[0].partitions[0];
        assert_eq!(p.replicas, broker_ids(&[4, 2, 1]));
        assert_eq!(p.adding_replicas, broker_ids(&[4]));
        assert_eq!(p.removing_replicas, broker_ids(&[1]));
    }
}
