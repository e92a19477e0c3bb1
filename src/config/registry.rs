//! The registry of every config key zkafka knows (Kafka's `ConfigDef` for `KafkaConfig` and
//! `LogConfig`), each marked with what zkafka does with it, so that no setting is accepted
//! silently: a config zkafka accepts does what Kafka's does, or it is refused loudly.
//!
//! - [`Support::Implemented`]: zkafka acts on the key as Kafka does (read in `broker_read.rs` or
//!   `topic.rs`; a test checks that the implemented broker keys are exactly the keys read there).
//! - [`Support::Refused`]: not implemented, and a value other than Kafka's default would change
//!   what clients see. Such a value stops start-up (broker key) or is answered INVALID_CONFIG
//!   (topic key); Kafka's default is accepted, since it is what zkafka does.
//! - [`Support::Harmless`]: not implemented, but only tunes something zkafka does its own way
//!   (thread pools, buffers, internal checkpoints): a set value is warned about once at start-up.
//!   DescribeConfigs shows Kafka's default for it, not the value that took no effect.
//!
//! Keys Kafka itself does not know are warned about and ignored, as Kafka does.

use std::collections::BTreeMap;

use super::error::ConfigError;

/// What zkafka does with a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Acted on with Kafka's meaning.
    Implemented,
    /// A non-default value is an error; the text says what zkafka lacks.
    Refused(&'static str),
    /// A non-default value is warned about and has no effect; the text says why that is harmless.
    Harmless(&'static str),
}

/// One key: its name, Kafka's default as text (`None` where Kafka has none), and its support.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyDef {
    pub(crate) name: &'static str,
    pub(crate) default: Option<&'static str>,
    pub(crate) support: Support,
}

const fn implemented(name: &'static str) -> KeyDef {
    KeyDef {
        name,
        default: None,
        support: Support::Implemented,
    }
}

const fn refused(name: &'static str, default: Option<&'static str>, why: &'static str) -> KeyDef {
    KeyDef {
        name,
        default,
        support: Support::Refused(why),
    }
}

const LZ4_LEVEL: &str =
    "lz4_flex compresses at one (fast) level; the output is the LZ4 frame format Kafka reads";

const fn harmless(name: &'static str, default: Option<&'static str>, why: &'static str) -> KeyDef {
    KeyDef {
        name,
        default,
        support: Support::Harmless(why),
    }
}

const INT_MAX: Option<&str> = Some("2147483647");

const NO_TLS: &str =
    "zkafka does not implement this TLS/SASL key (docs/security.md lists those it does)";
const TUNING: &str = "a tuning knob of Kafka's implementation; zkafka sizes this its own way";
const NO_TRANSACTIONS: &str = "zkafka has no transaction coordinator";
const CHECKPOINTS: &str =
    "all offset checkpoints are written every log.flush.offset.checkpoint.interval.ms";
const NO_METRICS: &str =
    "zkafka keeps no sampled Kafka metrics: its Prometheus counters are cumulative (metrics.port)";
const CLEANER: &str =
    "the cleaner reads whole segments through the page cache, not through a buffer of this size";

/// Every broker key zkafka knows, sorted by name.
pub(crate) const BROKER_KEYS: &[KeyDef] = &[
    implemented("advertised.listeners"),
    implemented("allow.everyone.if.no.acl.found"),
    implemented("authorizer.class.name"),
    implemented("auto.create.topics.enable"),
    implemented("auto.leader.rebalance.enable"),
    harmless("background.threads", Some("10"), TUNING),
    implemented("broker.id"),
    implemented("broker.id.generation.enable"),
    implemented("broker.rack"),
    refused(
        "client.quota.callback.class",
        None,
        "client quotas are not implemented",
    ),
    implemented("compression.gzip.level"),
    harmless("compression.lz4.level", Some("9"), LZ4_LEVEL),
    implemented("compression.type"),
    implemented("compression.zstd.level"),
    implemented("connection.failed.authentication.delay.ms"),
    implemented("connections.max.idle.ms"),
    implemented("connections.max.reauth.ms"),
    implemented("control.plane.listener.name"),
    implemented("controlled.shutdown.enable"),
    implemented("controlled.shutdown.max.retries"),
    implemented("controlled.shutdown.retry.backoff.ms"),
    harmless(
        "controller.socket.timeout.ms",
        Some("30000"),
        "the controller's requests to brokers use request.timeout.ms",
    ),
    implemented("default.replication.factor"),
    refused(
        "delegation.token.master.key",
        None,
        "zkafka has no delegation tokens",
    ),
    refused(
        "delegation.token.secret.key",
        None,
        "zkafka has no delegation tokens",
    ),
    implemented("delete.topic.enable"),
    implemented("fetch.max.bytes"),
    implemented("follower.replication.throttled.rate"),
    harmless(
        "group.consumer.heartbeat.interval.ms",
        Some("5000"),
        "the consumer group protocol of KIP-848 is not served",
    ),
    implemented("group.initial.rebalance.delay.ms"),
    implemented("group.max.session.timeout.ms"),
    implemented("group.max.size"),
    implemented("group.min.session.timeout.ms"),
    implemented("inter.broker.listener.name"),
    harmless(
        "inter.broker.protocol.version",
        Some("3.9-IV0"),
        "zkafka brokers always speak the 3.9 inter-broker protocol",
    ),
    implemented("leader.imbalance.check.interval.seconds"),
    implemented("leader.imbalance.per.broker.percentage"),
    implemented("leader.replication.throttled.rate"),
    implemented("listener.security.protocol.map"),
    implemented("listeners"),
    implemented("log.cleaner.backoff.ms"),
    implemented("log.cleaner.dedupe.buffer.size"),
    implemented("log.cleaner.delete.retention.ms"),
    implemented("log.cleaner.enable"),
    implemented("log.cleaner.io.buffer.load.factor"),
    harmless("log.cleaner.io.buffer.size", Some("524288"), CLEANER),
    implemented("log.cleaner.io.max.bytes.per.second"),
    implemented("log.cleaner.max.compaction.lag.ms"),
    implemented("log.cleaner.min.cleanable.ratio"),
    implemented("log.cleaner.min.compaction.lag.ms"),
    implemented("log.cleaner.threads"),
    implemented("log.cleanup.policy"),
    implemented("log.dir"),
    implemented("log.dirs"),
    implemented("log.flush.interval.messages"),
    implemented("log.flush.interval.ms"),
    implemented("log.flush.offset.checkpoint.interval.ms"),
    implemented("log.flush.scheduler.interval.ms"),
    harmless(
        "log.flush.start.offset.checkpoint.interval.ms",
        Some("60000"),
        CHECKPOINTS,
    ),
    implemented("log.index.interval.bytes"),
    implemented("log.index.size.max.bytes"),
    harmless("log.initial.task.delay.ms", Some("30000"), TUNING),
    implemented("log.message.downconversion.enable"),
    harmless(
        "log.message.format.version",
        Some("3.0-IV1"),
        "Kafka 3.x ignores it too and always writes format v2",
    ),
    implemented("log.message.timestamp.after.max.ms"),
    implemented("log.message.timestamp.before.max.ms"),
    implemented("log.message.timestamp.difference.max.ms"),
    implemented("log.message.timestamp.type"),
    harmless(
        "log.preallocate",
        Some("false"),
        "segment files grow as written; their contents are the same",
    ),
    implemented("log.retention.bytes"),
    implemented("log.retention.check.interval.ms"),
    implemented("log.retention.hours"),
    implemented("log.retention.minutes"),
    implemented("log.retention.ms"),
    implemented("log.roll.hours"),
    harmless(
        "log.roll.jitter.hours",
        Some("0"),
        "segments roll at segment.ms exactly; jitter only spreads rolls out",
    ),
    harmless(
        "log.roll.jitter.ms",
        None,
        "segments roll at segment.ms exactly; jitter only spreads rolls out",
    ),
    implemented("log.roll.ms"),
    implemented("log.segment.bytes"),
    harmless(
        "log.segment.delete.delay.ms",
        Some("60000"),
        "deleted segments are removed at once; readers of them are not affected",
    ),
    refused(
        "max.connection.creation.rate",
        INT_MAX,
        "connection creation rates are not limited",
    ),
    implemented("max.connections"),
    implemented("max.connections.per.ip"),
    implemented("max.connections.per.ip.overrides"),
    implemented("message.max.bytes"),
    refused(
        "metric.reporters",
        Some(""),
        "zkafka has no Kafka metric reporters: its metrics are served to Prometheus (metrics.port)",
    ),
    // zkafka-only: the Prometheus endpoint (docs/metrics.md).
    implemented("metrics.host"),
    harmless("metrics.num.samples", Some("2"), NO_METRICS),
    implemented("metrics.port"),
    harmless("metrics.recording.level", Some("INFO"), NO_METRICS),
    harmless("metrics.sample.window.ms", Some("30000"), NO_METRICS),
    implemented("min.insync.replicas"),
    harmless("num.io.threads", Some("8"), TUNING),
    harmless("num.network.threads", Some("3"), TUNING),
    implemented("num.partitions"),
    harmless("num.recovery.threads.per.data.dir", Some("1"), TUNING),
    implemented("num.replica.fetchers"),
    implemented("offsets.commit.required.acks"),
    implemented("offsets.commit.timeout.ms"),
    harmless("offsets.load.buffer.size", Some("5242880"), TUNING),
    implemented("offsets.retention.check.interval.ms"),
    implemented("offsets.retention.minutes"),
    // zkafka-only: where committed offsets live (docs/architecture.md, "Committed offsets").
    implemented("offsets.storage"),
    harmless(
        "offsets.topic.compression.codec",
        Some("0"),
        "offset batches in __consumer_offsets are written uncompressed",
    ),
    implemented("offsets.topic.num.partitions"),
    implemented("offsets.topic.replication.factor"),
    implemented("offsets.topic.segment.bytes"),
    harmless("queued.max.requests", Some("500"), TUNING),
    harmless(
        "quota.window.num",
        Some("11"),
        "client quotas are not implemented",
    ),
    harmless(
        "quota.window.size.seconds",
        Some("1"),
        "client quotas are not implemented",
    ),
    implemented("replica.fetch.backoff.ms"),
    implemented("replica.fetch.max.bytes"),
    implemented("replica.fetch.min.bytes"),
    implemented("replica.fetch.response.max.bytes"),
    implemented("replica.fetch.wait.max.ms"),
    harmless(
        "replica.high.watermark.checkpoint.interval.ms",
        Some("5000"),
        CHECKPOINTS,
    ),
    implemented("replica.lag.time.max.ms"),
    refused(
        "replica.selector.class",
        None,
        "consumers always fetch from the leader",
    ),
    harmless("replica.socket.receive.buffer.bytes", Some("65536"), TUNING),
    implemented("replica.socket.timeout.ms"),
    implemented("replication.quota.window.num"),
    implemented("replication.quota.window.size.seconds"),
    implemented("request.timeout.ms"),
    implemented("reserved.broker.max.id"),
    implemented("sasl.enabled.mechanisms"),
    implemented("sasl.mechanism.inter.broker.protocol"),
    implemented("sasl.server.max.receive.size"),
    implemented("security.inter.broker.protocol"),
    harmless("socket.listen.backlog.size", Some("50"), TUNING),
    harmless("socket.receive.buffer.bytes", Some("102400"), TUNING),
    implemented("socket.request.max.bytes"),
    harmless("socket.send.buffer.bytes", Some("102400"), TUNING),
    implemented("ssl.cipher.suites"),
    implemented("ssl.client.auth"),
    implemented("ssl.enabled.protocols"),
    implemented("ssl.endpoint.identification.algorithm"),
    implemented("ssl.key.password"),
    implemented("ssl.keystore.certificate.chain"),
    implemented("ssl.keystore.key"),
    implemented("ssl.keystore.location"),
    implemented("ssl.keystore.password"),
    implemented("ssl.keystore.type"),
    implemented("ssl.principal.mapping.rules"),
    implemented("ssl.protocol"),
    implemented("ssl.truststore.certificates"),
    implemented("ssl.truststore.location"),
    implemented("ssl.truststore.password"),
    implemented("ssl.truststore.type"),
    implemented("super.users"),
    harmless(
        "transaction.max.timeout.ms",
        Some("900000"),
        NO_TRANSACTIONS,
    ),
    harmless("transaction.state.log.min.isr", Some("2"), NO_TRANSACTIONS),
    harmless(
        "transaction.state.log.num.partitions",
        Some("50"),
        NO_TRANSACTIONS,
    ),
    harmless(
        "transaction.state.log.replication.factor",
        Some("3"),
        NO_TRANSACTIONS,
    ),
    harmless(
        "transaction.state.log.segment.bytes",
        Some("104857600"),
        NO_TRANSACTIONS,
    ),
    harmless(
        "transactional.id.expiration.ms",
        Some("604800000"),
        NO_TRANSACTIONS,
    ),
    implemented("unclean.leader.election.enable"),
    // zkafka-only: where the active controller appends its phase events (docs/controller-events.md).
    implemented("zkafka.controller.events.file"),
    harmless(
        "zookeeper.clientCnxnSocket",
        None,
        "only needed for ZooKeeper TLS, which zkafka refuses",
    ),
    implemented("zookeeper.connect"),
    implemented("zookeeper.connection.timeout.ms"),
    harmless(
        "zookeeper.max.in.flight.requests",
        Some("10"),
        "the ZooKeeper client pipelines requests its own way",
    ),
    implemented("zookeeper.session.timeout.ms"),
    implemented("zookeeper.set.acl"),
    refused(
        "zookeeper.ssl.client.enable",
        Some("false"),
        "zkafka talks to ZooKeeper without TLS",
    ),
];

/// Key prefixes Kafka knows as families (TLS, SASL, per-listener overrides, ZooKeeper TLS) that
/// zkafka refuses whatever the value, unless [`BROKER_KEYS`] names the key with its default.
pub(crate) const REFUSED_PREFIXES: &[(&str, &str)] = &[
    ("ssl.", NO_TLS),
    ("sasl.", NO_TLS),
    (
        "listener.name.",
        "zkafka reads per-listener ssl.*, sasl.enabled.mechanisms, connections.max.reauth.ms and <mechanism>.sasl.jaas.config of listeners using TLS or SASL only",
    ),
    ("zookeeper.ssl.", "zkafka talks to ZooKeeper without TLS"),
];

/// Every topic key zkafka knows, sorted by name (the same names as `topic_keys::KEYS`).
pub(crate) const TOPIC_KEYS: &[KeyDef] = &[
    implemented("cleanup.policy"),
    implemented("compression.gzip.level"),
    harmless("compression.lz4.level", Some("9"), LZ4_LEVEL),
    implemented("compression.type"),
    implemented("compression.zstd.level"),
    implemented("delete.retention.ms"),
    harmless(
        "file.delete.delay.ms",
        Some("60000"),
        "deleted segments are removed at once; readers of them are not affected",
    ),
    implemented("flush.messages"),
    implemented("flush.ms"),
    implemented("follower.replication.throttled.replicas"),
    implemented("index.interval.bytes"),
    implemented("leader.replication.throttled.replicas"),
    implemented("max.compaction.lag.ms"),
    implemented("max.message.bytes"),
    implemented("message.downconversion.enable"),
    harmless(
        "message.format.version",
        Some("3.0-IV1"),
        "Kafka 3.x ignores it too and always writes format v2",
    ),
    implemented("message.timestamp.after.max.ms"),
    implemented("message.timestamp.before.max.ms"),
    implemented("message.timestamp.difference.max.ms"),
    implemented("message.timestamp.type"),
    implemented("min.cleanable.dirty.ratio"),
    implemented("min.compaction.lag.ms"),
    implemented("min.insync.replicas"),
    harmless(
        "preallocate",
        Some("false"),
        "segment files grow as written; their contents are the same",
    ),
    implemented("retention.bytes"),
    implemented("retention.ms"),
    implemented("segment.bytes"),
    implemented("segment.index.bytes"),
    harmless(
        "segment.jitter.ms",
        Some("0"),
        "segments roll at segment.ms exactly; jitter only spreads rolls out",
    ),
    implemented("segment.ms"),
    implemented("unclean.leader.election.enable"),
];

impl KeyDef {
    /// Whether `value` is Kafka's default (what zkafka does for a key it does not implement).
    /// Booleans and names compare without case, as Kafka parses them.
    pub(crate) fn is_default(&self, value: &str) -> bool {
        self.default
            .is_some_and(|d| d.eq_ignore_ascii_case(value.trim()))
    }

    /// Kafka's default for DescribeConfigs.
    pub(crate) fn default_value(&self) -> Option<String> {
        self.default.map(str::to_owned)
    }
}

/// Judges a broker key that is set but not read as an implemented key: refused keys with a
/// non-default value (and every key of a refused family) are an error, harmless ones a warning,
/// unknown ones Kafka's "isn't a known config" warning.
/// `Ok(Some(warning))` is to be logged once at start-up.
pub(crate) fn judge_broker_key(key: &str, value: &str) -> Result<Option<String>, ConfigError> {
    let def = BROKER_KEYS.iter().find(|d| d.name == key);
    match def {
        Some(d) => match d.support {
            Support::Implemented => Ok(None),
            _ if d.is_default(value) => Ok(None),
            Support::Refused(why) => Err(ConfigError::unsupported(key, value, why)),
            Support::Harmless(why) => Ok(Some(format!(
                "{key}={value} has no effect in zkafka ({why})"
            ))),
        },
        None => match REFUSED_PREFIXES.iter().find(|(p, _)| key.starts_with(p)) {
            Some((_, why)) => Err(ConfigError::unsupported(key, value, *why)),
            None => Ok(Some(format!(
                "The configuration '{key}' was supplied but isn't a known config."
            ))),
        },
    }
}

/// The definition of topic key `name`.
pub(crate) fn topic_key(name: &str) -> Option<&'static KeyDef> {
    TOPIC_KEYS.iter().find(|d| d.name == name)
}

/// Judges a topic override already checked to be a valid value: refused keys with a non-default
/// value are an error (Kafka's INVALID_CONFIG in CreateTopics).
pub(crate) fn check_topic_key(key: &str, value: &str) -> Result<&'static KeyDef, ConfigError> {
    let d = topic_key(key).ok_or_else(|| ConfigError::UnknownTopicConfig {
        key: key.to_owned(),
        value: value.to_owned(),
    })?;
    match d.support {
        Support::Refused(why) if !d.is_default(value) => {
            Err(ConfigError::unsupported(key, value, why))
        }
        _ => Ok(d),
    }
}

/// Topic overrides that are harmless but set to something other than Kafka's default, as
/// `key=value (why)` lines for a warning.
pub(crate) fn ignored_topic_overrides(overrides: &BTreeMap<String, String>) -> Vec<String> {
    overrides
        .iter()
        .filter_map(|(k, v)| {
            let d = TOPIC_KEYS.iter().find(|d| d.name == k.as_str())?;
            match d.support {
                Support::Harmless(why) if !d.is_default(v) => Some(format!("{k}={v} ({why})")),
                _ => None,
            }
        })
        .collect()
}
