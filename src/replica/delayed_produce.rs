//! Kafka's `DelayedProduce`: an acks=all Produce waits until the high watermark of every partition
//! it appended to covers its records, within the request's `timeout_ms` (shared by all of them).
//! Each partition's wait and its errors are [`super::Partition::wait_for_acks_all`]'s.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::Partition;

/// An acks=all append waiting for replication.
pub struct DelayedProduce {
    /// (index of the target in the request, partition, offset the high watermark must reach).
    pending: Vec<(usize, Arc<Partition>, i64)>,
    timeout: Duration,
}

impl DelayedProduce {
    pub(super) fn new(pending: Vec<(usize, Arc<Partition>, i64)>, timeout: Duration) -> Self {
        DelayedProduce { pending, timeout }
    }

    /// Waits; returns the targets (by index in the request) whose wait failed, with the error.
    pub async fn complete(self) -> Vec<(usize, ResponseError)> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let mut failed = Vec::new();
        for (i, partition, offset) in self.pending {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if let Err(e) = partition.wait_for_acks_all(offset, left).await {
                failed.push((i, e));
            }
        }
        failed
    }
}
