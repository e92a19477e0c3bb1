//! Broker and topic configuration, Kafka's `KafkaConfig` and `LogConfig`: the same keys, meanings
//! and defaults as Kafka 3.9 in ZooKeeper mode, so an existing `server.properties` works unchanged.
//!
//! Unknown keys are warnings (Kafka logs them too); bad values and missing required keys are a
//! [`ConfigError`] whose `Display` is one line naming the key and the value.

mod broker;
mod broker_read;
mod error;
mod listener;
mod properties;
#[cfg(test)]
mod tests;
mod topic;
mod topic_keys;
mod values;
mod zookeeper;

pub use broker::KafkaConfig;
pub use error::ConfigError;
pub use listener::{Listener, SecurityProtocol, DEFAULT_PROTOCOL_MAP};
pub use properties::parse_properties;
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

/// Kafka broker keys that zkafka accepts without acting on them (thread pools, socket buffers,
/// quotas, TLS/SASL settings, the cleaner's read buffer, ...). A standard `server.properties` sets several of
/// these; warning about each would bury the warnings that matter.
pub(crate) const IGNORED_KEYS: &[&str] = &[
    "num.network.threads",
    "num.io.threads",
    "background.threads",
    "queued.max.requests",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.listen.backlog.size",
    "replica.socket.receive.buffer.bytes",
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
    "max.connection.creation.rate",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "transaction.state.log.num.partitions",
    "transaction.state.log.segment.bytes",
    "transactional.id.expiration.ms",
    "transaction.max.timeout.ms",
    "inter.broker.protocol.version",
    "log.message.format.version",
    "log.message.timestamp.difference.max.ms",
    "log.cleaner.io.buffer.size",
    "log.initial.task.delay.ms",
    "offsets.load.buffer.size",
    "offsets.topic.compression.codec",
    "group.max.rebalance.timeout.ms",
    "group.consumer.heartbeat.interval.ms",
    "delegation.token.master.key",
    "authorizer.class.name",
    "super.users",
    "allow.everyone.if.no.acl.found",
    "metric.reporters",
    "metrics.num.samples",
    "metrics.sample.window.ms",
    "metrics.recording.level",
    "quota.window.num",
    "quota.window.size.seconds",
    "replica.selector.class",
    "confluent.support.metrics.enable",
    "confluent.support.customer.id",
    "zookeeper.clientCnxnSocket",
    "zookeeper.ssl.client.enable",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.key.password",
    "ssl.truststore.location",
    "ssl.truststore.password",
    "ssl.client.auth",
    "ssl.endpoint.identification.algorithm",
    "sasl.enabled.mechanisms",
    "sasl.mechanism.inter.broker.protocol",
];
