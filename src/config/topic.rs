//! Topic-level config (Kafka's `LogConfig`): broker defaults overlaid with the topic's
//! `/config/topics/<topic>` overrides, validated, and described for DescribeConfigs. Overrides of
//! keys zkafka refuses (see `registry.rs`) are errors; keys it does not implement are described
//! with Kafka's default, which is what zkafka does.

use std::collections::BTreeMap;

use super::broker::KafkaConfig;
use super::error::ConfigError;
use super::parse_cleanup_policy;
use super::registry::{check_topic_key, ignored_topic_overrides, topic_key, Support};
use super::synonyms::Synonym;
use super::throttled_replicas::{parse_throttled_replicas, ThrottledReplicas};
use super::topic_keys::{broker_value, KEYS};
use super::values::{parse_bool, parse_double, parse_int, parse_long};

pub use super::topic_keys::TOPIC_CONFIG_NAMES;

/// Where a config value comes from, with Kafka's DescribeConfigs wire ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic override (`/config/topics/<topic>`).
    TopicConfig = 1,
    /// This broker's dynamic config (`/config/brokers/<id>`).
    DynamicBrokerConfig = 2,
    /// The cluster-wide dynamic default (`/config/brokers/<default>`).
    DynamicDefaultBrokerConfig = 3,
    /// Set in `server.properties` / `--override`.
    StaticBrokerConfig = 4,
    /// Kafka's default.
    DefaultConfig = 5,
}

/// One entry of a DescribeConfigs answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    /// The topic config name.
    pub name: String,
    /// The effective value.
    pub value: Option<String>,
    /// `source == DefaultConfig`.
    pub is_default: bool,
    /// Never true for topic configs (none is a password).
    pub is_sensitive: bool,
    /// Topic configs can all be altered.
    pub read_only: bool,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Kafka's config type id for DescribeConfigs v3+ (1 BOOLEAN, 2 STRING, 3 INT, 5 LONG,
    /// 6 DOUBLE, 7 LIST).
    pub config_type: i8,
    /// The broker key the default comes from, if any.
    pub broker_synonym: Option<&'static str>,
    /// Kafka's synonyms, most precedent first (DescribeConfigs v1+ with `include_synonyms`).
    pub synonyms: Vec<Synonym>,
}

/// A topic's effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicConfig {
    /// `segment.bytes`.
    pub segment_bytes: i32,
    /// `segment.ms`.
    pub segment_ms: i64,
    /// `segment.index.bytes`.
    pub segment_index_bytes: i32,
    /// `retention.ms` (-1 = forever).
    pub retention_ms: i64,
    /// `retention.bytes` (-1 = unlimited).
    pub retention_bytes: i64,
    /// `max.message.bytes`: largest record batch accepted.
    pub max_message_bytes: i32,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
    /// `cleanup.policy` (`delete` and/or `compact`).
    pub cleanup_policy: Vec<String>,
    /// `delete.retention.ms`: how long a cleaned tombstone stays readable.
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio`.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`.
    pub max_compaction_lag_ms: i64,
    /// `flush.messages`.
    pub flush_messages: i64,
    /// `flush.ms`.
    pub flush_ms: i64,
    /// `index.interval.bytes`.
    pub index_interval_bytes: i32,
    /// `message.timestamp.type` (`CreateTime` or `LogAppendTime`).
    pub message_timestamp_type: String,
    /// `message.timestamp.before.max.ms`.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.difference.max.ms` (deprecated by KIP-937; the before/after keys
    /// fall back to it while they are Long.MAX).
    pub message_timestamp_difference_max_ms: i64,
    /// `message.timestamp.after.max.ms`.
    pub message_timestamp_after_max_ms: i64,
    /// `compression.type`.
    pub compression_type: String,
    /// `message.downconversion.enable`: Fetch v0-v3 get records converted to their format.
    pub message_downconversion_enable: bool,
    /// `compression.gzip.level`.
    pub compression_gzip_level: i32,
    /// `compression.zstd.level`.
    pub compression_zstd_level: i32,
    /// `leader.replication.throttled.replicas`.
    pub leader_throttled_replicas: ThrottledReplicas,
    /// `follower.replication.throttled.replicas`.
    pub follower_throttled_replicas: ThrottledReplicas,
    /// The topic's own overrides, as stored in `/config/topics/<topic>`.
    pub overrides: BTreeMap<String, String>,
    entries: Vec<ConfigEntry>,
}

impl TopicConfig {
    /// Broker defaults overlaid with `overrides` (the `config` object of `/config/topics/<topic>`,
    /// or a CreateTopics request's configs). An unknown name or a bad value is an error naming the
    /// topic key, as Kafka's `InvalidConfigurationException`.
    pub fn new(
        broker: &KafkaConfig,
        overrides: &BTreeMap<String, String>,
    ) -> Result<TopicConfig, ConfigError> {
        let mut entries = Vec::with_capacity(KEYS.len());
        let mut merged: BTreeMap<&str, String> = BTreeMap::new();
        if let Some((k, v)) = overrides
            .iter()
            .find(|(k, _)| !TOPIC_CONFIG_NAMES.contains(&k.as_str()))
        {
            return Err(ConfigError::UnknownTopicConfig {
                key: k.clone(),
                value: v.clone(),
            });
        }
        for &(name, synonyms, kind) in KEYS {
            let def = match overrides.get(name) {
                Some(v) => {
                    kind.check(name, v)?;
                    check_topic_key(name, v)?
                }
                None => topic_key(name).ok_or_else(|| ConfigError::UnknownTopicConfig {
                    key: name.to_owned(),
                    value: String::new(),
                })?,
            };
            let (value, source) = match overrides.get(name) {
                // What zkafka does for a key it does not implement is Kafka's default.
                _ if def.support != Support::Implemented => (
                    def.default_value().unwrap_or_default(),
                    ConfigSource::DefaultConfig,
                ),
                Some(v) => (v.trim().to_owned(), ConfigSource::TopicConfig),
                None if synonyms
                    .iter()
                    .any(|s| broker.dynamic_broker.contains_key(*s)) =>
                {
                    (
                        broker_value(broker, name),
                        ConfigSource::DynamicBrokerConfig,
                    )
                }
                None if synonyms
                    .iter()
                    .any(|s| broker.dynamic_default.contains_key(*s)) =>
                {
                    (
                        broker_value(broker, name),
                        ConfigSource::DynamicDefaultBrokerConfig,
                    )
                }
                None if synonyms.iter().any(|s| broker.explicit.contains_key(*s)) => {
                    (broker_value(broker, name), ConfigSource::StaticBrokerConfig)
                }
                None => (broker_value(broker, name), ConfigSource::DefaultConfig),
            };
            let own = (source == ConfigSource::TopicConfig).then(|| Synonym {
                name: name.to_owned(),
                value: Some(value.clone()),
                source,
            });
            let inherited = match synonyms.first() {
                Some(primary) => {
                    broker.synonyms(primary, synonyms, def.support == Support::Implemented)
                }
                None => Vec::new(),
            };
            entries.push(ConfigEntry {
                synonyms: own.into_iter().chain(inherited).collect(),
                name: name.to_owned(),
                value: Some(value.clone()),
                is_default: source == ConfigSource::DefaultConfig,
                is_sensitive: false,
                read_only: false,
                source,
                config_type: kind.type_id(),
                broker_synonym: synonyms.first().copied(),
            });
            merged.insert(name, value);
        }
        let get = |k: &str| merged.get(k).map(String::as_str).unwrap_or("");
        let int = |k: &str| parse_int(k, get(k), i32::MIN, i32::MAX);
        let long = |k: &str| parse_long(k, get(k), i64::MIN);
        let boolean = |k: &str| parse_bool(k, get(k));
        Ok(TopicConfig {
            segment_bytes: int("segment.bytes")?,
            segment_ms: long("segment.ms")?,
            segment_index_bytes: int("segment.index.bytes")?,
            retention_ms: long("retention.ms")?,
            retention_bytes: long("retention.bytes")?,
            max_message_bytes: int("max.message.bytes")?,
            min_insync_replicas: int("min.insync.replicas")?,
            unclean_leader_election_enable: boolean("unclean.leader.election.enable")?,
            cleanup_policy: parse_cleanup_policy("cleanup.policy", get("cleanup.policy"))?,
            delete_retention_ms: long("delete.retention.ms")?,
            min_cleanable_dirty_ratio: parse_double(
                "min.cleanable.dirty.ratio",
                get("min.cleanable.dirty.ratio"),
                0.0,
                1.0,
            )?,
            min_compaction_lag_ms: long("min.compaction.lag.ms")?,
            max_compaction_lag_ms: long("max.compaction.lag.ms")?,
            flush_messages: long("flush.messages")?,
            flush_ms: long("flush.ms")?,
            index_interval_bytes: int("index.interval.bytes")?,
            message_timestamp_type: get("message.timestamp.type").to_owned(),
            message_timestamp_before_max_ms: long("message.timestamp.before.max.ms")?,
            message_timestamp_after_max_ms: long("message.timestamp.after.max.ms")?,
            message_timestamp_difference_max_ms: long("message.timestamp.difference.max.ms")?,
            compression_type: get("compression.type").to_owned(),
            message_downconversion_enable: boolean("message.downconversion.enable")?,
            compression_gzip_level: int("compression.gzip.level")?,
            compression_zstd_level: int("compression.zstd.level")?,
            leader_throttled_replicas: parse_throttled_replicas(
                "leader.replication.throttled.replicas",
                get("leader.replication.throttled.replicas"),
            )?,
            follower_throttled_replicas: parse_throttled_replicas(
                "follower.replication.throttled.replicas",
                get("follower.replication.throttled.replicas"),
            )?,
            overrides: overrides.clone(),
            entries,
        })
    }

    /// Every topic config with its effective value and source, sorted by name, for
    /// DescribeConfigs (`kafka-configs --describe --all`, `kafka-topics --describe`).
    /// Whether `LogAppendTime` replaces producer timestamps.
    pub fn log_append_time(&self) -> bool {
        self.message_timestamp_type == "LogAppendTime"
    }

    pub fn describe(&self) -> &[ConfigEntry] {
        &self.entries
    }

    /// The overrides zkafka accepts without acting on them (harmless ones set to something other
    /// than Kafka's default), as `key=value (why)`, for a warning when a topic is created.
    pub fn ignored_overrides(&self) -> Vec<String> {
        ignored_topic_overrides(&self.overrides)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(extra: &[(&str, &str)]) -> KafkaConfig {
        let mut props = vec![("zookeeper.connect", "localhost:2181")];
        props.extend_from_slice(extra);
        KafkaConfig::from_properties(props.iter().copied())
            .unwrap()
            .0
    }

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn entry<'a>(t: &'a TopicConfig, name: &str) -> &'a ConfigEntry {
        t.describe().iter().find(|e| e.name == name).unwrap()
    }

    #[test]
    fn names_table_matches_keys_and_is_sorted() {
        let names: Vec<&str> = KEYS.iter().map(|k| k.0).collect();
        assert_eq!(names, TOPIC_CONFIG_NAMES);
        assert!(names.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn defaults_come_from_kafka() {
        let t = TopicConfig::new(&broker(&[]), &BTreeMap::new()).unwrap();
        assert_eq!(t.segment_bytes, 1_073_741_824);
        assert_eq!(t.retention_ms, 604_800_000);
        assert_eq!(t.segment_ms, 604_800_000);
        assert_eq!(t.retention_bytes, -1);
        assert_eq!(t.max_message_bytes, 1_048_588);
        assert_eq!(t.cleanup_policy, ["delete"]);
        assert_eq!(t.delete_retention_ms, 86_400_000);
        assert_eq!(t.min_cleanable_dirty_ratio, 0.5);
        assert_eq!(t.min_compaction_lag_ms, 0);
        assert_eq!(t.max_compaction_lag_ms, i64::MAX);
        assert_eq!(t.flush_messages, i64::MAX);
        assert_eq!(t.flush_ms, i64::MAX);
        let e = entry(&t, "retention.ms");
        assert_eq!(e.value.as_deref(), Some("604800000"));
        assert_eq!(
            (e.source, e.is_default, e.read_only, e.is_sensitive),
            (ConfigSource::DefaultConfig, true, false, false)
        );
        assert_eq!(e.config_type, 5);
        assert_eq!(t.describe().len(), TOPIC_CONFIG_NAMES.len());
    }

    #[test]
    fn broker_settings_then_topic_overrides() {
        let b = broker(&[("log.retention.hours", "1"), ("log.segment.bytes", "1000")]);
        let t = TopicConfig::new(
            &b,
            &overrides(&[
                ("segment.bytes", "2000"),
                ("cleanup.policy", "compact,delete"),
            ]),
        )
        .unwrap();
        assert_eq!(t.retention_ms, 3_600_000);
        assert_eq!(
            entry(&t, "retention.ms").source,
            ConfigSource::StaticBrokerConfig
        );
        assert!(!entry(&t, "retention.ms").is_default);
        assert_eq!(t.segment_bytes, 2000);
        assert_eq!(entry(&t, "segment.bytes").source, ConfigSource::TopicConfig);
        assert_eq!(entry(&t, "segment.bytes").value.as_deref(), Some("2000"));
        assert_eq!(t.cleanup_policy, ["compact", "delete"]);
        assert_eq!(t.overrides.len(), 2);
    }

    #[test]
    fn keys_zkafka_does_not_implement_are_described_with_kafkas_default() {
        // Broker-level harmless settings do not show through either.
        let b = broker(&[("log.preallocate", "true")]);
        let t = TopicConfig::new(
            &b,
            &overrides(&[
                ("segment.jitter.ms", "1000"),
                ("message.format.version", "2.8"),
                ("retention.ms", "1000"),
            ]),
        )
        .unwrap();
        for (name, default) in [
            ("segment.jitter.ms", "0"),
            ("message.format.version", "3.0-IV1"),
            ("preallocate", "false"),
        ] {
            let e = entry(&t, name);
            assert_eq!(
                (e.value.as_deref(), e.source),
                (Some(default), ConfigSource::DefaultConfig),
                "{name}"
            );
        }
        assert_eq!(entry(&t, "retention.ms").source, ConfigSource::TopicConfig);
        assert_eq!(
            t.ignored_overrides(),
            [
                "message.format.version=2.8 (Kafka 3.x ignores it too and always writes format v2)",
                "segment.jitter.ms=1000 (segments roll at segment.ms exactly; jitter only spreads rolls out)",
            ]
        );
    }

    #[test]
    fn every_error_kind_names_the_topic_key() {
        let b = broker(&[]);
        for (k, v, want) in [
            ("retention.ms", "abc", "invalid value \"abc\" for retention.ms: not a long integer"),
            ("retention.ms", "-2", "invalid value \"-2\" for retention.ms: must be at least -1"),
            ("segment.bytes", "13", "invalid value \"13\" for segment.bytes: must be at least 14"),
            ("segment.bytes", "3000000000", "invalid value \"3000000000\" for segment.bytes: not an integer"),
            ("preallocate", "yes", "invalid value \"yes\" for preallocate: not a boolean (expected true or false)"),
            ("min.cleanable.dirty.ratio", "1.5", "invalid value \"1.5\" for min.cleanable.dirty.ratio: must be between 0 and 1"),
            ("cleanup.policy", "shred", "invalid value \"shred\" for cleanup.policy: unknown policy \"shred\" (expected delete and/or compact)"),
            ("message.timestamp.type", "Now", "invalid value \"Now\" for message.timestamp.type: must be one of CreateTime, LogAppendTime"),
            ("compression.type", "brotli", "invalid value \"brotli\" for compression.type: must be one of uncompressed, zstd, lz4, snappy, gzip, producer"),
            ("retention.hours", "1", "unknown topic config retention.hours (value \"1\")"),
            ("leader.replication.throttled.replicas", "0", "invalid value \"0\" for leader.replication.throttled.replicas: leader.replication.throttled.replicas must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."),
        ] {
            let err = TopicConfig::new(&b, &overrides(&[(k, v)])).unwrap_err();
            assert_eq!(err.to_string(), want);
            assert_eq!(err.key(), Some(k));
        }
    }
}
