//! Background work on every hosted log (Kafka's log-retention, log-flusher and checkpoint tasks):
//! retention by time and size every `log.retention.check.interval.ms`, the flush of rolled
//! segments and time/count based flushes, and the checkpoint files every
//! `log.flush.offset.checkpoint.interval.ms`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use super::ReplicaManager;
use crate::clock::now_ms;

/// How often logs are asked whether `flush.ms` / `flush.messages` says they are due.
const FLUSH_CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Intervals of the housekeeping tasks.
#[derive(Debug, Clone, Copy)]
pub struct HousekeepingIntervals {
    pub retention_check: Duration,
    pub checkpoint: Duration,
}

/// Runs until `shutdown` turns true.
pub async fn run_housekeeping(
    replicas: Arc<ReplicaManager>,
    intervals: HousekeepingIntervals,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut retention = tokio::time::interval(intervals.retention_check);
    let mut checkpoint = tokio::time::interval(intervals.checkpoint);
    let mut flush = tokio::time::interval(FLUSH_CHECK_INTERVAL);
    for timer in [&mut retention, &mut checkpoint, &mut flush] {
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            _ = retention.tick() => enforce_retention(&replicas),
            _ = flush.tick() => flush_due(&replicas),
            _ = checkpoint.tick() => replicas.checkpoint(),
        }
    }
}

fn enforce_retention(replicas: &ReplicaManager) {
    let now = now_ms();
    for p in replicas.all_partitions() {
        let hw = p.high_watermark();
        match p.storage(p.with_log(|log| log.delete_old_segments(now, hw))) {
            Ok(0) => {}
            Ok(n) => {
                info!(topic = %p.topic, partition = p.index, segments = n, "retention deleted segments")
            }
            Err(e) => warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed"),
        }
    }
}

fn flush_due(replicas: &ReplicaManager) {
    let now = now_ms();
    for p in replicas.all_partitions() {
        // Rolled segments first, fsynced without the writer lock (appends go on meanwhile).
        if let Some(rolled) = p.with_log(|log| log.rolled_flush()) {
            match p.storage(rolled.run()) {
                Ok(()) => p.with_log(|log| log.mark_flushed(&rolled)),
                Err(e) => {
                    warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
                    continue;
                }
            }
        }
        if let Err(e) = p.storage(p.with_log(|log| log.maybe_flush(now))) {
            warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
        }
    }
}
