//! The table of topic-level configs: each name, the broker keys its default comes from, and how
//! its values are validated.

use super::broker::KafkaConfig;
use super::error::ConfigError;
use super::throttled_replicas::parse_throttled_replicas;
use super::values::{check_one_of, parse_bool, parse_double, parse_int, parse_long};
use super::{parse_cleanup_policy, COMPRESSION_TYPES};

#[derive(Clone, Copy)]
pub(super) enum Kind {
    Int(i32),
    Long(i64),
    Bool,
    Ratio,
    OneOf(&'static [&'static str]),
    Policy,
    Text,
    /// `*.replication.throttled.replicas`: `*` or `partition:broker` pairs (a LIST).
    Throttled,
    /// `compression.{gzip,lz4,zstd}.level`: each codec's own range (KIP-390).
    Level,
}

/// Checks a `compression.gzip.level` (-1 or 1-9), `compression.lz4.level` (1-17) or
/// `compression.zstd.level` (-131072-22) value, as Kafka's validators for those keys (topic and
/// broker keys share the names).
pub(super) fn parse_compression_level(key: &str, v: &str) -> Result<i32, ConfigError> {
    let (min, max) = match key {
        "compression.gzip.level" => (-1, 9),
        "compression.lz4.level" => (1, 17),
        _ => (-131_072, 22),
    };
    let level = parse_int(key, v, min, max)?;
    if key == "compression.gzip.level" && level == 0 {
        return Err(ConfigError::invalid(
            key,
            v,
            "must be -1 or between 1 and 9",
        ));
    }
    Ok(level)
}

impl Kind {
    pub(super) fn type_id(self) -> i8 {
        match self {
            Kind::Bool => 1,
            Kind::OneOf(_) | Kind::Text => 2,
            Kind::Int(_) | Kind::Level => 3,
            Kind::Long(_) => 5,
            Kind::Ratio => 6,
            Kind::Policy | Kind::Throttled => 7,
        }
    }

    pub(super) fn check(self, key: &str, v: &str) -> Result<(), ConfigError> {
        match self {
            Kind::Int(min) => parse_int(key, v, min, i32::MAX).map(drop),
            Kind::Long(min) => parse_long(key, v, min).map(drop),
            Kind::Bool => parse_bool(key, v).map(drop),
            Kind::Ratio => parse_double(key, v, 0.0, 1.0).map(drop),
            Kind::OneOf(allowed) => check_one_of(key, v, allowed),
            Kind::Policy => parse_cleanup_policy(key, v).map(drop),
            Kind::Text => Ok(()),
            Kind::Throttled => parse_throttled_replicas(key, v).map(drop),
            Kind::Level => parse_compression_level(key, v).map(drop),
        }
    }
}

const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

/// (topic key, broker keys it inherits from in precedence order, kind).
pub(super) const KEYS: &[(&str, &[&str], Kind)] = &[
    ("cleanup.policy", &["log.cleanup.policy"], Kind::Policy),
    (
        "compression.gzip.level",
        &["compression.gzip.level"],
        Kind::Level,
    ),
    (
        "compression.lz4.level",
        &["compression.lz4.level"],
        Kind::Level,
    ),
    (
        "compression.type",
        &["compression.type"],
        Kind::OneOf(COMPRESSION_TYPES),
    ),
    (
        "compression.zstd.level",
        &["compression.zstd.level"],
        Kind::Level,
    ),
    (
        "delete.retention.ms",
        &["log.cleaner.delete.retention.ms"],
        Kind::Long(0),
    ),
    (
        "file.delete.delay.ms",
        &["log.segment.delete.delay.ms"],
        Kind::Long(0),
    ),
    (
        "flush.messages",
        &["log.flush.interval.messages"],
        Kind::Long(1),
    ),
    (
        "flush.ms",
        &["log.flush.interval.ms", "log.flush.scheduler.interval.ms"],
        Kind::Long(0),
    ),
    (
        "follower.replication.throttled.replicas",
        &[],
        Kind::Throttled,
    ),
    (
        "index.interval.bytes",
        &["log.index.interval.bytes"],
        Kind::Int(0),
    ),
    (
        "leader.replication.throttled.replicas",
        &[],
        Kind::Throttled,
    ),
    (
        "max.compaction.lag.ms",
        &["log.cleaner.max.compaction.lag.ms"],
        Kind::Long(1),
    ),
    ("max.message.bytes", &["message.max.bytes"], Kind::Int(0)),
    (
        "message.downconversion.enable",
        &["log.message.downconversion.enable"],
        Kind::Bool,
    ),
    (
        "message.format.version",
        &["log.message.format.version"],
        Kind::Text,
    ),
    (
        "message.timestamp.after.max.ms",
        &["log.message.timestamp.after.max.ms"],
        Kind::Long(0),
    ),
    (
        "message.timestamp.before.max.ms",
        &["log.message.timestamp.before.max.ms"],
        Kind::Long(0),
    ),
    (
        "message.timestamp.difference.max.ms",
        &["log.message.timestamp.difference.max.ms"],
        Kind::Long(0),
    ),
    (
        "message.timestamp.type",
        &["log.message.timestamp.type"],
        Kind::OneOf(TIMESTAMP_TYPES),
    ),
    (
        "min.cleanable.dirty.ratio",
        &["log.cleaner.min.cleanable.ratio"],
        Kind::Ratio,
    ),
    (
        "min.compaction.lag.ms",
        &["log.cleaner.min.compaction.lag.ms"],
        Kind::Long(0),
    ),
    (
        "min.insync.replicas",
        &["min.insync.replicas"],
        Kind::Int(1),
    ),
    ("preallocate", &["log.preallocate"], Kind::Bool),
    (
        "retention.bytes",
        &["log.retention.bytes"],
        Kind::Long(i64::MIN),
    ),
    (
        "retention.ms",
        &[
            "log.retention.ms",
            "log.retention.minutes",
            "log.retention.hours",
        ],
        Kind::Long(-1),
    ),
    ("segment.bytes", &["log.segment.bytes"], Kind::Int(14)),
    (
        "segment.index.bytes",
        &["log.index.size.max.bytes"],
        Kind::Int(4),
    ),
    (
        "segment.jitter.ms",
        &["log.roll.jitter.ms", "log.roll.jitter.hours"],
        Kind::Long(0),
    ),
    (
        "segment.ms",
        &["log.roll.ms", "log.roll.hours"],
        Kind::Long(1),
    ),
    (
        "unclean.leader.election.enable",
        &["unclean.leader.election.enable"],
        Kind::Bool,
    ),
];

/// Every topic config name zkafka knows, sorted (for validating CreateTopics / AlterConfigs).
pub const TOPIC_CONFIG_NAMES: &[&str] = &[
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.downconversion.enable",
    "message.format.version",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.difference.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

/// The broker's value for an implemented topic key, formatted as DescribeConfigs shows it (keys
/// zkafka does not implement show Kafka's default from the registry instead).
pub(super) fn broker_value(b: &KafkaConfig, key: &str) -> String {
    match key {
        "cleanup.policy" => b.log_cleanup_policy.join(","),
        "compression.gzip.level" => b.compression_gzip_level.to_string(),
        "compression.type" => b.compression_type.clone(),
        "compression.zstd.level" => b.compression_zstd_level.to_string(),
        "delete.retention.ms" => b.log_cleaner_delete_retention_ms.to_string(),
        "flush.messages" => b.log_flush_interval_messages.to_string(),
        "flush.ms" => b.log_flush_interval_ms.to_string(),
        "index.interval.bytes" => b.log_index_interval_bytes.to_string(),
        "max.compaction.lag.ms" => b.log_cleaner_max_compaction_lag_ms.to_string(),
        "max.message.bytes" => b.message_max_bytes.to_string(),
        "message.timestamp.after.max.ms" => b.log_message_timestamp_after_max_ms.to_string(),
        "message.timestamp.before.max.ms" => b.log_message_timestamp_before_max_ms.to_string(),
        "message.timestamp.difference.max.ms" => {
            b.log_message_timestamp_difference_max_ms.to_string()
        }
        "message.timestamp.type" => b.log_message_timestamp_type.clone(),
        "message.downconversion.enable" => b.log_message_downconversion_enable.to_string(),
        "min.cleanable.dirty.ratio" => b.log_cleaner_min_cleanable_ratio.to_string(),
        "min.compaction.lag.ms" => b.log_cleaner_min_compaction_lag_ms.to_string(),
        "min.insync.replicas" => b.min_insync_replicas.to_string(),
        "retention.bytes" => b.log_retention_bytes.to_string(),
        "retention.ms" => b.log_retention_ms.to_string(),
        "segment.bytes" => b.log_segment_bytes.to_string(),
        "segment.index.bytes" => b.log_index_size_max_bytes.to_string(),
        "segment.ms" => b.log_roll_ms.to_string(),
        "unclean.leader.election.enable" => b.unclean_leader_election_enable.to_string(),
        _ => String::new(),
    }
}
