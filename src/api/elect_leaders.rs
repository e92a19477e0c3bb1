//! ElectLeaders (`kafka-leader-election`), as Kafka 3.9 serves it in ZooKeeper mode: only the
//! active controller runs the election (any other broker answers NOT_CONTROLLER and the admin
//! client retries against the controller); the answer waits, up to the request's `timeout_ms`,
//! until this broker's metadata shows the new leaders (Kafka's `DelayedElectLeader`).

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};

use super::{encode, KafkaApis};
use crate::controller::{ElectionOutcome, ElectionType, Tp};
use crate::metadata::str_bytes;
use crate::network::Reply;

/// The election type of the request (v0 has none: preferred).
fn election_type(id: i8) -> Option<ElectionType> {
    match id {
        0 => Some(ElectionType::Preferred),
        1 => Some(ElectionType::Unclean),
        _ => None,
    }
}

/// The response: results grouped by topic. When every partition was asked for, partitions that
/// needed no election are left out, as Kafka does.
fn response(
    error: Option<ResponseError>,
    outcomes: Vec<(Tp, ElectionOutcome)>,
    all_partitions: bool,
    version: i16,
) -> ElectLeadersResponse {
    let mut by_topic: BTreeMap<String, Vec<PartitionResult>> = BTreeMap::new();
    for ((topic, partition), outcome) in outcomes {
        let (code, message) = match outcome {
            Ok(_) => (0, None),
            Err((ResponseError::ElectionNotNeeded, _)) if all_partitions => continue,
            Err((e, message)) => (e.code(), message),
        };
        by_topic.entry(topic).or_default().push(
            PartitionResult::default()
                .with_partition_id(partition)
                .with_error_code(code)
                .with_error_message(message.map(str_bytes)),
        );
    }
    let mut resp = ElectLeadersResponse::default().with_replica_election_results(
        by_topic
            .into_iter()
            .map(|(topic, results)| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(str_bytes(topic)))
                    .with_partition_result(results)
            })
            .collect(),
    );
    if version >= 1 {
        resp.error_code = error.map_or(crate::errors::NONE, |e| e.code());
    }
    resp
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn elect_leaders(
        &self,
        req: ElectLeadersRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let partitions: Option<Vec<Tp>> = req.topic_partitions.as_ref().map(|topics| {
            topics
                .iter()
                .flat_map(|t| t.partitions.iter().map(|p| (t.topic.0.to_string(), *p)))
                .collect()
        });
        let all_partitions = partitions.is_none();
        let outcome = match election_type(req.election_type) {
            _ if !access.cluster(AclOperation::Alter) => {
                Err(ResponseError::ClusterAuthorizationFailed)
            }
            Some(kind) => {
                self.controller
                    .elect_leaders(partitions.clone(), kind)
                    .await
            }
            None => Err(ResponseError::InvalidRequest),
        };
        let resp = match outcome {
            Ok(outcomes) => {
                let outcomes = self.await_new_leaders(outcomes, req.timeout_ms).await;
                response(None, outcomes, all_partitions, version)
            }
            // Every listed partition carries the request's error (v0 has no top-level code).
            Err(e) => {
                let outcomes = partitions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|tp| (tp, Err((e, None))))
                    .collect();
                response(Some(e), outcomes, all_partitions, version)
            }
        };
        encode(&resp, version)
    }

    /// Waits until this broker's metadata shows every elected leader; those it does not show in
    /// time answer REQUEST_TIMED_OUT.
    async fn await_new_leaders(
        &self,
        outcomes: Vec<(Tp, ElectionOutcome)>,
        timeout_ms: i32,
    ) -> Vec<(Tp, ElectionOutcome)> {
        let shows = |view: &crate::metadata::ClusterView, (t, p): &Tp, leader: i32| {
            view.topics
                .get(t)
                .and_then(|m| m.partitions.get(p))
                .is_some_and(|m| m.leader == leader)
        };
        let timeout = Duration::from_millis(timeout_ms.max(0) as u64);
        let all_shown = self
            .metadata
            .wait_until(timeout, |view| {
                outcomes.iter().all(|(tp, o)| match o {
                    Ok(leader) => shows(view, tp, *leader),
                    Err(_) => true,
                })
            })
            .await;
        if all_shown {
            return outcomes;
        }
        let view = self.metadata.snapshot();
        outcomes
            .into_iter()
            .map(|(tp, o)| match o {
                Ok(leader) if !shows(&view, &tp, leader) => {
                    (tp, Err((ResponseError::RequestTimedOut, None)))
                }
                other => (tp, other),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcomes() -> Vec<(Tp, ElectionOutcome)> {
        vec![
            (("b".into(), 0), Ok(2)),
            (
                ("a".into(), 1),
                Err((ResponseError::ElectionNotNeeded, None)),
            ),
            (
                ("a".into(), 0),
                Err((ResponseError::PreferredLeaderNotAvailable, Some("m".into()))),
            ),
        ]
    }

    #[test]
    fn listed_partitions_are_all_answered_grouped_by_topic() {
        let r = response(None, outcomes(), false, 2);
        let topics: Vec<(&str, Vec<(i32, i16)>)> = r
            .replica_election_results
            .iter()
            .map(|t| {
                (
                    t.topic.0.as_str(),
                    t.partition_result
                        .iter()
                        .map(|p| (p.partition_id, p.error_code))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(topics, [("a", vec![(1, 84), (0, 80)]), ("b", vec![(0, 0)])]);
        assert_eq!(r.error_code, 0);
    }

    #[test]
    fn all_partitions_leave_out_those_needing_no_election() {
        let r = response(None, outcomes(), true, 2);
        let a = &r.replica_election_results[0];
        assert_eq!(a.partition_result.len(), 1);
        assert_eq!(
            a.partition_result[0].error_code,
            ResponseError::PreferredLeaderNotAvailable.code()
        );
        assert_eq!(a.partition_result[0].error_message.as_deref(), Some("m"));
    }

    #[test]
    fn a_refused_request_carries_its_error_where_the_version_has_room() {
        let e = Some(ResponseError::NotController);
        assert_eq!(
            response(e, Vec::new(), true, 1).error_code,
            ResponseError::NotController.code()
        );
        assert_eq!(response(e, Vec::new(), true, 0).error_code, 0);
        assert_eq!(election_type(0), Some(ElectionType::Preferred));
        assert_eq!(election_type(1), Some(ElectionType::Unclean));
        assert_eq!(election_type(2), None);
    }
}
