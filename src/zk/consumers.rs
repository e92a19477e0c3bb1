//! Legacy group membership mirrors under `/consumers/<group>` (`ids/<member>`, `owners/<t>/<p>`),
//! kept by the group coordinator so that tools written for the old consumer see live groups.
//! Both are ephemeral: they vanish with this broker's session, like the old consumers' did.

use zookeeper_client::Error as E;

use super::error::ZkError;
use super::paths;
use super::znodes::{to_json, ConsumerRegistration};
use super::KafkaZkClient;

impl KafkaZkClient {
    /// Writes (creates or replaces) `/consumers/<group>/ids/<member>`.
    pub async fn register_group_member(
        &self,
        group: &str,
        member: &str,
        registration: &ConsumerRegistration,
    ) -> Result<(), ZkError> {
        let path = format!("{}/{member}", paths::consumer_ids(group));
        self.put_ephemeral(&paths::consumer_ids(group), &path, &to_json(registration))
            .await
    }

    /// Removes a member's registration; absent is fine.
    pub async fn deregister_group_member(&self, group: &str, member: &str) -> Result<(), ZkError> {
        self.delete_if_present(&format!("{}/{member}", paths::consumer_ids(group)))
            .await
    }

    /// Writes (creates or replaces) `/consumers/<group>/owners/<topic>/<partition>` = member id.
    pub async fn set_partition_owner(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
        member: &str,
    ) -> Result<(), ZkError> {
        let path = paths::consumer_owner(group, topic, partition);
        let parent = format!("{}/owners/{topic}", paths::consumer_group(group));
        self.put_ephemeral(&parent, &path, member.as_bytes()).await
    }

    /// Removes a partition's owner; absent is fine.
    pub async fn remove_partition_owner(
        &self,
        group: &str,
        topic: &str,
        partition: i32,
    ) -> Result<(), ZkError> {
        self.delete_if_present(&paths::consumer_owner(group, topic, partition))
            .await
    }

    async fn put_ephemeral(&self, parent: &str, path: &str, data: &[u8]) -> Result<(), ZkError> {
        match self.client.set_data(path, data, None).await {
            Ok(_) => return Ok(()),
            Err(E::NoNode) => {}
            Err(e) => return Err(ZkError::at(path, e)),
        }
        self.create_with_parents(&[parent]).await?;
        match self.client.create(path, data, &self.ephemeral(path)).await {
            Ok(_) => Ok(()),
            // Created concurrently: overwrite.
            Err(E::NodeExists) => self
                .client
                .set_data(path, data, None)
                .await
                .map(|_| ())
                .map_err(|e| ZkError::at(path, e)),
            Err(e) => Err(ZkError::at(path, e)),
        }
    }

    async fn delete_if_present(&self, path: &str) -> Result<(), ZkError> {
        match self.client.delete(path, None).await {
            Ok(()) | Err(E::NoNode) => Ok(()),
            Err(e) => Err(ZkError::at(path, e)),
        }
    }
}
