//! Broker and topic configuration, Kafka's `KafkaConfig` and `LogConfig`: the same keys, meanings
//! and defaults as Kafka 3.9 in ZooKeeper mode, so an existing `server.properties` works unchanged.
//!
//! Every key zkafka knows is in one registry (`registry.rs`) marked implemented, refused or
//! harmless, so no setting is accepted without effect. Unknown keys are warnings (Kafka logs them
//! too); bad values, refused values and missing required keys are a [`ConfigError`] whose
//! `Display` is one line naming the key and the value.

mod alter;
mod broker;
mod broker_read;
mod dynamic_broker;
mod error;
mod listener;
mod properties;
mod registry;
mod security;
mod synonyms;
#[cfg(test)]
mod tests;
mod throttled_replicas;
mod topic;
mod topic_keys;
mod values;
mod zookeeper;

pub use alter::{
    apply_incremental_broker_ops, apply_incremental_topic_ops, legacy_topic_overrides,
    refuse_dynamic_broker_configs, validate_topic_overrides, AlterOp, AlterRefusal, IncrementalOp,
};
pub use broker::KafkaConfig;
pub use dynamic_broker::{check_reconfiguration, dynamic_key, DynamicBrokerConfig};
pub use error::ConfigError;
pub use listener::{Listener, SecurityProtocol, DEFAULT_PROTOCOL_MAP};
pub use properties::parse_properties;
pub use security::{
    ClientAuth, InterBrokerSecurity, ListenerSecurity, SaslSettings, SslSettings, StoreSource,
    SASL_MECHANISMS,
};
pub use synonyms::{broker_config_synonyms, Synonym};
pub use throttled_replicas::ThrottledReplicas;
pub use topic::{ConfigEntry, ConfigSource, TopicConfig, TOPIC_CONFIG_NAMES};
pub use zookeeper::ZkConnect;

/// Valid `compression.type` values (broker and topic level).
pub(crate) const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

/// Parses a `cleanup.policy` list (`delete`, `compact` or both).
pub(crate) fn parse_cleanup_policy(key: &str, raw: &str) -> Result<Vec<String>, ConfigError> {
    let list = values::split_list(raw);
    if let Some(bad) = list
        .iter()
        .find(|p| !["delete", "compact"].contains(&p.as_str()))
    {
        return Err(ConfigError::invalid(
            key,
            raw,
            format!("unknown policy {bad:?} (expected delete and/or compact)"),
        ));
    }
    Ok(list)
}
