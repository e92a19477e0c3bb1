//! Cluster view for clients: bootstrap from "host:port,host:port", read Metadata, keep one
//! connection per broker and find partition leaders, refreshing metadata when a leader moved.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, MetadataResponse, TopicName};

use uuid::Uuid;

use super::connection::Connection;
use super::error::ClientError;
use crate::metadata::str_bytes;

/// Highest Metadata version we ask for: v12 is what Kafka 3.9 clients send (topic ids, nullable names).
pub const METADATA_MAX_VERSION: i16 = 12;

/// How long to wait before retrying after a stale-metadata error (Kafka's `retry.backoff.ms`).
/// Kafka's `retry.backoff.ms` default.
pub const RETRY_BACKOFF: Duration = Duration::from_millis(100);

/// One partition as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub error_code: i16,
    /// -1 when there is no leader.
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    pub offline_replicas: Vec<i32>,
}

/// One topic as Metadata describes it; partitions sorted by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    pub name: String,
    pub topic_id: Uuid,
    pub error_code: i16,
    pub is_internal: bool,
    pub partitions: Vec<PartitionInfo>,
}

/// A snapshot of the cluster: brokers and the topics we asked about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    pub cluster_id: Option<String>,
    pub controller_id: i32,
    /// node id → "host:port"
    pub brokers: BTreeMap<i32, String>,
    /// topic name → metadata
    pub topics: BTreeMap<String, TopicMetadata>,
}

impl ClusterMetadata {
    /// Builds the snapshot from a Metadata response (any version).
    pub fn from_response(resp: &MetadataResponse) -> Self {
        let brokers = resp
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        let topics = resp
            .topics
            .iter()
            .filter_map(|t| {
                let name = t.name.as_ref()?.0.to_string();
                let mut partitions: Vec<PartitionInfo> = t
                    .partitions
                    .iter()
                    .map(|p| PartitionInfo {
                        partition: p.partition_index,
                        error_code: p.error_code,
                        leader: p.leader_id.0,
                        leader_epoch: p.leader_epoch,
                        replicas: p.replica_nodes.iter().map(|b| b.0).collect(),
                        isr: p.isr_nodes.iter().map(|b| b.0).collect(),
                        offline_replicas: p.offline_replicas.iter().map(|b| b.0).collect(),
                    })
                    .collect();
                partitions.sort_by_key(|p| p.partition);
                let topic = TopicMetadata {
                    name: name.clone(),
                    topic_id: t.topic_id,
                    error_code: t.error_code,
                    is_internal: t.is_internal,
                    partitions,
                };
                Some((name, topic))
            })
            .collect();
        Self {
            cluster_id: resp.cluster_id.as_ref().map(|s| s.to_string()),
            controller_id: resp.controller_id.0,
            brokers,
            topics,
        }
    }

    /// The leader node of `topic`-`partition`, if known.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        let t = self.topics.get(topic)?;
        let p = t.partitions.iter().find(|p| p.partition == partition)?;
        (p.leader >= 0).then_some(p.leader)
    }
}

/// Builds a Metadata request for `topics` (`None` = all topics).
pub fn metadata_request(topics: Option<&[String]>, allow_auto_create: bool) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes(t.clone()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(allow_auto_create)
}

/// A client for a whole cluster: metadata plus one [`Connection`] per broker.
pub struct ClusterClient {
    bootstrap_servers: String,
    client_id: String,
    timeout: Duration,
    allow_auto_topic_creation: bool,
    bootstrap: tokio::sync::Mutex<Option<Arc<Connection>>>,
    connections: tokio::sync::Mutex<HashMap<i32, Arc<Connection>>>,
    metadata: RwLock<Arc<ClusterMetadata>>,
}

impl ClusterClient {
    /// Connects to the first reachable server of `servers` ("host:port,host:port"), negotiates
    /// versions and reads the broker list. `timeout` bounds each connect and each request
    /// (Kafka's `request.timeout.ms`; its producer also sends it as the produce timeout).
    pub async fn bootstrap(
        servers: &str,
        client_id: &str,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let client = Self {
            bootstrap_servers: servers.to_owned(),
            client_id: client_id.to_owned(),
            timeout,
            allow_auto_topic_creation: false,
            bootstrap: tokio::sync::Mutex::new(None),
            connections: tokio::sync::Mutex::new(HashMap::new()),
            metadata: RwLock::new(Arc::default()),
        };
        client.refresh_metadata(Some(&[])).await?;
        Ok(client)
    }

    /// Lets Metadata requests auto-create unknown topics (if the broker allows), as a producer does.
    pub fn with_auto_topic_creation(mut self, allow: bool) -> Self {
        self.allow_auto_topic_creation = allow;
        self
    }

    /// The client id sent in every request header.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The last metadata snapshot read.
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.metadata
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn open(&self, addr: &str) -> Result<Arc<Connection>, ClientError> {
        let conn = Connection::connect(addr, &self.client_id, self.timeout)
            .await?
            .with_request_timeout(self.timeout);
        conn.api_versions().await?;
        Ok(Arc::new(conn))
    }

    /// A live connection to some broker: the bootstrap one, or a fresh one to the first server of
    /// the bootstrap list (then the known brokers) that answers.
    pub async fn any_connection(&self) -> Result<Arc<Connection>, ClientError> {
        let mut slot = self.bootstrap.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let known: Vec<String> = self.metadata().brokers.values().cloned().collect();
        let mut last = String::from("empty server list");
        for addr in self
            .bootstrap_servers
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .chain(known)
        {
            match self.open(&addr).await {
                Ok(conn) => {
                    *slot = Some(conn.clone());
                    return Ok(conn);
                }
                Err(e) => {
                    tracing::debug!(addr, error = %e, "bootstrap server unreachable");
                    last = e.to_string();
                }
            }
        }
        Err(ClientError::Bootstrap {
            servers: self.bootstrap_servers.clone(),
            last,
        })
    }

    /// Reads Metadata for `topics` (`None` = all) and replaces the snapshot.
    pub async fn refresh_metadata(
        &self,
        topics: Option<&[String]>,
    ) -> Result<Arc<ClusterMetadata>, ClientError> {
        let conn = self.any_connection().await?;
        let req = metadata_request(topics, self.allow_auto_topic_creation);
        let (_v, resp) = conn.send_negotiated(req, METADATA_MAX_VERSION).await?;
        let md = Arc::new(ClusterMetadata::from_response(&resp));
        *self
            .metadata
            .write()
            .unwrap_or_else(PoisonError::into_inner) = md.clone();
        Ok(md)
    }

    /// The connection to broker `node_id`, opened (or reopened if it died) on demand.
    pub async fn broker_connection(&self, node_id: i32) -> Result<Arc<Connection>, ClientError> {
        let mut conns = self.connections.lock().await;
        if let Some(conn) = conns.get(&node_id).filter(|c| !c.is_closed()) {
            return Ok(conn.clone());
        }
        let addr = self
            .metadata()
            .brokers
            .get(&node_id)
            .cloned()
            .ok_or_else(|| ClientError::Bootstrap {
                servers: self.bootstrap_servers.clone(),
                last: format!("broker {node_id} is not in metadata"),
            })?;
        let conn = self.open(&addr).await?;
        conns.insert(node_id, conn.clone());
        Ok(conn)
    }

    /// Waits until every request queued on every broker connection has been written.
    pub async fn flush(&self) -> Result<(), ClientError> {
        let conns: Vec<Arc<Connection>> = self.connections.lock().await.values().cloned().collect();
        for conn in conns {
            conn.flush().await?;
        }
        Ok(())
    }

    /// The leader of `topic`-`partition` and a connection to it, reading metadata if unknown.
    pub async fn leader_connection(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<(i32, Arc<Connection>), ClientError> {
        let leader = match self.metadata().leader(topic, partition) {
            Some(l) => l,
            None => self
                .refresh_metadata(Some(&[topic.to_owned()]))
                .await?
                .leader(topic, partition)
                .ok_or_else(|| ClientError::NoLeader {
                    topic: topic.to_owned(),
                    partition,
                })?,
        };
        Ok((leader, self.broker_connection(leader).await?))
    }

    /// Runs `op` against the leader of `topic`-`partition`; when it fails because the metadata
    /// was stale (NOT_LEADER_OR_FOLLOWER, dead connection, ...), refreshes metadata and tries the
    /// (possibly new) leader again, until `give_up_after` has passed since the first attempt
    /// (Kafka's producer does the same within `delivery.timeout.ms`). Runs `op` at least once.
    pub async fn with_leader<T, F, Fut>(
        &self,
        topic: &str,
        partition: i32,
        give_up_after: Duration,
        mut op: F,
    ) -> Result<T, ClientError>
    where
        F: FnMut(Arc<Connection>) -> Fut,
        Fut: Future<Output = Result<T, ClientError>>,
    {
        let deadline = tokio::time::Instant::now() + give_up_after;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let result = match self.leader_connection(topic, partition).await {
                Ok((_leader, conn)) => op(conn).await,
                Err(e) => Err(e),
            };
            match result {
                Err(e)
                    if e.is_retriable_metadata()
                        && tokio::time::Instant::now() + RETRY_BACKOFF < deadline =>
                {
                    tracing::debug!(topic, partition, attempt, error = %e, "refreshing metadata");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    if let Err(e) = self.refresh_metadata(Some(&[topic.to_owned()])).await {
                        tracing::debug!(error = %e, "metadata refresh failed");
                    }
                }
                other => return other,
            }
        }
    }
}
