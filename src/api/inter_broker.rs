//! Requests from the controller: LeaderAndIsr, UpdateMetadata and StopReplica. The controller's own
//! broker receives them over the network like every other broker.

use std::collections::{BTreeSet, HashMap};

use kafka_protocol::messages::{
    LeaderAndIsrRequest, StopReplicaRequest, UpdateMetadataRequest, UpdateMetadataResponse,
};
use tracing::{info, warn};

use super::{encode, KafkaApis};
use crate::config::TopicConfig;
use crate::network::Reply;

impl KafkaApis {
    pub(super) async fn leader_and_isr(&self, req: LeaderAndIsrRequest, version: i16) -> Reply {
        let mut topics: BTreeSet<String> = req
            .ungrouped_partition_states
            .iter()
            .map(|s| s.topic_name.0.to_string())
            .collect();
        topics.extend(req.topic_states.iter().map(|t| t.topic_name.0.to_string()));
        let configs = self.valid_topic_configs(topics.into_iter().collect()).await;
        let resp = self.replicas.become_leader_or_follower(&req, &configs);
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
        self.unload_resigned_groups(&offsets_partitions);
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
                let config = TopicConfig::new(&self.config, o).or_else(|e| {
                    warn!(topic = %t, error = %e, "invalid topic config; using broker defaults");
                    TopicConfig::new(&self.config, &Default::default())
                });
                (t, config)
            })
            .collect()
    }

    pub(super) async fn update_metadata(&self, req: UpdateMetadataRequest, version: i16) -> Reply {
        if let Err(code) = self
            .replicas
            .check_control_request(req.controller_epoch, req.broker_epoch)
        {
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
        encode(&self.replicas.stop_replicas(&req), version)
    }
}
