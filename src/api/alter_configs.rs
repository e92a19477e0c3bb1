//! AlterConfigs and IncrementalAlterConfigs (`kafka-configs --alter`).
//!
//! As in Kafka's ZooKeeper mode, the broker that receives the request writes the new overrides to
//! `/config/<type>/<name>` and a `/config/changes/config_change_` notification (Kafka's
//! `AdminZkClient.changeTopicConfig`); every broker, this one included, applies the change when its
//! watch on `/config/changes` fires (`dynamic_config.rs`). The answer does not wait for that, as in
//! Kafka.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    alter_configs_response, incremental_alter_configs_response, AlterConfigsRequest,
    AlterConfigsResponse, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use tracing::{info, warn};

use super::describe_configs::broker_resource;
use super::{encode, KafkaApis};
use crate::config::{
    apply_incremental_ops, legacy_topic_overrides, refuse_dynamic_broker_configs,
    validate_topic_overrides, AlterOp, AlterRefusal, IncrementalOp, Overrides,
};
use crate::metadata::str_bytes;
use crate::network::Reply;

/// Config resource types (Kafka's `ConfigResource.Type` ids).
pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;

/// The entity name of cluster-wide dynamic broker configs (Kafka's `ConfigEntityName.Default`).
const DEFAULT_ENTITY: &str = "<default>";

/// Kafka's name of a resource type in error messages.
pub(super) fn resource_type_name(id: i8) -> &'static str {
    match id {
        RESOURCE_TOPIC => "TOPIC",
        RESOURCE_BROKER => "BROKER",
        8 => "BROKER_LOGGER",
        16 => "CLIENT_METRICS",
        32 => "GROUP",
        _ => "UNKNOWN",
    }
}

/// Kafka's refusal of a resource type it does not alter here.
fn unsupported_type(id: i8) -> AlterRefusal {
    AlterRefusal::new(
        ResponseError::InvalidRequest,
        format!(
            "AlterConfigs is only supported for topics and brokers, but resource type is {}",
            resource_type_name(id)
        ),
    )
}

/// (error code, error message) of a resource's outcome; success, and a refusal Kafka sends
/// without a message, carry none.
fn outcome_fields(outcome: Result<(), AlterRefusal>) -> (i16, Option<String>) {
    match outcome {
        Ok(()) => (0, None),
        Err(r) => (r.code.code(), Some(r.message).filter(|m| !m.is_empty())),
    }
}

impl KafkaApis {
    pub(super) async fn incremental_alter_configs(
        &self,
        req: IncrementalAlterConfigsRequest,
        version: i16,
    ) -> Reply {
        let mut responses = Vec::with_capacity(req.resources.len());
        for r in &req.resources {
            let name = r.resource_name.to_string();
            let ops: Result<Vec<IncrementalOp>, AlterRefusal> = r
                .configs
                .iter()
                .map(|c| {
                    let op = AlterOp::from_wire(c.config_operation).ok_or_else(|| {
                        AlterRefusal::new(
                            ResponseError::InvalidRequest,
                            format!("Unknown alter config operation {}", c.config_operation),
                        )
                    })?;
                    Ok((
                        c.name.to_string(),
                        op,
                        c.value.as_ref().map(|v| v.to_string()),
                    ))
                })
                .collect();
            let outcome = match (r.resource_type, ops) {
                (_, Err(refusal)) => Err(refusal),
                (RESOURCE_TOPIC, Ok(ops)) => {
                    self.alter_topic_config(&name, req.validate_only, |current| {
                        apply_incremental_ops(current, &ops, Overrides::Topic)
                    })
                    .await
                }
                (RESOURCE_BROKER, Ok(ops)) => {
                    self.alter_broker_config(&name, req.validate_only, |current| {
                        apply_incremental_ops(current, &ops, Overrides::Broker)
                    })
                    .await
                }
                (other, Ok(_)) => Err(unsupported_type(other)),
            };
            let (code, message) = outcome_fields(outcome);
            responses.push(
                incremental_alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(str_bytes))
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone()),
            );
        }
        encode(
            &IncrementalAlterConfigsResponse::default().with_responses(responses),
            version,
        )
    }

    pub(super) async fn alter_configs(&self, req: AlterConfigsRequest, version: i16) -> Reply {
        let mut responses = Vec::with_capacity(req.resources.len());
        for r in &req.resources {
            let name = r.resource_name.to_string();
            let entries: Vec<(String, Option<String>)> = r
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect();
            let outcome = match legacy_topic_overrides(&entries) {
                Err(refusal) => Err(refusal),
                Ok(new) if r.resource_type == RESOURCE_TOPIC => {
                    self.alter_topic_config(&name, req.validate_only, |_| Ok(new))
                        .await
                }
                Ok(new) if r.resource_type == RESOURCE_BROKER => {
                    self.alter_broker_config(&name, req.validate_only, |_| Ok(new))
                        .await
                }
                Ok(_) => Err(unsupported_type(r.resource_type)),
            };
            let (code, message) = outcome_fields(outcome);
            responses.push(
                alter_configs_response::AlterConfigsResourceResponse::default()
                    .with_error_code(code)
                    .with_error_message(message.map(str_bytes))
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone()),
            );
        }
        encode(
            &AlterConfigsResponse::default().with_responses(responses),
            version,
        )
    }

    /// Replaces topic `topic`'s overrides with `new(current overrides)` once they pass the checks
    /// CreateTopics makes; with `validate_only` nothing is written.
    async fn alter_topic_config(
        &self,
        topic: &str,
        validate_only: bool,
        new: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, AlterRefusal>,
    ) -> Result<(), AlterRefusal> {
        let zk = self.zk();
        let server_error = |e: crate::zk::ZkError| {
            warn!(topic, error = %e, "cannot alter topic config");
            AlterRefusal::new(ResponseError::UnknownServerError, e.to_string())
        };
        let current = zk
            .get_entity_config("topics", topic)
            .await
            .map_err(server_error)?;
        let overrides = new(&current)?;
        if !self.metadata.snapshot().topics.contains_key(topic) {
            return Err(AlterRefusal::new(
                ResponseError::UnknownTopicOrPartition,
                format!("The topic '{topic}' does not exist."),
            ));
        }
        validate_topic_overrides(&self.config, topic, &overrides)?;
        if validate_only {
            return Ok(());
        }
        zk.set_topic_config(topic, &overrides)
            .await
            .map_err(server_error)?;
        info!(topic, ?overrides, "topic config altered");
        Ok(())
    }

    /// A BROKER resource (this broker, or the cluster default for an empty name): the dynamic
    /// configs left after `new` are refused, since zkafka changes no broker config at run time;
    /// an alteration leaving none writes `/config/brokers/<id or <default>>` as Kafka does.
    async fn alter_broker_config(
        &self,
        name: &str,
        validate_only: bool,
        new: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, AlterRefusal>,
    ) -> Result<(), AlterRefusal> {
        let id = broker_resource(name, self.broker_id, "")
            .map_err(|(code, message)| AlterRefusal::new(code, message))?;
        let entity = id.map_or_else(|| DEFAULT_ENTITY.to_owned(), |id| id.to_string());
        let zk = self.zk();
        let server_error = |e: crate::zk::ZkError| {
            warn!(broker = %entity, error = %e, "cannot alter broker config");
            AlterRefusal::new(ResponseError::UnknownServerError, e.to_string())
        };
        let current = zk
            .get_entity_config("brokers", &entity)
            .await
            .map_err(server_error)?;
        let props = new(&current)?;
        refuse_dynamic_broker_configs(&props)?;
        if !validate_only {
            zk.set_entity_config("brokers", &entity, &props)
                .await
                .map_err(server_error)?;
        }
        Ok(())
    }
}
