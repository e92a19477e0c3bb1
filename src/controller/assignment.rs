//! Replica placement for new topics and partitions, as Kafka's `AdminUtils.assignReplicasToBrokers`
//! does it: a random start broker, partitions round-robin, and followers shifted by an amount that
//! grows every full round so that replicas of consecutive partitions spread out. When brokers have
//! `broker.rack`, the broker list alternates racks and a follower is skipped while some rack (then
//! some broker) has no replica yet, so each partition spans as many racks as it can.

use std::collections::{BTreeMap, BTreeSet};

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
    #[error("Not all brokers have rack information for replica rack aware assignment.")]
    IncompleteRackInfo,
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

/// Kafka's checks before any placement: positive counts, and no more replicas than brokers.
fn validate(
    partitions: i32,
    replication_factor: i16,
    brokers: usize,
) -> Result<(), AssignmentError> {
    if partitions <= 0 {
        return Err(AssignmentError::InvalidPartitions);
    }
    if replication_factor <= 0 {
        return Err(AssignmentError::InvalidReplicationFactor);
    }
    if replication_factor as usize > brokers {
        return Err(AssignmentError::ReplicationFactorTooLarge {
            factor: replication_factor,
            brokers,
        });
    }
    Ok(())
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
    let mut sorted = brokers.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    validate(partitions, replication_factor, n)?;
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

/// Like [`assign_replicas`], for brokers given with their `broker.rack`: rack-aware when every
/// broker has a rack, rack-unaware when none has, and an error when only some have (Kafka's
/// `RackAwareMode.Enforced`).
pub fn assign_replicas_with_racks(
    brokers: &[(i32, Option<String>)],
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
) -> Result<BTreeMap<i32, Vec<i32>>, AssignmentError> {
    let racked = brokers.iter().filter(|(_, r)| r.is_some()).count();
    let ids: Vec<i32> = brokers.iter().map(|(id, _)| *id).collect();
    if racked == 0 {
        return assign_replicas(&ids, partitions, replication_factor, first_partition);
    }
    if racked != brokers.len() {
        return Err(AssignmentError::IncompleteRackInfo);
    }
    let racks: BTreeMap<i32, String> = brokers
        .iter()
        .filter_map(|(id, r)| Some((*id, r.clone()?)))
        .collect();
    let n = racks.len();
    let mut rng = rand::thread_rng();
    let start = if n == 0 { 0 } else { rng.gen_range(0..n) };
    let shift = if n == 0 { 0 } else { rng.gen_range(0..n) };
    assign_rack_aware_with(
        &racks,
        partitions,
        replication_factor,
        first_partition,
        start,
        shift,
    )
}

/// Kafka's `getRackAlternatedBrokerList`: brokers sorted within each rack, racks in name order,
/// taking one broker from each rack in turn.
pub fn rack_alternated_brokers(racks: &BTreeMap<i32, String>) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (id, rack) in racks {
        by_rack.entry(rack.as_str()).or_default().push(*id);
    }
    let longest = by_rack.values().map(Vec::len).max().unwrap_or(0);
    (0..longest)
        .flat_map(|i| by_rack.values().filter_map(move |ids| ids.get(i).copied()))
        .collect()
}

/// The deterministic core of the rack-aware assignment (Kafka's `assignReplicasToBrokersRackAware`).
pub fn assign_rack_aware_with(
    racks: &BTreeMap<i32, String>,
    partitions: i32,
    replication_factor: i16,
    first_partition: i32,
    start_index: usize,
    initial_shift: usize,
) -> Result<BTreeMap<i32, Vec<i32>>, AssignmentError> {
    let arranged = rack_alternated_brokers(racks);
    let n = arranged.len();
    validate(partitions, replication_factor, n)?;
    let num_racks = racks.values().collect::<BTreeSet<_>>().len();
    let rack_of = |b: i32| racks.get(&b).map(String::as_str).unwrap_or("");
    let mut shift = initial_shift;
    let mut result = BTreeMap::new();
    for i in 0..partitions as usize {
        let partition = first_partition.max(0) as usize + i;
        if partition > 0 && partition.is_multiple_of(n) {
            shift += 1;
        }
        let first = (partition + start_index) % n;
        let leader = arranged[first];
        let mut replicas = vec![leader];
        let mut racks_with: BTreeSet<&str> = BTreeSet::from([rack_of(leader)]);
        let mut k = 0;
        for _ in 0..(replication_factor as usize - 1) {
            loop {
                let step = if n > 1 {
                    1 + (shift * num_racks + k) % (n - 1)
                } else {
                    0
                };
                let broker = arranged[(first + step) % n];
                let rack = rack_of(broker);
                k += 1;
                // Skip a broker whose rack already has a replica while some rack has none, and a
                // broker that already has one while some broker has none.
                let rack_ok = !racks_with.contains(rack) || racks_with.len() == num_racks;
                let broker_ok = !replicas.contains(&broker) || replicas.len() == n;
                if rack_ok && broker_ok {
                    replicas.push(broker);
                    racks_with.insert(rack);
                    break;
                }
            }
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

    fn racks(pairs: &[(i32, &str)]) -> BTreeMap<i32, String> {
        pairs.iter().map(|(id, r)| (*id, r.to_string())).collect()
    }

    #[test]
    fn rack_alternated_list_matches_kafka() {
        // Kafka's AdminRackAwareTest: 0,1,2 on rack1/2/3 pattern "0:rack1, 1:rack3, 2:rack3,
        // 3:rack2, 4:rack2, 5:rack1" gives 0, 3, 1, 5, 4, 2.
        let r = racks(&[
            (0, "rack1"),
            (1, "rack3"),
            (2, "rack3"),
            (3, "rack2"),
            (4, "rack2"),
            (5, "rack1"),
        ]);
        assert_eq!(rack_alternated_brokers(&r), vec![0, 3, 1, 5, 4, 2]);
    }

    #[test]
    fn rack_aware_replicas_span_all_racks() {
        let r = racks(&[
            (0, "rack1"),
            (1, "rack2"),
            (2, "rack2"),
            (3, "rack3"),
            (4, "rack3"),
            (5, "rack1"),
        ]);
        for start in 0..6 {
            for shift in 0..6 {
                let a = assign_rack_aware_with(&r, 12, 3, 0, start, shift).unwrap();
                for replicas in a.values() {
                    let spanned: BTreeSet<&String> = replicas.iter().map(|b| &r[b]).collect();
                    assert_eq!(spanned.len(), 3, "{replicas:?}");
                }
            }
        }
        // More replicas than racks: every rack first, then distinct brokers.
        let a = assign_rack_aware_with(&r, 6, 5, 0, 0, 0).unwrap();
        for replicas in a.values() {
            let distinct: BTreeSet<&i32> = replicas.iter().collect();
            assert_eq!(distinct.len(), 5);
        }
    }

    #[test]
    fn partial_rack_information_is_refused() {
        let brokers = vec![(1, Some("a".to_string())), (2, None)];
        assert_eq!(
            assign_replicas_with_racks(&brokers, 1, 1, 0),
            Err(AssignmentError::IncompleteRackInfo)
        );
        let none = vec![(1, None), (2, None)];
        assert_eq!(assign_replicas_with_racks(&none, 2, 2, 0).unwrap().len(), 2);
    }
}
