//! This broker's view of the cluster (Kafka's `MetadataCache`): live brokers, topics, partition leaders.
//!
//! It is written only by UpdateMetadata requests from the controller, so every broker answers Metadata
//! requests from the same picture the controller has, even the controller itself. Readers take a cheap
//! `Arc` snapshot and never hold a lock while they build a response.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use kafka_protocol::messages::UpdateMetadataRequest;
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;
use uuid::Uuid;

/// The leader value the controller sends for a partition whose topic is being deleted (Kafka's
/// `LeaderAndIsr.LeaderDuringDelete`): the broker drops the partition from its cache.
pub const LEADER_DURING_DELETE: i32 = -2;

/// Where clients and other brokers reach a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerEndpoint {
    pub id: i32,
    /// The broker's first endpoint: what a request on a listener it lacks is told.
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    /// Every endpoint of the broker by listener name, so a client is told the endpoint of the
    /// listener it connected on and brokers find each other on the inter-broker / control one.
    pub listeners: BTreeMap<String, (String, i32)>,
}

impl BrokerEndpoint {
    /// (host, port) of the broker on `listener`, else its first endpoint.
    pub fn on(&self, listener: &str) -> (&str, i32) {
        match self.listeners.get(listener) {
            Some((host, port)) => (host, *port),
            None => (&self.host, self.port),
        }
    }

    /// `host:port` on `listener` (see [`Self::on`]).
    pub fn address_on(&self, listener: &str) -> String {
        let (host, port) = self.on(listener);
        format!("{host}:{port}")
    }
}

/// Leadership and replica placement of one partition, as the controller last told this broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    pub leader: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    pub replicas: Vec<i32>,
    pub offline_replicas: Vec<i32>,
    /// The state znode's dataVersion: the partition epoch.
    pub zk_version: i32,
}

/// A topic's id and partitions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicMetadata {
    pub id: Uuid,
    pub partitions: BTreeMap<i32, PartitionMetadata>,
}

/// One immutable snapshot of the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerEndpoint>,
    pub topics: HashMap<String, TopicMetadata>,
    pub topic_names: HashMap<Uuid, String>,
}

impl ClusterView {
    /// The metadata of one partition, if this broker knows it.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topics.get(topic)?.partitions.get(&partition)
    }
}

/// The shared, swappable cluster view.
#[derive(Debug)]
pub struct MetadataCache {
    view: RwLock<Arc<ClusterView>>,
    cluster_id: String,
    /// Bumped after every UpdateMetadata, so requests can wait for a change instead of polling.
    changed: watch::Sender<u64>,
}

impl MetadataCache {
    pub fn new(cluster_id: String) -> Self {
        let view = ClusterView {
            controller_id: -1,
            ..ClusterView::default()
        };
        MetadataCache {
            view: RwLock::new(Arc::new(view)),
            cluster_id,
            changed: watch::channel(0).0,
        }
    }

    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// A consistent snapshot; cheap (one `Arc` clone).
    pub fn snapshot(&self) -> Arc<ClusterView> {
        match self.view.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Applies an UpdateMetadata request: the live broker list is replaced whole, partition states are
    /// replaced one by one, and partitions sent with leader -2 are removed (their topic is being deleted).
    /// Returns the topics removed entirely.
    pub fn apply(&self, req: &UpdateMetadataRequest) -> Vec<String> {
        let mut guard = match self.view.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut next = (**guard).clone();
        next.controller_id = req.controller_id.0;
        next.brokers = req
            .live_brokers
            .iter()
            .filter_map(|b| {
                let ep = b.endpoints.first()?;
                Some((
                    b.id.0,
                    BrokerEndpoint {
                        id: b.id.0,
                        host: ep.host.to_string(),
                        port: ep.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                        listeners: b
                            .endpoints
                            .iter()
                            .map(|e| (e.listener.to_string(), (e.host.to_string(), e.port)))
                            .collect(),
                    },
                ))
            })
            .collect();
        let mut touched: Vec<String> = Vec::new();
        let states = req.ungrouped_partition_states.iter().map(|s| (None, s));
        let grouped = req
            .topic_states
            .iter()
            .flat_map(|t| t.partition_states.iter().map(move |s| (Some(t), s)));
        let mut illegal = 0usize;
        for (topic_state, state) in states.chain(grouped) {
            let name = match topic_state {
                Some(t) => t.topic_name.0.to_string(),
                None => state.topic_name.0.to_string(),
            };
            if !crate::topic::is_valid(&name) {
                illegal += 1;
                continue;
            }
            let topic = next.topics.entry(name.clone()).or_default();
            if let Some(t) = topic_state {
                if !t.topic_id.is_nil() {
                    topic.id = t.topic_id;
                }
            }
            if state.leader.0 == LEADER_DURING_DELETE {
                topic.partitions.remove(&state.partition_index);
            } else {
                topic.partitions.insert(
                    state.partition_index,
                    PartitionMetadata {
                        leader: state.leader.0,
                        leader_epoch: state.leader_epoch,
                        isr: state.isr.iter().map(|b| b.0).collect(),
                        replicas: state.replicas.iter().map(|b| b.0).collect(),
                        offline_replicas: state.offline_replicas.iter().map(|b| b.0).collect(),
                        zk_version: state.zk_version,
                    },
                );
            }
            touched.push(name);
        }
        let mut removed = Vec::new();
        touched.sort();
        touched.dedup();
        for name in touched {
            if next
                .topics
                .get(&name)
                .is_some_and(|t| t.partitions.is_empty())
            {
                next.topics.remove(&name);
                removed.push(name);
            }
        }
        next.topic_names = next
            .topics
            .iter()
            .filter(|(_, t)| !t.id.is_nil())
            .map(|(name, t)| (t.id, name.clone()))
            .collect();
        *guard = Arc::new(next);
        drop(guard);
        if illegal > 0 {
            tracing::warn!(
                controller = req.controller_id.0,
                partitions = illegal,
                "UpdateMetadata named illegal topic names; those partitions were skipped"
            );
        }
        self.changed.send_modify(|v| *v += 1);
        removed
    }

    /// Waits until `ready` holds for the cluster view or `timeout` passes; returns whether it held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        ready: impl Fn(&ClusterView) -> bool,
    ) -> bool {
        tokio::time::timeout(timeout, self.wait_for(&ready))
            .await
            .is_ok()
            && ready(&self.snapshot())
    }

    /// Waits, without a deadline, until `ready` holds for the cluster view.
    pub async fn wait_for(&self, ready: impl Fn(&ClusterView) -> bool) {
        let mut rx = self.changed.subscribe();
        while !ready(&self.snapshot()) {
            // The sender lives in `self`: this only ends by a change.
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}

/// Converts text to the protocol's string type without a copy of owned strings.
pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::update_metadata_request::{
        UpdateMetadataBroker, UpdateMetadataEndpoint, UpdateMetadataPartitionState,
        UpdateMetadataTopicState,
    };
    use kafka_protocol::messages::{BrokerId, TopicName};

    fn state(p: i32, leader: i32) -> UpdateMetadataPartitionState {
        UpdateMetadataPartitionState::default()
            .with_partition_index(p)
            .with_leader(BrokerId(leader))
            .with_isr(vec![BrokerId(1)])
            .with_replicas(vec![BrokerId(1)])
    }

    fn request(states: Vec<UpdateMetadataPartitionState>, id: Uuid) -> UpdateMetadataRequest {
        UpdateMetadataRequest::default()
            .with_controller_id(BrokerId(1))
            .with_live_brokers(vec![UpdateMetadataBroker::default()
                .with_id(BrokerId(1))
                .with_endpoints(vec![UpdateMetadataEndpoint::default()
                    .with_host(str_bytes("h"))
                    .with_port(9092)])])
            .with_topic_states(vec![UpdateMetadataTopicState::default()
                .with_topic_name(TopicName(str_bytes("t")))
                .with_topic_id(id)
                .with_partition_states(states)])
    }

    #[test]
    fn update_adds_partitions_and_deletion_removes_topic() {
        let cache = MetadataCache::new("c".into());
        let id = Uuid::new_v4();
        cache.apply(&request(vec![state(0, 1), state(1, 1)], id));
        let view = cache.snapshot();
        assert_eq!(view.topics["t"].partitions.len(), 2);
        assert_eq!(view.topic_names[&id], "t");
        assert_eq!(view.brokers[&1].port, 9092);
        assert_eq!(view.controller_id, 1);

        let removed = cache.apply(&request(vec![state(0, -2), state(1, -2)], id));
        assert_eq!(removed, vec!["t".to_string()]);
        assert!(cache.snapshot().topics.is_empty());
        assert!(cache.snapshot().topic_names.is_empty());
    }
}
