//! Broker registration under `/brokers/ids` and broker id generation via `/brokers/seqid`.

use std::collections::BTreeMap;

use zookeeper_client::{Error as E, MultiWriteError, MultiWriteResult};

use super::error::{parse_or_skip, ZkError};
use super::paths::{self, BROKER_IDS, BROKER_SEQID};
use super::session::reread;
use super::znodes::{to_json, BrokerRegistration};
use super::{KafkaZkClient, OneshotWatcher};

impl KafkaZkClient {
    /// `broker.id.generation.enable`: bumps `/brokers/seqid`'s dataVersion and returns it plus
    /// `reserved_max_id`, so the first generated id is `reserved_max_id + 1`.
    pub async fn generate_broker_id(&self, reserved_max_id: i32) -> Result<i32, ZkError> {
        let stat = match self.client.set_data(BROKER_SEQID, &[], None).await {
            Err(E::NoNode) => {
                self.create_with_parents(&[BROKER_SEQID]).await?;
                self.client.set_data(BROKER_SEQID, &[], None).await
            }
            other => other,
        }
        .map_err(|e| ZkError::at(BROKER_SEQID, e))?;
        let id = stat.version + reserved_max_id;
        tracing::info!(broker_id = id, "generated broker id");
        Ok(id)
    }

    /// Registers this broker: `multi { create(ephemeral, empty), setData(json, version 0) }` so the
    /// znode's dataVersion is 1 as in Kafka. Returns the broker epoch (the znode's czxid).
    /// Another session's registration → [`ZkError::BrokerIdTaken`].
    pub async fn register_broker(&self, id: i32, reg: &BrokerRegistration) -> Result<i64, ZkError> {
        let path = paths::broker(id);
        let mut writer = self.client.new_multi_writer();
        writer
            .add_create(&path, &[], &self.ephemeral(&path))
            .map_err(|e| ZkError::at(&path, e))?;
        writer
            .add_set_data(&path, &to_json(reg), Some(0))
            .map_err(|e| ZkError::at(&path, e))?;
        let czxid = match crate::metrics::zk_timed(writer.commit()).await {
            Ok(results) => match results.first() {
                Some(MultiWriteResult::Create { stat, .. }) if !stat.is_invalid() => stat.czxid,
                _ => self
                    .owned_ephemeral_czxid(&path)
                    .await?
                    .ok_or_else(|| ZkError::NoNode(path.clone()))?,
            },
            Err(MultiWriteError::OperationFailed {
                index: 0,
                source: E::NodeExists,
            }) => {
                // Ours already if an earlier attempt of this session succeeded before a connection loss.
                match self.owned_ephemeral_czxid(&path).await? {
                    Some(czxid) => czxid,
                    None => return Err(ZkError::BrokerIdTaken(path)),
                }
            }
            // Applied or not: ours iff the znode is this session's ephemeral; else try once more.
            Err(MultiWriteError::RequestFailed {
                source: E::ConnectionLoss,
            }) => match self.owned_ephemeral_czxid(&path).await? {
                Some(czxid) => czxid,
                None => return Box::pin(self.register_broker(id, reg)).await,
            },
            Err(e) => return Err(ZkError::at(&path, e.into())),
        };
        tracing::info!(broker_id = id, broker_epoch = czxid, endpoints = ?reg.endpoints, "registered broker");
        Ok(czxid)
    }

    /// The czxid of `path` if it is an ephemeral owned by this session.
    async fn owned_ephemeral_czxid(&self, path: &str) -> Result<Option<i64>, ZkError> {
        let stat = self
            .client
            .check_stat(path)
            .await
            .map_err(|e| ZkError::at(path, e))?;
        Ok(stat
            .filter(|s| s.ephemeral_owner == self.session_id())
            .map(|s| s.czxid))
    }

    /// The broker epoch of `id` (its registration's czxid), `None` when it is not registered: what a
    /// leader checks a follower's Fetch and a broker checks a control request against.
    pub async fn get_broker_epoch(&self, id: i32) -> Result<Option<i64>, ZkError> {
        let path = paths::broker(id);
        let stat = reread(self.client.check_stat(&path), || {
            self.client.check_stat(&path)
        })
        .await
        .map_err(|e| ZkError::at(&path, e))?;
        Ok(stat.map(|s| s.czxid))
    }

    /// Removes this broker's registration (controlled shutdown); absent is fine.
    pub async fn deregister_broker(&self, id: i32) -> Result<(), ZkError> {
        let path = paths::broker(id);
        match self.client.delete(&path, None).await {
            Ok(()) | Err(E::NoNode) => {
                tracing::info!(broker_id = id, "deregistered broker");
                Ok(())
            }
            Err(e) => Err(ZkError::at(&path, e)),
        }
    }

    /// Registered broker ids (sorted) and a child watch on `/brokers/ids`.
    pub async fn get_broker_ids_and_watch(&self) -> Result<(Vec<i32>, OneshotWatcher), ZkError> {
        let (children, watcher) = reread(self.client.list_and_watch_children(BROKER_IDS), || {
            self.client.list_and_watch_children(BROKER_IDS)
        })
        .await
        .map_err(|e| ZkError::at(BROKER_IDS, e))?;
        let mut ids: Vec<i32> = children
            .iter()
            .filter_map(|c| {
                let id = c.parse().ok();
                if id.is_none() {
                    tracing::warn!(child = %c, "ignoring non-numeric znode under /brokers/ids");
                }
                id
            })
            .collect();
        ids.sort_unstable();
        Ok((ids, watcher))
    }

    /// Pipelined read of registrations: id → (registration, broker epoch). Ids that vanished are absent.
    pub async fn get_brokers(
        &self,
        ids: &[i32],
    ) -> Result<BTreeMap<i32, (BrokerRegistration, i64)>, ZkError> {
        let pending: Vec<_> = ids
            .iter()
            .map(|&id| {
                let path = paths::broker(id);
                let read = self.client.get_data(&path);
                (id, path, read)
            })
            .collect();
        let mut brokers = BTreeMap::new();
        for (id, path, read) in pending {
            match reread(read, || self.client.get_data(&path)).await {
                Ok((data, stat)) => {
                    if let Some(reg) = parse_or_skip(&path, &data) {
                        brokers.insert(id, (reg, stat.czxid));
                    }
                }
                Err(E::NoNode) => {}
                Err(e) => return Err(ZkError::at(&path, e)),
            }
        }
        Ok(brokers)
    }
}
