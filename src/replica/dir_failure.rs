//! What the broker does when a log dir fails (Kafka's `ReplicaManager.handleLogDirFailure`):
//! every partition with its log there goes offline (fetchers stopped, produce, fetch and
//! LeaderAndIsr answered KAFKA_STORAGE_ERROR), the controller is told through a
//! `/log_dir_event_notification` znode, and partitions on the other dirs are served as before.
//! With no log dir left the broker halts, as Kafka's `LogManager.handleLogDirFailure` does.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{ReplicaManager, TopicPartition};
use crate::zk::KafkaZkClient;

/// Pause between attempts at writing the notification while ZooKeeper refuses it.
const NOTIFY_RETRY: Duration = Duration::from_millis(500);

impl ReplicaManager {
    /// Takes every partition whose log is in `dir` offline; returns them.
    pub fn handle_log_dir_failure(&self, dir: &Path) -> Vec<TopicPartition> {
        // No log is being opened meanwhile: one opened in `dir` before this runs is found in
        // the map below, and one opened after sees the dir offline and is refused.
        let _creating = self.creating.lock().unwrap_or_else(|p| p.into_inner());
        let mut gone: Vec<TopicPartition> = Vec::new();
        {
            let mut map = self.partitions.write().unwrap_or_else(|p| p.into_inner());
            let here: Vec<TopicPartition> = map
                .iter()
                .filter(|(_, p)| p.log_dir().is_some_and(|d| d == dir))
                .map(|(tp, _)| tp.clone())
                .collect();
            for tp in here {
                if let Some(p) = map.remove(&tp) {
                    p.mark_offline();
                }
                gone.push(tp);
            }
        }
        self.unclaimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|tp, l| {
                let keep = self.logs.log_dir_of(l.log.dir()).is_none_or(|d| d != dir);
                if !keep {
                    gone.push(tp.clone());
                }
                keep
            });
        for tp in &gone {
            self.stop_fetching(tp);
        }
        self.offline
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(gone.iter().cloned());
        warn!(broker = self.broker_id, log_dir = %dir.display(), partitions = gone.len(),
            examples = ?gone.iter().take(5).collect::<Vec<_>>(),
            "stopped serving and fetching the partitions of the failed log dir");
        gone
    }
}

/// Receives each failed log dir once (from the log manager's `LogDirFailureChannel`) and
/// handles it; runs until `shutdown`.
pub async fn run_log_dir_failure_handler(
    replicas: Arc<ReplicaManager>,
    zk: watch::Receiver<KafkaZkClient>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(mut failed) = replicas.logs.failures().take_receiver() else {
        return;
    };
    loop {
        let dir = tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            dir = failed.recv() => match dir { Some(d) => d, None => return },
        };
        replicas.handle_log_dir_failure(&dir);
        if replicas.logs.all_offline() {
            let dirs: Vec<String> = replicas
                .logs
                .dirs()
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            error!(broker = replicas.broker_id, log_dirs = %dirs.join(", "),
                "Shutdown broker because all log dirs have failed");
            // Kafka's `Exit.halt(1)`: nothing can be flushed or checkpointed any more.
            std::process::exit(1);
        }
        loop {
            let client = zk.borrow().clone();
            match client.propagate_log_dir_event(replicas.broker_id).await {
                Ok(name) => {
                    info!(broker = replicas.broker_id, log_dir = %dir.display(), znode = %name,
                        "told the controller that a log dir failed");
                    break;
                }
                Err(e) => {
                    warn!(error = %e, "cannot write the log dir event notification; retrying");
                    tokio::select! {
                        _ = shutdown.wait_for(|s| *s) => return,
                        _ = tokio::time::sleep(NOTIFY_RETRY) => {}
                    }
                }
            }
        }
    }
}
