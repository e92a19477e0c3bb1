//! Controller writes: many znode operations in `multi`s fenced by `check(/controller_epoch)`,
//! pipelined, with a per-operation outcome. ZooKeeper fails a whole `multi` when one operation
//! fails, so the failed operation is reported alone and the rest of its batch is sent again.

use zookeeper_client::{CreateOptions, Error as ZkClientError, MultiWriteError, MultiWriteResult};

use super::error::ZkError;
use super::paths::CONTROLLER_EPOCH;
use super::{ControllerEpoch, KafkaZkClient};

/// Operations per `multi` besides the fencing check: well below ZooKeeper's 1 MiB `jute.maxbuffer`
/// for partition-state-sized znodes.
pub(crate) const OPS_PER_MULTI: usize = 1000;

/// One write inside a fenced `multi`.
pub(crate) enum WriteOp {
    Create {
        path: String,
        data: Vec<u8>,
        options: CreateOptions<'static>,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    Delete {
        path: String,
        version: Option<i32>,
    },
}

impl WriteOp {
    pub(crate) fn path(&self) -> &str {
        match self {
            WriteOp::Create { path, .. }
            | WriteOp::SetData { path, .. }
            | WriteOp::Delete { path, .. } => path,
        }
    }
}

impl KafkaZkClient {
    /// Runs `ops` fenced by `epoch`, in order, in pipelined batches. Returns one outcome per op:
    /// the znode's new dataVersion (0 for a create, -1 for a delete) or that op's own error.
    /// A failed fencing check aborts everything with [`ZkError::ControllerMoved`].
    pub(crate) async fn fenced_writes(
        &self,
        epoch: &ControllerEpoch,
        ops: &[WriteOp],
    ) -> Result<Vec<Result<i32, ZkError>>, ZkError> {
        let mut outcomes: Vec<Option<Result<i32, ZkError>>> = ops.iter().map(|_| None).collect();
        let mut pending: Vec<usize> = (0..ops.len()).collect();
        while !pending.is_empty() {
            let mut in_flight = Vec::new();
            for batch in pending.chunks(OPS_PER_MULTI) {
                let mut writer = self.client.new_multi_writer();
                writer
                    .add_check_version(CONTROLLER_EPOCH, epoch.zk_version)
                    .map_err(ZkError::Other)?;
                for &i in batch {
                    add_op(&mut writer, &ops[i]).map_err(|e| ZkError::at(ops[i].path(), e))?;
                }
                in_flight.push((batch.to_vec(), crate::metrics::zk_timed(writer.commit())));
            }
            let mut retry = Vec::new();
            let mut batch_failed = false;
            for (batch, committed) in in_flight {
                match committed.await {
                    Ok(results) => {
                        for (&i, result) in batch.iter().zip(results.into_iter().skip(1)) {
                            outcomes[i] = Some(Ok(new_version(result)));
                        }
                    }
                    Err(MultiWriteError::OperationFailed { index: 0, source }) => {
                        return Err(match source {
                            ZkClientError::BadVersion | ZkClientError::NoNode => {
                                tracing::warn!(
                                    epoch = epoch.epoch,
                                    zk_version = epoch.zk_version,
                                    "controller fenced: /controller_epoch moved"
                                );
                                ZkError::ControllerMoved
                            }
                            other => ZkError::session(other),
                        });
                    }
                    // A batch after a failed one may depend on it (a parent created or a child
                    // deleted there): send it whole again rather than blame its first op.
                    Err(MultiWriteError::OperationFailed { .. }) if batch_failed => {
                        retry.extend(batch)
                    }
                    Err(MultiWriteError::OperationFailed { index, source }) => {
                        batch_failed = true;
                        let failed = batch[index - 1];
                        outcomes[failed] = Some(Err(ZkError::at(ops[failed].path(), source)));
                        retry.extend(batch.iter().copied().filter(|&i| i != failed));
                    }
                    Err(MultiWriteError::RequestFailed { source }) => {
                        return Err(ZkError::session(source))
                    }
                }
            }
            // Keep the original order so parents are still created before children.
            retry.sort_unstable();
            pending = retry;
        }
        Ok(outcomes
            .into_iter()
            .map(|o| o.unwrap_or(Err(ZkError::ControllerMoved)))
            .collect())
    }
}

fn add_op(
    writer: &mut zookeeper_client::MultiWriter<'_>,
    op: &WriteOp,
) -> Result<(), ZkClientError> {
    match op {
        WriteOp::Create {
            path,
            data,
            options,
        } => writer.add_create(path, data, options),
        WriteOp::SetData {
            path,
            data,
            version,
        } => writer.add_set_data(path, data, *version),
        WriteOp::Delete { path, version } => writer.add_delete(path, *version),
    }
}

fn new_version(result: MultiWriteResult) -> i32 {
    match result {
        MultiWriteResult::SetData { stat } => stat.version,
        MultiWriteResult::Create { stat, .. } => stat.version.max(0),
        _ => -1,
    }
}
