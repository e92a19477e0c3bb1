//! What CreateTopics and CreatePartitions refuse before anything is allocated or written (Kafka's
//! `AdminZkClient.validateTopicCreate` / `validateReplicaAssignment`): a client's replica
//! assignment must name each replica once, give every partition the same number of replicas and
//! number partitions consecutively; and the topic znode that would hold the assignment must fit in
//! ZooKeeper's default `jute.maxbuffer` (1 MiB), or ZooKeeper drops the write and the session.
//!
//! The size check runs on counts alone, before a placement of `partitions` entries is computed,
//! so a request for two billion partitions costs nothing.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::error::ResponseError;

/// ZooKeeper's default `jute.maxbuffer` (0xfffff bytes): the largest znode it accepts.
pub const MAX_ZNODE_BYTES: u64 = 0xfffff;

/// A refusal with the message Kafka would give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub code: ResponseError,
    pub message: String,
}

impl Refusal {
    pub fn new(code: ResponseError, message: impl Into<String>) -> Self {
        Refusal {
            code,
            message: message.into(),
        }
    }
}

impl From<ResponseError> for Refusal {
    fn from(code: ResponseError) -> Self {
        Refusal::new(code, code.to_string())
    }
}

/// Decimal digits of `n` (n >= 0).
fn digits(n: u64) -> u64 {
    let mut d = 1;
    let mut n = n / 10;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

/// Sum of the decimal digits counts of `from..to`, by ranges of equal length (O(digits)).
fn digits_in_range(from: u64, to: u64) -> u64 {
    let mut total = 0;
    let mut start = from;
    while start < to {
        let d = digits(start);
        let end = 10u64.saturating_pow(d as u32).min(to);
        total += (end - start) * d;
        start = end;
    }
    total
}

/// A lower bound of the bytes `partitions` partitions numbered from `first` with
/// `replication_factor` replicas take in a topic znode (`"<p>":[<b>,<b>],` each, broker ids at
/// least one digit). Exact enough: the znode's other fields are under 100 bytes.
pub fn min_assignment_bytes(first: i32, partitions: i64, replication_factor: i64) -> u64 {
    let first = first.max(0) as u64;
    let count = partitions.max(0) as u64;
    let rf = replication_factor.max(1) as u64;
    // quotes, colon, brackets, separating comma; rf ids of >= 1 digit and rf - 1 commas.
    let per_partition = 6 + rf + (rf - 1);
    digits_in_range(first, first.saturating_add(count))
        .saturating_add(count.saturating_mul(per_partition))
}

/// Refuses an assignment of `partitions` more partitions (from `first`) that cannot fit in a znode.
pub(crate) fn check_znode_size(
    first: i32,
    partitions: i64,
    replication_factor: i64,
) -> Result<(), Refusal> {
    let bytes = min_assignment_bytes(first, partitions, replication_factor);
    if bytes > MAX_ZNODE_BYTES {
        return Err(Refusal::new(
            ResponseError::InvalidPartitions,
            format!(
                "{} partitions with replication factor {replication_factor} need a topic znode of at \
                 least {bytes} bytes, more than ZooKeeper's jute.maxbuffer ({MAX_ZNODE_BYTES} bytes)",
                i64::from(first) + partitions
            ),
        ));
    }
    Ok(())
}

/// Kafka's rules for a client's assignment of partitions `first..`: consecutive partition ids from
/// `first`, at least one replica each, no broker twice in a partition, one replication factor.
pub(crate) fn validate_assignment(
    assignment: &BTreeMap<i32, Vec<i32>>,
    first: i32,
) -> Result<(), Refusal> {
    let invalid = |message: String| Refusal::new(ResponseError::InvalidReplicaAssignment, message);
    let mut factor = None;
    for (expected, (partition, replicas)) in (i64::from(first)..).zip(assignment) {
        if i64::from(*partition) != expected {
            return Err(invalid(format!(
                "Partitions should be a consecutive 0-based integer sequence, found partition {partition} \
                 where {expected} was expected"
            )));
        }
        if replicas.is_empty() {
            return Err(invalid(format!(
                "Partition {partition} has an empty replica list"
            )));
        }
        let distinct: BTreeSet<&i32> = replicas.iter().collect();
        if distinct.len() != replicas.len() {
            return Err(invalid(format!(
                "Duplicate replica assignment found: partition {partition} has replicas {replicas:?}"
            )));
        }
        match factor {
            None => factor = Some(replicas.len()),
            Some(f) if f != replicas.len() => {
                return Err(invalid(
                    "All partitions should have the same number of replicas".into(),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_bound_is_a_lower_bound_of_the_real_json() {
        let assignment: BTreeMap<i32, Vec<i32>> = (0..12_345).map(|p| (p, vec![1, 2, 3])).collect();
        let json = serde_json::to_string(&assignment).unwrap_or_default();
        let bound = min_assignment_bytes(0, 12_345, 3);
        assert!(bound <= json.len() as u64 && bound + 20 >= json.len() as u64);
        assert_eq!(digits_in_range(0, 100), 10 + 90 * 2);
        assert_eq!(digits_in_range(95, 105), 5 * 2 + 5 * 3);
    }

    #[test]
    fn too_many_partitions_are_refused_without_building_them() {
        assert!(check_znode_size(0, 50_000, 3).is_ok());
        let refused = check_znode_size(0, i64::from(i32::MAX), 1);
        assert_eq!(
            refused.map_err(|r| r.code),
            Err(ResponseError::InvalidPartitions)
        );
        assert!(check_znode_size(0, 90_000, 3).is_err());
        assert!(check_znode_size(i32::MAX - 1, 1, 32_767).is_ok());
    }

    #[test]
    fn assignments_follow_kafkas_rules() {
        let ok = BTreeMap::from([(0, vec![1, 2]), (1, vec![2, 3])]);
        assert!(validate_assignment(&ok, 0).is_ok());
        let shifted = BTreeMap::from([(3, vec![1, 2]), (4, vec![2, 3])]);
        assert!(validate_assignment(&shifted, 3).is_ok());
        for (bad, first) in [
            (BTreeMap::from([(0, vec![1, 1])]), 0),
            (BTreeMap::from([(0, vec![1, 2]), (1, vec![3])]), 0),
            (BTreeMap::from([(0, vec![1]), (2, vec![2])]), 0),
            (BTreeMap::from([(0, vec![])]), 0),
            (BTreeMap::from([(0, vec![1])]), 1),
        ] {
            assert_eq!(
                validate_assignment(&bad, first).map_err(|r| r.code),
                Err(ResponseError::InvalidReplicaAssignment),
                "{bad:?}"
            );
        }
    }
}
