//! DescribeLogDirs (`kafka-log-dirs --describe`; Kafka's `ReplicaManager.describeLogDirs`): each
//! configured log dir with the size of the partitions it holds and its file system's space.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::ReplicaManager;

/// One partition's log in a log dir.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionLogInfo {
    pub partition: i32,
    /// Bytes of its segments.
    pub size: i64,
    /// How far the log end is behind the high watermark (Kafka's `getLogEndOffsetLag`), 0 when
    /// it is not behind.
    pub offset_lag: i64,
}

/// One log dir: its absolute path, the partitions asked for (by topic), and its space.
#[derive(Debug, Clone, PartialEq)]
pub struct LogDirInfo {
    pub path: String,
    /// Topic -> partitions. A topic with a log here whose partitions were not asked for still
    /// appears, with no partitions, as in Kafka.
    pub topics: BTreeMap<String, Vec<PartitionLogInfo>>,
    /// Total and usable bytes of the file system (-1 if it cannot be read).
    pub total_bytes: i64,
    pub usable_bytes: i64,
    /// KAFKA_STORAGE_ERROR (56) for an offline dir, which then lists nothing; else 0.
    pub error_code: i16,
}

/// The path Kafka reports for a log dir (`toAbsolutePath`: absolute, symbolic links kept).
fn absolute(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// (total, usable) bytes of the file system holding `dir`.
fn space(dir: &Path) -> (i64, i64) {
    match rustix::fs::statvfs(dir) {
        Ok(s) => {
            let block = s.f_frsize as i64;
            (
                (s.f_blocks as i64).saturating_mul(block),
                (s.f_bavail as i64).saturating_mul(block),
            )
        }
        Err(_) => (-1, -1),
    }
}

impl ReplicaManager {
    /// Describes `log_dirs`, listing the partitions `wanted` accepts.
    pub fn describe_log_dirs(
        &self,
        log_dirs: &[PathBuf],
        wanted: impl Fn(&str, i32) -> bool,
    ) -> Vec<LogDirInfo> {
        let mut dirs: Vec<LogDirInfo> = log_dirs
            .iter()
            .map(|d| {
                let path = absolute(d);
                // Kafka answers an offline dir with the error alone (space unknown: -1).
                let offline = self.logs.failures().is_offline(d);
                let (total_bytes, usable_bytes) = if offline { (-1, -1) } else { space(&path) };
                LogDirInfo {
                    path: path.display().to_string(),
                    topics: BTreeMap::new(),
                    total_bytes,
                    usable_bytes,
                    error_code: if offline {
                        kafka_protocol::error::ResponseError::KafkaStorageError.code()
                    } else {
                        0
                    },
                }
            })
            .collect();
        for p in self.all_partitions() {
            let (parent, size, log_end) = p.with_log(|log| {
                let size: u64 = log.segments.iter().map(|s| s.size()).sum();
                let parent = log.dir().parent().map(absolute);
                (parent, size as i64, log.log_end_offset())
            });
            let Some(dir) = dirs
                .iter_mut()
                .find(|d| parent.as_deref() == Some(Path::new(&d.path)))
            else {
                continue;
            };
            let listed = dir.topics.entry(p.topic.clone()).or_default();
            if wanted(&p.topic, p.index) {
                listed.push(PartitionLogInfo {
                    partition: p.index,
                    size,
                    offset_lag: (p.high_watermark() - log_end).max(0),
                });
            }
        }
        for d in &mut dirs {
            for partitions in d.topics.values_mut() {
                partitions.sort_by_key(|p| p.partition);
            }
        }
        dirs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_absolute_and_space_is_read() {
        let p = absolute(Path::new("relative/dir"));
        assert!(p.is_absolute() && p.ends_with("relative/dir"));
        let (total, usable) = space(Path::new("/"));
        assert!(total > 0 && usable >= 0 && usable <= total);
        assert_eq!(space(Path::new("/no/such/dir/anywhere")), (-1, -1));
    }
}
