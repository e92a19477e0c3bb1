//! One log segment as its single writer sees it (Kafka's `LogSegment`): appends, index upkeep,
//! recovery, truncation, rolling and retention inputs. The files themselves live in the shared
//! [`SegmentFiles`], which readers use concurrently.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use crate::log::append_bytes::AppendBytes;
use crate::log::record_batch::BatchHeader;
use crate::log::segment_files::UNKNOWN;
pub use crate::log::segment_files::{file_name, ScanOutcome, SegmentFiles, TimestampOffset};
use crate::log::{LogConfig, LogError};

#[derive(Debug)]
pub struct LogSegment {
    files: Arc<SegmentFiles>,
    bytes_since_last_index_entry: u64,
    /// Max timestamp of the first batch; `segment.ms` is measured from it, as in Kafka.
    rolling_timestamp: Option<i64>,
    created_ms: i64,
    index_interval_bytes: u64,
}

impl LogSegment {
    /// Opens the segment files for `base_offset` in `dir`, creating empty ones if absent.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<LogSegment, LogError> {
        let files = SegmentFiles::open(dir, base_offset, config)?;
        Ok(LogSegment::over(files, config, now_ms))
    }

    /// Opens the cleaner's `<base>.log.cleaned` files (created empty; the caller removed any
    /// earlier ones).
    pub fn open_cleaned(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        now_ms: i64,
    ) -> Result<LogSegment, LogError> {
        let files = SegmentFiles::open_with_suffix(dir, base_offset, config, CLEANED_SUFFIX)?;
        Ok(LogSegment::over(files, config, now_ms))
    }

    /// A segment over freshly opened files: nothing appended since the last index entry yet.
    fn over(files: SegmentFiles, config: &LogConfig, now_ms: i64) -> LogSegment {
        LogSegment {
            files: Arc::new(files),
            bytes_since_last_index_entry: 0,
            rolling_timestamp: None,
            created_ms: now_ms,
            index_interval_bytes: u64::from(config.index_interval_bytes),
        }
    }

    pub fn files(&self) -> &Arc<SegmentFiles> {
        &self.files
    }

    pub fn base_offset(&self) -> i64 {
        self.files.base_offset
    }

    pub fn size(&self) -> u64 {
        self.files.size()
    }

    pub fn set_index_interval(&mut self, bytes: u32) {
        self.index_interval_bytes = u64::from(bytes);
    }

    /// True when either index has no room for another entry (Kafka rolls then).
    pub fn indexes_full(&self) -> bool {
        self.files.offset_index.is_full() || self.files.time_index.is_full()
    }

    /// How long this segment has been filling, for `segment.ms`: from its first batch's
    /// timestamp to the new batch's, or since it was created/opened if it has none. Producers
    /// choose timestamps freely, so the difference saturates instead of overflowing.
    pub fn time_waited_for_roll(&self, now_ms: i64, new_max_timestamp: i64) -> i64 {
        match self.rolling_timestamp {
            Some(ts) => new_max_timestamp.saturating_sub(ts),
            None => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Appends `bytes` (the given batches, contiguous, offsets already assigned), adds index
    /// entries every `index.interval.bytes` exactly as recovery would rebuild them, and only
    /// then publishes the new size to readers.
    pub fn append(
        &mut self,
        bytes: &AppendBytes<'_>,
        batches: &[BatchHeader],
    ) -> Result<(), LogError> {
        let start = self.files.write_tail(bytes)?;
        if start == 0 {
            self.rolling_timestamp = batches.first().map(|h| h.max_timestamp);
        }
        let mut pos = start;
        for h in batches {
            self.index_batch(pos, h)?;
            pos += h.size() as u64;
        }
        self.files.publish_size(start + bytes.len() as u64);
        Ok(())
    }

    /// Kafka's per-batch index rule: an offset index entry (batch last offset -> batch
    /// position) and a time index entry once more than `index.interval.bytes` were appended
    /// since the last entry.
    fn index_batch(&mut self, pos: u64, h: &BatchHeader) -> Result<(), LogError> {
        let files = &self.files;
        let mut max = files.max_timestamp();
        if h.max_timestamp > max.timestamp {
            max = TimestampOffset {
                timestamp: h.max_timestamp,
                offset: h.last_offset(),
            };
            files.set_max_timestamp(max);
        }
        if self.bytes_since_last_index_entry > self.index_interval_bytes {
            files.offset_index.append(h.last_offset(), pos as u32)?;
            files.time_index.maybe_append(max.timestamp, max.offset)?;
            self.bytes_since_last_index_entry = 0;
        }
        self.bytes_since_last_index_entry += h.size() as u64;
        Ok(())
    }

    /// Kafka's `LogSegment.recover`: re-reads every batch with its CRC, rebuilds both indexes
    /// and cuts the file after the last valid batch. `on_batch` sees each valid header.
    pub fn recover(
        &mut self,
        mut on_batch: impl FnMut(&BatchHeader),
    ) -> Result<ScanOutcome, LogError> {
        let files = self.files.clone();
        files.offset_index.reset()?;
        files.time_index.reset()?;
        files.set_max_timestamp(UNKNOWN);
        self.bytes_since_last_index_entry = 0;
        self.rolling_timestamp = None;
        let outcome = files.scan(0, true, |pos, h| {
            if pos == 0 {
                self.rolling_timestamp = Some(h.max_timestamp);
            }
            self.index_batch(pos, h)?;
            on_batch(h);
            Ok(())
        })?;
        files.set_size(outcome.valid_bytes)?;
        // As Kafka does: a recovered segment ends its time index with its max timestamp, like
        // a cleanly closed one.
        self.on_become_inactive()?;
        Ok(outcome)
    }

    /// The offset after the last batch (the base offset when empty), found from the last index
    /// entry as Kafka's `readNextOffset` does. The batches walked are also the ones the time
    /// index may not cover yet, so their timestamps complete the segment's max timestamp.
    pub fn load_tail(&mut self) -> Result<i64, LogError> {
        let files = self.files.clone();
        let from = match files.offset_index.last_entry()? {
            Some((_, p)) => u64::from(p),
            None => 0,
        };
        let mut next = self.base_offset();
        let mut max = files.max_timestamp();
        files.scan(from, false, |pos, h| {
            if pos == 0 {
                self.rolling_timestamp = Some(h.max_timestamp);
            }
            if h.max_timestamp > max.timestamp {
                max = TimestampOffset {
                    timestamp: h.max_timestamp,
                    offset: h.last_offset(),
                };
            }
            next = h.last_offset() + 1;
            Ok(())
        })?;
        files.set_max_timestamp(max);
        Ok(next)
    }

    /// Removes the batch containing `offset` and everything after it; returns bytes removed.
    pub fn truncate_to(&mut self, offset: i64) -> Result<u64, LogError> {
        let Some((pos, _)) = self.files.find_batch(offset)? else {
            return Ok(0);
        };
        let files = &self.files;
        let removed = files.size() - pos;
        files.offset_index.truncate_to(offset)?;
        files.time_index.truncate_to(offset)?;
        files.set_size(pos)?;
        files.set_max_timestamp(match files.time_index.last_entry()? {
            Some((timestamp, offset)) => TimestampOffset { timestamp, offset },
            None => UNKNOWN,
        });
        self.bytes_since_last_index_entry = 0;
        if pos == 0 {
            self.rolling_timestamp = None;
        }
        Ok(removed)
    }

    /// Kafka's `onBecomeInactiveSegment`: record the final max timestamp in the time index, so
    /// a reopened segment knows it without a scan, and trim both preallocated index files to
    /// their entries, and the `.log` file's reserved blocks to its data. An append after this
    /// (truncation made the segment active again) grows them back.
    pub fn on_become_inactive(&self) -> Result<(), LogError> {
        let max = self.files.max_timestamp();
        if max.timestamp >= 0 {
            self.files
                .time_index
                .maybe_append(max.timestamp, max.offset)?;
        }
        self.files.offset_index.trim()?;
        self.files.time_index.trim()?;
        self.files.trim_reserved()
    }

    /// The timestamp retention compares against: the largest batch timestamp, or the file's
    /// modification time when no batch carried one (Kafka's `largestTimestamp`).
    pub fn largest_timestamp(&self) -> Result<i64, LogError> {
        let max = self.files.max_timestamp();
        if max.timestamp >= 0 {
            return Ok(max.timestamp);
        }
        let path = self.files.log_path();
        let modified = fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(LogError::io(path))?;
        Ok(modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0))
    }

    pub fn flush(&self) -> Result<(), LogError> {
        self.files.sync()
    }

    /// Deletes the three files. Readers holding the `Arc` keep reading the unlinked data.
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self
            .files
            .log_path()
            .parent()
            .unwrap_or_else(|| Path::new("."));
        delete_files(dir, self.base_offset(), "")
    }
}

/// Suffix of the files the cleaner is still writing (Kafka's `CleanedFileSuffix`).
pub const CLEANED_SUFFIX: &str = ".cleaned";
/// Suffix of cleaned files ready to replace their originals (Kafka's `SwapFileSuffix`).
pub const SWAP_SUFFIX: &str = ".swap";
/// Suffix of replaced files about to be removed (Kafka's `DeletedFileSuffix`).
pub const DELETED_SUFFIX: &str = ".deleted";
/// The kinds of file a segment has, as `file_name` suffixes.
pub const SEGMENT_FILE_KINDS: [&str; 3] = ["log", "index", "timeindex"];

/// Removes the segment files of `base` named with `suffix` that exist.
pub fn delete_files(dir: &Path, base: i64, suffix: &str) -> Result<(), LogError> {
    for kind in SEGMENT_FILE_KINDS {
        let path = dir.join(file_name(base, kind) + suffix);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LogError::io(path)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Renames the segment files of `base` from suffix `from` to suffix `to` (Kafka's
/// `changeFileSuffixes`), the `.log` file first; a file that does not exist is skipped.
pub fn rename_files(dir: &Path, base: i64, from: &str, to: &str) -> Result<(), LogError> {
    for kind in SEGMENT_FILE_KINDS {
        let source = dir.join(file_name(base, kind) + from);
        let target = dir.join(file_name(base, kind) + to);
        match fs::rename(&source, &target) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(LogError::io(source)(e))
            }
            _ => {}
        }
    }
    Ok(())
}

impl LogSegment {
    /// The max timestamp of the segment's first batch (Kafka's `getFirstBatchTimestamp`), read
    /// from its header; `None` when the segment is empty.
    pub fn first_batch_timestamp(&self) -> Result<Option<i64>, LogError> {
        let header = self.files.read(0, crate::log::record_batch::HEADER_SIZE)?;
        Ok(BatchHeader::parse(&header).map(|h| h.max_timestamp))
    }
}
