//! Replica placement for new topics and partitions, as Kafka's `AdminUtils.assignReplicasToBrokers`
//! does it without racks: a random start broker, partitions round-robin, and followers shifted by an
//! amount that grows every full round so that replicas of consecutive partitions spread out.

use std::collections::BTreeMap;

use rand::Rng;

/// Why an assignment cannot be made (Kafka's INVALID_REPLICATION_FACTOR / INVALID_PARTITIONS).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignmentError {
    #[error("Replication factor: {factor} larger than available brokers: {brokers}.")]
    ReplicationFactorTooLarge { factor: i16, brokers: usize },
    #[error("Replication factor must be larger than 0.")]
    InvalidReplicationFactor,
    #[error("Number of partitions must be larger than 0.")]
    InvalidPartitions,
}

/// Assigns `partitions` partitions with `replication_factor` replicas over `brokers`, numbering them
/// from `first_partition` (non-zero when partitions are added to an existing topic).
pub fn assign_replicas(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, AssignmentError> {
    let mut rng = rand::thread_rng();
    let n = brokers.len();
    let start = if n == 0 { 0 } else { rng.gen_range(0..n) };
    let shift = if n == 0 { 0 } else { rng.gen_range(0..n) };
    assign_with(
        brokers,
        partitions,
        replication_factor,
        first_partition,
        start,
        shift,
    )
}

/// The deterministic core of [`assign_replicas`], for tests.
pub fn assign_with(
    brokers: &[i32],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
    start_index: usize,
    initial_shift: usize,
) -> Result<BTreeMap<i32, Vec<i32>>, AssignmentError> {
    if partitions <= 0 {
        return Err(AssignmentError::InvalidPartitions);
    }
    if replication_factor <= 0 {
        return Err(AssignmentError::InvalidReplicationFactor);
    }
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    if replication_factor as usize > n {
        return Err(AssignmentError::ReplicationFactorTooLarge {
            factor: replication_factor,
            brokers: n,
        });
    }
    let mut shift = initial_shift;
    let mut result = BTreeMap::new();
    for i in 0..partitions as usize {
        let partition = first_partition as usize + i;
        if partition > 0 && partition.is_multiple_of(n) {
            shift += 1;
        }
        let first = (partition + start_index) % n;
        let mut replicas = vec![sorted[first]];
        for j in 0..(replication_factor as usize - 1) {
            let step = if n > 1 { 1 + (shift + j) % (n - 1) } else { 0 };
            replicas.push(sorted[(first + step) % n]);
        }
        result.insert(partition as i32, replicas);
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafkas_documented_example() {
        // AdminUtils' doc example: 5 brokers, 10 partitions, RF 3, start index 0, shift 0.
        let a = assign_with(&[0, 1, 2, 3, 4], 10, 3, 0, 0, 0).unwrap();
        assert_eq!(a[&0], vec![0, 1, 2]);
        assert_eq!(a[&1], vec![1, 2, 3]);
        assert_eq!(a[&4], vec![4, 0, 1]);
        assert_eq!(a[&5], vec![0, 2, 3]);
        assert_eq!(a[&9], vec![4, 1, 2]);
    }

    #[test]
    fn every_partition_has_distinct_replicas() {
        for start in 0..3 {
            for shift in 0..3 {
                let a = assign_with(&[3, 1, 2], 12, 3, 0, start, shift).unwrap();
                for replicas in a.values() {
                    let mut r = replicas.clone();
                    r.sort_unstable();
                    r.dedup();
                    assert_eq!(r.len(), 3);
                }
            }
        }
    }

    #[test]
    fn refuses_impossible_requests() {
        assert_eq!(
            assign_with(&[1], 3, 2, 0, 0, 0),
            Err(AssignmentError::ReplicationFactorTooLarge {
                factor: 2,
                brokers: 1
            })
        );
        assert_eq!(
            assign_with(&[1], 0, 1, 0, 0, 0),
            Err(AssignmentError::InvalidPartitions)
        );
        assert_eq!(
            assign_with(&[1], 1, 0, 0, 0, 0),
            Err(AssignmentError::InvalidReplicationFactor)
        );
        assert_eq!(
            assign_with(&[1], 2, 1, 3, 0, 0)
                .unwrap()
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            vec![3, 4]
        );
    }
}
