//! What the broker does when a log dir fails (Kafka's `ReplicaManager.handleLogDirFailure`):
//! every partition with its log there goes offline (fetchers stopped, produce, fetch and
//! LeaderAndIsr answered KAFKA_STORAGE_ERROR), the controller is told through a
//! `/log_dir_event_notification` znode, and partitions on the other dirs are served as before.
//! With no log dir left the broker halts, as Kafka's `LogManager.handleLogDirFailure` does.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info, warn};

use super::{Partition, ReplicaManager, TopicPartition};
use crate::log::dir_failure::LogDirFailureChannel;
use crate::log::LogError;
use crate::zk::KafkaZkClient;

/// Pause between attempts at writing the notification while ZooKeeper refuses it.
const NOTIFY_RETRY: Duration = Duration::from_millis(500);

/// How a partition's log reports I/O errors, and what being offline means for it.
impl Partition {
    /// Sends this log's I/O errors to `failures`, naming `log_dir` (the log dir holding it).
    pub fn report_storage_errors_to(&self, failures: Arc<LogDirFailureChannel>, log_dir: PathBuf) {
        let _ = self.storage_failures.set((failures, log_dir));
    }

    /// Passes `result` through, taking the log dir offline first if it is an I/O error (Kafka's
    /// `maybeHandleIOException`): every write path of the log goes through this.
    pub fn storage<T>(&self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &result {
            self.report_storage_error(e);
        }
        result
    }

    /// Takes the log dir offline if `error` is an I/O error.
    pub(super) fn report_storage_error(&self, error: &LogError) {
        if let (LogError::Io { .. }, Some((failures, dir))) = (error, self.storage_failures.get()) {
            failures.maybe_add_offline(dir, error);
        }
    }

    /// The log dir holding this log, once the replica manager has said which it is.
    pub fn log_dir(&self) -> Option<&PathBuf> {
        self.storage_failures.get().map(|(_, dir)| dir)
    }

    /// Stops serving this partition because its log dir failed; acks=all waiters are woken
    /// and answered KAFKA_STORAGE_ERROR.
    pub fn mark_offline(&self) {
        self.offline.store(true, Ordering::Release);
        self.wake_waiters();
    }

    pub fn is_offline(&self) -> bool {
        self.offline.load(Ordering::Acquire)
    }
}

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
