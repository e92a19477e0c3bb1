//! Start-up znodes: Kafka's persistent paths and `/cluster/id`.

use super::error::{parse_json, ZkError};
use super::paths::{CLUSTER_ID, PERSISTENT_PATHS};
use super::znodes::{to_json, ClusterIdZnode};
use super::KafkaZkClient;

impl KafkaZkClient {
    /// Creates every persistent, empty znode Kafka expects (and their parents) where missing.
    pub async fn ensure_persistent_paths(&self) -> Result<(), ZkError> {
        self.create_with_parents(&PERSISTENT_PATHS).await
    }

    /// Returns `/cluster/id`'s id, creating it with `proposed` if this is the first broker.
    pub async fn get_or_create_cluster_id(&self, proposed: &str) -> Result<String, ZkError> {
        if let Some((data, _)) = self.read(CLUSTER_ID).await? {
            return Ok(parse_json::<ClusterIdZnode>(CLUSTER_ID, &data)?.id);
        }
        self.create_if_missing("/cluster", &[]).await?;
        if self
            .create_if_missing(CLUSTER_ID, &to_json(&ClusterIdZnode::new(proposed)))
            .await?
        {
            tracing::info!(cluster_id = proposed, "created /cluster/id");
            return Ok(proposed.to_string());
        }
        // Another broker won the race: use its id.
        let (data, _) = self
            .read(CLUSTER_ID)
            .await?
            .ok_or_else(|| ZkError::NoNode(CLUSTER_ID.into()))?;
        Ok(parse_json::<ClusterIdZnode>(CLUSTER_ID, &data)?.id)
    }
}
