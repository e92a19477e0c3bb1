//! The leader-epoch cache and its `leader-epoch-checkpoint` file (Kafka's
//! `LeaderEpochFileCache`): for each leader epoch, the first offset written in it. Followers use
//! it through OffsetForLeaderEpoch to find where their log diverges from the new leader's.
//!
//! A change replaces the file (temporary file + rename) without fsync, and [`Log::flush`] fsyncs
//! it with the segments, as Kafka does since KAFKA-15046: the first append of a new epoch is on
//! the produce path of every partition a failover moved, and two fsyncs each (about 5 ms on this
//! kind of disk) made the first produce after a failover wait seconds across thousands of
//! partitions. Nothing is lost by waiting: an entry not yet fsynced starts at an offset not yet
//! fsynced either, and recovery rebuilds the entries of everything after the recovery point from
//! the batches' own epochs.
//!
//! [`Log::flush`]: crate::log::Log::flush

use std::fs;
use std::path::{Path, PathBuf};

use tracing::debug;

use crate::log::checkpoint::{format_checkpoint, parse_checkpoint};
use crate::log::LogError;

pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";

/// (epoch, start offset) pairs, both strictly increasing.
#[derive(Debug)]
pub struct LeaderEpochCache {
    path: PathBuf,
    entries: Vec<(i32, i64)>,
    /// The file changed since the last [`LeaderEpochCache::flush`].
    unflushed: bool,
}

impl LeaderEpochCache {
    /// Loads `<dir>/leader-epoch-checkpoint`; a missing file is an empty cache.
    pub fn load(dir: &Path) -> Result<LeaderEpochCache, LogError> {
        let path = dir.join(LEADER_EPOCH_CHECKPOINT);
        let entries = match fs::read_to_string(&path) {
            Ok(text) => parse_checkpoint(&path, &text, |f| match f {
                [epoch, offset] => Some((epoch.parse().ok()?, offset.parse().ok()?)),
                _ => None,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(LogError::io(&path)(e)),
        };
        Ok(LeaderEpochCache {
            path,
            entries,
            unflushed: false,
        })
    }

    #[cfg(test)]
    pub fn entries(&self) -> &[(i32, i64)] {
        &self.entries
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start_offset` if that is news (Kafka's `assign`): entries
    /// with an epoch or start offset not below the new one are dropped first, keeping both
    /// sequences monotonic. Persists the file when it changed.
    pub fn assign(&mut self, epoch: i32, start_offset: i64) -> Result<(), LogError> {
        if epoch < 0 {
            return Ok(());
        }
        if let Some(&(last_epoch, last_start)) = self.entries.last() {
            if last_epoch == epoch && start_offset >= last_start {
                return Ok(());
            }
        }
        self.entries.retain(|&(e, s)| e < epoch && s < start_offset);
        self.entries.push((epoch, start_offset));
        debug!(path = %self.path.display(), epoch, start_offset, "new leader epoch entry");
        self.persist()
    }

    /// Drops entries starting at or after `end_offset` (the log was truncated there).
    pub fn truncate_from_end(&mut self, end_offset: i64) -> Result<(), LogError> {
        let before = self.entries.len();
        self.entries.retain(|&(_, s)| s < end_offset);
        if self.entries.len() != before {
            self.persist()?;
        }
        Ok(())
    }

    /// Drops entries wholly below the new log start; the epoch containing it is kept, moved up
    /// to start there (Kafka's `truncateFromStart`).
    pub fn truncate_from_start(&mut self, start_offset: i64) -> Result<(), LogError> {
        let below = self.entries.iter().filter(|e| e.1 <= start_offset).count();
        if below == 0 || (below == 1 && self.entries[0].1 == start_offset) {
            return Ok(());
        }
        let kept_epoch = self.entries[below - 1].0;
        self.entries.drain(..below);
        self.entries.insert(0, (kept_epoch, start_offset));
        self.persist()
    }

    /// OffsetForLeaderEpoch (Kafka's `endOffsetFor`): the largest epoch <= `requested` and the
    /// offset where the next higher epoch starts (or the log end for the latest epoch). `None`
    /// means undefined (-1, -1): no entries, or `requested` is beyond every known epoch.
    pub fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> Option<(i32, i64)> {
        if requested < 0 {
            return None;
        }
        if self.latest_epoch() == Some(requested) {
            return Some((requested, log_end_offset));
        }
        let higher = self.entries.iter().find(|e| e.0 > requested)?;
        match self.entries.iter().rev().find(|e| e.0 <= requested) {
            Some(floor) => Some((floor.0, higher.1)),
            None => Some((requested, higher.1)),
        }
    }

    pub fn clear(&mut self) -> Result<(), LogError> {
        self.entries.clear();
        self.persist()
    }

    /// Replaces the file with the current entries, without fsync (see the module docs).
    fn persist(&mut self) -> Result<(), LogError> {
        let lines: Vec<String> = self
            .entries
            .iter()
            .map(|(e, s)| format!("{e} {s}"))
            .collect();
        let mut tmp = self.path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        fs::write(&tmp, format_checkpoint(&lines)).map_err(LogError::io(&tmp))?;
        fs::rename(&tmp, &self.path).map_err(LogError::io(&self.path))?;
        self.unflushed = true;
        Ok(())
    }

    /// Makes the last written checkpoint durable: the file, then its directory (the rename).
    pub fn flush(&mut self) -> Result<(), LogError> {
        if !self.unflushed {
            return Ok(());
        }
        fs::File::open(&self.path)
            .and_then(|f| f.sync_all())
            .map_err(LogError::io(&self.path))?;
        if let Some(dir) = self.path.parent() {
            fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(LogError::io(dir))?;
        }
        self.unflushed = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_monotonic_assign() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        cache.assign(0, 0).unwrap();
        cache.assign(0, 5).unwrap();
        cache.assign(2, 10).unwrap();
        cache.assign(3, 20).unwrap();
        let text = fs::read_to_string(dir.path().join(LEADER_EPOCH_CHECKPOINT)).unwrap();
        assert_eq!(text, "0\n3\n0 0\n2 10\n3 20\n");
        // A lower start offset for a new epoch evicts entries that no longer fit.
        cache.assign(4, 15).unwrap();
        assert_eq!(cache.entries(), &[(0, 0), (2, 10), (4, 15)]);
        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), cache.entries());
    }

    #[test]
    fn a_change_is_visible_at_once_and_fsynced_by_flush() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        cache.assign(1, 0).unwrap();
        assert!(cache.unflushed);
        // A process that dies now leaves the new file in the page cache; a restart reads it.
        let reloaded = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(reloaded.entries(), &[(1, 0)]);
        assert!(!dir.path().join("leader-epoch-checkpoint.tmp").exists());
        cache.flush().unwrap();
        assert!(!cache.unflushed);
        cache.truncate_from_end(0).unwrap();
        assert!(cache.unflushed, "truncation is written the same way");
    }

    #[test]
    fn end_offset_for_follows_kafka() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        assert_eq!(cache.end_offset_for(0, 10), None);
        cache.assign(1, 0).unwrap();
        cache.assign(3, 10).unwrap();
        cache.assign(5, 20).unwrap();
        assert_eq!(cache.end_offset_for(5, 30), Some((5, 30)));
        assert_eq!(cache.end_offset_for(3, 30), Some((3, 20)));
        assert_eq!(cache.end_offset_for(4, 30), Some((3, 20)));
        assert_eq!(cache.end_offset_for(0, 30), Some((0, 0)));
        assert_eq!(cache.end_offset_for(6, 30), None);
        assert_eq!(cache.end_offset_for(-1, 30), None);
    }

    #[test]
    fn truncation_from_both_ends() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = LeaderEpochCache::load(dir.path()).unwrap();
        cache.assign(1, 0).unwrap();
        cache.assign(2, 10).unwrap();
        cache.assign(3, 20).unwrap();
        cache.truncate_from_end(20).unwrap();
        assert_eq!(cache.entries(), &[(1, 0), (2, 10)]);
        cache.truncate_from_start(12).unwrap();
        assert_eq!(cache.entries(), &[(2, 12)]);
        assert_eq!(
            LeaderEpochCache::load(dir.path()).unwrap().entries(),
            &[(2, 12)]
        );
    }

    #[test]
    fn corrupt_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(LEADER_EPOCH_CHECKPOINT), "0\n1\nzero 0\n").unwrap();
        assert!(matches!(
            LeaderEpochCache::load(dir.path()),
            Err(LogError::BadFile { .. })
        ));
    }
}
