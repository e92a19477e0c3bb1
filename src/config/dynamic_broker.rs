//! Dynamic broker configs (Kafka's `DynamicBrokerConfig`): `/config/brokers/<id>` and
//! `/config/brokers/<default>` layered over the static configuration, the per-broker layer first.
//!
//! zkafka applies at run time the broker keys that are topic-config defaults (`log.retention.ms`,
//! `log.segment.bytes`, `message.max.bytes`, `log.cleanup.policy`, ... : Kafka's
//! `DynamicLogConfig`), since every log's config is rebuilt from them when they change, the log
//! cleaner's settings, which restart its threads, the connection quotas, the replication
//! throttles and `num.replica.fetchers`, which resizes the fetcher pool. Other keys Kafka changes
//! at run time (listeners, thread pools) are refused, as are the keys Kafka itself refuses, with
//! Kafka's message.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::broker::KafkaConfig;
use super::error::ConfigError;
use super::registry::{Support, BROKER_KEYS};
use super::topic_keys::KEYS;

/// The log cleaner's settings that a change applies by restarting its threads (Kafka's
/// `LogCleaner.ReconfigurableConfigs`, less `log.cleaner.io.buffer.size`, which zkafka ignores).
const CLEANER_KEYS: &[&str] = &[
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.load.factor",
    "log.cleaner.io.max.bytes.per.second",
    "log.cleaner.backoff.ms",
];

/// The connection quotas (Kafka's `DynamicConnectionQuota`, without per-listener keys).
const CONNECTION_KEYS: &[&str] = &[
    "max.connections",
    "max.connections.per.ip",
    "max.connections.per.ip.overrides",
];

/// The replication throttles (Kafka's `DynamicReplicationConfig`, less the log-dir move throttle,
/// as zkafka does not move replicas between log dirs) and the fetcher count (Kafka's
/// `DynamicThreadPool`, which resizes the fetcher pool).
const REPLICATION_KEYS: &[&str] = &[
    "leader.replication.throttled.rate",
    "follower.replication.throttled.rate",
    "num.replica.fetchers",
];

/// The broker keys zkafka changes at run time: those that are the default of a topic config (less
/// `unclean.leader.election.enable`, which the controller reads at start-up only), the log
/// cleaner's, the connection quotas and the replication throttles, among the keys zkafka
/// implements.
pub fn dynamic_key(name: &str) -> bool {
    name != "unclean.leader.election.enable"
        && (KEYS.iter().any(|(_, synonyms, _)| synonyms.contains(&name))
            || CLEANER_KEYS.contains(&name)
            || CONNECTION_KEYS.contains(&name)
            || REPLICATION_KEYS.contains(&name))
        && BROKER_KEYS
            .iter()
            .find(|d| d.name == name)
            .is_some_and(|d| d.support == Support::Implemented)
}

/// Kafka's `ConfigDef` message for a value that is not of its key's type (Kafka answers
/// INVALID_REQUEST with it alone), for types by DescribeConfigs id: BOOLEAN 1, INT 3, SHORT 4,
/// LONG 5, DOUBLE 6.
fn type_error(name: &str, value: &str, config_type: i8) -> Option<String> {
    let v = value.trim();
    let wrong = match config_type {
        1 => (!v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false"))
            .then_some("Expected value to be either true or false"),
        3 => v
            .parse::<i32>()
            .is_err()
            .then_some("Not a number of type INT"),
        4 => v
            .parse::<i16>()
            .is_err()
            .then_some("Not a number of type SHORT"),
        5 => v
            .parse::<i64>()
            .is_err()
            .then_some("Not a number of type LONG"),
        6 => v
            .parse::<f64>()
            .is_err()
            .then_some("Not a number of type DOUBLE"),
        _ => None,
    }?;
    Some(format!(
        "Invalid value {value} for configuration {name}: {wrong}"
    ))
}

/// Kafka's `DynamicThreadPool.validateReconfiguration` for `num.replica.fetchers`: at least 1,
/// at least half and at most double the current count.
fn check_fetcher_threads(now: i32, new: i32) -> Result<(), String> {
    if new == now {
        return Ok(());
    }
    let error =
        format!("Dynamic thread count update validation failed for num.replica.fetchers={new}");
    if new <= 0 {
        return Err(format!("{error}, value should be at least 1"));
    }
    if new < now / 2 {
        return Err(format!(
            "{error}, value should be at least half the current value {now}"
        ));
    }
    if new > now.saturating_mul(2) {
        return Err(format!(
            "{error}, value should not be greater than double the current value {now}"
        ));
    }
    Ok(())
}

/// Kafka's `LogCleaner.validateReconfiguration` (the cleaner thread count may at most double or
/// halve) and `DynamicThreadPool`'s check of `num.replica.fetchers`.
pub fn check_reconfiguration(current: &KafkaConfig, next: &KafkaConfig) -> Result<(), String> {
    check_fetcher_threads(current.num_replica_fetchers, next.num_replica_fetchers)?;
    let (now, new) = (current.log_cleaner_threads, next.log_cleaner_threads);
    if new < 1 {
        return Err("Log cleaner threads should be at least 1".into());
    }
    if new < now / 2 {
        return Err(format!(
            "Log cleaner threads cannot be reduced to less than half the current value {now}"
        ));
    }
    if new > now.saturating_mul(2) {
        return Err(format!(
            "Log cleaner threads cannot be increased to more than double the current value {now}"
        ));
    }
    Ok(())
}

impl KafkaConfig {
    /// The first value of `props` that is not of its key's type, with Kafka's message.
    pub fn mistyped(&self, props: &BTreeMap<String, String>) -> Option<String> {
        props.iter().find_map(|(k, v)| {
            let info = self.known.get(k.as_str())?;
            type_error(k, v, info.config_type)
        })
    }

    /// This static configuration with the dynamic layers on top: `broker` (this broker's
    /// `/config/brokers/<id>`) wins over `default` (`/config/brokers/<default>`), which wins over
    /// the static settings. DescribeConfigs still tells the layers apart.
    pub fn with_dynamic(
        &self,
        default: &BTreeMap<String, String>,
        broker: &BTreeMap<String, String>,
    ) -> Result<KafkaConfig, ConfigError> {
        let mut props = self.explicit.clone();
        props.extend(default.iter().map(|(k, v)| (k.clone(), v.clone())));
        props.extend(broker.iter().map(|(k, v)| (k.clone(), v.clone())));
        let (mut config, _warnings) = KafkaConfig::from_properties(props)?;
        config.explicit = self.explicit.clone();
        config.dynamic_default = default.clone();
        config.dynamic_broker = broker.clone();
        Ok(config)
    }
}

/// The configuration in force on this broker: the static one with the dynamic layers last read
/// from ZooKeeper. Readers take a snapshot; a config change swaps in a new one.
pub struct DynamicBrokerConfig {
    statics: Arc<KafkaConfig>,
    current: RwLock<Arc<KafkaConfig>>,
}

impl DynamicBrokerConfig {
    pub fn new(statics: Arc<KafkaConfig>) -> Self {
        DynamicBrokerConfig {
            current: RwLock::new(statics.clone()),
            statics,
        }
    }

    /// The static configuration (`server.properties` and `--override`).
    pub fn statics(&self) -> &KafkaConfig {
        &self.statics
    }

    /// The configuration in force now.
    pub fn current(&self) -> Arc<KafkaConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the dynamic layers (each znode's keys that zkafka applies; others are ignored, as
    /// a znode written by another tool may hold them). An invalid combination keeps the current
    /// configuration and is returned as the error.
    pub fn update(
        &self,
        default: &BTreeMap<String, String>,
        broker: &BTreeMap<String, String>,
    ) -> Result<Arc<KafkaConfig>, ConfigError> {
        let applied = |m: &BTreeMap<String, String>| -> BTreeMap<String, String> {
            m.iter()
                .filter(|(k, _)| dynamic_key(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let next = Arc::new(
            self.statics
                .with_dynamic(&applied(default), &applied(broker))?,
        );
        match self.current.write() {
            Ok(mut c) => *c = next.clone(),
            Err(poisoned) => *poisoned.into_inner() = next.clone(),
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statics(props: &[(&str, &str)]) -> Arc<KafkaConfig> {
        let mut all = vec![("zookeeper.connect", "localhost:2181")];
        all.extend_from_slice(props);
        Arc::new(KafkaConfig::from_properties(all).expect("valid config").0)
    }

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn mistyped_values_get_kafkas_message() {
        let s = statics(&[]);
        assert_eq!(
            s.mistyped(&map(&[("log.retention.ms", "soon")])).as_deref(),
            Some(
                "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"
            )
        );
        assert_eq!(
            s.mistyped(&map(&[("log.segment.bytes", "1.5")])).as_deref(),
            Some("Invalid value 1.5 for configuration log.segment.bytes: Not a number of type INT")
        );
        assert_eq!(s.mistyped(&map(&[("log.retention.ms", "5")])), None);
    }

    #[test]
    fn topic_defaults_are_dynamic_and_the_rest_is_not() {
        assert!(dynamic_key("log.retention.ms"));
        assert!(dynamic_key("log.segment.bytes"));
        assert!(dynamic_key("message.max.bytes"));
        assert!(!dynamic_key("num.partitions"));
        assert!(!dynamic_key("unclean.leader.election.enable"));
        assert!(dynamic_key("leader.replication.throttled.rate"));
        assert!(!dynamic_key(
            "replica.alter.log.dirs.io.max.bytes.per.second"
        ));
        assert!(!dynamic_key("log.dirs"));
        assert!(dynamic_key("log.cleaner.threads"));
        assert!(!dynamic_key("log.cleaner.enable"));
        assert!(!dynamic_key("log.cleaner.io.buffer.size"));
        assert!(dynamic_key("max.connections.per.ip"));
    }

    #[test]
    fn fetcher_threads_may_at_most_double_or_halve() {
        assert!(check_fetcher_threads(2, 4).is_ok());
        assert!(check_fetcher_threads(2, 1).is_ok());
        assert_eq!(
            check_fetcher_threads(2, 5).unwrap_err(),
            "Dynamic thread count update validation failed for num.replica.fetchers=5, \
             value should not be greater than double the current value 2"
        );
        assert!(check_fetcher_threads(6, 2).is_err());
        assert!(dynamic_key("num.replica.fetchers"));
    }

    #[test]
    fn cleaner_threads_may_at_most_double_or_halve() {
        let two = statics(&[("log.cleaner.threads", "2")]);
        let with = |n: &str| statics(&[("log.cleaner.threads", n)]);
        assert!(check_reconfiguration(&two, &with("4")).is_ok());
        assert!(check_reconfiguration(&two, &with("1")).is_ok());
        assert_eq!(
            check_reconfiguration(&two, &with("5")).unwrap_err(),
            "Log cleaner threads cannot be increased to more than double the current value 2"
        );
        assert_eq!(
            check_reconfiguration(&with("6"), &with("2")).unwrap_err(),
            "Log cleaner threads cannot be reduced to less than half the current value 6"
        );
    }

    #[test]
    fn the_broker_layer_wins_over_the_default_layer_over_static() {
        let d = DynamicBrokerConfig::new(statics(&[("log.retention.ms", "1000")]));
        assert_eq!(d.current().log_retention_ms, 1000);
        let c = d
            .update(
                &map(&[("log.retention.ms", "2000"), ("log.segment.bytes", "4096")]),
                &map(&[("log.retention.ms", "3000"), ("num.partitions", "9")]),
            )
            .unwrap();
        assert_eq!(c.log_retention_ms, 3000);
        assert_eq!(c.log_segment_bytes, 4096);
        assert_eq!(
            c.num_partitions, 1,
            "a key zkafka does not apply is ignored"
        );
        assert_eq!(
            c.explicit.get("log.retention.ms").map(String::as_str),
            Some("1000")
        );
        assert!(d
            .update(&map(&[("log.segment.bytes", "x")]), &BTreeMap::new())
            .is_err());
        assert_eq!(
            d.current().log_retention_ms,
            3000,
            "an invalid change is not applied"
        );
    }
}
