//! The controller's model of the cluster (Kafka's `ControllerContext`) and the leader election rules.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use crate::zk::PartitionState;

/// A registered broker as the controller knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveBroker {
    /// Its endpoint on the inter-broker listener, where followers fetch: what LeaderAndIsr's
    /// live leaders carry.
    pub host: String,
    pub port: i32,
    pub listener: String,
    /// `host:port` on the control listener, where the controller's requests go.
    pub control_addr: String,
    /// Every advertised endpoint, in registration order: what UpdateMetadata carries, so each
    /// broker can tell clients the endpoint of the listener they came on.
    pub endpoints: Vec<crate::zk::ListenerEndpoint>,
    pub rack: Option<String>,
    /// The czxid of its registration: a new value means the broker restarted or re-registered.
    pub epoch: i64,
}

/// A topic's id and replica assignment (preference order).
#[derive(Debug, Clone, Default)]
pub struct TopicModel {
    pub id: Uuid,
    pub assignment: BTreeMap<i32, Vec<i32>>,
    /// The topic's own `unclean.leader.election.enable` from `/config/topics/<t>`, if set.
    pub unclean_leader_election: Option<bool>,
}

/// Leader, epoch and ISR of one partition, with the state znode's version (the partition epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderIsr {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub controller_epoch: i32,
    pub zk_version: i32,
    pub leader_recovery_state: Option<i8>,
}

impl LeaderIsr {
    /// Kafka's `newLeaderAndIsr`: every leader or ISR change the controller writes bumps the leader
    /// epoch, so replicas can tell the new state from the old; the znode version and recovery state
    /// carry over.
    pub fn next(&self, leader: i32, isr: Vec<i32>, controller_epoch: i32) -> LeaderIsr {
        LeaderIsr {
            leader,
            leader_epoch: self.leader_epoch + 1,
            isr,
            controller_epoch,
            ..self.clone()
        }
    }

    pub fn to_znode(&self) -> PartitionState {
        PartitionState {
            controller_epoch: self.controller_epoch,
            leader: self.leader,
            version: 1,
            leader_epoch: self.leader_epoch,
            isr: self.isr.clone(),
            leader_recovery_state: self.leader_recovery_state,
        }
    }

    pub fn from_znode(state: &PartitionState, zk_version: i32) -> Self {
        LeaderIsr {
            leader: state.leader,
            leader_epoch: state.leader_epoch,
            isr: state.isr.clone(),
            controller_epoch: state.controller_epoch,
            zk_version,
            leader_recovery_state: state.leader_recovery_state,
        }
    }
}

pub use crate::topic_partition::TopicPartition;

/// A reassignment in progress (KIP-455): the replicas before it and the target replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    pub original: Vec<i32>,
    pub target: Vec<i32>,
}

impl Reassignment {
    /// RS = ORS + TRS, target first (Kafka's `ReplicaAssignment.fromOldAndNewReplicas`).
    pub fn all_replicas(&self) -> Vec<i32> {
        let mut all = self.target.clone();
        all.extend(self.original.iter().filter(|r| !self.target.contains(r)));
        all
    }

    /// AR = TRS - ORS.
    pub fn adding(&self) -> Vec<i32> {
        let o = &self.original;
        self.target
            .iter()
            .copied()
            .filter(|r| !o.contains(r))
            .collect()
    }

    /// RR = ORS - TRS.
    pub fn removing(&self) -> Vec<i32> {
        let t = &self.target;
        self.original
            .iter()
            .copied()
            .filter(|r| !t.contains(r))
            .collect()
    }
}

/// Everything the active controller knows.
#[derive(Debug, Default)]
pub struct ClusterModel {
    pub live: BTreeMap<i32, LiveBroker>,
    pub topics: BTreeMap<String, TopicModel>,
    pub states: BTreeMap<TopicPartition, LeaderIsr>,
    /// Brokers in controlled shutdown: still registered, but never chosen as leader or ISR member.
    pub shutting_down: BTreeSet<i32>,
    /// Reassignments in progress, by partition.
    pub reassignments: BTreeMap<TopicPartition, Reassignment>,
    /// Topics being deleted, waiting for their replicas to confirm.
    pub deleting: BTreeMap<String, super::topic_deletion::Deletion>,
    /// Topics whose znode does not parse: logged once, then left alone until the znode changes.
    pub malformed_topics: BTreeSet<String>,
    /// Replicas on a failed log dir, by broker (Kafka's `replicasOnOfflineDirs`), as the
    /// brokers' LeaderAndIsr responses said: never chosen as leader or ISR member until the
    /// broker answers NONE for them or restarts.
    pub offline_replicas: BTreeMap<i32, BTreeSet<TopicPartition>>,
}

impl ClusterModel {
    /// Live brokers that may lead or join an ISR: the live ones not shutting down (Kafka's
    /// `liveBrokerIds`, which excludes shutting-down brokers).
    pub fn eligible(&self) -> BTreeMap<i32, LiveBroker> {
        self.live
            .iter()
            .filter(|(id, _)| !self.shutting_down.contains(id))
            .map(|(id, b)| (*id, b.clone()))
            .collect()
    }

    /// The topic name of a topic id.
    /// Kafka's `isReplicaOnline`: the broker is live and the replica is not on an offline dir.
    pub fn is_replica_online(&self, broker: i32, tp: &TopicPartition) -> bool {
        self.live.contains_key(&broker)
            && !self
                .offline_replicas
                .get(&broker)
                .is_some_and(|tps| tps.contains(tp))
    }

    /// `candidates` without the brokers whose replica of `tp` is on an offline log dir;
    /// borrowed as is when it has none (the common case, so a failover copies nothing).
    pub fn online_for<'a>(
        &self,
        tp: &TopicPartition,
        candidates: &'a BTreeMap<i32, LiveBroker>,
    ) -> std::borrow::Cow<'a, BTreeMap<i32, LiveBroker>> {
        let offline = |b: &i32| self.offline_replicas.get(b).is_some_and(|s| s.contains(tp));
        if !candidates.keys().any(offline) {
            return std::borrow::Cow::Borrowed(candidates);
        }
        std::borrow::Cow::Owned(
            candidates
                .iter()
                .filter(|(b, _)| !offline(b))
                .map(|(b, l)| (*b, l.clone()))
                .collect(),
        )
    }

    pub fn topic_name(&self, id: &Uuid) -> Option<&str> {
        self.topics
            .iter()
            .find(|(_, t)| t.id == *id)
            .map(|(name, _)| name.as_str())
    }

    pub fn replicas(&self, tp: &TopicPartition) -> &[i32] {
        self.topics
            .get(&tp.topic)
            .and_then(|t| t.assignment.get(&tp.partition))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether `topic` may elect an out-of-sync leader: its own `unclean.leader.election.enable`
    /// wins over the broker's, as in Kafka's LogConfig.
    pub fn unclean_election_allowed(&self, topic: &str, broker_default: bool) -> bool {
        self.topics
            .get(topic)
            .and_then(|t| t.unclean_leader_election)
            .unwrap_or(broker_default)
    }

    /// Partitions without a live leader, those of topics being deleted aside (Kafka's
    /// `offlinePartitionCount`).
    pub fn offline_partitions(&self) -> usize {
        self.states
            .iter()
            .filter(|(tp, s)| {
                !self.live.contains_key(&s.leader) && !self.deleting.contains_key(&tp.topic)
            })
            .count()
    }

    /// Partitions led by another replica than their preferred (first) one, topics being deleted
    /// aside; while a reassignment adds the preferred replica, the partition counts once that
    /// replica is in the ISR (Kafka's `preferredReplicaImbalanceCount`).
    pub fn preferred_replica_imbalance(&self) -> usize {
        self.states
            .iter()
            .filter(|(tp, s)| {
                let Some(&preferred) = self.replicas(tp).first() else {
                    return false;
                };
                if self.deleting.contains_key(&tp.topic) {
                    return false;
                }
                match self.reassignments.get(*tp) {
                    Some(r) if r.adding().contains(&preferred) => s.isr.contains(&preferred),
                    _ => s.leader != preferred,
                }
            })
            .count()
    }

    pub fn all_partitions(&self) -> Vec<TopicPartition> {
        self.topics
            .iter()
            .flat_map(|(name, t)| {
                t.assignment
                    .keys()
                    .map(move |p| TopicPartition::new(name.clone(), *p))
            })
            .collect()
    }
}

/// The state of a brand-new partition: the first live replica leads, the live replicas are the ISR.
pub fn new_partition_state(
    replicas: &[i32],
    live: &BTreeMap<i32, LiveBroker>,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|r| live.contains_key(r))
        .collect();
    let leader = *isr.first()?;
    Some(LeaderIsr {
        leader,
        leader_epoch: 0,
        isr,
        controller_epoch,
        zk_version: 0,
        leader_recovery_state: None,
    })
}

/// Kafka's offline-partition election: the first replica in assignment order that is live and in the
/// ISR; with unclean election allowed, any live replica (marking the leader as recovering). Without a
/// candidate the partition has no leader (-1) and keeps its last ISR member, as Kafka does.
pub fn elect_leader(
    current: &LeaderIsr,
    replicas: &[i32],
    live: &BTreeMap<i32, LiveBroker>,
    unclean_allowed: bool,
    controller_epoch: i32,
) -> LeaderIsr {
    let live_isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|r| live.contains_key(r))
        .collect();
    let clean = replicas.iter().copied().find(|r| live_isr.contains(r));
    let (leader, isr, recovery) = match clean {
        Some(l) => (l, live_isr, current.leader_recovery_state),
        None => match replicas
            .iter()
            .copied()
            .find(|r| live.contains_key(r))
            .filter(|_| unclean_allowed)
        {
            Some(l) => (l, vec![l], Some(1)),
            None => {
                let last = current.isr.last().copied().into_iter().collect();
                (-1, last, current.leader_recovery_state)
            }
        },
    };
    LeaderIsr {
        leader_recovery_state: recovery,
        ..current.next(leader, isr, controller_epoch)
    }
}

/// Removes dead brokers from an ISR whose leader stays live (Kafka bumps the leader epoch here too).
pub fn shrink_isr(
    current: &LeaderIsr,
    live: &BTreeMap<i32, LiveBroker>,
    controller_epoch: i32,
) -> Option<LeaderIsr> {
    let isr: Vec<i32> = current
        .isr
        .iter()
        .copied()
        .filter(|r| live.contains_key(r))
        .collect();
    if isr.len() == current.isr.len() || !live.contains_key(&current.leader) || isr.is_empty() {
        return None;
    }
    Some(current.next(current.leader, isr, controller_epoch))
}

/// Builders shared by the controller's unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn live(ids: &[i32]) -> BTreeMap<i32, LiveBroker> {
        ids.iter()
            .map(|id| {
                (
                    *id,
                    LiveBroker {
                        host: "h".into(),
                        port: 1,
                        listener: "PLAINTEXT".into(),
                        control_addr: "h:1".into(),
                        endpoints: Vec::new(),
                        rack: None,
                        epoch: 1,
                    },
                )
            })
            .collect()
    }

    pub fn state(leader: i32, isr: &[i32]) -> LeaderIsr {
        LeaderIsr {
            leader,
            leader_epoch: 4,
            isr: isr.to_vec(),
            controller_epoch: 1,
            zk_version: 7,
            leader_recovery_state: None,
        }
    }

    /// A model of topic "t" with `partitions` = (replicas, leader, isr) per partition.
    pub fn model(live_ids: &[i32], partitions: &[(&[i32], i32, &[i32])]) -> ClusterModel {
        let mut m = ClusterModel {
            live: live(live_ids),
            ..Default::default()
        };
        let mut topic = TopicModel {
            id: Uuid::from_u128(1),
            ..Default::default()
        };
        for (p, (replicas, leader, isr)) in partitions.iter().enumerate() {
            topic.assignment.insert(p as i32, replicas.to_vec());
            m.states
                .insert(TopicPartition::new("t", p as i32), state(*leader, isr));
        }
        m.topics.insert("t".into(), topic);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{live, state};
    use super::*;

    #[test]
    fn new_partitions_lead_with_the_first_live_replica() {
        let s = new_partition_state(&[3, 1, 2], &live(&[1, 2]), 5).unwrap();
        assert_eq!(
            (s.leader, s.isr.clone(), s.leader_epoch),
            (1, vec![1, 2], 0)
        );
        assert!(new_partition_state(&[3], &live(&[1]), 5).is_none());
    }

    #[test]
    fn offline_election_prefers_assignment_order_within_the_isr() {
        let s = elect_leader(&state(1, &[1, 3, 2]), &[1, 2, 3], &live(&[2, 3]), false, 2);
        assert_eq!(
            (s.leader, s.isr.clone(), s.leader_epoch, s.zk_version),
            (2, vec![3, 2], 5, 7)
        );
    }

    #[test]
    fn no_live_isr_means_no_leader_unless_unclean() {
        let s = elect_leader(&state(1, &[1]), &[1, 2], &live(&[2]), false, 2);
        assert_eq!((s.leader, s.isr.clone()), (-1, vec![1]));
        let u = elect_leader(&state(1, &[1]), &[1, 2], &live(&[2]), true, 2);
        assert_eq!(
            (u.leader, u.isr.clone(), u.leader_recovery_state),
            (2, vec![2], Some(1))
        );
    }

    #[test]
    fn isr_shrinks_only_under_a_live_leader() {
        let s = shrink_isr(&state(1, &[1, 2]), &live(&[1]), 2).unwrap();
        assert_eq!((s.isr.clone(), s.leader_epoch), (vec![1], 5));
        assert!(shrink_isr(&state(1, &[1, 2]), &live(&[1, 2]), 2).is_none());
        assert!(shrink_isr(&state(1, &[1, 2]), &live(&[2]), 2).is_none());
    }

    #[test]
    fn a_topic_setting_for_unclean_election_wins_over_the_broker_default() {
        let mut m = ClusterModel::default();
        m.topics.insert(
            "on".into(),
            TopicModel {
                unclean_leader_election: Some(true),
                ..Default::default()
            },
        );
        m.topics.insert(
            "off".into(),
            TopicModel {
                unclean_leader_election: Some(false),
                ..Default::default()
            },
        );
        m.topics.insert("unset".into(), TopicModel::default());
        assert!(m.unclean_election_allowed("on", false));
        assert!(!m.unclean_election_allowed("off", true));
        assert!(m.unclean_election_allowed("unset", true));
        assert!(!m.unclean_election_allowed("unset", false));
    }

    #[test]
    fn offline_and_imbalanced_partitions_are_counted_as_kafka_counts_them() {
        // Partition 0 led by its preferred replica, 1 by another, 2 by its preferred replica but a
        // dead one (offline, balanced), 3 by nobody (offline, imbalanced).
        let mut m = super::fixtures::model(
            &[1, 2],
            &[
                (&[1, 2], 1, &[1, 2]),
                (&[1, 2], 2, &[2]),
                (&[3], 3, &[3]),
                (&[2, 1], -1, &[]),
            ],
        );
        assert_eq!(m.offline_partitions(), 2);
        assert_eq!(m.preferred_replica_imbalance(), 2);
        // A topic being deleted counts for neither.
        m.deleting.insert("t".into(), Default::default());
        assert_eq!(m.offline_partitions(), 0);
        assert_eq!(m.preferred_replica_imbalance(), 0);
    }

    #[test]
    fn a_replica_on_an_offline_dir_neither_leads_nor_stays_in_the_isr() {
        let mut m = super::fixtures::model(&[1, 2, 3], &[(&[1, 2, 3], 1, &[1, 2, 3])]);
        let tp: TopicPartition = TopicPartition::new("t", 0);
        let eligible = m.eligible();
        assert!(matches!(
            m.online_for(&tp, &eligible),
            std::borrow::Cow::Borrowed(_)
        ));
        m.offline_replicas.entry(1).or_default().insert(tp.clone());
        assert!(!m.is_replica_online(1, &tp));
        assert!(m.is_replica_online(1, &TopicPartition::new("t", 1)));
        let candidates = m.online_for(&tp, &eligible);
        assert_eq!(candidates.keys().copied().collect::<Vec<_>>(), vec![2, 3]);
        let s = elect_leader(&m.states[&tp], m.replicas(&tp), &candidates, false, 2);
        assert_eq!((s.leader, s.isr.clone()), (2, vec![2, 3]));
    }
}
