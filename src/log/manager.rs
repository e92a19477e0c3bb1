//! The log directories of one broker (Kafka's `LogManager`): `meta.properties`, loading every partition
//! log at start-up (with recovery from the checkpointed recovery point), placing new logs, and the
//! three per-directory checkpoint files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use tracing::{info, warn};

use crate::config::TopicConfig;

use super::checkpoint::{
    read_meta_properties, read_offsets, write_meta_properties, write_offsets, MetaProperties,
    PartitionOffset, LOG_START_OFFSET_CHECKPOINT, RECOVERY_POINT_CHECKPOINT,
    REPLICATION_CHECKPOINT,
};
use super::compression::{Levels, TargetCompression};
use super::dir_failure::LogDirFailureChannel;
use super::log_dir::{parse_partition_dir_name, partition_dir_name};
use super::{Log, LogConfig};

/// A log loaded at start-up, waiting for the controller to say what this broker's role is.
pub struct LoadedLog {
    pub log: Log,
    pub high_watermark: i64,
}

/// Offsets of one partition written to the checkpoint files.
#[derive(Debug, Clone)]
pub struct CheckpointEntry {
    pub topic: String,
    pub partition: i32,
    pub dir: PathBuf,
    pub recovery_point: i64,
    pub high_watermark: i64,
    pub log_start_offset: i64,
}

/// The broker's log directories.
#[derive(Debug)]
pub struct LogManager {
    dirs: Vec<PathBuf>,
    /// Which of them failed: no log is placed and no checkpoint written there any more.
    failures: Arc<LogDirFailureChannel>,
}

impl LogManager {
    /// Creates missing log dirs and checks each one's `meta.properties` against this cluster and broker:
    /// a directory that belongs to another cluster or broker is refused, as Kafka does. A dir
    /// that cannot be created, read or written starts offline (Kafka's `createAndValidateLogDirs`
    /// reports it to the `LogDirFailureChannel`); with none left, start-up fails.
    pub fn open(dirs: &[PathBuf], broker_id: i32, cluster_id: &str) -> anyhow::Result<Self> {
        let failures = Arc::new(LogDirFailureChannel::default());
        let mut first_failure = None;
        for dir in dirs {
            match prepare_dir(dir, broker_id, cluster_id)? {
                Ok(()) => {}
                Err(e) => {
                    failures.maybe_add_offline(dir, &format!("{e:#}"));
                    first_failure.get_or_insert(e);
                }
            }
        }
        let logs = LogManager {
            dirs: dirs.to_vec(),
            failures,
        };
        if let (true, Some(e)) = (logs.all_offline(), first_failure) {
            return Err(e);
        }
        Ok(logs)
    }

    /// The configured log dirs, offline ones included.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    pub fn failures(&self) -> &Arc<LogDirFailureChannel> {
        &self.failures
    }

    /// The log dir holding the partition directory `log_dir` (its parent), if it is one of ours.
    pub fn log_dir_of(&self, log_dir: &Path) -> Option<&PathBuf> {
        let parent = log_dir.parent()?;
        self.dirs.iter().find(|d| d.as_path() == parent)
    }

    /// Whether every log dir is offline: Kafka's broker halts then.
    pub fn all_offline(&self) -> bool {
        self.dirs.iter().all(|d| self.failures.is_offline(d))
    }

    /// The broker id recorded in the first log dir that has one (for generated ids).
    pub fn stored_broker_id(dirs: &[PathBuf]) -> anyhow::Result<Option<i32>> {
        for dir in dirs {
            if let Some(meta) = read_meta_properties(dir)? {
                return Ok(Some(meta.broker_id));
            }
        }
        Ok(None)
    }

    /// Opens every partition log found in the online log dirs, recovering each from its
    /// recovery point. A dir whose checkpoints or logs cannot be read goes offline with all its
    /// logs (Kafka's `loadLogs`); with none left, start-up fails.
    pub fn load_logs(
        &self,
        config: &LogConfig,
    ) -> anyhow::Result<HashMap<(String, i32), LoadedLog>> {
        let mut loaded = HashMap::new();
        let mut first_failure = None;
        for dir in &self.dirs {
            if self.failures.is_offline(dir) {
                continue;
            }
            match load_dir(dir, config) {
                Ok(logs) => loaded.extend(logs),
                Err(e) => {
                    self.failures.maybe_add_offline(dir, &format!("{e:#}"));
                    first_failure.get_or_insert(e);
                }
            }
        }
        if let (true, Some(e)) = (self.all_offline(), first_failure) {
            return Err(e);
        }
        Ok(loaded)
    }

    /// Whether some log dir is offline: a log that is neither found nor new may be there, so
    /// it must not be created empty elsewhere (Kafka's `getOrCreateLog` refuses then).
    pub fn any_offline(&self) -> bool {
        self.dirs.iter().any(|d| self.failures.is_offline(d))
    }

    /// Creates a new, empty log in the directory holding the fewest partitions.
    pub fn create_log(
        &self,
        topic: &str,
        partition: i32,
        config: LogConfig,
    ) -> anyhow::Result<Log> {
        // The last line of defence: a name that could leave the log dir never becomes a path.
        if let Err(e) = crate::topic::validate(topic) {
            bail!("{e}");
        }
        let Some(dir) = self.next_log_dir() else {
            bail!("no online log dir (log.dirs all offline)");
        };
        let path = dir.join(partition_dir_name(topic, partition));
        Log::open(&path, config, 0, 0)
            .with_context(|| format!("cannot create log {}", path.display()))
    }

    /// The log dir holding the fewest partitions (Kafka's `nextLogDirs`). With one dir there is
    /// nothing to count: counting means listing the dir, and doing that for each of thousands of
    /// partitions a LeaderAndIsr creates made creation quadratic (7 ms a log at 3,000 logs).
    /// Entries are told apart by their type from the listing itself, without a stat each.
    fn next_log_dir(&self) -> Option<&PathBuf> {
        if let [only] = self.dirs.as_slice() {
            return (!self.failures.is_offline(only)).then_some(only);
        }
        let online = self.dirs.iter().filter(|d| !self.failures.is_offline(d));
        online.min_by_key(|dir| {
            std::fs::read_dir(dir)
                .map(|rd| {
                    rd.filter(|e| {
                        e.as_ref()
                            .is_ok_and(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    })
                    .count()
                })
                .unwrap_or(usize::MAX)
        })
    }

    /// Writes the three checkpoint files of every online log dir (atomically, each). A dir
    /// whose checkpoint cannot be written goes offline (Kafka's `checkpointLogRecoveryOffsets`
    /// reports the IOException to the `LogDirFailureChannel`); the other dirs are still written.
    pub fn write_checkpoints(&self, entries: &[CheckpointEntry]) {
        for dir in &self.dirs {
            if self.failures.is_offline(dir) {
                continue;
            }
            if let Err(e) = write_dir_checkpoints(dir, entries) {
                self.failures.maybe_add_offline(dir, &format!("{e:#}"));
            }
        }
    }
}

/// The three checkpoint files of one log dir, for the partitions whose logs are in it.
fn write_dir_checkpoints(dir: &Path, entries: &[CheckpointEntry]) -> anyhow::Result<()> {
    let here: Vec<&CheckpointEntry> = entries.iter().filter(|e| e.dir.starts_with(dir)).collect();
    let write = |file: &str, pick: fn(&CheckpointEntry) -> i64| -> anyhow::Result<()> {
        let offsets: Vec<PartitionOffset> = here
            .iter()
            .map(|e| PartitionOffset {
                topic: e.topic.clone(),
                partition: e.partition,
                offset: pick(e),
            })
            .collect();
        write_offsets(&dir.join(file), &offsets)
            .with_context(|| format!("cannot write {}", dir.join(file).display()))
    };
    write(RECOVERY_POINT_CHECKPOINT, |e| e.recovery_point)?;
    write(REPLICATION_CHECKPOINT, |e| e.high_watermark)?;
    write(LOG_START_OFFSET_CHECKPOINT, |e| e.log_start_offset)
}

/// Creates `dir` and checks or writes its `meta.properties`. The outer error is fatal (the dir
/// belongs to another cluster or broker); the inner one is the dir's own failure.
fn prepare_dir(dir: &Path, broker_id: i32, cluster_id: &str) -> anyhow::Result<anyhow::Result<()>> {
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Ok(Err(
            anyhow::Error::new(e).context(format!("cannot create log dir {}", dir.display()))
        ));
    }
    let meta_path = dir.join("meta.properties");
    let stored = match read_meta_properties(dir) {
        Ok(stored) => stored,
        Err(e) => return Ok(Err(e.into())),
    };
    match stored {
        Some(meta) => {
            if meta.cluster_id != cluster_id {
                bail!(
                    "{} has cluster.id {} but ZooKeeper's /cluster/id is {}",
                    meta_path.display(),
                    meta.cluster_id,
                    cluster_id
                );
            }
            if meta.broker_id != broker_id {
                bail!(
                    "{} has broker.id {} but this broker is {}",
                    meta_path.display(),
                    meta.broker_id,
                    broker_id
                );
            }
            Ok(Ok(()))
        }
        None => {
            let meta = MetaProperties {
                broker_id,
                cluster_id: cluster_id.to_string(),
            };
            Ok(write_meta_properties(dir, &meta).map_err(Into::into))
        }
    }
}

/// Every partition log of one log dir.
fn load_dir(dir: &Path, config: &LogConfig) -> anyhow::Result<HashMap<(String, i32), LoadedLog>> {
    let mut loaded = HashMap::new();
    let recovery = read_checkpoint(&dir.join(RECOVERY_POINT_CHECKPOINT))?;
    let hws = read_checkpoint(&dir.join(REPLICATION_CHECKPOINT))?;
    let starts = read_checkpoint(&dir.join(LOG_START_OFFSET_CHECKPOINT))?;
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list log dir {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list log dir {}", dir.display()))?;
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(tp) = parse_partition_dir_name(&name) else {
            continue;
        };
        if !crate::topic::is_valid(&tp.0) {
            warn!(dir = %entry.path().display(), "skipping a directory whose topic name is illegal");
            continue;
        }
        let recovery_point = recovery.get(&tp).copied().unwrap_or(0);
        let start = starts.get(&tp).copied().unwrap_or(0);
        let log = Log::open(&entry.path(), config.clone(), recovery_point, start)
            .with_context(|| format!("cannot load log {}", entry.path().display()))?;
        let high_watermark = hws.get(&tp).copied().unwrap_or(0);
        info!(
            topic = %tp.0, partition = tp.1, log_end_offset = log.log_end_offset(),
            recovery_point, "loaded log"
        );
        loaded.insert(
            tp,
            LoadedLog {
                log,
                high_watermark,
            },
        );
    }
    Ok(loaded)
}

/// The storage settings of a topic, from its effective config (broker defaults plus overrides).
pub fn log_config(t: &TopicConfig) -> LogConfig {
    LogConfig {
        segment_bytes: t.segment_bytes.max(14) as u64,
        segment_ms: t.segment_ms,
        retention_ms: t.retention_ms,
        retention_bytes: t.retention_bytes,
        index_interval_bytes: t.index_interval_bytes.max(0) as u32,
        max_index_size: t.segment_index_bytes.max(0) as u32,
        flush_interval_messages: t.flush_messages.max(1) as u64,
        flush_interval_ms: (t.flush_ms != i64::MAX).then_some(t.flush_ms.max(0) as u64),
        max_message_bytes: t.max_message_bytes.max(0) as usize,
        cleanup_delete: t.cleanup_policy.iter().any(|p| p == "delete"),
        cleanup_compact: t.cleanup_policy.iter().any(|p| p == "compact"),
        delete_retention_ms: t.delete_retention_ms,
        min_cleanable_dirty_ratio: t.min_cleanable_dirty_ratio,
        min_compaction_lag_ms: t.min_compaction_lag_ms,
        max_compaction_lag_ms: t.max_compaction_lag_ms,
        log_append_time: t.log_append_time(),
        message_timestamp_before_max_ms: timestamp_bound(t.message_timestamp_before_max_ms, t),
        message_timestamp_after_max_ms: timestamp_bound(t.message_timestamp_after_max_ms, t),
        compression: TargetCompression::from_config(&t.compression_type),
        compression_levels: Levels {
            gzip: t.compression_gzip_level,
            zstd: t.compression_zstd_level,
        },
        downconversion_enable: t.message_downconversion_enable,
    }
}

/// Kafka's `LogConfig.getMessageTimestampBeforeMaxMs` / `AfterMaxMs`: a before/after bound
/// left at Long.MAX falls back to the deprecated `message.timestamp.difference.max.ms`.
fn timestamp_bound(bound: i64, t: &TopicConfig) -> i64 {
    if bound == i64::MAX {
        t.message_timestamp_difference_max_ms
    } else {
        bound
    }
}

fn read_checkpoint(path: &Path) -> anyhow::Result<HashMap<(String, i32), i64>> {
    if !path.exists() {
        return Ok(HashMap::new());
    }
    let entries =
        read_offsets(path).with_context(|| format!("cannot read checkpoint {}", path.display()))?;
    // A name no topic can have matches no partition directory; it is dropped, said once per file.
    let (valid, invalid): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|e| crate::topic::is_valid(&e.topic));
    if let Some(first) = invalid.first() {
        warn!(file = %path.display(), entries = invalid.len(), example = ?first.topic,
            "skipping checkpoint entries with illegal topic names");
    }
    Ok(valid
        .into_iter()
        .map(|e| ((e.topic, e.partition), e.offset))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offline_dirs_get_no_new_logs_and_no_checkpoints() {
        let root = tempfile::tempdir().unwrap();
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        let logs = LogManager::open(&[a.clone(), b.clone()], 1, "c").unwrap();
        assert!(logs.failures().maybe_add_offline(&a, &"EIO"));
        assert!(!logs.all_offline());
        for p in 0..3 {
            let log = logs.create_log("t", p, LogConfig::default()).unwrap();
            assert_eq!(logs.log_dir_of(log.dir()), Some(&b));
        }
        let entry = |dir: &Path| CheckpointEntry {
            topic: "t".into(),
            partition: 0,
            dir: dir.join("t-0"),
            recovery_point: 5,
            high_watermark: 5,
            log_start_offset: 0,
        };
        logs.write_checkpoints(&[entry(&a), entry(&b)]);
        assert!(!a.join(RECOVERY_POINT_CHECKPOINT).exists());
        assert!(b.join(RECOVERY_POINT_CHECKPOINT).exists());
        // A checkpoint that cannot be written takes its dir offline.
        std::fs::remove_file(b.join(RECOVERY_POINT_CHECKPOINT)).unwrap();
        std::fs::create_dir_all(b.join(RECOVERY_POINT_CHECKPOINT).join("x")).unwrap();
        logs.write_checkpoints(&[entry(&b)]);
        assert!(logs.failures().is_offline(&b));
        assert!(logs.all_offline());
        assert!(logs.create_log("t", 9, LogConfig::default()).is_err());
    }

    #[test]
    fn a_dir_that_fails_at_start_up_starts_offline_unless_it_is_the_last() {
        let root = tempfile::tempdir().unwrap();
        let blocker = root.path().join("a-file");
        std::fs::write(&blocker, "not a directory").unwrap();
        let (bad, good) = (blocker.join("logs"), root.path().join("good"));
        let logs = LogManager::open(&[bad.clone(), good.clone()], 1, "c").unwrap();
        assert!(logs.failures().is_offline(&bad) && !logs.failures().is_offline(&good));
        assert!(logs.any_offline() && !logs.all_offline());
        let err = LogManager::open(std::slice::from_ref(&bad), 1, "c").unwrap_err();
        assert!(
            format!("{err:#}").contains("cannot create log dir"),
            "{err:#}"
        );
        // Another cluster's dir is fatal, not offline.
        let other = LogManager::open(std::slice::from_ref(&good), 1, "other");
        assert!(other.is_err());

        // A dir whose checkpoint cannot be parsed goes offline at load, with its logs.
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        let logs = LogManager::open(&[a.clone(), b.clone()], 1, "c").unwrap();
        logs.create_log("t", 0, LogConfig::default()).unwrap();
        logs.create_log("t", 1, LogConfig::default()).unwrap();
        std::fs::write(a.join(RECOVERY_POINT_CHECKPOINT), "garbage").unwrap();
        let loaded = logs.load_logs(&LogConfig::default()).unwrap();
        assert!(logs.failures().is_offline(&a));
        assert_eq!(loaded.len(), 1);
        assert!(loaded
            .values()
            .all(|l| logs.log_dir_of(l.log.dir()) == Some(&b)));
    }
}
