//! Topic administration: CreateTopics, DeleteTopics and CreatePartitions.
//!
//! As in Kafka's ZooKeeper mode, the broker that receives the request writes the topic znodes itself
//! (Kafka's `AdminZkClient`); the controller notices them through its watches, elects leaders and
//! tells every broker. The request then waits until this broker's metadata shows the result.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest, CreateTopicsResponse,
    DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::Encodable;
use tracing::{info, warn};
use uuid::Uuid;

use super::replica_assignment::{check_znode_size, validate_assignment, Refusal};
use super::{encode, reply_body, KafkaApis};
use crate::config::TopicConfig;
use crate::controller::assignment::{assign_replicas, assign_replicas_with_racks, AssignmentError};
use crate::metadata::str_bytes;
use crate::network::Reply;
use crate::zk::{self, ZkError};

/// Kafka's topic name rules; see [`crate::topic`].
pub use crate::topic::validate as validate_topic_name;

fn timeout_of(ms: i32) -> Duration {
    Duration::from_millis(ms.max(0) as u64)
}

/// Kafka's delayed admin operations: the answer waits for `done` (which gives up at the request's
/// timeout); if it does not come, every result that had succeeded answers REQUEST_TIMED_OUT.
fn answer_when<T: Send + 'static, R: Encodable + 'static>(
    done: impl Future<Output = bool> + Send + 'static,
    mut results: Vec<T>,
    error_code: fn(&mut T) -> &mut i16,
    response: fn(Vec<T>) -> R,
    version: i16,
) -> Reply {
    Reply::Later(Box::pin(async move {
        if !done.await {
            for code in results.iter_mut().map(error_code).filter(|c| **c == 0) {
                *code = ResponseError::RequestTimedOut.code();
            }
        }
        reply_body(encode(&response(results), version))
    }))
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    /// Writes a new topic's znodes (config, then assignment with a fresh topic id).
    pub(super) async fn create_topic_znodes(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignment: Option<BTreeMap<i32, Vec<i32>>>,
        configs: &BTreeMap<String, String>,
    ) -> Result<Uuid, Refusal> {
        validate_topic_name(name)
            .map_err(|m| Refusal::new(ResponseError::InvalidTopicException, m))?;
        let config = TopicConfig::new(&self.dynamic.current(), configs)
            .map_err(|e| Refusal::new(ResponseError::InvalidConfig, e.to_string()))?;
        for ignored in config.ignored_overrides() {
            warn!(
                topic = name,
                "topic config {ignored} has no effect in zkafka"
            );
        }
        let assignment = match assignment {
            Some(a) => {
                validate_assignment(&a, 0)?;
                let rf = a.values().next().map_or(1, Vec::len);
                check_znode_size(0, a.len() as i64, rf as i64)?;
                a
            }
            None => {
                // Before a placement of `partitions` entries is built.
                if partitions > 0 && replication_factor > 0 {
                    check_znode_size(0, i64::from(partitions), i64::from(replication_factor))?;
                }
                let brokers: Vec<(i32, Option<String>)> = (self.metadata.snapshot().brokers)
                    .values()
                    .map(|b| (b.id, b.rack.clone()))
                    .collect();
                assign_replicas_with_racks(&brokers, partitions, replication_factor, 0).map_err(
                    |e| match e {
                        AssignmentError::InvalidPartitions => ResponseError::InvalidPartitions,
                        // Kafka's AdminOperationException: not an API error.
                        AssignmentError::IncompleteRackInfo => ResponseError::UnknownServerError,
                        _ => ResponseError::InvalidReplicationFactor,
                    },
                )?
            }
        };
        let id = Uuid::new_v4();
        match self
            .zk()
            .create_topic(name, &assignment, &zk::topic_id_to_string(&id), configs)
            .await
        {
            Ok(()) => {
                info!(
                    topic = name,
                    partitions = assignment.len(),
                    replication_factor,
                    "topic created"
                );
                Ok(id)
            }
            Err(ZkError::TopicExists(_)) => Err(ResponseError::TopicAlreadyExists.into()),
            Err(e) => {
                warn!(topic = name, error = %e, "cannot create topic");
                Err(ResponseError::UnknownServerError.into())
            }
        }
    }

    /// Resolves (up to `timeout`) once every partition of each topic has a leader in this broker's
    /// metadata; `false` if that did not happen in time. Owns what it needs, so it can run as a
    /// [`Reply::Later`] that ends with the client's connection.
    fn leaders_elected(
        &self,
        topics: Vec<(String, i32)>,
        timeout: Duration,
    ) -> impl Future<Output = bool> + Send + 'static {
        let metadata = self.metadata.clone();
        async move {
            metadata
                .wait_until(timeout, |view| {
                    topics.iter().all(|(t, n)| {
                        view.topics.get(t).is_some_and(|m| {
                            m.partitions.len() as i32 >= *n
                                && m.partitions.values().all(|p| p.leader >= 0)
                        })
                    })
                })
                .await
        }
    }

    pub(super) async fn create_topics(
        &self,
        req: CreateTopicsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        // Kafka's: CLUSTER Create allows every topic, else TOPIC Create on each.
        let cluster_create = access.cluster(AclOperation::Create);
        let mut results = Vec::new();
        let mut waiting = Vec::new();
        for t in &req.topics {
            let name = t.name.0.to_string();
            let partitions = if t.num_partitions == -1 {
                self.config.num_partitions
            } else {
                t.num_partitions
            };
            let rf = if t.replication_factor == -1 {
                self.config.default_replication_factor as i16
            } else {
                t.replication_factor
            };
            let assignment = (!t.assignments.is_empty()).then(|| {
                t.assignments
                    .iter()
                    .map(|a| {
                        (
                            a.partition_index,
                            a.broker_ids.iter().map(|b| b.0).collect(),
                        )
                    })
                    .collect::<BTreeMap<i32, Vec<i32>>>()
            });
            // Kafka's checks of the request's shape, before any placement.
            let shape = match &assignment {
                _ if !cluster_create && !access.topic(AclOperation::Create, &name) => Err(
                    Refusal::new(ResponseError::TopicAuthorizationFailed, "Authorization failed."),
                ),
                Some(_) if t.num_partitions != -1 || t.replication_factor != -1 => Err(Refusal::new(
                    ResponseError::InvalidRequest,
                    "Both numPartitions or replicationFactor and replicasAssignments were set. \
                     Both cannot be used at the same time.",
                )),
                Some(a) if a.len() != t.assignments.len() => Err(Refusal::new(
                    ResponseError::InvalidReplicaAssignment,
                    "A partition is assigned more than once",
                )),
                _ => Ok(()),
            };
            let partitions = assignment
                .as_ref()
                .map(|a| a.len() as i32)
                .unwrap_or(partitions);
            let configs: BTreeMap<String, String> = t
                .configs
                .iter()
                .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
                .collect();
            let outcome = if let Err(refusal) = shape {
                Err(refusal)
            } else if req.validate_only {
                validate_topic_name(&name)
                    .map_err(|m| Refusal::new(ResponseError::InvalidTopicException, m))
                    .and_then(|_| {
                        TopicConfig::new(&self.dynamic.current(), &configs)
                            .map_err(|e| Refusal::new(ResponseError::InvalidConfig, e.to_string()))
                    })
                    .and_then(|_| match &assignment {
                        Some(a) => validate_assignment(a, 0),
                        None => check_znode_size(0, i64::from(partitions), i64::from(rf)),
                    })
                    .map(|_| Uuid::nil())
            } else {
                self.create_topic_znodes(&name, partitions, rf, assignment, &configs)
                    .await
            };
            let mut result = CreatableTopicResult::default().with_name(t.name.clone());
            match outcome {
                Ok(id) => {
                    if !req.validate_only {
                        waiting.push((name, partitions));
                    }
                    if version >= 7 {
                        result.topic_id = id;
                    }
                    if version >= 5 {
                        result.num_partitions = partitions;
                        result.replication_factor = rf;
                    }
                }
                Err(refusal) => {
                    result.error_code = refusal.code.code();
                    if version >= 1 {
                        result.error_message = Some(str_bytes(refusal.message));
                    }
                }
            }
            results.push(result);
        }
        // Kafka's delayed CreateTopics: the answer waits for the leaders.
        answer_when(
            self.leaders_elected(waiting, timeout_of(req.timeout_ms)),
            results,
            |r| &mut r.error_code,
            |results| CreateTopicsResponse::default().with_topics(results),
            version,
        )
    }

    pub(super) async fn delete_topics(
        &self,
        req: DeleteTopicsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let view = self.metadata.snapshot();
        let named: Vec<(Option<String>, Uuid)> = if version >= 6 {
            req.topics
                .iter()
                .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
                .collect()
        } else {
            req.topic_names
                .iter()
                .map(|n| (Some(n.0.to_string()), Uuid::nil()))
                .collect()
        };
        let mut results = Vec::new();
        let mut deleting = Vec::new();
        for (name, id) in named {
            let resolved = name.clone().or_else(|| view.topic_names.get(&id).cloned());
            let mut result = DeletableTopicResult::default()
                .with_name(resolved.clone().map(|n| TopicName(str_bytes(n))));
            if version >= 6 {
                result.topic_id = id;
            }
            let error = match resolved {
                None => Some(ResponseError::UnknownTopicId),
                // A topic named by id that the principal may not Describe stays unknown.
                Some(n) if name.is_none() && !access.topic(AclOperation::Describe, &n) => {
                    Some(ResponseError::UnknownTopicId)
                }
                Some(n) if !access.topic(AclOperation::Delete, &n) => {
                    Some(ResponseError::TopicAuthorizationFailed)
                }
                Some(n) if !view.topics.contains_key(&n) => {
                    Some(ResponseError::UnknownTopicOrPartition)
                }
                Some(_) if !self.config.delete_topic_enable => {
                    Some(ResponseError::TopicDeletionDisabled)
                }
                Some(n) => match self.zk().request_topic_deletion(&n).await {
                    Ok(()) => {
                        deleting.push(n);
                        None
                    }
                    Err(e) => {
                        warn!(error = %e, "cannot request topic deletion");
                        Some(ResponseError::UnknownServerError)
                    }
                },
            };
            if let Some(e) = error {
                result.error_code = e.code();
                if version >= 5 {
                    result.error_message = Some(str_bytes(e.to_string()));
                }
            }
            results.push(result);
        }
        let metadata = self.metadata.clone();
        let timeout = timeout_of(req.timeout_ms);
        let gone = async move {
            metadata
                .wait_until(timeout, |v| {
                    deleting.iter().all(|t| !v.topics.contains_key(t))
                })
                .await
        };
        answer_when(
            gone,
            results,
            |r| &mut r.error_code,
            |results| DeleteTopicsResponse::default().with_responses(results),
            version,
        )
    }

    pub(super) async fn create_partitions(
        &self,
        req: CreatePartitionsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut results = Vec::new();
        let mut waiting = Vec::new();
        for t in &req.topics {
            let name = t.name.0.to_string();
            let outcome = if access.topic(AclOperation::Alter, &name) {
                self.add_partitions(&name, t.count, t.assignments.as_deref(), req.validate_only)
                    .await
            } else {
                Err((
                    ResponseError::TopicAuthorizationFailed,
                    "The topic authorization is failed.".to_string(),
                ))
            };
            let mut result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            match outcome {
                Ok(()) if !req.validate_only => waiting.push((name, t.count)),
                Ok(()) => {}
                Err((e, msg)) => {
                    result.error_code = e.code();
                    result.error_message = Some(str_bytes(msg));
                }
            }
            results.push(result);
        }
        answer_when(
            self.leaders_elected(waiting, timeout_of(req.timeout_ms)),
            results,
            |r| &mut r.error_code,
            |results| CreatePartitionsResponse::default().with_results(results),
            version,
        )
    }

    async fn add_partitions(
        &self,
        topic: &str,
        count: i32,
        assignments: Option<
            &[kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment],
        >,
        validate_only: bool,
    ) -> Result<(), (ResponseError, String)> {
        let zk = self.zk();
        let unknown = || {
            (
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{topic}' does not exist."),
            )
        };
        let topics = zk
            .get_topics(&[topic.to_string()])
            .await
            .map_err(|e| (ResponseError::UnknownServerError, e.to_string()))?;
        let (mut znode, version) = topics.get(topic).cloned().ok_or_else(unknown)?;
        let mut assignment = znode.partitions.clone();
        let current = assignment.len() as i32;
        if count <= current {
            return Err((
                ResponseError::InvalidPartitions,
                format!("Topic currently has {current} partitions, which is higher than the requested {count}."),
            ));
        }
        let rf = assignment.values().next().map(|r| r.len()).unwrap_or(1) as i16;
        let refused = |r: Refusal| (r.code, r.message);
        check_znode_size(0, i64::from(count), i64::from(rf)).map_err(refused)?;
        let added: BTreeMap<i32, Vec<i32>> = match assignments {
            Some(a) => {
                if a.len() as i32 != count - current {
                    return Err((
                        ResponseError::InvalidReplicaAssignment,
                        "Assignment count does not match the new partitions.".into(),
                    ));
                }
                a.iter()
                    .enumerate()
                    .map(|(i, a)| {
                        (
                            current + i as i32,
                            a.broker_ids.iter().map(|b| b.0).collect(),
                        )
                    })
                    .collect()
            }
            None => {
                let brokers: Vec<i32> = self.metadata.snapshot().brokers.keys().copied().collect();
                assign_replicas(&brokers, count - current, rf, current)
                    .map_err(|e| (ResponseError::InvalidReplicationFactor, e.to_string()))?
            }
        };
        validate_assignment(&added, current).map_err(refused)?;
        if added.values().any(|r| r.len() != rf as usize) {
            return Err((
                ResponseError::InvalidReplicaAssignment,
                format!(
                    "Inconsistent replication factor: the topic's partitions have {rf} replicas"
                ),
            ));
        }
        if validate_only {
            return Ok(());
        }
        assignment.extend(added);
        znode.partitions = assignment;
        zk.set_topic_assignment(topic, &znode, version)
            .await
            .map_err(|e| (ResponseError::UnknownServerError, e.to_string()))?;
        info!(topic, from = current, to = count, "partitions added");
        Ok(())
    }
}
