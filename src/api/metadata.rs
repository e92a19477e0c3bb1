//! Metadata: brokers, the controller, and topic leadership from this broker's metadata cache, with
//! Kafka's auto-creation of unknown topics when the client and `auto.create.topics.enable` allow it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use uuid::Uuid;

use super::admin::validate_topic_name;
use super::{encode, KafkaApis};
use crate::metadata::{str_bytes, ClusterView, TopicMetadata};
use crate::network::Reply;

/// The internal topic holding group coordinators' partitions.
pub const CONSUMER_OFFSETS: &str = "__consumer_offsets";

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    /// `listener`: the one the request came on; brokers are described by their endpoints on it.
    pub(super) async fn metadata(
        &self,
        req: MetadataRequest,
        version: i16,
        listener: &str,
        access: &Access<'_>,
    ) -> Reply {
        let view = self.metadata.snapshot();
        // v0: an empty list means every topic; v1+: null means every topic, empty means none.
        let wanted: Option<Vec<(Option<String>, Uuid)>> = match &req.topics {
            None => None,
            Some(t) if t.is_empty() && version == 0 => None,
            Some(t) => Some(
                t.iter()
                    .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
                    .collect(),
            ),
        };
        let allow_auto =
            (version < 4 || req.allow_auto_topic_creation) && self.config.auto_create_topics_enable;
        let mut topics = Vec::new();
        match wanted {
            None => {
                let mut names: Vec<&String> = view.topics.keys().collect();
                names.sort();
                // Kafka hides the topics the principal may not Describe.
                for name in names
                    .into_iter()
                    .filter(|n| access.topic(AclOperation::Describe, n))
                {
                    topics.push(topic_entry(&view, name, &view.topics[name], version));
                }
            }
            Some(list) => {
                for (name, id) in list {
                    let name = match name.or_else(|| view.topic_names.get(&id).cloned()) {
                        Some(n) => n,
                        None => {
                            topics.push(error_entry(None, id, ResponseError::UnknownTopicId));
                            continue;
                        }
                    };
                    if !access.topic(AclOperation::Describe, &name) {
                        topics.push(error_entry(
                            Some(name),
                            Uuid::nil(),
                            ResponseError::TopicAuthorizationFailed,
                        ));
                        continue;
                    }
                    if let Some(topic) = view.topics.get(&name) {
                        topics.push(topic_entry(&view, &name, topic, version));
                        continue;
                    }
                    let error = if validate_topic_name(&name).is_err() {
                        ResponseError::InvalidTopicException
                    } else if allow_auto
                        && !access.cluster(AclOperation::Create)
                        && !access.topic(AclOperation::Create, &name)
                    {
                        ResponseError::TopicAuthorizationFailed
                    } else if allow_auto && view.brokers.is_empty() {
                        // The controller has not sent this broker any metadata yet: creating now would
                        // see no live brokers. Clients retry LEADER_NOT_AVAILABLE.
                        ResponseError::LeaderNotAvailable
                    } else if allow_auto {
                        match self.auto_create_topic(&name).await {
                            Ok(()) | Err(ResponseError::TopicAlreadyExists) => {
                                ResponseError::LeaderNotAvailable
                            }
                            Err(e) => e,
                        }
                    } else {
                        ResponseError::UnknownTopicOrPartition
                    };
                    topics.push(error_entry(Some(name), Uuid::nil(), error));
                }
            }
        }
        let brokers = view
            .brokers
            .values()
            .map(|b| {
                let (host, port) = b.on(listener);
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.id))
                    .with_host(str_bytes(host.to_string()))
                    .with_port(port)
                    .with_rack(if version >= 1 {
                        b.rack.clone().map(str_bytes)
                    } else {
                        None
                    })
            })
            .collect();
        let mut resp = MetadataResponse::default()
            .with_brokers(brokers)
            .with_topics(topics);
        if version >= 1 {
            resp.controller_id = BrokerId(view.controller_id);
        }
        if version >= 2 {
            resp.cluster_id = Some(str_bytes(self.metadata.cluster_id().to_string()));
        }
        encode(&resp, version)
    }

    async fn auto_create_topic(&self, name: &str) -> Result<(), ResponseError> {
        let partitions = self.config.num_partitions;
        let replication = self.config.default_replication_factor as i16;
        self.create_topic_znodes(name, partitions, replication, None, &Default::default())
            .await
            .map(|_| ())
            .map_err(|refusal| refusal.code)
    }
}

fn error_entry(name: Option<String>, id: Uuid, error: ResponseError) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error.code())
        .with_name(name.map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id)
}

fn topic_entry(
    view: &ClusterView,
    name: &str,
    topic: &TopicMetadata,
    version: i16,
) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(index, p)| {
            let live =
                |ids: &[i32]| -> Vec<BrokerId> { ids.iter().map(|i| BrokerId(*i)).collect() };
            let error = if p.leader < 0 || !view.brokers.contains_key(&p.leader) {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            let mut entry = MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(*index)
                .with_leader_id(BrokerId(p.leader))
                .with_replica_nodes(live(&p.replicas))
                .with_isr_nodes(live(&p.isr));
            if version >= 5 {
                entry.offline_replicas = live(&p.offline_replicas);
            }
            if version >= 7 {
                entry.leader_epoch = p.leader_epoch;
            }
            entry
        })
        .collect();
    let mut entry = MetadataResponseTopic::default()
        .with_name(Some(TopicName(str_bytes(name.to_string()))))
        .with_partitions(partitions);
    if version >= 1 {
        entry.is_internal = name == CONSUMER_OFFSETS;
    }
    if version >= 10 {
        entry.topic_id = topic.id;
    }
    entry
}
