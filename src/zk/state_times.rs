//! Modification times of partition state znodes and of `/controller`, for the downtime lab: on
//! a Kafka cluster they are the only outside record of when its controller wrote new leaders, and
//! on either kind of cluster they date the last write of each partition's state.

use crate::topic_partition::TopicPartition;
use zookeeper_client::Error as E;

use super::error::parse_or_skip;
use super::paths;
use super::session::reread;
use super::znodes::PartitionState;
use super::KafkaZkClient;

/// A partition state as read with its znode's mtime (ms since the Unix epoch, ZooKeeper's clock).
#[derive(Debug, Clone)]
pub struct TimedState {
    pub leader: i32,
    pub leader_epoch: i32,
    pub mtime_ms: i64,
}

impl KafkaZkClient {
    /// Pipelined reads of the partitions' state znodes with their mtimes; `None` where absent or
    /// malformed.
    pub async fn get_partition_state_times(
        &self,
        tps: &[TopicPartition],
    ) -> Result<Vec<Option<TimedState>>, super::ZkError> {
        let paths: Vec<String> = tps
            .iter()
            .map(
                |TopicPartition {
                     topic: t,
                     partition: p,
                 }| paths::partition_state(t, *p),
            )
            .collect();
        let pending: Vec<_> = paths.iter().map(|p| self.client.get_data(p)).collect();
        let mut out = Vec::with_capacity(paths.len());
        for (path, read) in paths.iter().zip(pending) {
            match reread(read, || self.client.get_data(path)).await {
                Ok((data, stat)) => out.push(parse_or_skip::<PartitionState>(path, &data).map(
                    |s| TimedState {
                        leader: s.leader,
                        leader_epoch: s.leader_epoch,
                        mtime_ms: stat.mtime,
                    },
                )),
                Err(E::NoNode) => out.push(None),
                Err(e) => return Err(super::ZkError::at(path, e)),
            }
        }
        Ok(out)
    }

    /// `/controller`'s creation time (ms, ZooKeeper's clock): when the current controller won.
    pub async fn get_controller_ctime(&self) -> Result<Option<i64>, super::ZkError> {
        let path = "/controller";
        match reread(self.client.check_stat(path), || {
            self.client.check_stat(path)
        })
        .await
        {
            Ok(stat) => Ok(stat.map(|s| s.ctime)),
            Err(e) => Err(super::ZkError::at(path, e)),
        }
    }
}
