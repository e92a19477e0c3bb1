//! Builds the control requests the controller sends: every partition for one broker in one request.

use std::collections::{BTreeMap, BTreeSet};

use kafka_protocol::messages::leader_and_isr_request::{
    LeaderAndIsrLiveLeader, LeaderAndIsrPartitionState, LeaderAndIsrTopicState,
};
use kafka_protocol::messages::stop_replica_request::{
    StopReplicaPartitionState, StopReplicaTopicState,
};
use kafka_protocol::messages::update_metadata_request::{
    UpdateMetadataBroker, UpdateMetadataEndpoint, UpdateMetadataPartitionState,
    UpdateMetadataTopicState,
};
use kafka_protocol::messages::{
    BrokerId, LeaderAndIsrRequest, StopReplicaRequest, TopicName, UpdateMetadataRequest,
};

use super::context::{ClusterModel, TopicPartition};
use crate::config::SecurityProtocol;
use crate::metadata::{str_bytes, LEADER_DURING_DELETE};
use crate::zk::ControllerEpoch;

fn ids(v: &[i32]) -> Vec<BrokerId> {
    v.iter().map(|i| BrokerId(*i)).collect()
}

fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

/// LeaderAndIsr requests for `partitions`, one per live broker that hosts a replica of any of
/// them. Brokers in controlled shutdown are told only of the partitions in `tell_shutting_down`:
/// Kafka sends the leader moves of a controlled shutdown to the leaving broker too (so it becomes
/// a follower and refuses produce with NOT_LEADER_OR_FOLLOWER at once), but not the ISR shrinks
/// that drop it.
pub fn leader_and_isr(
    model: &ClusterModel,
    epoch: &ControllerEpoch,
    controller_id: i32,
    partitions: &[TopicPartition],
    is_new: bool,
    tell_shutting_down: &BTreeSet<TopicPartition>,
) -> BTreeMap<i32, LeaderAndIsrRequest> {
    let mut per_broker: BTreeMap<i32, BTreeMap<String, Vec<LeaderAndIsrPartitionState>>> =
        BTreeMap::new();
    for tp in partitions {
        let Some(state) = model.states.get(tp) else {
            continue;
        };
        let replicas = model.replicas(tp);
        // During a reassignment replicas are RS = TRS + ORS; brokers learn AR and RR too (KIP-455).
        let (adding, removing) = model
            .reassignments
            .get(tp)
            .map(|r| (r.adding(), r.removing()))
            .unwrap_or_default();
        let ps = LeaderAndIsrPartitionState::default()
            .with_partition_index(tp.partition)
            .with_controller_epoch(state.controller_epoch)
            .with_leader(BrokerId(state.leader))
            .with_leader_epoch(state.leader_epoch)
            .with_isr(ids(&state.isr))
            .with_partition_epoch(state.zk_version)
            .with_replicas(ids(replicas))
            .with_adding_replicas(ids(&adding))
            .with_removing_replicas(ids(&removing))
            .with_is_new(is_new)
            .with_leader_recovery_state(state.leader_recovery_state.unwrap_or(0));
        let tell_leaving = tell_shutting_down.contains(tp);
        for r in replicas.iter().filter(|r| {
            model.live.contains_key(r) && (tell_leaving || !model.shutting_down.contains(r))
        }) {
            per_broker
                .entry(*r)
                .or_default()
                .entry(tp.topic.clone())
                .or_default()
                // A replica a reassignment adds starts as a new replica.
                .push(ps.clone().with_is_new(is_new || adding.contains(r)));
        }
    }
    per_broker
        .into_iter()
        .map(|(broker, topics)| {
            let leaders: Vec<i32> = {
                let mut l: Vec<i32> = topics
                    .values()
                    .flatten()
                    .map(|p| p.leader.0)
                    .filter(|l| model.live.contains_key(l))
                    .collect();
                l.sort_unstable();
                l.dedup();
                l
            };
            let req = LeaderAndIsrRequest::default()
                .with_controller_id(BrokerId(controller_id))
                .with_controller_epoch(epoch.epoch)
                .with_broker_epoch(model.live.get(&broker).map(|b| b.epoch).unwrap_or(-1))
                .with_topic_states(
                    topics
                        .into_iter()
                        .map(|(name, states)| {
                            LeaderAndIsrTopicState::default()
                                .with_topic_id(
                                    model.topics.get(&name).map(|t| t.id).unwrap_or_default(),
                                )
                                .with_topic_name(topic_name(&name))
                                .with_partition_states(states)
                        })
                        .collect(),
                )
                .with_live_leaders(
                    leaders
                        .iter()
                        .filter_map(|l| model.live.get(l).map(|b| (l, b)))
                        .map(|(l, b)| {
                            LeaderAndIsrLiveLeader::default()
                                .with_broker_id(BrokerId(*l))
                                .with_host_name(str_bytes(b.host.clone()))
                                .with_port(b.port)
                        })
                        .collect(),
                );
            (broker, req)
        })
        .collect()
}

/// One UpdateMetadata request (the same for every live broker but for the broker epoch) carrying the
/// live brokers and the states of `partitions`; `deleted` partitions are sent with leader -2.
pub fn update_metadata(
    model: &ClusterModel,
    epoch: &ControllerEpoch,
    controller_id: i32,
    partitions: &[TopicPartition],
    deleted: &[TopicPartition],
) -> UpdateMetadataRequest {
    let mut topics: BTreeMap<String, Vec<UpdateMetadataPartitionState>> = BTreeMap::new();
    for tp in partitions {
        let Some(state) = model.states.get(tp) else {
            continue;
        };
        let replicas = model.replicas(tp);
        let offline: Vec<i32> = replicas
            .iter()
            .copied()
            .filter(|r| !model.is_replica_online(*r, tp))
            .collect();
        topics.entry(tp.topic.clone()).or_default().push(
            UpdateMetadataPartitionState::default()
                .with_partition_index(tp.partition)
                .with_controller_epoch(state.controller_epoch)
                .with_leader(BrokerId(state.leader))
                .with_leader_epoch(state.leader_epoch)
                .with_isr(ids(&state.isr))
                .with_zk_version(state.zk_version)
                .with_replicas(ids(replicas))
                .with_offline_replicas(ids(&offline)),
        );
    }
    for tp in deleted {
        topics.entry(tp.topic.clone()).or_default().push(
            UpdateMetadataPartitionState::default()
                .with_partition_index(tp.partition)
                .with_controller_epoch(epoch.epoch)
                .with_leader(BrokerId(LEADER_DURING_DELETE)),
        );
    }
    UpdateMetadataRequest::default()
        .with_controller_id(BrokerId(controller_id))
        .with_controller_epoch(epoch.epoch)
        .with_topic_states(
            topics
                .into_iter()
                .map(|(name, states)| {
                    UpdateMetadataTopicState::default()
                        .with_topic_id(model.topics.get(&name).map(|t| t.id).unwrap_or_default())
                        .with_topic_name(topic_name(&name))
                        .with_partition_states(states)
                })
                .collect(),
        )
        .with_live_brokers(
            model
                .live
                .iter()
                .map(|(id, b)| {
                    let endpoints = if b.endpoints.is_empty() {
                        vec![UpdateMetadataEndpoint::default()
                            .with_host(str_bytes(b.host.clone()))
                            .with_port(b.port)
                            .with_listener(str_bytes(b.listener.clone()))
                            .with_security_protocol(0)]
                    } else {
                        b.endpoints
                            .iter()
                            .map(|e| {
                                UpdateMetadataEndpoint::default()
                                    .with_host(str_bytes(e.host.clone()))
                                    .with_port(i32::from(e.port))
                                    .with_listener(str_bytes(e.listener.clone()))
                                    .with_security_protocol(
                                        SecurityProtocol::from_name(&e.security_protocol)
                                            .map_or(0, SecurityProtocol::id),
                                    )
                            })
                            .collect()
                    };
                    UpdateMetadataBroker::default()
                        .with_id(BrokerId(*id))
                        .with_rack(b.rack.clone().map(str_bytes))
                        .with_endpoints(endpoints)
                })
                .collect(),
        )
}

/// StopReplica for the given partitions of each broker (`delete`: remove the logs too), one request
/// per broker; used for deleted topics, controlled shutdown and replicas a reassignment removes.
pub fn stop_replica(
    model: &ClusterModel,
    epoch: &ControllerEpoch,
    controller_id: i32,
    targets: &BTreeMap<i32, Vec<TopicPartition>>,
    delete: bool,
) -> BTreeMap<i32, StopReplicaRequest> {
    targets
        .iter()
        .filter(|(_, tps)| !tps.is_empty())
        .map(|(broker, tps)| {
            let mut topics: BTreeMap<String, Vec<StopReplicaPartitionState>> = BTreeMap::new();
            for tp in tps {
                let leader_epoch = model.states.get(tp).map(|s| s.leader_epoch).unwrap_or(-1);
                topics.entry(tp.topic.clone()).or_default().push(
                    StopReplicaPartitionState::default()
                        .with_partition_index(tp.partition)
                        .with_leader_epoch(leader_epoch)
                        .with_delete_partition(delete),
                );
            }
            let req = StopReplicaRequest::default()
                .with_controller_id(BrokerId(controller_id))
                .with_controller_epoch(epoch.epoch)
                .with_broker_epoch(model.live.get(broker).map(|b| b.epoch).unwrap_or(-1))
                .with_topic_states(
                    topics
                        .into_iter()
                        .map(|(name, states)| {
                            StopReplicaTopicState::default()
                                .with_topic_name(topic_name(&name))
                                .with_partition_states(states)
                        })
                        .collect(),
                );
            (*broker, req)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::context::fixtures::model;
    use super::super::context::Reassignment;
    use super::*;

    const EPOCH: ControllerEpoch = ControllerEpoch {
        epoch: 3,
        zk_version: 3,
    };

    #[test]
    fn leader_and_isr_skips_shutting_down_brokers_and_carries_reassignments() {
        let mut m = model(&[1, 2, 3, 4], &[(&[4, 1, 2, 3], 1, &[1, 2, 3])]);
        m.shutting_down.insert(3);
        m.reassignments.insert(
            TopicPartition::new("t", 0),
            Reassignment {
                original: vec![1, 2, 3],
                target: vec![4, 1, 2],
            },
        );
        let none = BTreeSet::new();
        let reqs = leader_and_isr(&m, &EPOCH, 1, &[TopicPartition::new("t", 0)], false, &none);
        assert_eq!(reqs.keys().copied().collect::<Vec<_>>(), vec![1, 2, 4]);
        let moved = BTreeSet::from([TopicPartition::new("t", 0)]);
        let moved = leader_and_isr(&m, &EPOCH, 1, &[TopicPartition::new("t", 0)], false, &moved);
        assert_eq!(moved.keys().copied().collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        let ps = &reqs[&4].topic_states[0].partition_states[0];
        assert_eq!(ps.adding_replicas, vec![BrokerId(4)]);
        assert_eq!(ps.removing_replicas, vec![BrokerId(3)]);
        assert_eq!(ps.partition_epoch, 7);
        assert!(ps.is_new);
        assert!(!reqs[&1].topic_states[0].partition_states[0].is_new);
    }

    #[test]
    fn stop_replica_goes_to_the_named_brokers_with_the_delete_flag() {
        let m = model(&[1, 2], &[(&[1, 2], 1, &[1, 2]), (&[2, 1], 2, &[2, 1])]);
        let targets = BTreeMap::from([(2, vec![TopicPartition::new("t", 0)]), (1, vec![])]);
        let reqs = stop_replica(&m, &EPOCH, 1, &targets, false);
        assert_eq!(reqs.keys().copied().collect::<Vec<_>>(), vec![2]);
        let ps = &reqs[&2].topic_states[0].partition_states[0];
        assert_eq!((ps.partition_index, ps.delete_partition), (0, false));
        let targets = BTreeMap::from([(1, vec![TopicPartition::new("t".to_string(), 1)])]);
        let delete = stop_replica(&m, &EPOCH, 1, &targets, true);
        assert!(delete[&1].topic_states[0].partition_states[0].delete_partition);
    }
}
