//! One serde struct per znode kind, mirroring `zk-schema/` and Kafka's `ZkData.scala` codecs.
//! Writers emit the newest version Kafka 3.x writes, compact, keys in Kafka's usual order;
//! readers accept every older version (missing fields take Kafka's defaults).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Epoch milliseconds as the string Kafka writes in every `timestamp` field.
pub fn now_timestamp() -> String {
    crate::clock::now_ms().to_string()
}

/// Compact JSON bytes of a znode value. Serialising these plain structs cannot fail.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// A supported feature's version range in a broker registration (v5 `features`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureRange {
    pub min_version: i16,
    pub max_version: i16,
}

/// `/brokers/ids/<id>` (BrokerIdZNode), written as version 5.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    #[serde(default)]
    pub features: BTreeMap<String, FeatureRange>,
    /// Listener name → security protocol (v4+).
    #[serde(default)]
    pub listener_security_protocol_map: BTreeMap<String, String>,
    /// `LISTENER://host:port` per advertised listener (v2+).
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rack: Option<String>,
    #[serde(default = "minus_one")]
    pub jmx_port: i32,
    /// The first PLAINTEXT endpoint's port, -1 if none.
    pub port: i32,
    /// The first PLAINTEXT endpoint's host, null if none.
    pub host: Option<String>,
    pub version: i32,
    #[serde(default)]
    pub timestamp: String,
}

fn minus_one() -> i32 {
    -1
}

/// One advertised listener of a broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerEndpoint {
    pub listener: String,
    pub security_protocol: String,
    pub host: String,
    pub port: u16,
}

impl ListenerEndpoint {
    /// `LISTENER://host:port`, IPv6 hosts in brackets.
    pub fn connection_string(&self) -> String {
        if self.host.contains(':') {
            format!("{}://[{}]:{}", self.listener, self.host, self.port)
        } else {
            format!("{}://{}:{}", self.listener, self.host, self.port)
        }
    }
}

impl BrokerRegistration {
    /// A version-5 registration: `host`/`port` from the first PLAINTEXT listener (else null/-1).
    pub fn new(endpoints: &[ListenerEndpoint], rack: Option<String>) -> Self {
        let plaintext = endpoints
            .iter()
            .find(|e| e.security_protocol == "PLAINTEXT");
        BrokerRegistration {
            features: BTreeMap::new(),
            listener_security_protocol_map: endpoints
                .iter()
                .map(|e| (e.listener.clone(), e.security_protocol.clone()))
                .collect(),
            endpoints: endpoints
                .iter()
                .map(ListenerEndpoint::connection_string)
                .collect(),
            rack,
            jmx_port: -1,
            port: plaintext.map(|e| i32::from(e.port)).unwrap_or(-1),
            host: plaintext.map(|e| e.host.clone()),
            version: 5,
            timestamp: now_timestamp(),
        }
    }

    /// Listener endpoints, also for a version-1 registration (host/port only, PLAINTEXT).
    pub fn listener_endpoints(&self) -> Vec<ListenerEndpoint> {
        if self.endpoints.is_empty() {
            return match (&self.host, u16::try_from(self.port)) {
                (Some(host), Ok(port)) => vec![ListenerEndpoint {
                    listener: "PLAINTEXT".into(),
                    security_protocol: "PLAINTEXT".into(),
                    host: host.clone(),
                    port,
                }],
                _ => Vec::new(),
            };
        }
        self.endpoints
            .iter()
            .filter_map(|e| self.parse_endpoint(e))
            .collect()
    }

    fn parse_endpoint(&self, text: &str) -> Option<ListenerEndpoint> {
        let (listener, rest) = text.split_once("://")?;
        let (host, port) = rest.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let security_protocol = self
            .listener_security_protocol_map
            .get(listener)
            .cloned()
            .unwrap_or_else(|| listener.to_string());
        Some(ListenerEndpoint {
            listener: listener.to_string(),
            security_protocol,
            host: host.to_string(),
            port: port.parse().ok()?,
        })
    }
}

/// `/controller` (ControllerZNode): version 1; version 2 (Kafka 3.4+) adds `kraftControllerEpoch`,
/// which a ZooKeeper-mode controller writes as -1. zkafka writes version 2 as Kafka 3.9 does, so
/// the znode does not tell which kind of broker won it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerZnode {
    pub version: i32,
    pub brokerid: i32,
    #[serde(default)]
    pub timestamp: String,
    #[serde(
        rename = "kraftControllerEpoch",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kraft_controller_epoch: Option<i32>,
}

impl ControllerZnode {
    pub fn new(broker_id: i32) -> Self {
        ControllerZnode {
            version: 2,
            brokerid: broker_id,
            timestamp: now_timestamp(),
            kraft_controller_epoch: Some(-1),
        }
    }
}

/// `/cluster/id`: note `version` is the string `"1"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdZnode {
    pub version: String,
    pub id: String,
}

impl ClusterIdZnode {
    pub fn new(id: &str) -> Self {
        ClusterIdZnode {
            version: "1".into(),
            id: id.to_string(),
        }
    }
}

/// `/brokers/topics/<t>` (TopicZNode), written as version 3; versions 1 and 2 are read.
/// Partition keys are serialised as decimal strings by serde_json.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicZnode {
    #[serde(default)]
    pub removing_replicas: BTreeMap<i32, Vec<i32>>,
    pub partitions: BTreeMap<i32, Vec<i32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_id: Option<String>,
    #[serde(default)]
    pub adding_replicas: BTreeMap<i32, Vec<i32>>,
    pub version: i32,
}

impl TopicZnode {
    pub fn new(partitions: BTreeMap<i32, Vec<i32>>, topic_id: &str) -> Self {
        TopicZnode {
            removing_replicas: BTreeMap::new(),
            partitions,
            topic_id: Some(topic_id.to_string()),
            adding_replicas: BTreeMap::new(),
            version: 3,
        }
    }
}

/// `/brokers/topics/<t>/partitions/<p>/state` (TopicPartitionStateZNode); its dataVersion is the
/// partition epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub controller_epoch: i32,
    pub leader: i32,
    pub version: i32,
    pub leader_epoch: i32,
    pub isr: Vec<i32>,
    /// 1 (RECOVERING) only after an unclean election; absent means 0 (RECOVERED).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader_recovery_state: Option<i8>,
}

impl PartitionState {
    pub fn new(controller_epoch: i32, leader: i32, leader_epoch: i32, isr: Vec<i32>) -> Self {
        PartitionState {
            controller_epoch,
            leader,
            version: 1,
            leader_epoch,
            isr,
            leader_recovery_state: None,
        }
    }
}

/// `/config/<entity_type>/<name>` (ConfigEntityZNode): every value a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicConfigZnode {
    pub version: i32,
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

impl TopicConfigZnode {
    pub fn new(config: BTreeMap<String, String>) -> Self {
        TopicConfigZnode { version: 1, config }
    }
}

/// `/config/changes/config_change_NNNNNNNNNN` (ConfigEntityChangeNotificationSequenceZNode, v2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChangeZnode {
    pub version: i32,
    pub entity_path: String,
}

impl ConfigChangeZnode {
    /// e.g. `ConfigChangeZnode::new("topics", "my-topic")`.
    pub fn new(entity_type: &str, name: &str) -> Self {
        ConfigChangeZnode {
            version: 2,
            entity_path: format!("{entity_type}/{name}"),
        }
    }
}

/// One partition's target replicas in `/admin/reassign_partitions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReassignmentEntry {
    pub topic: String,
    pub partition: i32,
    pub replicas: Vec<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dirs: Option<Vec<String>>,
}

/// `/admin/reassign_partitions` (ReassignPartitionsZNode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReassignmentZnode {
    pub version: i32,
    pub partitions: Vec<ReassignmentEntry>,
}

/// One partition in `/admin/preferred_replica_election`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPartitionEntry {
    pub topic: String,
    pub partition: i32,
}

/// `/admin/preferred_replica_election` (PreferredReplicaElectionZNode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferredElectionZnode {
    pub version: i32,
    pub partitions: Vec<TopicPartitionEntry>,
}

/// `/consumers/<group>/ids/<member>`: the old high-level consumer's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRegistration {
    pub version: i32,
    /// Topic → number of streams.
    pub subscription: BTreeMap<String, i32>,
    /// `static`, `white_list` or `black_list`.
    pub pattern: String,
    pub timestamp: String,
}

impl ConsumerRegistration {
    /// What the group coordinator mirrors for a live member: one stream per subscribed topic,
    /// a static subscription, and when the member joined (epoch milliseconds).
    pub fn static_subscription(topics: &[String], joined_at_ms: i64) -> Self {
        ConsumerRegistration {
            version: 1,
            subscription: topics.iter().map(|t| (t.clone(), 1)).collect(),
            pattern: "static".to_string(),
            timestamp: joined_at_ms.to_string(),
        }
    }
}

/// `/zkafka/consumers/<group>/offsets/<topic>/<partition>`, version 1: what OffsetCommit v1+ adds
/// to the bare offset at the same place under `/consumers`, which Kafka's layout cannot hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetExtrasZnode {
    pub version: i32,
    /// The client's metadata string (`None`: the client sent null).
    pub metadata: Option<String>,
    pub leader_epoch: i32,
    /// Epoch milliseconds, as decimal text like Kafka's other timestamps.
    pub commit_timestamp: String,
}
