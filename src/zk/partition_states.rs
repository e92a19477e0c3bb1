//! Partition state znodes (`.../partitions/<p>/state`): pipelined reads and the controller's
//! fenced, batched writes. The znode's dataVersion is the partition epoch.

use crate::topic_partition::TopicPartition;
use std::collections::BTreeSet;

use super::batch::WriteOp;
use super::error::{parse_or_skip, ZkError};
use super::paths;
use super::session::reread;
use super::znodes::{to_json, PartitionState};
use super::{ControllerEpoch, KafkaZkClient};

/// One partition state znode as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateRead {
    Missing,
    /// Present but not a partition state Kafka could have written.
    Malformed,
    /// The state and its dataVersion (the partition epoch).
    Found(PartitionState, i32),
}

impl KafkaZkClient {
    /// Batched read (see `multi_read`): per partition, `None` if absent, else (state, dataVersion =
    /// partition epoch). A state znode that does not parse reads as `None` (see
    /// [`Self::get_partition_states_or_malformed`]).
    pub async fn get_partition_states(
        &self,
        tps: &[TopicPartition],
    ) -> Result<Vec<Option<(PartitionState, i32)>>, ZkError> {
        Ok(self
            .get_partition_states_or_malformed(tps)
            .await?
            .into_iter()
            .map(|read| match read {
                StateRead::Found(s, version) => Some((s, version)),
                StateRead::Missing | StateRead::Malformed => None,
            })
            .collect())
    }

    /// Like [`Self::get_partition_states`], telling a missing state from one that does not parse
    /// (logged once here): the controller leaves the latter alone instead of failing its whole
    /// load and resigning in a loop, or trying to create a state that exists.
    pub async fn get_partition_states_or_malformed(
        &self,
        tps: &[TopicPartition],
    ) -> Result<Vec<StateRead>, ZkError> {
        let paths: Vec<String> = tps
            .iter()
            .map(
                |TopicPartition {
                     topic: t,
                     partition: p,
                 }| paths::partition_state(t, *p),
            )
            .collect();
        let read = self.get_data_many(&paths).await?;
        Ok(paths
            .iter()
            .zip(read)
            .map(|(path, found)| match found {
                None => StateRead::Missing,
                Some((data, version)) => match parse_or_skip::<PartitionState>(path, &data) {
                    Some(s) => StateRead::Found(s, version),
                    None => StateRead::Malformed,
                },
            })
            .collect())
    }

    /// Creates state znodes for new partitions (fenced, batched, pipelined), first creating the
    /// empty `partitions/` and `partitions/<p>` containers where missing. One outcome per input:
    /// `Ok(0)` (the new partition epoch) or that partition's error (e.g. [`ZkError::NodeExists`]).
    pub async fn create_partition_states(
        &self,
        epoch: &ControllerEpoch,
        states: &[(TopicPartition, PartitionState)],
    ) -> Result<Vec<Result<i32, ZkError>>, ZkError> {
        let mut outcomes: Vec<Option<Result<i32, ZkError>>> = states.iter().map(|_| None).collect();
        self.create_partition_containers(epoch, states, &mut outcomes)
            .await?;
        let todo: Vec<usize> = (0..states.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        let ops: Vec<WriteOp> = todo
            .iter()
            .map(|&i| {
                let (TopicPartition { topic, partition }, state) = &states[i];
                let path = paths::partition_state(topic, *partition);
                let options = self.persistent(&path);
                WriteOp::Create {
                    path,
                    data: to_json(state),
                    options,
                }
            })
            .collect();
        for (i, outcome) in todo.into_iter().zip(self.fenced_writes(epoch, &ops).await?) {
            outcomes[i] = Some(outcome);
        }
        let created = outcomes.iter().filter(|o| matches!(o, Some(Ok(_)))).count();
        tracing::info!(
            controller_epoch = epoch.epoch,
            created,
            requested = states.len(),
            "created partition states"
        );
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(ZkError::ControllerMoved)))
            .collect())
    }

    /// Fenced conditional setData of each state on its expected dataVersion. One outcome per input:
    /// `Ok(new partition epoch)` or that partition's error ([`ZkError::BadVersion`]: re-read).
    /// `Err(ControllerMoved)`: resign. `Err(ConnectionLoss)`/`Err(SessionLost)`: some batches may
    /// have been applied; re-read the states before deciding again (as Kafka's controller does).
    pub async fn update_partition_states(
        &self,
        epoch: &ControllerEpoch,
        updates: &[(TopicPartition, PartitionState, i32)],
    ) -> Result<Vec<Result<i32, ZkError>>, ZkError> {
        let ops: Vec<WriteOp> = updates
            .iter()
            .map(
                |(TopicPartition { topic, partition }, state, version)| WriteOp::SetData {
                    path: paths::partition_state(topic, *partition),
                    data: to_json(state),
                    version: Some(*version),
                },
            )
            .collect();
        let outcomes = self.fenced_writes(epoch, &ops).await?;
        let failed = outcomes.iter().filter(|o| o.is_err()).count();
        tracing::info!(
            controller_epoch = epoch.epoch,
            updated = outcomes.len() - failed,
            failed,
            "updated partition states"
        );
        Ok(outcomes)
    }

    /// Creates the missing `partitions/` and `partitions/<p>` containers (existence read pipelined,
    /// creates fenced). A partition whose container cannot be made gets its error in `outcomes`.
    async fn create_partition_containers(
        &self,
        epoch: &ControllerEpoch,
        states: &[(TopicPartition, PartitionState)],
        outcomes: &mut [Option<Result<i32, ZkError>>],
    ) -> Result<(), ZkError> {
        let topics: BTreeSet<&str> = states
            .iter()
            .map(
                |(
                    TopicPartition {
                        topic: t,
                        partition: _,
                    },
                    _,
                )| t.as_str(),
            )
            .collect();
        let topic_checks: Vec<_> = topics
            .iter()
            .map(|t| {
                (
                    paths::topic_partitions(t),
                    self.client.check_stat(&paths::topic_partitions(t)),
                )
            })
            .collect();
        let partition_checks: Vec<_> = states
            .iter()
            .map(
                |(
                    TopicPartition {
                        topic: t,
                        partition: p,
                    },
                    _,
                )| {
                    let path = paths::topic_partition(t, *p);
                    let check = self.client.check_stat(&path);
                    (path, check)
                },
            )
            .collect();
        // (path, index into states of the partition that needs it, or None for a topic's partitions/)
        let mut missing: Vec<(String, Option<usize>)> = Vec::new();
        for (path, check) in topic_checks {
            if reread(check, || self.client.check_stat(&path))
                .await
                .map_err(|e| ZkError::at(&path, e))?
                .is_none()
            {
                missing.push((path, None));
            }
        }
        for (i, (path, check)) in partition_checks.into_iter().enumerate() {
            if reread(check, || self.client.check_stat(&path))
                .await
                .map_err(|e| ZkError::at(&path, e))?
                .is_none()
            {
                missing.push((path, Some(i)));
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let ops: Vec<WriteOp> = missing
            .iter()
            .map(|(path, _)| WriteOp::Create {
                path: path.clone(),
                data: Vec::new(),
                options: self.persistent(path),
            })
            .collect();
        for ((_, owner), outcome) in missing.iter().zip(self.fenced_writes(epoch, &ops).await?) {
            match (owner, outcome) {
                (_, Ok(_)) | (_, Err(ZkError::NodeExists(_))) | (None, Err(_)) => {}
                (Some(i), Err(e)) => outcomes[*i] = Some(Err(e)),
            }
        }
        Ok(())
    }
}
