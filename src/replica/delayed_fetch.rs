//! Kafka's `DelayedFetch`: a fetch that found less than `min_bytes` waits on its partitions' change
//! signals (the high watermark for consumers, the log end for followers) and reads again on each
//! change, answering once `min_bytes` is there, a partition errs, or `max_wait_ms` passes. The
//! connection keeps reading requests meanwhile; responses still leave in order.

use std::sync::Arc;
use std::time::Duration;

use futures::future::select_all;
use tokio::sync::watch;

use super::fetch_messages::{FetchParams, FetchPartitionData, Resolved};
use super::ReplicaManager;

/// The longest a Fetch is held waiting for `min_bytes`: clients ask for far less (Kafka's
/// consumers 500 ms, followers `replica.fetch.wait.max.ms`), and a client asking for more would
/// give up at its own `request.timeout.ms` (30 s by default) anyway. Kafka caps nothing, but a cap
/// keeps a hostile `max_wait_ms` from parking a request (and the shutdown that waits for it) for
/// days; the answer at the cap is the ordinary one for a wait that ran out.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(30);

pub(super) fn capped_wait(max_wait_ms: i32) -> Duration {
    Duration::from_millis(max_wait_ms.max(0) as u64).min(MAX_FETCH_WAIT)
}

/// A fetch held until its partitions have `min_bytes` or its wait runs out.
pub struct DelayedFetch {
    replicas: Arc<ReplicaManager>,
    params: FetchParams,
    resolved: Vec<Resolved>,
    max_wait: Duration,
}

impl DelayedFetch {
    pub(super) fn new(
        replicas: Arc<ReplicaManager>,
        params: FetchParams,
        resolved: Vec<Resolved>,
        max_wait: Duration,
    ) -> Self {
        DelayedFetch {
            replicas,
            params,
            resolved,
            max_wait,
        }
    }

    /// Waits, then answers every partition (in request order).
    pub async fn complete(self) -> Vec<FetchPartitionData> {
        let data = self.wait().await;
        self.replicas
            .record_leader_throttled(&self.resolved, &data, &self.params);
        data
    }

    async fn wait(&self) -> Vec<FetchPartitionData> {
        let follower = self.params.is_follower();
        let mut signals: Vec<watch::Receiver<i64>> = self
            .resolved
            .iter()
            .filter_map(|r| r.partition.as_ref().ok())
            .map(|p| {
                if follower {
                    p.subscribe_log_end()
                } else {
                    p.subscribe()
                }
            })
            .collect();
        let deadline = tokio::time::Instant::now() + self.max_wait;
        while !signals.is_empty() {
            let outcome = {
                let changed = select_all(signals.iter_mut().map(|rx| Box::pin(rx.changed())));
                tokio::time::timeout_at(deadline, changed)
                    .await
                    .map(|(result, i, _)| (result.is_ok(), i))
            };
            match outcome {
                Err(_) => break,
                Ok((false, i)) => {
                    // That partition went away; keep waiting on the others.
                    signals.swap_remove(i);
                }
                Ok((true, _)) => {
                    let read = self.replicas.read_all(&self.resolved, &self.params);
                    if read.bytes >= self.params.min_bytes || read.errors {
                        return read.data;
                    }
                }
            }
        }
        tokio::time::sleep_until(deadline).await;
        self.replicas.read_all(&self.resolved, &self.params).data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_waits_are_capped_and_negative_ones_do_not_wait() {
        assert_eq!(capped_wait(500), Duration::from_millis(500));
        assert_eq!(capped_wait(i32::MAX), Duration::from_secs(30));
        assert_eq!(capped_wait(-1), Duration::ZERO);
    }
}
