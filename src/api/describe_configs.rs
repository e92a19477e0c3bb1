//! DescribeConfigs (`kafka-configs --describe`) for TOPIC and BROKER resources.
//!
//! A topic's configs are the broker's defaults overlaid with `/config/topics/<t>`; a broker's are
//! its static configuration under the dynamic broker configs in force (`/config/brokers/<id>`,
//! then `/config/brokers/<default>`); the default-broker resource (empty name) has the dynamic
//! defaults alone, as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use super::alter_configs::{resource_type_name, RESOURCE_BROKER, RESOURCE_TOPIC};
use super::{encode, KafkaApis};
use crate::config::{ConfigEntry, TopicConfig};
use crate::metadata::str_bytes;
use crate::network::Reply;

/// A resource's refusal: error code and message.
type Refused = (ResponseError, String);

/// The broker a BROKER resource names: `None` for the cluster default (empty name), as Kafka's
/// `resourceNameToBrokerId`; another broker's id is refused, since each broker describes itself.
pub(super) fn broker_resource(
    name: &str,
    own_id: i32,
    expected: &str,
) -> Result<Option<i32>, Refused> {
    if name.is_empty() {
        return Ok(None);
    }
    let id: i32 = name.parse().map_err(|_| {
        (
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })?;
    if id != own_id {
        return Err((
            ResponseError::InvalidRequest,
            format!("Unexpected broker id, expected {own_id}{expected}, but received {name}"),
        ));
    }
    Ok(Some(id))
}

/// One described config as the request's version shows it.
fn described(e: &ConfigEntry, version: i16, with_synonyms: bool) -> DescribeConfigsResourceResult {
    let mut entry = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name.clone()))
        .with_value(e.value.clone().map(str_bytes))
        .with_read_only(e.read_only)
        .with_is_sensitive(e.is_sensitive);
    if version == 0 {
        entry.is_default = e.is_default;
        return entry;
    }
    entry.config_source = e.source as i8;
    if with_synonyms {
        entry.synonyms = e
            .synonyms
            .iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(str_bytes(s.name.clone()))
                    .with_value(s.value.clone().map(str_bytes))
                    .with_source(s.source as i8)
            })
            .collect();
    }
    if version >= 3 {
        entry.config_type = e.config_type;
    }
    entry
}

use super::authorize::Access;
use crate::security::acl::AclOperation;

impl KafkaApis {
    pub(super) async fn describe_configs(
        &self,
        req: DescribeConfigsRequest,
        version: i16,
        access: &Access<'_>,
    ) -> Reply {
        let mut results = Vec::with_capacity(req.resources.len());
        for r in &req.resources {
            let name = r.resource_name.to_string();
            let mut result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            let allowed =
                access.config_resource(AclOperation::DescribeConfigs, r.resource_type, &name);
            let entries = match (allowed, r.resource_type) {
                (Err(refused), _) => Err((refused, String::new())),
                (Ok(()), RESOURCE_TOPIC) => self.topic_entries(&name).await,
                (Ok(()), RESOURCE_BROKER) => {
                    broker_resource(&name, self.broker_id, " or empty string").map(|id| match id {
                        Some(_) => self.dynamic.current().describe(),
                        None => self.dynamic.current().describe_dynamic_default(),
                    })
                }
                (Ok(()), other) => Err((
                    ResponseError::InvalidRequest,
                    format!(
                        "zkafka describes TOPIC and BROKER configs only, not {}",
                        resource_type_name(other)
                    ),
                )),
            };
            match entries {
                Ok(entries) => {
                    let keys: Option<Vec<String>> = r
                        .configuration_keys
                        .as_ref()
                        .map(|k| k.iter().map(|s| s.to_string()).collect());
                    result.configs = entries
                        .iter()
                        .filter(|e| keys.as_ref().is_none_or(|k| k.contains(&e.name)))
                        .map(|e| described(e, version, req.include_synonyms))
                        .collect();
                }
                Err((code, message)) => {
                    result.error_code = code.code();
                    result.error_message = Some(message).filter(|m| !m.is_empty()).map(str_bytes);
                }
            }
            results.push(result);
        }
        encode(
            &DescribeConfigsResponse::default().with_results(results),
            version,
        )
    }

    /// A topic's effective configs: the broker's defaults overlaid with `/config/topics/<t>`.
    async fn topic_entries(&self, topic: &str) -> Result<Vec<ConfigEntry>, Refused> {
        if !self.metadata.snapshot().topics.contains_key(topic) {
            // Kafka answers this one without a message.
            return Err((ResponseError::UnknownTopicOrPartition, String::new()));
        }
        // A malformed override znode reads as no overrides, as when the partitions open.
        let overrides = self
            .zk()
            .get_topic_configs(&[topic.to_owned()])
            .await
            .map_err(|e| (ResponseError::UnknownServerError, e.to_string()))?
            .remove(topic)
            .unwrap_or_default();
        let config = TopicConfig::new(&self.dynamic.current(), &overrides)
            .map_err(|e| (ResponseError::InvalidConfig, e.to_string()))?;
        Ok(config.describe().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_resources_name_this_broker_or_the_default() {
        assert_eq!(broker_resource("", 1, ""), Ok(None));
        assert_eq!(broker_resource("1", 1, ""), Ok(Some(1)));
        assert_eq!(
            broker_resource("x", 1, ""),
            Err((
                ResponseError::InvalidRequest,
                "Broker id must be an integer, but it is: x".to_string()
            ))
        );
        assert_eq!(
            broker_resource("2", 1, " or empty string"),
            Err((
                ResponseError::InvalidRequest,
                "Unexpected broker id, expected 1 or empty string, but received 2".to_string()
            ))
        );
    }
}
