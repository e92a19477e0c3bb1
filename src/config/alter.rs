//! Config alterations (Kafka's `ZkAdminManager.alterConfigs` / `incrementalAlterConfigs` and its
//! `prepareIncrementalConfigs`): the new set of overrides an AlterConfigs or IncrementalAlterConfigs
//! request asks for, and the check that a topic may carry it. The checks are the ones CreateTopics
//! makes ([`TopicConfig::new`]), so a value refused at creation is refused here too, and the error
//! codes and messages are Kafka's so that `kafka-configs` prints what it prints against Kafka.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;

use super::broker::KafkaConfig;
use super::error::ConfigError;
use super::topic::TopicConfig;

/// An IncrementalAlterConfigs operation (Kafka's `AlterConfigOp.OpType`, with its wire ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    /// 0: set the value.
    Set,
    /// 1: remove the override, going back to the default.
    Delete,
    /// 2: add elements to a list value.
    Append,
    /// 3: remove elements from a list value.
    Subtract,
}

impl AlterOp {
    /// The operation with wire id `id`, if there is one.
    pub fn from_wire(id: i8) -> Option<AlterOp> {
        match id {
            0 => Some(AlterOp::Set),
            1 => Some(AlterOp::Delete),
            2 => Some(AlterOp::Append),
            3 => Some(AlterOp::Subtract),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            AlterOp::Set => "SET",
            AlterOp::Delete => "DELETE",
            AlterOp::Append => "APPEND",
            AlterOp::Subtract => "SUBTRACT",
        }
    }
}

/// Why an alteration is refused: the error code and message the resource is answered with.
#[derive(Debug, Clone, PartialEq)]
pub struct AlterRefusal {
    /// The resource's error code.
    pub code: ResponseError,
    /// Kafka's message for it; empty where Kafka sends none.
    pub message: String,
}

impl AlterRefusal {
    /// A refusal with `code` and `message`.
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        AlterRefusal {
            code,
            message: message.into(),
        }
    }

    fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(ResponseError::InvalidRequest, message)
    }
}

/// The topic keys Kafka types as LIST (the only ones APPEND and SUBTRACT accept), with Kafka's
/// default as text: a list that is not overridden grows from the default, as in Kafka.
const TOPIC_LIST_KEYS: &[(&str, &str)] = &[
    ("cleanup.policy", "delete"),
    ("follower.replication.throttled.replicas", ""),
    ("leader.replication.throttled.replicas", ""),
];

/// One IncrementalAlterConfigs entry: key, operation, value.
pub type IncrementalOp = (String, AlterOp, Option<String>);

/// Kafka's checks of an IncrementalAlterConfigs resource before anything is applied: no key twice,
/// and a value for every operation but DELETE.
fn check_incremental_ops(ops: &[IncrementalOp]) -> Result<(), AlterRefusal> {
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<&str> = ops
        .iter()
        .filter(|(k, _, _)| !seen.insert(k.as_str()))
        .map(|(k, _, _)| k.as_str())
        .collect();
    if !duplicates.is_empty() {
        return Err(AlterRefusal::invalid_request(format!(
            "Error due to duplicate config keys : {}",
            duplicates.into_iter().collect::<Vec<_>>().join(",")
        )));
    }
    let nulls: Vec<String> = ops
        .iter()
        .filter(|(_, op, v)| v.is_none() && *op != AlterOp::Delete)
        .map(|(k, op, _)| format!("{}:{k}", op.name()))
        .collect();
    if !nulls.is_empty() {
        return Err(AlterRefusal::invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(",")
        )));
    }
    Ok(())
}

/// Applies IncrementalAlterConfigs operations to a topic's current overrides.
pub fn apply_incremental_topic_ops(
    current: &BTreeMap<String, String>,
    ops: &[IncrementalOp],
) -> Result<BTreeMap<String, String>, AlterRefusal> {
    check_incremental_ops(ops)?;
    let mut props = current.clone();
    for (key, op, value) in ops {
        let value = value.as_deref().unwrap_or("");
        match op {
            AlterOp::Set => {
                props.insert(key.clone(), value.to_owned());
            }
            AlterOp::Delete => {
                props.remove(key);
            }
            AlterOp::Append | AlterOp::Subtract => {
                let default = list_default(key, *op)?;
                // Kafka splits on bare commas, without trimming, and keeps duplicates.
                let old: Vec<&str> = props
                    .get(key)
                    .map_or(default, String::as_str)
                    .split(',')
                    .collect();
                let given: Vec<&str> = value.split(',').collect();
                let new = if *op == AlterOp::Append {
                    [old, given].concat()
                } else {
                    subtract(old, &given)
                };
                props.insert(key.clone(), new.join(","));
            }
        }
    }
    Ok(props)
}

/// Kafka's default of list key `key`, or the refusal of APPEND/SUBTRACT on any other key: a known
/// key that is not a list is INVALID_CONFIG; an unknown key is UNKNOWN_SERVER_ERROR without a
/// message, because Kafka 3.9 fails looking the key up (a `NoSuchElementException`).
fn list_default(key: &str, op: AlterOp) -> Result<&'static str, AlterRefusal> {
    if let Some((_, default)) = TOPIC_LIST_KEYS.iter().find(|(k, _)| *k == key) {
        return Ok(default);
    }
    if !super::TOPIC_CONFIG_NAMES.contains(&key) {
        return Err(AlterRefusal::new(ResponseError::UnknownServerError, ""));
    }
    let verb = if op == AlterOp::Append {
        "append"
    } else {
        "subtract"
    };
    Err(AlterRefusal::new(
        ResponseError::InvalidConfig,
        format!("Config value {verb} is not allowed for config key: {key}"),
    ))
}

/// Scala's `List.diff`: each element of `remove` takes away one occurrence.
fn subtract<'a>(mut list: Vec<&'a str>, remove: &[&str]) -> Vec<&'a str> {
    for r in remove {
        if let Some(i) = list.iter().position(|e| e == r) {
            list.remove(i);
        }
    }
    list
}

/// The dynamic broker configs an IncrementalAlterConfigs request would leave in
/// `/config/brokers/<id or <default>>` (checked by [`refuse_dynamic_broker_configs`]).
pub fn apply_incremental_broker_ops(
    current: &BTreeMap<String, String>,
    ops: &[IncrementalOp],
) -> Result<BTreeMap<String, String>, AlterRefusal> {
    check_incremental_ops(ops)?;
    let mut props = current.clone();
    for (key, op, value) in ops {
        match (op, value) {
            (AlterOp::Delete, _) => {
                props.remove(key);
            }
            (_, Some(v)) => {
                props.insert(key.clone(), v.clone());
            }
            (_, None) => {}
        }
    }
    Ok(props)
}

/// Refuses the dynamic broker configs zkafka does not apply at run time (see
/// [`super::dynamic_key`]) with Kafka 3.9's refusal of a key that is not dynamic (INVALID_REQUEST),
/// naming them.
pub fn refuse_dynamic_broker_configs(props: &BTreeMap<String, String>) -> Result<(), AlterRefusal> {
    let keys: Vec<&str> = props
        .keys()
        .map(String::as_str)
        .filter(|k| !super::dynamic_key(k))
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    Err(AlterRefusal::invalid_request(format!(
        "Cannot update these configs dynamically: Set({})",
        keys.join(", ")
    )))
}

/// The overrides an AlterConfigs (non-incremental) request sets: exactly its entries, which replace
/// every previous override. A missing value is refused as Kafka does.
pub fn legacy_topic_overrides(
    entries: &[(String, Option<String>)],
) -> Result<BTreeMap<String, String>, AlterRefusal> {
    let nulls: Vec<&str> = entries
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(AlterRefusal::invalid_request(format!(
            "Null value not supported for : {}",
            nulls.join(",")
        )));
    }
    Ok(entries
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect())
}

/// Checks that topic `topic` may carry `overrides`, through the same checks as CreateTopics.
/// Every refusal is INVALID_CONFIG, as Kafka 3.9 answers; a bad value's message has Kafka's
/// "Invalid config value for resource" prefix (Kafka wraps the value's `ConfigException` so).
pub fn validate_topic_overrides(
    broker: &KafkaConfig,
    topic: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<TopicConfig, AlterRefusal> {
    TopicConfig::new(broker, overrides).map_err(|e| match &e {
        ConfigError::UnknownTopicConfig { key, .. } => AlterRefusal::new(
            ResponseError::InvalidConfig,
            format!("Unknown topic config name: {key}"),
        ),
        ConfigError::Unsupported { .. } => {
            AlterRefusal::new(ResponseError::InvalidConfig, e.to_string())
        }
        _ => AlterRefusal::new(
            ResponseError::InvalidConfig,
            format!(
                "Invalid config value for resource ConfigResource(type=TOPIC, name='{topic}'): {e}"
            ),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn op(k: &str, op: AlterOp, v: Option<&str>) -> IncrementalOp {
        (k.to_owned(), op, v.map(str::to_owned))
    }

    fn broker() -> KafkaConfig {
        KafkaConfig::from_properties([("zookeeper.connect", "localhost:2181")])
            .map(|(c, _)| c)
            .expect("a minimal config")
    }

    #[test]
    fn wire_ids_are_kafkas() {
        assert_eq!(AlterOp::from_wire(0), Some(AlterOp::Set));
        assert_eq!(AlterOp::from_wire(1), Some(AlterOp::Delete));
        assert_eq!(AlterOp::from_wire(2), Some(AlterOp::Append));
        assert_eq!(AlterOp::from_wire(3), Some(AlterOp::Subtract));
        assert_eq!(AlterOp::from_wire(4), None);
    }

    #[test]
    fn set_and_delete_change_only_their_keys() {
        let current = map(&[("retention.ms", "1000"), ("segment.ms", "2000")]);
        let new = apply_incremental_topic_ops(
            &current,
            &[
                op("retention.ms", AlterOp::Set, Some("7200000")),
                op("segment.ms", AlterOp::Delete, None),
                op("flush.ms", AlterOp::Delete, None),
            ],
        )
        .expect("valid ops");
        assert_eq!(new, map(&[("retention.ms", "7200000")]));
    }

    #[test]
    fn lists_grow_from_kafkas_default_and_shrink_one_occurrence_at_a_time() {
        let appended = apply_incremental_topic_ops(
            &BTreeMap::new(),
            &[op("cleanup.policy", AlterOp::Append, Some("compact"))],
        )
        .expect("append");
        assert_eq!(appended, map(&[("cleanup.policy", "delete,compact")]));
        let subtracted = apply_incremental_topic_ops(
            &map(&[("cleanup.policy", "compact,delete,compact")]),
            &[op("cleanup.policy", AlterOp::Subtract, Some("compact"))],
        )
        .expect("subtract");
        assert_eq!(subtracted, map(&[("cleanup.policy", "delete,compact")]));
    }

    #[test]
    fn refusals_carry_kafkas_codes_and_messages() {
        let refused = |ops: &[IncrementalOp]| {
            apply_incremental_topic_ops(&BTreeMap::new(), ops).expect_err("refused")
        };
        assert_eq!(
            refused(&[op("retention.ms", AlterOp::Append, Some("1"))]),
            AlterRefusal::new(
                ResponseError::InvalidConfig,
                "Config value append is not allowed for config key: retention.ms"
            )
        );
        assert_eq!(
            refused(&[op("segment.ms", AlterOp::Subtract, Some("1"))]).message,
            "Config value subtract is not allowed for config key: segment.ms"
        );
        assert_eq!(
            refused(&[op("no.such", AlterOp::Append, Some("1"))]),
            AlterRefusal::new(ResponseError::UnknownServerError, "")
        );
        assert_eq!(
            refused(&[
                op("retention.ms", AlterOp::Set, Some("1")),
                op("retention.ms", AlterOp::Delete, None),
            ])
            .message,
            "Error due to duplicate config keys : retention.ms"
        );
        assert_eq!(
            refused(&[op("retention.ms", AlterOp::Set, None)]).message,
            "Null value not supported for : SET:retention.ms"
        );
        assert_eq!(
            legacy_topic_overrides(&[("a".into(), None), ("b".into(), Some("1".into()))])
                .expect_err("null")
                .message,
            "Null value not supported for : a"
        );
    }

    #[test]
    fn validation_is_create_topics_with_kafkas_codes() {
        let b = broker();
        assert!(validate_topic_overrides(&b, "t", &map(&[("retention.ms", "5")])).is_ok());
        let unknown = validate_topic_overrides(&b, "t", &map(&[("retention.hours", "1")]));
        assert_eq!(
            unknown.expect_err("unknown"),
            AlterRefusal::new(
                ResponseError::InvalidConfig,
                "Unknown topic config name: retention.hours"
            )
        );
        let throttles = map(&[("leader.replication.throttled.replicas", "0:1,1:2")]);
        assert!(validate_topic_overrides(&b, "t", &throttles).is_ok());
        let refused = validate_topic_overrides(
            &b,
            "t",
            &map(&[("leader.replication.throttled.replicas", "0-1")]),
        )
        .expect_err("bad throttle list");
        assert_eq!(refused.code, ResponseError::InvalidConfig);
        assert!(refused.message.contains("must be the literal '*'"));
        let bad = validate_topic_overrides(&b, "t", &map(&[("retention.ms", "abc")]))
            .expect_err("bad value");
        assert_eq!(bad.code, ResponseError::InvalidConfig);
        assert_eq!(
            bad.message,
            "Invalid config value for resource ConfigResource(type=TOPIC, name='t'): \
             invalid value \"abc\" for retention.ms: not a long integer"
        );
    }

    #[test]
    fn broker_configs_zkafka_does_not_apply_are_refused() {
        let current = map(&[("log.retention.ms", "1")]);
        let left = apply_incremental_broker_ops(
            &current,
            &[
                op("num.partitions", AlterOp::Set, Some("5")),
                op("log.retention.ms", AlterOp::Delete, None),
            ],
        )
        .expect("valid ops");
        assert_eq!(left, map(&[("num.partitions", "5")]));
        assert_eq!(
            refuse_dynamic_broker_configs(&left),
            Err(AlterRefusal::invalid_request(
                "Cannot update these configs dynamically: Set(num.partitions)"
            ))
        );
        let none = apply_incremental_broker_ops(
            &current,
            &[op("log.retention.ms", AlterOp::Delete, None)],
        )
        .expect("valid ops");
        assert_eq!(refuse_dynamic_broker_configs(&none), Ok(()));
        assert_eq!(refuse_dynamic_broker_configs(&current), Ok(()));
    }

    #[test]
    fn list_keys_are_topic_keys() {
        for (k, _) in TOPIC_LIST_KEYS {
            assert!(super::super::TOPIC_CONFIG_NAMES.contains(k), "{k}");
        }
    }
}
