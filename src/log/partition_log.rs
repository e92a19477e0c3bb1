//! The partition log (Kafka's `UnifiedLog` + `LocalLog`): an ordered list of segments with one
//! writer. Appends assign offsets by patching batch headers and write the bytes as they came;
//! every change is published to [`LogReader`]s as a new [`View`].

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use tracing::{debug, info};

use crate::log::append_bytes::AppendBytes;
use crate::log::checkpoint;
use crate::log::leader_epoch::LeaderEpochCache;
use crate::log::producer_state::{ProducerStateManager, SequenceCheck};
use crate::log::reader::{LogReader, View};
use crate::log::record_batch::{self, BatchHeader, NO_TIMESTAMP};
use crate::log::recovery;
use crate::log::segment::LogSegment;
use crate::log::validator::{self, Stored};
use crate::log::{LogConfig, LogError};

/// Result of an append, as a produce response reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendInfo {
    pub first_offset: i64,
    pub last_offset: i64,
    pub max_timestamp: i64,
    pub log_start_offset: i64,
    /// The broker time batches were stamped with (`LogAppendTime` topics), else -1.
    pub log_append_time_ms: i64,
    /// The batch was a retry of one already in the log; offsets are the original's.
    pub duplicate: bool,
    pub bytes: usize,
}

/// One partition's log directory, `<log.dir>/<topic>-<partition>/`.
#[derive(Debug)]
pub struct Log {
    pub(crate) dir: PathBuf,
    pub(crate) config: LogConfig,
    /// Sorted by base offset, never empty; the last one is the active segment.
    pub(crate) segments: Vec<LogSegment>,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    pub(crate) recovery_point: i64,
    pub(crate) epochs: LeaderEpochCache,
    pub(crate) producers: ProducerStateManager,
    view: Arc<RwLock<View>>,
    last_flush_ms: i64,
    /// Bumped by every truncation: a cleaning that started before one must not swap its result
    /// in (Kafka aborts cleaning before truncating).
    pub(crate) truncations: u64,
}

/// Kafka's default `producer.id.expiration.ms` (one day).
const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;

impl Log {
    /// Opens or creates the partition directory and recovers everything after
    /// `recovery_point`: every batch from the segment holding it is re-read with its CRC, a
    /// torn or corrupt tail is cut off (logged with the offset and bytes dropped) and later
    /// segments deleted, and the indexes of re-read segments are rebuilt. Then rebuilds
    /// producer state and the leader-epoch cache.
    pub fn open(
        dir: &Path,
        config: LogConfig,
        recovery_point: i64,
        log_start_offset: i64,
    ) -> Result<Log, LogError> {
        if !dir.exists() {
            fs::create_dir_all(dir).map_err(LogError::io(dir))?;
            // Make the new directory's entry durable, as Kafka flushes the parent dir.
            if let Some(parent) = dir.parent() {
                fs::File::open(parent)
                    .and_then(|d| d.sync_all())
                    .map_err(LogError::io(parent))?;
            }
        }
        let now = crate::clock::now_ms();
        let loaded = recovery::load(dir, &config, recovery_point, log_start_offset, now)?;
        let mut segments = loaded.segments;
        let log_end_offset = match segments.last_mut() {
            Some(active) => active.load_tail()?,
            None => log_start_offset,
        };
        let first_base = segments.first().map_or(0, LogSegment::base_offset);
        let mut epochs = LeaderEpochCache::load(dir)?;
        // Recovery only adds epochs newer than the checkpoint knows (Kafka's rule), so a stale
        // batch epoch cannot truncate the cache.
        for &(epoch, start) in &loaded.recovered_epochs {
            if epoch >= 0 && epochs.latest_epoch().is_none_or(|latest| epoch > latest) {
                epochs.assign(epoch, start)?;
            }
        }
        let view = Arc::new(RwLock::new(View {
            segments: Arc::from(Vec::new()),
            log_start: 0,
            log_end: 0,
        }));
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: log_start_offset.max(first_base),
            log_end_offset,
            recovery_point: recovery_point.min(log_end_offset),
            epochs,
            producers: ProducerStateManager::new(),
            view,
            last_flush_ms: now,
            truncations: 0,
        };
        if log.log_start_offset > log.log_end_offset {
            let start = log.log_start_offset;
            log.truncate_fully_and_start_at(start)?;
        }
        log.epochs.truncate_from_end(log.log_end_offset)?;
        log.epochs.truncate_from_start(log.log_start_offset)?;
        log.rebuild_producer_state(now)?;
        log.publish();
        info!(dir = %dir.display(), log_start = log.log_start_offset, log_end = log.log_end_offset,
            segments = log.segments.len(), "log opened");
        Ok(log)
    }

    /// Replays batch headers into a fresh producer state (instead of Kafka's snapshots).
    /// Segments whose newest batch is older than Kafka's `producer.id.expiration.ms` are
    /// skipped: Kafka would have expired every producer seen only there.
    fn rebuild_producer_state(&mut self, now_ms: i64) -> Result<(), LogError> {
        let mut producers = ProducerStateManager::new();
        let last = self.segments.len().saturating_sub(1);
        for (i, segment) in self.segments.iter().enumerate() {
            if i < last && now_ms - segment.largest_timestamp()? >= PRODUCER_ID_EXPIRATION_MS {
                continue;
            }
            segment.files().scan(0, false, |_, h| {
                producers.update(h, h.base_offset);
                Ok(())
            })?;
        }
        self.producers = producers;
        Ok(())
    }

    /// Makes the current segments and offsets visible to readers.
    pub(crate) fn publish(&self) {
        let segments: Vec<_> = self.segments.iter().map(|s| s.files().clone()).collect();
        *self.view.write().unwrap_or_else(|e| e.into_inner()) = View {
            segments: Arc::from(segments),
            log_start: self.log_start_offset,
            log_end: self.log_end_offset,
        };
    }

    pub(crate) fn publish_offsets(&self) {
        let mut view = self.view.write().unwrap_or_else(|e| e.into_inner());
        view.log_start = self.log_start_offset;
        view.log_end = self.log_end_offset;
    }

    /// Leader append: validate every batch and its records (`validator`), check idempotent
    /// sequences, assign offsets and the leader epoch by patching headers, then append the
    /// bytes as they came — or as validation rewrote them (stamped or recompressed batches).
    pub fn append_as_leader(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let batches = record_batch::validate(records, Some(self.config.max_message_bytes))?;
        if records.len() as u64 > self.segment_bytes() {
            return Err(LogError::RecordListTooLarge {
                size: records.len(),
                max: self.segment_bytes(),
            });
        }
        if batches.is_empty() {
            return Err(LogError::InvalidRecord("no record batch to append".into()));
        }
        let checks = self.config.validator();
        let topic_partition = self.topic_partition();
        let mut scratch = Vec::new();
        let mut headers: Vec<BatchHeader> = Vec::with_capacity(batches.len());
        let mut bytes = AppendBytes::with_capacity(records, batches.len());
        let mut next = self.log_end_offset;
        let mut sequences = self.producers.checker();
        for batch in &batches {
            let h = batch.header;
            if h.base_offset != 0 {
                return Err(LogError::InvalidRecord(format!(
                    "a client batch must have base offset 0, not {}",
                    h.base_offset
                )));
            }
            if h.is_control() {
                return Err(LogError::InvalidRecord(
                    "clients may not send control batches".into(),
                ));
            }
            let validated = validator::validate_batch(
                &records[batch.range.clone()],
                &h,
                &checks,
                now_ms,
                &topic_partition,
                &mut scratch,
            )?;
            if let Stored::Rebuilt(rebuilt) = &validated.stored {
                if rebuilt.len() > self.config.max_message_bytes {
                    return Err(LogError::RecordTooLarge {
                        size: rebuilt.len(),
                        max: self.config.max_message_bytes,
                    });
                }
            }
            if let SequenceCheck::Duplicate(first, last) = sequences.check(&h)? {
                debug!(dir = %self.dir.display(), producer_id = h.producer_id,
                    sequence = h.base_sequence, first, last, "duplicate batch");
                return Ok(AppendInfo {
                    first_offset: first,
                    last_offset: last,
                    max_timestamp: h.max_timestamp,
                    log_start_offset: self.log_start_offset,
                    log_append_time_ms: NO_TIMESTAMP,
                    duplicate: true,
                    bytes: 0,
                });
            }
            let mut h = validated.header;
            h.base_offset = next;
            h.partition_leader_epoch = leader_epoch;
            match validated.stored {
                Stored::AsSent => bytes.patch(batch.range.start, next, leader_epoch),
                Stored::NewHeader => bytes.patch_header(batch.range.start, &h),
                Stored::Rebuilt(rebuilt) => bytes.replace(
                    batch.range.start,
                    batch.range.len(),
                    rebuilt,
                    next,
                    leader_epoch,
                ),
            }
            next = h.last_offset() + 1;
            sequences.accept(&h);
            headers.push(h);
        }
        drop(sequences);
        let mut info = self.append_batches(&bytes, &headers, now_ms)?;
        if self.config.log_append_time {
            info.log_append_time_ms = now_ms;
        }
        self.epochs.assign(leader_epoch, info.first_offset)?;
        Ok(info)
    }

    /// `<topic>-<partition>`, Kafka's `TopicPartition.toString`: the directory's own name,
    /// borrowed, so that appends, which only name it in refusals, do not allocate it.
    pub(crate) fn topic_partition(&self) -> std::borrow::Cow<'_, str> {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    }

    /// Follower append: offsets were assigned by the leader. Checks structure and CRC and that
    /// offsets only grow (a gap is allowed, as after compaction upstream).
    pub fn append_as_follower(&mut self, records: &[u8]) -> Result<AppendInfo, LogError> {
        let batches = record_batch::validate_replicated(records)?;
        let headers: Vec<BatchHeader> = batches.iter().map(|b| b.header).collect();
        let Some(first) = headers.first() else {
            return Ok(AppendInfo {
                first_offset: self.log_end_offset,
                last_offset: self.log_end_offset - 1,
                max_timestamp: -1,
                log_start_offset: self.log_start_offset,
                log_append_time_ms: NO_TIMESTAMP,
                duplicate: false,
                bytes: 0,
            });
        };
        if first.base_offset < self.log_end_offset {
            return Err(LogError::UnexpectedAppendOffset {
                offset: first.base_offset,
                reason: format!("below the log end offset {}", self.log_end_offset),
            });
        }
        for pair in headers.windows(2) {
            if pair[1].base_offset <= pair[0].last_offset() {
                return Err(LogError::UnexpectedAppendOffset {
                    offset: pair[1].base_offset,
                    reason: format!(
                        "not after the previous batch's last offset {}",
                        pair[0].last_offset()
                    ),
                });
            }
        }
        let info = self.append_batches(
            &AppendBytes::unchanged(records),
            &headers,
            crate::clock::now_ms(),
        )?;
        for h in &headers {
            self.epochs
                .assign(h.partition_leader_epoch, h.base_offset)?;
        }
        Ok(info)
    }

    /// Rolls if needed, appends to the active segment, records producer state, publishes.
    fn append_batches(
        &mut self,
        bytes: &AppendBytes<'_>,
        headers: &[BatchHeader],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let (Some(first), Some(last)) = (headers.first(), headers.last()) else {
            return Err(LogError::InvalidRecord("no record batch to append".into()));
        };
        let max_timestamp = headers.iter().map(|h| h.max_timestamp).max().unwrap_or(-1);
        self.maybe_roll(
            bytes.len() as u64,
            first.base_offset,
            last.last_offset(),
            max_timestamp,
            now_ms,
        )?;
        self.active_mut()?.append(bytes, headers)?;
        for h in headers {
            self.producers.update(h, h.base_offset);
        }
        self.log_end_offset = last.last_offset() + 1;
        self.publish_offsets();
        Ok(AppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset(),
            max_timestamp,
            log_start_offset: self.log_start_offset,
            log_append_time_ms: NO_TIMESTAMP,
            duplicate: false,
            bytes: bytes.len(),
        })
    }

    /// Kafka's `shouldRoll`: the append would overflow `segment.bytes`, the segment is older
    /// than `segment.ms`, an index is full, or offsets would not fit a 4-byte relative offset.
    fn maybe_roll(
        &mut self,
        size: u64,
        first_offset: i64,
        last_offset: i64,
        max_timestamp: i64,
        now_ms: i64,
    ) -> Result<(), LogError> {
        let Some(active) = self.segments.last() else {
            return Ok(());
        };
        let filled = active.size() > 0;
        let reason = if filled && active.size() + size > self.segment_bytes() {
            "segment.bytes"
        } else if filled
            && active.time_waited_for_roll(now_ms, max_timestamp) > self.config.segment_ms
        {
            "segment.ms"
        } else if filled && active.indexes_full() {
            "index full"
        } else if last_offset - active.base_offset() > i64::from(i32::MAX) {
            "relative offset overflow"
        } else {
            return Ok(());
        };
        active.on_become_inactive()?;
        let segment = LogSegment::open(&self.dir, first_offset, &self.config, now_ms)?;
        info!(dir = %self.dir.display(), base_offset = first_offset, reason, "rolled new segment");
        self.segments.push(segment);
        self.publish();
        Ok(())
    }

    /// The segment appends go to. Only a failed segment deletion can leave none, and then
    /// the directory is as broken as after any other storage error.
    fn active_mut(&mut self) -> Result<&mut LogSegment, LogError> {
        let dir = self.dir.clone();
        self.segments.last_mut().ok_or_else(|| LogError::Io {
            path: dir,
            source: std::io::Error::other("no active segment after a failed deletion"),
        })
    }

    /// `segment.bytes`, capped where 4-byte index positions stop (Kafka's config is an int).
    fn segment_bytes(&self) -> u64 {
        self.config.segment_bytes.min(i32::MAX as u64)
    }

    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Raises the log start offset (DeleteRecords, or a follower following the leader's log
    /// start); never beyond the log end. Returns whether it moved. Segments wholly below it go
    /// at the next [`Log::delete_old_segments`].
    pub fn maybe_increment_log_start_offset(&mut self, offset: i64) -> Result<bool, LogError> {
        let offset = offset.min(self.log_end_offset);
        if offset <= self.log_start_offset {
            return Ok(false);
        }
        info!(dir = %self.dir.display(), from = self.log_start_offset, to = offset,
            "log start offset advanced");
        self.log_start_offset = offset;
        self.epochs.truncate_from_start(offset)?;
        self.publish_offsets();
        Ok(true)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Every offset below this is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    pub fn reader(&self) -> LogReader {
        LogReader::new(self.view.clone())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Fsyncs every segment from the one holding the recovery point, and the directory (new
    /// segment files), then moves the recovery point to the log end.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.flush_at(crate::clock::now_ms())
    }

    fn flush_at(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.epochs.flush()?;
        if self.recovery_point < self.log_end_offset {
            let from = self
                .segments
                .iter()
                .rposition(|s| s.base_offset() <= self.recovery_point)
                .unwrap_or(0);
            for segment in &self.segments[from..] {
                segment.flush()?;
            }
            fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(LogError::io(&self.dir))?;
            self.recovery_point = self.log_end_offset;
        }
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Flushes when `flush.messages` offsets are unflushed or `flush.ms` has passed (segments
    /// rolled since the last flush are flushed first, without the writer lock: `flush.rs`).
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        let unflushed = (self.log_end_offset - self.recovery_point).max(0) as u64;
        let by_time = self
            .config
            .flush_interval_ms
            .is_some_and(|ms| now_ms - self.last_flush_ms >= ms as i64);
        if unflushed >= self.config.flush_interval_messages || (by_time && unflushed > 0) {
            self.flush_at(now_ms)?;
        }
        Ok(())
    }

    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.epochs.end_offset_for(epoch, self.log_end_offset)
    }

    pub fn latest_epoch(&self) -> Option<i32> {
        self.epochs.latest_epoch()
    }

    pub fn update_config(&mut self, config: LogConfig) {
        for segment in &mut self.segments {
            segment.set_index_interval(config.index_interval_bytes);
        }
        self.config = config;
    }

    pub fn write_partition_metadata(&self, topic_id: &str) -> Result<(), LogError> {
        checkpoint::write_partition_metadata(&self.dir, topic_id)
    }

    /// Flushes and records the active segment's max timestamp in its time index (as Kafka's
    /// `LogSegment.close` does), so the next open need not scan for it.
    pub fn close(mut self) -> Result<(), LogError> {
        self.trim_for_shutdown()?;
        self.flush_for_shutdown()
    }

    /// The first half of [`Log::close`] for a log still shared with request handlers (the
    /// broker's clean shutdown): records the active segment's max timestamp in its time index
    /// and trims its preallocated files, so a stopped broker leaves exactly Kafka's files. An
    /// append after this grows them again. Nothing is synced here: a broker trims all its logs
    /// before it syncs any, so the metadata changes of thousands of logs reach the disk in a
    /// few journal commits instead of one per file (`docs/benchmarks.md`, section 7).
    pub fn trim_for_shutdown(&self) -> Result<(), LogError> {
        match self.segments.last() {
            Some(active) => active.on_become_inactive(),
            None => Ok(()),
        }
    }

    /// The second half: makes the active segment's files and anything past the recovery point
    /// durable.
    pub fn flush_for_shutdown(&mut self) -> Result<(), LogError> {
        if let Some(active) = self.segments.last() {
            active.flush()?;
        }
        self.flush()
    }

    /// Removes the partition directory and everything in it.
    pub fn delete(self) -> Result<(), LogError> {
        info!(dir = %self.dir.display(), "deleting log");
        fs::remove_dir_all(&self.dir).map_err(LogError::io(&self.dir))
    }
}

#[cfg(test)]
#[path = "partition_log_tests.rs"]
mod tests;
