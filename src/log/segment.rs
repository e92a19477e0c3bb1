//! One log segment: `<base>.log` plus its `.index` and `.timeindex`, named by the 20-digit base
//! offset as Kafka names them.
//!
//! The files and the few counters readers need live in [`SegmentFiles`], shared through an `Arc`:
//! readers use positional reads on the same handles while the single writer appends, so a fetch
//! never waits for a produce. [`LogSegment`] adds the writer-only bookkeeping.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use bytes::{Bytes, BytesMut};

use crate::log::index::{OffsetIndex, TimeIndex};
use crate::log::record_batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use crate::log::{LogConfig, LogError};

/// `<base offset as 20 digits>.<suffix>`, Kafka's segment file naming.
pub fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:020}.{suffix}")
}

/// Largest timestamp seen in a segment and the offset of the batch that first reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimestampOffset {
    pub timestamp: i64,
    pub offset: i64,
}

const UNKNOWN: TimestampOffset = TimestampOffset {
    timestamp: -1,
    offset: -1,
};

/// The part of a segment shared between the writer and concurrent readers.
#[derive(Debug)]
pub struct SegmentFiles {
    pub base_offset: i64,
    log_path: PathBuf,
    log: File,
    size: AtomicU64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    max_timestamp: Mutex<TimestampOffset>,
}

impl SegmentFiles {
    /// Bytes of complete batches published to readers.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn max_timestamp(&self) -> TimestampOffset {
        *self.max_timestamp.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_max_timestamp(&self, value: TimestampOffset) {
        *self.max_timestamp.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// Reads up to `len` bytes at `pos`; fewer if the file ends first.
    pub fn read(&self, pos: u64, len: usize) -> Result<Bytes, LogError> {
        let mut buf = BytesMut::zeroed(len);
        let mut filled = 0;
        while filled < len {
            let n = self
                .log
                .read_at(&mut buf[filled..], pos + filled as u64)
                .map_err(LogError::io(&self.log_path))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        Ok(buf.freeze())
    }

    /// The header of the batch at `pos`, if a whole plausible header lies below `limit`.
    fn header_at(&self, pos: u64, limit: u64) -> Result<Option<BatchHeader>, LogError> {
        if pos + HEADER_SIZE as u64 > limit {
            return Ok(None);
        }
        let bytes = self.read(pos, HEADER_SIZE)?;
        Ok(BatchHeader::parse(&bytes)
            .filter(|h| h.batch_length >= (HEADER_SIZE - LOG_OVERHEAD) as i32)
            .filter(|h| pos + h.size() as u64 <= limit))
    }

    /// Position and header of the first batch whose last offset is >= `offset` (Kafka's
    /// `translateOffset`): start at the offset index's hint and walk batch headers.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let limit = self.size();
        let mut pos = u64::from(self.offset_index.lookup(offset)?);
        while let Some(h) = self.header_at(pos, limit)? {
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }

    /// The first batch at or after `min_offset` whose max timestamp is >= `timestamp`, as
    /// (offset, that batch's max timestamp). The time index gives a starting point.
    pub fn find_by_timestamp(
        &self,
        timestamp: i64,
        min_offset: i64,
    ) -> Result<Option<(i64, i64)>, LogError> {
        let limit = self.size();
        let start = match self.time_index.lookup(timestamp)? {
            Some((_, offset)) => offset.max(min_offset),
            None => min_offset.max(self.base_offset),
        };
        let mut pos = u64::from(self.offset_index.lookup(start)?);
        while let Some(h) = self.header_at(pos, limit)? {
            if h.max_timestamp >= timestamp && h.last_offset() >= min_offset {
                return Ok(Some((h.base_offset.max(min_offset), h.max_timestamp)));
            }
            pos += h.size() as u64;
        }
        Ok(None)
    }
}

/// Why a scan of a segment stopped before its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOutcome {
    /// Bytes of complete (and, when checked, CRC-valid) batches from the start.
    pub valid_bytes: u64,
    /// Set when bytes after `valid_bytes` could not be read as a batch.
    pub stop_reason: Option<String>,
}

/// A segment as its single writer sees it.
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
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(LogError::io(&log_path))?;
        let size = log.metadata().map_err(LogError::io(&log_path))?.len();
        let offset_index = OffsetIndex::open(
            &dir.join(file_name(base_offset, "index")),
            base_offset,
            config.max_index_size,
        )?;
        let time_index = TimeIndex::open(
            &dir.join(file_name(base_offset, "timeindex")),
            base_offset,
            config.max_index_size,
        )?;
        let max_timestamp = match time_index.last_entry()? {
            Some((timestamp, offset)) => TimestampOffset { timestamp, offset },
            None => UNKNOWN,
        };
        Ok(LogSegment {
            files: Arc::new(SegmentFiles {
                base_offset,
                log_path,
                log,
                size: AtomicU64::new(size),
                offset_index,
                time_index,
                max_timestamp: Mutex::new(max_timestamp),
            }),
            bytes_since_last_index_entry: 0,
            rolling_timestamp: None,
            created_ms: now_ms,
            index_interval_bytes: u64::from(config.index_interval_bytes),
        })
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

    /// How long this segment has been filling, for `segment.ms`.
    pub fn time_waited_for_roll(&self, now_ms: i64, new_max_timestamp: i64) -> i64 {
        match self.rolling_timestamp {
            Some(ts) => new_max_timestamp - ts,
            None => now_ms - self.created_ms,
        }
    }

    /// Appends `bytes` (the given batches, contiguous, offsets already assigned) and adds index
    /// entries every `index.interval.bytes`, exactly as recovery would rebuild them.
    pub fn append(&mut self, bytes: &[u8], batches: &[BatchHeader]) -> Result<(), LogError> {
        let files = &self.files;
        let start = files.size();
        files
            .log
            .write_all_at(bytes, start)
            .map_err(LogError::io(&files.log_path))?;
        if start == 0 {
            self.rolling_timestamp = batches.first().map(|h| h.max_timestamp);
        }
        let mut pos = start;
        for h in batches {
            self.index_batch(pos, h)?;
            pos += h.size() as u64;
        }
        self.files
            .size
            .store(start + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

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

    /// Reads batches sequentially from `from` (a batch boundary), calling `visit` with each
    /// batch's position, header and bytes; stops at the first torn, oversized or (if
    /// `verify_crc`) corrupt batch. Reads the whole file through a large buffer, so a full scan
    /// costs sequential I/O rather than one syscall per batch.
    pub fn scan(
        &self,
        from: u64,
        verify_crc: bool,
        mut visit: impl FnMut(u64, &BatchHeader) -> Result<(), LogError>,
    ) -> Result<ScanOutcome, LogError> {
        let files = &self.files;
        let path = &files.log_path;
        let file_len = files.log.metadata().map_err(LogError::io(path))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &files.log);
        reader
            .seek(SeekFrom::Start(from))
            .map_err(LogError::io(path))?;
        let mut pos = from;
        let mut batch = Vec::new();
        let stop = |pos: u64, reason: String| ScanOutcome {
            valid_bytes: pos,
            stop_reason: Some(reason),
        };
        while pos < file_len {
            if file_len - pos < HEADER_SIZE as u64 {
                return Ok(stop(
                    pos,
                    format!("{} bytes of a partial header", file_len - pos),
                ));
            }
            batch.resize(HEADER_SIZE, 0);
            reader.read_exact(&mut batch).map_err(LogError::io(path))?;
            let Some(h) = BatchHeader::parse(&batch) else {
                return Ok(stop(pos, "unreadable header".into()));
            };
            if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
                return Ok(stop(
                    pos,
                    format!("invalid batch length {}", h.batch_length),
                ));
            }
            if pos + h.size() as u64 > file_len {
                return Ok(stop(pos, format!("batch of {} bytes is torn", h.size())));
            }
            batch.resize(h.size(), 0);
            reader
                .read_exact(&mut batch[HEADER_SIZE..])
                .map_err(LogError::io(path))?;
            if verify_crc {
                if let Err(e) = record_batch::ensure_valid(&batch, &h) {
                    return Ok(stop(pos, e.to_string()));
                }
            }
            visit(pos, &h)?;
            pos += h.size() as u64;
        }
        Ok(ScanOutcome {
            valid_bytes: pos,
            stop_reason: None,
        })
    }

    /// Kafka's `LogSegment.recover`: rebuilds both indexes from a CRC-checked scan and truncates
    /// whatever follows the last valid batch. Returns the scan outcome and the batch headers.
    pub fn recover(&mut self) -> Result<(ScanOutcome, Vec<BatchHeader>), LogError> {
        self.files.offset_index.reset()?;
        self.files.time_index.reset()?;
        self.files.set_max_timestamp(UNKNOWN);
        self.bytes_since_last_index_entry = 0;
        self.rolling_timestamp = None;
        let mut headers = Vec::new();
        let outcome = self.scan(0, true, |_, h| {
            headers.push(*h);
            Ok(())
        });
        let outcome = outcome?;
        let mut pos = 0;
        for h in &headers {
            if pos == 0 {
                self.rolling_timestamp = Some(h.max_timestamp);
            }
            self.index_batch(pos, h)?;
            pos += h.size() as u64;
        }
        self.set_size(outcome.valid_bytes)?;
        Ok((outcome, headers))
    }

    fn set_size(&self, size: u64) -> Result<(), LogError> {
        let files = &self.files;
        files.size.store(size, Ordering::Release);
        files
            .log
            .set_len(size)
            .map_err(LogError::io(&files.log_path))
    }

    /// The offset after the last batch (the base offset when empty), found from the last index
    /// entry as Kafka's `readNextOffset` does. The batches walked are also the ones the time
    /// index may not cover yet, so their timestamps complete the segment's max timestamp.
    pub fn load_tail(&mut self) -> Result<i64, LogError> {
        let files = &self.files;
        let mut pos = match files.offset_index.last_entry()? {
            Some((_, p)) => u64::from(p),
            None => 0,
        };
        let mut next = self.base_offset();
        let limit = files.size();
        let mut max = files.max_timestamp();
        while let Some(h) = files.header_at(pos, limit)? {
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
            pos += h.size() as u64;
        }
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
        self.set_size(pos)?;
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
    /// a reopened segment knows it without a scan.
    pub fn on_become_inactive(&self) -> Result<(), LogError> {
        let max = self.files.max_timestamp();
        if max.timestamp >= 0 {
            self.files
                .time_index
                .maybe_append(max.timestamp, max.offset)?;
        }
        Ok(())
    }

    /// The timestamp retention compares against: the largest batch timestamp, or the file's
    /// modification time when no batch carried one (Kafka's `largestTimestamp`).
    pub fn largest_timestamp(&self) -> Result<i64, LogError> {
        let max = self.files.max_timestamp();
        if max.timestamp >= 0 {
            return Ok(max.timestamp);
        }
        let path = &self.files.log_path;
        let modified = fs::metadata(path)
            .and_then(|m| m.modified())
            .map_err(LogError::io(path))?;
        Ok(modified
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0))
    }

    pub fn flush(&self) -> Result<(), LogError> {
        let files = &self.files;
        files
            .log
            .sync_data()
            .map_err(LogError::io(&files.log_path))?;
        files.offset_index.sync()?;
        files.time_index.sync()
    }

    /// Deletes the three files. Readers holding the `Arc` keep reading the unlinked data.
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.files.log_path.parent().map(Path::to_path_buf);
        let base = self.base_offset();
        for suffix in ["log", "index", "timeindex"] {
            let path = dir
                .as_deref()
                .unwrap_or_else(|| Path::new("."))
                .join(file_name(base, suffix));
            match fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LogError::io(path)(e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}
