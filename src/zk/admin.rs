//! Admin requests the controller acts on: `/admin/reassign_partitions` and
//! `/admin/preferred_replica_election` (written by tools, consumed and removed by the controller).

use zookeeper_client::Error as E;

use super::batch::WriteOp;
use super::error::{parse_json, ZkError};
use super::paths::{PREFERRED_REPLICA_ELECTION, REASSIGN_PARTITIONS};
use super::session::reread;
use super::znodes::{to_json, PreferredElectionZnode, ReassignmentZnode};
use super::{ControllerEpoch, KafkaZkClient, OneshotWatcher};

impl KafkaZkClient {
    /// The pending reassignment (None if absent) and an exists-watch that fires when the znode is
    /// created, changed or deleted.
    pub async fn get_reassignment_and_watch(
        &self,
    ) -> Result<(Option<ReassignmentZnode>, OneshotWatcher), ZkError> {
        self.optional_json_and_watch(REASSIGN_PARTITIONS).await
    }

    /// Creates `/admin/reassign_partitions` as a tool does. One already pending → NodeExists.
    pub async fn create_reassignment(&self, znode: &ReassignmentZnode) -> Result<(), ZkError> {
        let path = REASSIGN_PARTITIONS;
        self.create_with_parents(&["/admin"]).await?;
        self.client
            .create(path, &to_json(znode), &self.persistent(path))
            .await
            .map_err(|e| ZkError::at(path, e))?;
        Ok(())
    }

    /// Fenced: rewrites the pending reassignment without its finished entries, deleting the znode
    /// when none remain (Kafka's `removePartitionsFromReassignment`).
    pub async fn update_reassignment(
        &self,
        epoch: &ControllerEpoch,
        remaining: &ReassignmentZnode,
    ) -> Result<(), ZkError> {
        let path = REASSIGN_PARTITIONS.to_string();
        let op = if remaining.partitions.is_empty() {
            WriteOp::Delete {
                path,
                version: None,
            }
        } else {
            WriteOp::SetData {
                path,
                data: to_json(remaining),
                version: None,
            }
        };
        match self.fenced_writes(epoch, &[op]).await?.pop() {
            Some(Ok(_)) | Some(Err(ZkError::NoNode(_))) | None => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    /// The pending preferred-replica election (None if absent) and an exists-watch on it.
    pub async fn get_preferred_election_and_watch(
        &self,
    ) -> Result<(Option<PreferredElectionZnode>, OneshotWatcher), ZkError> {
        self.optional_json_and_watch(PREFERRED_REPLICA_ELECTION)
            .await
    }

    /// Creates `/admin/preferred_replica_election` as a tool does. One already pending → NodeExists.
    pub async fn create_preferred_election(
        &self,
        znode: &PreferredElectionZnode,
    ) -> Result<(), ZkError> {
        let path = PREFERRED_REPLICA_ELECTION;
        self.create_with_parents(&["/admin"]).await?;
        self.client
            .create(path, &to_json(znode), &self.persistent(path))
            .await
            .map_err(|e| ZkError::at(path, e))?;
        Ok(())
    }

    /// Fenced: deletes the processed preferred-replica election request; absent is fine.
    pub async fn delete_preferred_election(&self, epoch: &ControllerEpoch) -> Result<(), ZkError> {
        let op = WriteOp::Delete {
            path: PREFERRED_REPLICA_ELECTION.to_string(),
            version: None,
        };
        match self.fenced_writes(epoch, &[op]).await?.pop() {
            Some(Ok(_)) | Some(Err(ZkError::NoNode(_))) | None => Ok(()),
            Some(Err(e)) => Err(e),
        }
    }

    /// Exists-watch on `path`, then its JSON if present.
    async fn optional_json_and_watch<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(Option<T>, OneshotWatcher), ZkError> {
        let (stat, watcher) = reread(self.client.check_and_watch_stat(path), || {
            self.client.check_and_watch_stat(path)
        })
        .await
        .map_err(|e| ZkError::at(path, e))?;
        if stat.is_none() {
            return Ok((None, watcher));
        }
        match self.client.get_data(path).await {
            Ok((data, _)) => Ok((Some(parse_json(path, &data)?), watcher)),
            Err(E::NoNode) => Ok((None, watcher)),
            Err(e) => Err(ZkError::at(path, e)),
        }
    }
}
