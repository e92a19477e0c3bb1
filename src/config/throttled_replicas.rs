//! The topic configs `leader.replication.throttled.replicas` and
//! `follower.replication.throttled.replicas` (Kafka's `ThrottledReplicaListValidator`): `*` for
//! every replica, or `partition:broker` pairs separated by commas; empty means none.

use super::error::ConfigError;

/// A parsed `*.replication.throttled.replicas` value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ThrottledReplicas {
    /// `*`: every replica of the topic.
    All,
    /// `(partition, broker)` pairs; empty when the config is not set.
    Listed(Vec<(i32, i32)>),
    /// Not set (Kafka's default, the empty list).
    #[default]
    None,
}

/// Parses a value as Kafka's validator accepts it (each comma-separated item, trimmed, empty or
/// `digits:digits`; or the whole value `*`), with Kafka's message otherwise.
pub fn parse_throttled_replicas(key: &str, value: &str) -> Result<ThrottledReplicas, ConfigError> {
    let v = value.trim();
    if v == "*" {
        return Ok(ThrottledReplicas::All);
    }
    let mut pairs = Vec::new();
    for item in v.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let pair = item.split_once(':').and_then(|(p, b)| {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
            if digits(p) && digits(b) {
                Some((p.parse::<i32>().ok()?, b.parse::<i32>().ok()?))
            } else {
                None
            }
        });
        match pair {
            Some(pair) => pairs.push(pair),
            None => {
                return Err(ConfigError::invalid(
                    key,
                    value,
                    format!(
                        "{key} must be the literal '*' or a list of replicas in the following \
                         format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                    ),
                ))
            }
        }
    }
    Ok(if pairs.is_empty() {
        ThrottledReplicas::None
    } else {
        ThrottledReplicas::Listed(pairs)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_as_kafka_checks_them() {
        let key = "leader.replication.throttled.replicas";
        assert_eq!(
            parse_throttled_replicas(key, "").unwrap(),
            ThrottledReplicas::None
        );
        assert_eq!(
            parse_throttled_replicas(key, " * ").unwrap(),
            ThrottledReplicas::All
        );
        assert_eq!(
            parse_throttled_replicas(key, "0:1, 1:2,").unwrap(),
            ThrottledReplicas::Listed(vec![(0, 1), (1, 2)])
        );
        for bad in ["0", "a:1", "0:1,*", "-1:2", "0:1:2"] {
            let e = parse_throttled_replicas(key, bad).unwrap_err().to_string();
            assert!(e.contains("must be the literal '*'"), "{bad}: {e}");
        }
    }
}
