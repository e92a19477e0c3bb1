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
    apply_incremental_broker_ops, apply_incremental_topic_ops, check_reconfiguration,
    legacy_topic_overrides, refuse_dynamic_broker_configs, validate_topic_overrides, AlterOp,
    AlterRefusal, IncrementalOp,
};
use crate::dynamic_config::DEFAULT_BROKER_ENTITY;
use crate::metadata::str_bytes;
use crate::network::Reply;

/// Config resource types (Kafka's `ConfigResource.Type` ids).
pub(super) const RESOURCE_TOPIC: i8 = 2;
pub(super) const RESOURCE_BROKER: i8 = 4;

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
/// An authorization refusal, answered without a message as Kafka does.
fn refused(allowed: Result<(), ResponseError>) -> AlterRefusal {
    AlterRefusal::new(
        allowed.err().unwrap_or(ResponseError::UnknownServerError),
        String::new(),
    )
}

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

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn incremental_alter_configs(
        &self,
        req: IncrementalAlterConfigsRequest,
        version: i16,
        access: &Access<'_>,
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
            let allowed =
                access.config_resource(AclOperation::AlterConfigs, r.resource_type, &name);
            let outcome = match (r.resource_type, ops) {
                _ if allowed.is_err() => Err(refused(allowed)),
                (_, Err(refusal)) => Err(refusal),
                (RESOURCE_TOPIC, Ok(ops)) => {
                    self.alter_topic_config(&name, req.validate_only, |current| {
                        apply_incremental_topic_ops(current, &ops)
                    })
                    .await
                }
                (RESOURCE_BROKER, Ok(ops)) => {
                    self.alter_broker_config(&name, req.validate_only, |current| {
                        apply_incremental_broker_ops(current, &ops)
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

    pub(super) async fn alter_configs(
        &self,
        req: AlterConfigsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut responses = Vec::with_capacity(req.resources.len());
        for r in &req.resources {
            let name = r.resource_name.to_string();
            let entries: Vec<(String, Option<String>)> = r
                .configs
                .iter()
                .map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string())))
                .collect();
            let allowed =
                access.config_resource(AclOperation::AlterConfigs, r.resource_type, &name);
            let outcome = match legacy_topic_overrides(&entries) {
                _ if allowed.is_err() => Err(refused(allowed)),
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
        validate_topic_overrides(&self.dynamic.current(), topic, &overrides)?;
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
    /// configs left after `new` must all be keys zkafka applies at run time and valid on top of
    /// the other layer; they are written to `/config/brokers/<id or <default>>` with a change
    /// notification, as Kafka does, and every broker applies them when the notification arrives.
    async fn alter_broker_config(
        &self,
        name: &str,
        validate_only: bool,
        new: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, AlterRefusal>,
    ) -> Result<(), AlterRefusal> {
        let id = broker_resource(name, self.broker_id, "")
            .map_err(|(code, message)| AlterRefusal::new(code, message))?;
        let entity = id.map_or_else(|| DEFAULT_BROKER_ENTITY.to_owned(), |id| id.to_string());
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
        let other = if id.is_some() {
            DEFAULT_BROKER_ENTITY
        } else {
            &self.broker_id.to_string()
        };
        let other = zk
            .get_entity_config("brokers", other)
            .await
            .map_err(server_error)?;
        let (default, own) = if id.is_some() {
            (&other, &props)
        } else {
            (&props, &other)
        };
        if let Some(message) = self.dynamic.statics().mistyped(&props) {
            return Err(AlterRefusal::new(ResponseError::InvalidRequest, message));
        }
        // Kafka answers INVALID_REQUEST with its ConfigException's message: a value its config
        // definition refuses as is (zkafka's own text here), a reconfiguration a component
        // refuses wrapped as "Invalid dynamic configuration".
        let invalid = |message: String| AlterRefusal::new(ResponseError::InvalidRequest, message);
        let next = self
            .dynamic
            .statics()
            .with_dynamic(default, own)
            .map_err(|e| invalid(e.to_string()))?;
        check_reconfiguration(&self.dynamic.current(), &next).map_err(|e| {
            invalid(format!(
                "Invalid value org.apache.kafka.common.config.ConfigException: {e} for \
                 configuration Invalid dynamic configuration"
            ))
        })?;
        if !validate_only {
            zk.set_entity_config("brokers", &entity, &props)
                .await
                .map_err(server_error)?;
            info!(broker = %entity, ?props, "dynamic broker config altered");
        }
        Ok(())
    }
}
