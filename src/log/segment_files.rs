//! The part of a segment shared by its writer and any number of concurrent readers: the open
//! `.log` file (the segment's only descriptor), the memory-mapped `.index` and `.timeindex`, and
//! the counters readers need. Everything here works through `&self` with positional I/O and
//! atomics, so a fetch never waits for a produce.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, IoSlice, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use rustix::fs::FallocateFlags;
use tracing::debug;

use crate::log::append_bytes::AppendBytes;
use crate::log::index::{OffsetIndex, TimeIndex};
use crate::log::legacy_records;
use crate::log::record_batch::{self, BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use crate::log::{LogConfig, LogError};

/// Bytes read at a time when walking batch headers: a bit more than the default
/// `index.interval.bytes`, so the batch wanted is usually within the first read.
const WALK_CHUNK: usize = 8 * 1024;

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

/// No batch with a timestamp seen yet (Kafka's `TimestampOffset.UNKNOWN`).
pub const UNKNOWN: TimestampOffset = TimestampOffset {
    timestamp: -1,
    offset: -1,
};

/// The part of a segment shared between the writer and concurrent readers.
#[derive(Debug)]
pub struct SegmentFiles {
    pub base_offset: i64,
    log_path: PathBuf,
    /// Shared so a fetch response can keep sending from it after the segment is deleted.
    log: Arc<File>,
    size: AtomicU64,
    /// End of the disk blocks reserved for the `.log` file (writer only; see [`Self::reserve`]).
    reserved: AtomicU64,
    /// Cleared when the file system refuses `fallocate`; writes then just allocate as they go.
    can_reserve: AtomicBool,
    /// Never reserve past this (the segment size at open).
    segment_bytes: u64,
    pub offset_index: OffsetIndex,
    pub time_index: TimeIndex,
    max_timestamp: Mutex<TimestampOffset>,
}

impl SegmentFiles {
    /// Opens (or creates) the three files of the segment at `base_offset` in `dir`.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
    ) -> Result<SegmentFiles, LogError> {
        Self::open_with_suffix(dir, base_offset, config, "")
    }

    /// [`Self::open`] for files named with a trailing suffix, as Kafka's `LogSegment.open` with a
    /// `fileSuffix`: the cleaner writes `<base>.log.cleaned` (and its indexes) this way.
    pub fn open_with_suffix(
        dir: &Path,
        base_offset: i64,
        config: &LogConfig,
        suffix: &str,
    ) -> Result<SegmentFiles, LogError> {
        let log_path = dir.join(file_name(base_offset, "log") + suffix);
        let log = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(LogError::io(&log_path))?;
        let size = log.metadata().map_err(LogError::io(&log_path))?.len();
        let offset_index = OffsetIndex::open(
            &dir.join(file_name(base_offset, "index") + suffix),
            base_offset,
            config.max_index_size,
        )?;
        let time_index = TimeIndex::open(
            &dir.join(file_name(base_offset, "timeindex") + suffix),
            base_offset,
            config.max_index_size,
        )?;
        let max_timestamp = match time_index.last_entry()? {
            Some((timestamp, offset)) => TimestampOffset { timestamp, offset },
            None => UNKNOWN,
        };
        Ok(SegmentFiles {
            base_offset,
            log_path,
            log: Arc::new(log),
            size: AtomicU64::new(size),
            reserved: AtomicU64::new(size),
            can_reserve: AtomicBool::new(true),
            segment_bytes: config.segment_bytes,
            offset_index,
            time_index,
            max_timestamp: Mutex::new(max_timestamp),
        })
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The open `.log` file, for sending ranges of it straight to a socket.
    pub fn log_file(&self) -> &Arc<File> {
        &self.log
    }

    /// Appends `bytes` at the current end without publishing them (writer only): vectored
    /// positional writes, at most `IOV_MAX` pieces at a time, until everything is written.
    pub(crate) fn write_tail(&self, bytes: &AppendBytes<'_>) -> Result<u64, LogError> {
        /// Linux's `IOV_MAX`.
        const MAX_PIECES: usize = 1024;
        let start = self.size();
        self.reserve(start, bytes.len() as u64);
        let mut slices = bytes.io_slices();
        let mut remaining: &mut [IoSlice<'_>] = &mut slices;
        let mut pos = start;
        while !remaining.is_empty() {
            let take = remaining.len().min(MAX_PIECES);
            let n = match rustix::io::pwritev(&*self.log, &remaining[..take], pos) {
                Ok(0) => Err(io::Error::new(io::ErrorKind::WriteZero, "wrote 0 bytes")),
                Ok(n) => Ok(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => Err(io::Error::from(e)),
            }
            .map_err(LogError::io(&self.log_path))?;
            pos += n as u64;
            IoSlice::advance_slices(&mut remaining, n);
        }
        Ok(start)
    }

    /// Reserves disk blocks ahead of the write at `start` with `fallocate(FALLOC_FL_KEEP_SIZE)`,
    /// so appends write into allocated blocks: ext4's per-block delayed allocation was an eighth
    /// of the broker's produce CPU, and reserved blocks take page-cache writes about 1.3x as
    /// fast (measured with 1 MiB writes). The file's size does not change, so readers and
    /// recovery see exactly the bytes written; [`Self::trim_reserved`] gives the rest back when
    /// the segment stops being active. The reservation runs ahead by an eighth of what the
    /// segment holds (at least four times this write, 16 KiB to 8 MiB), so an idle partition
    /// reserves little. Best effort: a refusal (no support, no space) only ends reserving.
    fn reserve(&self, start: u64, len: u64) {
        const MIN_AHEAD: u64 = 16 << 10;
        const MAX_AHEAD: u64 = 8 << 20;
        let end = start + len;
        let reserved = self.reserved.load(Ordering::Relaxed);
        if end <= reserved || !self.can_reserve.load(Ordering::Relaxed) {
            return;
        }
        let ahead = (4 * len).max(end / 8).clamp(MIN_AHEAD, MAX_AHEAD);
        let from = reserved.max(start);
        let to = (end + ahead).min(self.segment_bytes.max(end));
        match rustix::fs::fallocate(&*self.log, FallocateFlags::KEEP_SIZE, from, to - from) {
            Ok(()) => self.reserved.store(to, Ordering::Relaxed),
            Err(e) => {
                self.can_reserve.store(false, Ordering::Relaxed);
                debug!(path = %self.log_path.display(), error = %e, "not reserving log blocks ahead");
            }
        }
    }

    /// Frees the blocks reserved past the end of the `.log` file (truncating a file to its own
    /// size releases them on ext4 and xfs). Always truncates, so blocks a killed broker had
    /// reserved are given back too.
    pub(crate) fn trim_reserved(&self) -> Result<(), LogError> {
        let size = self.size();
        self.reserved.store(size, Ordering::Relaxed);
        self.log.set_len(size).map_err(LogError::io(&self.log_path))
    }

    /// Makes bytes below `size` visible to readers (writer only).
    pub(crate) fn publish_size(&self, size: u64) {
        self.size.store(size, Ordering::Release);
    }

    pub(crate) fn sync(&self) -> Result<(), LogError> {
        self.log.sync_data().map_err(LogError::io(&self.log_path))?;
        self.offset_index.sync()?;
        self.time_index.sync()
    }

    /// Bytes of complete batches published to readers.
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    pub fn max_timestamp(&self) -> TimestampOffset {
        *self.max_timestamp.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_max_timestamp(&self, value: TimestampOffset) {
        *self.max_timestamp.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }

    /// Reads up to `len` bytes at `pos`; fewer if the file ends first.
    pub fn read(&self, pos: u64, len: usize) -> Result<Bytes, LogError> {
        let mut buf = BytesMut::zeroed(len);
        let filled = self.fill(pos, &mut buf)?;
        buf.truncate(filled);
        Ok(buf.freeze())
    }

    /// Reads up to `len` bytes at `pos` into `buf` (replacing its contents, keeping its
    /// allocation); fewer if the file ends first. The cleaner reads whole segments this way.
    pub fn read_into(&self, pos: u64, len: usize, buf: &mut Vec<u8>) -> Result<(), LogError> {
        buf.clear();
        buf.resize(len, 0);
        let filled = self.fill(pos, buf)?;
        buf.truncate(filled);
        Ok(())
    }

    /// Reads the log file at `pos` into all of `buf`, or until the file ends; the bytes read.
    fn fill(&self, pos: u64, buf: &mut [u8]) -> Result<usize, LogError> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self
                .log
                .read_at(&mut buf[filled..], pos + filled as u64)
                .map_err(LogError::io(&self.log_path))?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(filled)
    }

    /// Walks batch headers from `pos` (a batch boundary) up to `limit`, returning the first
    /// batch `wanted` accepts. Reads [`WALK_CHUNK`] bytes at a time, so finding a batch a few
    /// KiB past an index entry costs one or two reads, not one per batch.
    fn walk(
        &self,
        mut pos: u64,
        limit: u64,
        wanted: impl Fn(&BatchHeader) -> bool,
    ) -> Result<Option<(u64, BatchHeader)>, LogError> {
        while pos + HEADER_SIZE as u64 <= limit {
            let len = WALK_CHUNK.min((limit - pos) as usize);
            let chunk = self.read(pos, len)?;
            let mut off = 0usize;
            while let Some(h) = chunk.get(off..).and_then(BatchHeader::parse) {
                if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32
                    || pos + (off + h.size()) as u64 > limit
                {
                    return Ok(None);
                }
                if wanted(&h) {
                    return Ok(Some((pos + off as u64, h)));
                }
                off += h.size();
            }
            if off == 0 {
                // The file is shorter than `limit` said (a concurrent truncation).
                return Ok(None);
            }
            pos += off as u64;
        }
        Ok(None)
    }

    /// Where the run of whole batches starting with `first` (at `pos`) ends: the last batch ends
    /// within `limit` bytes of the file and holds no offset at or beyond `bound`. The offset index
    /// skips most batches unread; the rest are walked by their headers alone (one small `pread`
    /// each), so the records themselves are never read.
    pub fn batches_end(
        &self,
        pos: u64,
        first: &BatchHeader,
        limit: u64,
        bound: i64,
    ) -> Result<u64, LogError> {
        let mut end = pos + first.size() as u64;
        if let Some(skip) = self.offset_index.floor_position(limit, bound - 1)? {
            end = end.max(u64::from(skip));
        }
        let mut header = [0u8; HEADER_SIZE];
        while end + HEADER_SIZE as u64 <= limit {
            match self.log.read_exact_at(&mut header, end) {
                Ok(()) => {}
                // Truncated under us: what came before is still whole.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(LogError::io(&self.log_path)(e)),
            }
            let Some(h) = BatchHeader::parse(&header) else {
                break;
            };
            if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32
                || end + h.size() as u64 > limit
                || h.last_offset() >= bound
            {
                break;
            }
            end += h.size() as u64;
        }
        Ok(end)
    }

    /// Position and header of the first batch whose last offset is >= `offset` (Kafka's
    /// `translateOffset`): start at the offset index's hint and walk batch headers.
    pub fn find_batch(&self, offset: i64) -> Result<Option<(u64, BatchHeader)>, LogError> {
        let limit = self.size();
        let start = u64::from(self.offset_index.lookup(offset)?);
        self.walk(start, limit, |h| h.last_offset() >= offset)
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
        let pos = u64::from(self.offset_index.lookup(start)?);
        let found = self.walk(pos, limit, |h| {
            h.max_timestamp >= timestamp && h.last_offset() >= min_offset
        })?;
        let Some((pos, h)) = found else {
            return Ok(None);
        };
        // Kafka names the exact record: look inside the batch, decompressing it if need be.
        let batch = self.read(pos, h.size())?;
        if let Some(hit) = record_batch::first_record_at_or_after(&batch, &h, timestamp, min_offset)
        {
            return Ok(Some(hit));
        }
        Ok(Some((h.base_offset.max(min_offset), h.max_timestamp)))
    }

    /// Reads batches sequentially from `from` (a batch boundary), calling `visit` with each
    /// batch's position and header; stops at the first torn, oversized or (if
    /// `verify_crc`) corrupt batch. Reads the whole file through a large buffer, so a full scan
    /// costs sequential I/O rather than one syscall per batch.
    /// A magic 0/1 message whose CRC-32 holds is a segment written before Kafka 0.11, not a
    /// torn tail: loading stops with an error rather than cutting the old data off, since this
    /// broker reads only v2 batches from its segments.
    fn refuse_legacy(&self, pos: u64, h: &BatchHeader, file_len: u64) -> Result<(), LogError> {
        if !matches!(h.magic, 0 | 1) || pos + h.size() as u64 > file_len {
            return Ok(());
        }
        let mut message = vec![0u8; h.size()];
        self.log
            .read_exact_at(&mut message, pos)
            .map_err(LogError::io(&self.log_path))?;
        if legacy_records::Messages::new(&message).all(|m| m.is_ok()) {
            tracing::error!(path = %self.log_path.display(), position = pos, magic = h.magic,
                "segment holds message format v0/v1, which zkafka does not read from disk");
            return Err(LogError::UnsupportedForMessageFormat(h.magic));
        }
        Ok(())
    }

    pub fn scan(
        &self,
        from: u64,
        verify_crc: bool,
        mut visit: impl FnMut(u64, &BatchHeader) -> Result<(), LogError>,
    ) -> Result<ScanOutcome, LogError> {
        let path = &self.log_path;
        let file_len = self.log.metadata().map_err(LogError::io(path))?.len();
        let mut reader = BufReader::with_capacity(1 << 20, &*self.log);
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
            self.refuse_legacy(pos, &h, file_len)?;
            if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
                return Ok(stop(
                    pos,
                    format!("invalid batch length {}", h.batch_length),
                ));
            }
            if pos + h.size() as u64 > file_len {
                return Ok(stop(pos, format!("batch of {} bytes is torn", h.size())));
            }
            if verify_crc {
                batch.resize(h.size(), 0);
                reader
                    .read_exact(&mut batch[HEADER_SIZE..])
                    .map_err(LogError::io(path))?;
                if let Err(e) = record_batch::ensure_valid(&batch, &h) {
                    return Ok(stop(pos, e.to_string()));
                }
            } else {
                // Only headers are wanted: skip the records (within the buffer when possible).
                reader
                    .seek_relative((h.size() - HEADER_SIZE) as i64)
                    .map_err(LogError::io(path))?;
            }
            visit(pos, &h)?;
            pos += h.size() as u64;
        }
        Ok(ScanOutcome {
            valid_bytes: pos,
            stop_reason: None,
        })
    }

    /// Cuts the `.log` file to `size` bytes (writer only).
    pub(crate) fn set_size(&self, size: u64) -> Result<(), LogError> {
        self.size.store(size, Ordering::Release);
        self.reserved.store(size, Ordering::Relaxed);
        self.log.set_len(size).map_err(LogError::io(&self.log_path))
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
