//! Log dirs that failed (Kafka's `LogDirFailureChannel`): the first I/O error on a log dir
//! (ENOSPC, EIO, a read-only remount, on an append, roll, flush, index or checkpoint write)
//! takes that whole dir offline, once. Whoever hits the error reports it here; the replica
//! manager's failure handler receives each newly offline dir exactly once and stops serving
//! its partitions, and the log manager stops placing logs and writing checkpoints there.
//!
//! Why a whole dir and not one log: an I/O error says the disk (or its file system) is
//! unreliable, and Kafka's answer is to stop trusting everything on it rather than let other
//! partitions there fail one by one, or worse, half-succeed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::mpsc;
use tracing::error;

/// The offline log dirs of one broker and the queue of newly failed ones.
#[derive(Debug)]
pub struct LogDirFailureChannel {
    offline: Mutex<BTreeSet<PathBuf>>,
    tx: mpsc::UnboundedSender<PathBuf>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<PathBuf>>>,
}

impl Default for LogDirFailureChannel {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        LogDirFailureChannel {
            offline: Mutex::new(BTreeSet::new()),
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl LogDirFailureChannel {
    /// Marks `dir` offline because of `error`; true (and queued for the handler) only the first
    /// time, as Kafka's `maybeAddOfflineLogDir`.
    pub fn maybe_add_offline(&self, dir: &Path, error: &dyn std::fmt::Display) -> bool {
        let newly = self
            .offline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dir.to_path_buf());
        if newly {
            error!(log_dir = %dir.display(), error = %error, "log dir failed; taking it offline");
            let _ = self.tx.send(dir.to_path_buf());
        }
        newly
    }

    pub fn is_offline(&self, dir: &Path) -> bool {
        self.offline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(dir)
    }

    /// The receiving end, for the one failure handler; `None` once taken.
    pub fn take_receiver(&self) -> Option<mpsc::UnboundedReceiver<PathBuf>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dir_goes_offline_once() {
        let channel = LogDirFailureChannel::default();
        let mut rx = channel.take_receiver().unwrap();
        assert!(channel.take_receiver().is_none());
        let dir = Path::new("/data/a");
        assert!(!channel.is_offline(dir));
        assert!(channel.maybe_add_offline(dir, &"No space left on device"));
        assert!(!channel.maybe_add_offline(dir, &"again"));
        assert!(channel.is_offline(dir));
        assert!(!channel.is_offline(Path::new("/data/b")));
        assert_eq!(rx.try_recv().ok(), Some(dir.to_path_buf()));
        assert!(rx.try_recv().is_err());
    }
}
