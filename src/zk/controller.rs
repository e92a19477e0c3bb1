//! Controller election through `/controller` and `/controller_epoch` (KafkaController.elect).

use zookeeper_client::{Error as E, MultiWriteError, MultiWriteResult};

use super::error::{parse_decimal, parse_json, ZkError};
use super::paths::{CONTROLLER, CONTROLLER_EPOCH};
use super::session::reread;
use super::znodes::{to_json, ControllerZnode};
use super::{ControllerEpoch, KafkaZkClient, OneshotWatcher};

impl KafkaZkClient {
    /// The current controller's broker id and an exists-watch on `/controller`, which fires on
    /// create and on delete.
    pub async fn get_controller_and_watch(&self) -> Result<(Option<i32>, OneshotWatcher), ZkError> {
        let (stat, watcher) = reread(self.client.check_and_watch_stat(CONTROLLER), || {
            self.client.check_and_watch_stat(CONTROLLER)
        })
        .await
        .map_err(|e| ZkError::at(CONTROLLER, e))?;
        if stat.is_none() {
            return Ok((None, watcher));
        }
        // Vanished since: the watch has fired already, the caller will look again.
        let controller = match self.read(CONTROLLER).await? {
            Some((data, _)) => Some(parse_json::<ControllerZnode>(CONTROLLER, &data)?.brokerid),
            None => None,
        };
        Ok((controller, watcher))
    }

    /// The controller as ZooKeeper names it now: (`/controller`'s broker id, `/controller_epoch`),
    /// without a watch. A broker checks a control request that claims a newer controller against
    /// this instead of believing it. `None` when either znode is missing.
    pub async fn get_active_controller(&self) -> Result<Option<(i32, i32)>, ZkError> {
        let Some((data, _)) = self.read(CONTROLLER).await? else {
            return Ok(None);
        };
        let id = parse_json::<ControllerZnode>(CONTROLLER, &data)?.brokerid;
        Ok(self.get_controller_epoch().await?.map(|e| (id, e.epoch)))
    }

    /// Whether `/controller` is this session's own ephemeral znode: true after a session was
    /// resumed by a broker that was the controller before ZooKeeper went away.
    pub async fn owns_controller(&self) -> Result<bool, ZkError> {
        let stat = reread(self.client.check_stat(CONTROLLER), || {
            self.client.check_stat(CONTROLLER)
        })
        .await
        .map_err(|e| ZkError::at(CONTROLLER, e))?;
        Ok(stat.is_some_and(|s| s.ephemeral_owner == self.session_id()))
    }

    /// `/controller_epoch` as (epoch, dataVersion); `None` before the first election.
    pub async fn get_controller_epoch(&self) -> Result<Option<ControllerEpoch>, ZkError> {
        match self.read(CONTROLLER_EPOCH).await? {
            Some((data, stat)) => Ok(Some(ControllerEpoch {
                epoch: parse_decimal(CONTROLLER_EPOCH, &data)?,
                zk_version: stat.version,
            })),
            None => Ok(None),
        }
    }

    /// Kafka's election: `multi { create /controller (ephemeral), setData /controller_epoch =
    /// epoch+1 expecting its version }`. `None` if another broker won (NodeExists / BadVersion).
    pub async fn try_elect_controller(
        &self,
        broker_id: i32,
    ) -> Result<Option<ControllerEpoch>, ZkError> {
        let current = match self.get_controller_epoch().await? {
            Some(current) => current,
            None => {
                self.create_if_missing(CONTROLLER_EPOCH, b"0").await?;
                match self.get_controller_epoch().await? {
                    Some(current) => current,
                    None => return Err(ZkError::NoNode(CONTROLLER_EPOCH.into())),
                }
            }
        };
        let next = current.epoch + 1;
        let mut writer = self.client.new_multi_writer();
        writer
            .add_create(
                CONTROLLER,
                &to_json(&ControllerZnode::new(broker_id)),
                &self.ephemeral(CONTROLLER),
            )
            .map_err(|e| ZkError::at(CONTROLLER, e))?;
        writer
            .add_set_data(
                CONTROLLER_EPOCH,
                next.to_string().as_bytes(),
                Some(current.zk_version),
            )
            .map_err(|e| ZkError::at(CONTROLLER_EPOCH, e))?;
        match crate::metrics::zk_timed(writer.commit()).await {
            Ok(results) => {
                let zk_version = match results.get(1) {
                    Some(MultiWriteResult::SetData { stat }) => stat.version,
                    _ => current.zk_version + 1,
                };
                let won = ControllerEpoch {
                    epoch: next,
                    zk_version,
                };
                tracing::info!(
                    broker_id,
                    epoch = won.epoch,
                    epoch_zk_version = won.zk_version,
                    "elected controller"
                );
                Ok(Some(won))
            }
            Err(MultiWriteError::OperationFailed {
                index: 0,
                source: E::NodeExists,
            })
            | Err(MultiWriteError::OperationFailed {
                index: 1,
                source: E::BadVersion,
            }) => {
                tracing::info!(broker_id, "controller election lost");
                Ok(None)
            }
            Err(MultiWriteError::RequestFailed {
                source: E::ConnectionLoss,
            }) => {
                // The multi may or may not have been applied: ours iff /controller is our ephemeral.
                self.check_controller_and_epoch(broker_id).await
            }
            Err(e) => Err(ZkError::at(CONTROLLER, e.into())),
        }
    }

    /// After an election whose answer was lost: our epoch if `/controller` is this session's.
    async fn check_controller_and_epoch(
        &self,
        broker_id: i32,
    ) -> Result<Option<ControllerEpoch>, ZkError> {
        let Some((data, stat)) = self.read(CONTROLLER).await? else {
            return Ok(None);
        };
        let holder = parse_json::<ControllerZnode>(CONTROLLER, &data)?.brokerid;
        if holder != broker_id || stat.ephemeral_owner != self.session_id() {
            return Ok(None);
        }
        let won = self
            .get_controller_epoch()
            .await?
            .ok_or_else(|| ZkError::NoNode(CONTROLLER_EPOCH.into()))?;
        tracing::info!(
            broker_id,
            epoch = won.epoch,
            epoch_zk_version = won.zk_version,
            "elected controller (confirmed after connection loss)"
        );
        Ok(Some(won))
    }

    /// Deletes `/controller` if this broker holds it (in this session); otherwise does nothing.
    pub async fn resign_controller(&self, broker_id: i32) -> Result<(), ZkError> {
        let Some((data, stat)) = self.read(CONTROLLER).await? else {
            return Ok(());
        };
        let holder = parse_json::<ControllerZnode>(CONTROLLER, &data)?.brokerid;
        if holder != broker_id || stat.ephemeral_owner != self.session_id() {
            return Ok(());
        }
        match self.client.delete(CONTROLLER, Some(stat.version)).await {
            Ok(()) => {
                tracing::info!(broker_id, "resigned as controller");
                Ok(())
            }
            Err(E::NoNode | E::BadVersion) => Ok(()),
            Err(e) => Err(ZkError::at(CONTROLLER, e)),
        }
    }
}
