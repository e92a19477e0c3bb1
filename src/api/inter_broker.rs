//! Requests from the controller: LeaderAndIsr, UpdateMetadata and StopReplica. The controller's own
//! broker receives them over the network like every other broker.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::messages::{
    LeaderAndIsrRequest, LeaderAndIsrResponse, StopReplicaRequest, StopReplicaResponse,
    UpdateMetadataRequest, UpdateMetadataResponse,
};
use tracing::{info, warn};

use super::controller_fence::ControlClaim;
use super::{encode, KafkaApis};
use crate::config::TopicConfig;
use crate::network::Reply;

impl KafkaApis {
    pub(super) async fn leader_and_isr(&self, req: LeaderAndIsrRequest, version: i16) -> Reply {
        let claim = ControlClaim {
            api: "LeaderAndIsr",
            controller_id: req.controller_id.0,
            controller_epoch: req.controller_epoch,
            broker_epoch: req.broker_epoch,
        };
        if let Err(code) = self.authorize_control(claim).await {
            return encode(
                &LeaderAndIsrResponse::default().with_error_code(code.code()),
                version,
            );
        }
        let mut topics: BTreeSet<String> = req
            .ungrouped_partition_states
            .iter()
            .map(|s| s.topic_name.0.to_string())
            .collect();
        topics.extend(req.topic_states.iter().map(|t| t.topic_name.0.to_string()));
        // An illegal name is refused per partition by the replica manager; it never becomes a
        // ZooKeeper path here either.
        topics.retain(|t| crate::topic::is_valid(t));
        let configs = self.valid_topic_configs(topics.into_iter().collect()).await;
        let mut resp = self.replicas.become_leader_or_follower(&req, &configs);
        if version < 5 {
            // v2-v4 group partition states by topic but answer per partition, naming the topic.
            let grouped = std::mem::take(&mut resp.topics);
            resp.partition_errors
                .extend(grouped.into_iter().flat_map(|t| t.partition_errors));
        }
        let offsets_partitions: Vec<i32> = req
            .topic_states
            .iter()
            .filter(|t| t.topic_name.0.as_str() == super::metadata::CONSUMER_OFFSETS)
            .flat_map(|t| t.partition_states.iter().map(|s| s.partition_index))
            .chain(
                req.ungrouped_partition_states
                    .iter()
                    .filter(|s| s.topic_name.0.as_str() == super::metadata::CONSUMER_OFFSETS)
                    .map(|s| s.partition_index),
            )
            .collect();
        self.load_or_unload_groups(&offsets_partitions);
        encode(&resp, version)
    }

    /// The log config of each topic: broker defaults plus `/config/topics/<t>` overrides. A topic whose
    /// overrides cannot be read or are invalid gets the broker defaults, with a warning.
    pub(crate) async fn valid_topic_configs(
        &self,
        topics: Vec<String>,
    ) -> HashMap<String, TopicConfig> {
        self.topic_configs(topics)
            .await
            .into_iter()
            .filter_map(|(t, c)| Some((t, c.ok()?)))
            .collect()
    }

    /// Broker defaults plus each topic's overrides (unreadable overrides fall back to the defaults).
    pub(crate) async fn topic_configs(
        &self,
        topics: Vec<String>,
    ) -> HashMap<String, Result<TopicConfig, crate::config::ConfigError>> {
        let overrides = match self.zk().get_topic_configs(&topics).await {
            Ok(o) => o,
            Err(e) => {
                warn!(error = %e, "cannot read topic configs; using broker defaults");
                Default::default()
            }
        };
        topics
            .into_iter()
            .map(|t| {
                let empty = Default::default();
                let o = overrides.get(&t).unwrap_or(&empty);
                let config = TopicConfig::new(&self.dynamic.current(), o).or_else(|e| {
                    warn!(topic = %t, error = %e, "invalid topic config; using broker defaults");
                    TopicConfig::new(&self.dynamic.current(), &Default::default())
                });
                (t, config)
            })
            .collect()
    }

    pub(super) async fn update_metadata(&self, req: UpdateMetadataRequest, version: i16) -> Reply {
        let claim = ControlClaim {
            api: "UpdateMetadata",
            controller_id: req.controller_id.0,
            controller_epoch: req.controller_epoch,
            broker_epoch: req.broker_epoch,
        };
        if let Err(code) = self.authorize_control(claim).await {
            return encode(
                &UpdateMetadataResponse::default().with_error_code(code.code()),
                version,
            );
        }
        for topic in self.metadata.apply(&req) {
            info!(topic = %topic, "topic removed from metadata");
        }
        encode(&UpdateMetadataResponse::default(), version)
    }

    pub(super) async fn stop_replica(&self, req: StopReplicaRequest, version: i16) -> Reply {
        let claim = ControlClaim {
            api: "StopReplica",
            controller_id: req.controller_id.0,
            controller_epoch: req.controller_epoch,
            broker_epoch: req.broker_epoch,
        };
        if let Err(code) = self.authorize_control(claim).await {
            return encode(
                &StopReplicaResponse::default().with_error_code(code.code()),
                version,
            );
        }
        encode(&self.replicas.stop_replicas(&req), version)
    }
}
