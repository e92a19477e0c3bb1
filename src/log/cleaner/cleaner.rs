//! One cleaning of one log (Kafka's `Cleaner.doClean`): map the dirty section's keys to their
//! latest offsets, then rewrite every segment below the end of what was mapped, group by group,
//! keeping for each key only its latest record, and swap each rewritten group in.
//!
//! What a rewrite keeps, as Kafka's `MemoryRecords.filterTo` with the cleaner's filter:
//! - a record past the mapped section; otherwise a keyed record at or after its key's mapped
//!   offset, unless it is a tombstone whose batch's delete horizon has passed (a keyless record
//!   on a compacted log is dropped, as Kafka counts it invalid);
//! - a batch with every record kept and nothing to mark is copied byte for byte; otherwise the
//!   kept records are re-framed into a new batch with the same base offset, last offset delta,
//!   producer fields, base sequence and leader epoch, and a fresh CRC-32C;
//! - a tombstone kept for the first time marks its batch with a delete horizon of now +
//!   `delete.retention.ms` (KIP-534: base timestamp = horizon, attribute bit 6); a later
//!   cleaning after the horizon removes it;
//! - a batch left with no record survives, empty, when it is the last batch of a producer, so
//!   the producer's sequence survives cleaning;
//! - a compressed batch is decompressed to be mapped and filtered; a rewritten one is
//!   recompressed with its own codec at that codec's default level, as Kafka's
//!   `buildRetainedRecordsInto` does. Control batches are copied unchanged and not mapped.
//!
//! Offsets never change, so readers and followers see gaps where records were removed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use tracing::{debug, info};

use super::offset_map::OffsetMap;
use super::record_filter::{codec_of, payload, record_timestamp, Filter};
use super::throttler::Throttler;
use crate::log::append_bytes::AppendBytes;
use crate::log::compression::{self, Codec, Levels};
use crate::log::record::{write_record, Records};
use crate::log::record_batch::{
    BatchHeader, Batches, DELETE_HORIZON_FLAG, HEADER_SIZE, LOG_OVERHEAD, NO_TIMESTAMP,
};
use crate::log::segment::{delete_files, LogSegment, SegmentFiles, CLEANED_SUFFIX};
use crate::log::{LogConfig, LogError};

/// Bytes read from a segment at a time (Kafka's `log.cleaner.io.buffer.size` is 512 KiB per
/// read and write buffer); a larger batch is read whole.
const READ_CHUNK: usize = 1 << 20;
/// The smallest a keyed record can be on disk (length, attributes, timestamp and offset deltas,
/// key length, value length, header count: one byte each, and a key byte): sizes the map for a
/// dirty section smaller than the memory budget.
const MIN_RECORD_BYTES: u64 = 8;

/// Why a cleaning stopped without finishing.
#[derive(Debug, thiserror::Error)]
pub enum CleanerError {
    /// The broker is shutting down (Kafka's `LogCleaningAbortedException`).
    #[error("cleaning aborted")]
    Aborted,
    #[error(transparent)]
    Log(#[from] LogError),
}

/// A log chosen for cleaning, as copied under its lock (Kafka's `LogToClean`).
#[derive(Debug, Clone)]
pub struct LogToClean {
    pub dir: PathBuf,
    pub config: LogConfig,
    /// Every segment but the active one, in offset order.
    pub segments: Vec<Arc<SegmentFiles>>,
    pub first_dirty_offset: i64,
    /// A segment base offset: nothing at or after it is cleaned.
    pub first_uncleanable_offset: i64,
    /// The last offset of each producer's last batch.
    pub producer_last_offsets: HashMap<i64, i64>,
    /// The log's truncation count when copied: a truncation since cancels the swap.
    pub truncations: u64,
}

/// What a finished cleaning did.
#[derive(Debug, Clone, PartialEq)]
pub struct CleanResult {
    /// The next cleaning's first dirty offset (Kafka checkpoints it).
    pub end_offset: i64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_read: u64,
    pub records_kept: u64,
    pub map_utilization: f64,
}

/// Swaps a cleaned group in: `(base offset of the .cleaned files, the segments it replaces)`;
/// `Ok(false)` when the log changed and the group was discarded.
pub type Swap<'a> = dyn FnMut(i64, &[Arc<SegmentFiles>]) -> Result<bool, LogError> + 'a;

/// One cleaner thread's working state: buffers reused across cleanings and the map budget.
pub struct Cleaner {
    map_slots: usize,
    load_factor: f64,
    throttler: Arc<Throttler>,
    stop: Arc<AtomicBool>,
    read_buf: Vec<u8>,
    write_buf: Vec<u8>,
    headers: Vec<BatchHeader>,
    /// A compressed batch's records, decompressed.
    payload_buf: Vec<u8>,
    /// The kept records of a compressed batch, before they are compressed again.
    records_buf: Vec<u8>,
}

impl Cleaner {
    /// A cleaner whose offset map may use `map_memory` bytes, filled to `load_factor`.
    pub fn new(
        map_memory: usize,
        load_factor: f64,
        throttler: Arc<Throttler>,
        stop: Arc<AtomicBool>,
    ) -> Cleaner {
        Cleaner {
            map_slots: OffsetMap::slots_for(map_memory),
            load_factor,
            throttler,
            stop,
            read_buf: Vec::new(),
            write_buf: Vec::new(),
            headers: Vec::new(),
            payload_buf: Vec::new(),
            records_buf: Vec::new(),
        }
    }

    fn check_stop(&self) -> Result<(), CleanerError> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(CleanerError::Aborted);
        }
        Ok(())
    }

    /// Cleans `log` up to what the offset map could hold; `swap` replaces each cleaned group.
    /// `None` when nothing could be cleaned.
    pub fn clean(
        &mut self,
        log: &LogToClean,
        now_ms: i64,
        swap: &mut Swap<'_>,
    ) -> Result<Option<CleanResult>, CleanerError> {
        let dirty: Vec<&Arc<SegmentFiles>> = log
            .segments
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                let next_base = log
                    .segments
                    .get(i + 1)
                    .map_or(log.first_uncleanable_offset, |n| n.base_offset);
                next_base > log.first_dirty_offset && s.base_offset < log.first_uncleanable_offset
            })
            .map(|(_, s)| s)
            .collect();
        let dirty_bytes: u64 = dirty.iter().map(|s| s.size()).sum();
        let wanted = (dirty_bytes / MIN_RECORD_BYTES) as f64 / self.load_factor.max(0.01);
        let slots = self.map_slots.min(wanted.ceil() as usize + 1);
        let mut map = OffsetMap::new(slots, self.load_factor);
        let mut stats = CleanResult {
            end_offset: log.first_dirty_offset,
            bytes_read: 0,
            bytes_written: 0,
            records_read: 0,
            records_kept: 0,
            map_utilization: 0.0,
        };
        info!(dir = %log.dir.display(), segments = dirty.len(), from = log.first_dirty_offset,
            to = log.first_uncleanable_offset, slots, "building offset map");
        for segment in dirty {
            if self.map_segment(segment, log.first_dirty_offset, &mut map, &mut stats)? {
                debug!(dir = %log.dir.display(), base_offset = segment.base_offset,
                    "offset map full, segment partly mapped");
                break;
            }
        }
        let end_offset = map.latest_offset() + 1;
        if end_offset <= log.first_dirty_offset {
            return Ok(None);
        }
        stats.end_offset = end_offset;
        stats.map_utilization = map.utilization();
        let cleanable: Vec<Arc<SegmentFiles>> = log
            .segments
            .iter()
            .filter(|s| s.base_offset < end_offset)
            .cloned()
            .collect();
        let filter = Filter {
            map: &map,
            now_ms,
            delete_retention_ms: log.config.delete_retention_ms,
            producer_last_offsets: &log.producer_last_offsets,
        };
        info!(dir = %log.dir.display(), end_offset, "cleaning log");
        for group in group_by_size(&cleanable, &log.config, log.first_uncleanable_offset) {
            let base = group[0].base_offset;
            let outcome = self
                .clean_group(log, group, &filter, now_ms, &mut stats)
                .and_then(|()| swap(base, group).map_err(CleanerError::from));
            match outcome {
                Ok(true) => {}
                Ok(false) => return Ok(None),
                Err(e) => {
                    delete_files(&log.dir, base, CLEANED_SUFFIX)?;
                    return Err(e);
                }
            }
            self.check_stop()?;
        }
        Ok(Some(stats))
    }

    /// Kafka's `buildOffsetMapForSegment`; `true` when the map filled up.
    fn map_segment(
        &mut self,
        segment: &SegmentFiles,
        start: i64,
        map: &mut OffsetMap,
        stats: &mut CleanResult,
    ) -> Result<bool, CleanerError> {
        let mut pos = u64::from(segment.offset_index.lookup(start)?);
        let size = segment.size();
        while pos < size {
            self.check_stop()?;
            let read = self.read_batches(segment, pos, size)?;
            stats.bytes_read += read as u64;
            let buf = std::mem::take(&mut self.read_buf);
            let mut scratch = std::mem::take(&mut self.payload_buf);
            let mut full = false;
            for b in Batches::new(&buf[..read]) {
                let h = b.header;
                if !h.is_control() {
                    let records = payload(&buf[b.range.clone()], codec_of(&h)?, &mut scratch)?;
                    for record in Records::in_payload(records, h.records_count) {
                        let r = record?;
                        let offset = h.base_offset + i64::from(r.offset_delta);
                        if let (Some(key), true) = (r.key, offset >= start) {
                            if !map.put(key, offset) {
                                full = true;
                                break;
                            }
                        }
                    }
                }
                if full {
                    break;
                }
                if h.last_offset() >= start {
                    map.update_latest_offset(h.last_offset());
                }
            }
            self.read_buf = buf;
            self.payload_buf = scratch;
            self.throttler.maybe_throttle(read);
            if full {
                return Ok(true);
            }
            pos += read as u64;
        }
        Ok(false)
    }

    /// Reads the whole batches starting at `pos` into `read_buf`: at least one, as many as fit
    /// [`READ_CHUNK`]. Returns the bytes of whole batches read.
    fn read_batches(
        &mut self,
        segment: &SegmentFiles,
        pos: u64,
        size: u64,
    ) -> Result<usize, LogError> {
        let len = READ_CHUNK.min((size - pos) as usize);
        segment.read_into(pos, len, &mut self.read_buf)?;
        let whole = Batches::new(&self.read_buf).map(|b| b.range.len()).sum();
        if whole > 0 {
            return Ok(whole);
        }
        let big = BatchHeader::parse(&self.read_buf)
            .filter(|h| h.batch_length >= (HEADER_SIZE - LOG_OVERHEAD) as i32)
            .filter(|h| pos + h.size() as u64 <= size)
            .ok_or_else(|| {
                LogError::Corrupt(format!(
                    "{}: no whole batch at position {pos}",
                    segment.log_path().display()
                ))
            })?;
        segment.read_into(pos, big.size(), &mut self.read_buf)?;
        if self.read_buf.len() < big.size() {
            return Err(LogError::Corrupt(format!(
                "{}: batch at position {pos} is cut short",
                segment.log_path().display()
            )));
        }
        Ok(big.size())
    }

    /// Kafka's `cleanSegments`: writes `<base>.log.cleaned` from every segment of `group`,
    /// rebuilds its indexes as appends do, flushes it and gives it the last segment's mtime.
    fn clean_group(
        &mut self,
        log: &LogToClean,
        group: &[Arc<SegmentFiles>],
        filter: &Filter<'_>,
        now_ms: i64,
        stats: &mut CleanResult,
    ) -> Result<(), CleanerError> {
        let base = group[0].base_offset;
        delete_files(&log.dir, base, CLEANED_SUFFIX)?;
        let mut cleaned = LogSegment::open_cleaned(&log.dir, base, &log.config, now_ms)?;
        for source in group {
            info!(dir = %log.dir.display(), source = source.base_offset, into = base,
                "cleaning segment");
            let size = source.size();
            let mut pos = 0;
            while pos < size {
                self.check_stop()?;
                let read = self.read_batches(source, pos, size)?;
                self.filter_chunk(read, filter, stats)?;
                if !self.write_buf.is_empty() {
                    cleaned.append(&AppendBytes::unchanged(&self.write_buf), &self.headers)?;
                }
                stats.bytes_read += read as u64;
                stats.bytes_written += self.write_buf.len() as u64;
                self.throttler.maybe_throttle(read + self.write_buf.len());
                pos += read as u64;
            }
        }
        cleaned.on_become_inactive()?;
        cleaned.flush()?;
        if let Some(last) = group.last() {
            let modified = std::fs::metadata(last.log_path())
                .and_then(|m| m.modified())
                .unwrap_or_else(|_| SystemTime::now());
            let path = cleaned.files().log_path().to_path_buf();
            cleaned
                .files()
                .log_file()
                .set_modified(modified)
                .map_err(LogError::io(path))?;
        }
        Ok(())
    }

    /// Filters the batches in `read_buf[..read]` into `write_buf` / `headers`.
    fn filter_chunk(
        &mut self,
        read: usize,
        filter: &Filter<'_>,
        stats: &mut CleanResult,
    ) -> Result<(), LogError> {
        self.write_buf.clear();
        self.headers.clear();
        let buf = std::mem::take(&mut self.read_buf);
        let mut scratch = std::mem::take(&mut self.payload_buf);
        let result = (|| {
            for b in Batches::new(&buf[..read]) {
                let h = b.header;
                let bytes = &buf[b.range.clone()];
                if h.is_control() {
                    self.keep_whole(bytes, h);
                    continue;
                }
                let codec = codec_of(&h)?;
                let records = payload(bytes, codec, &mut scratch)?;
                let verdict = filter.judge(records, &h)?;
                stats.records_read += u64::try_from(h.records_count).unwrap_or(0);
                stats.records_kept += u64::try_from(verdict.kept).unwrap_or(0);
                let mark = verdict.has_tombstone && h.delete_horizon_ms().is_none();
                if verdict.kept > 0 && verdict.all_kept && !mark {
                    self.keep_whole(bytes, h);
                } else if verdict.kept > 0 {
                    let horizon = if mark {
                        Some(filter.now_ms.saturating_add(filter.delete_retention_ms))
                    } else {
                        h.delete_horizon_ms()
                    };
                    self.rewrite(records, codec, &h, filter, verdict.kept, horizon)?;
                } else if filter.last_of_producer(&h) {
                    self.write_empty(&h);
                }
            }
            Ok(())
        })();
        self.read_buf = buf;
        self.payload_buf = scratch;
        result
    }

    fn keep_whole(&mut self, bytes: &[u8], h: BatchHeader) {
        self.write_buf.extend_from_slice(bytes);
        self.headers.push(h);
    }

    /// Kafka's `buildRetainedRecordsInto`: the kept records under the original batch's
    /// identity, with the original last offset (so the last sequence survives), compressed
    /// again with the batch's codec.
    fn rewrite(
        &mut self,
        payload: &[u8],
        codec: Codec,
        h: &BatchHeader,
        filter: &Filter<'_>,
        kept: i32,
        horizon: Option<i64>,
    ) -> Result<(), LogError> {
        let start = self.write_buf.len();
        self.write_buf.resize(start + HEADER_SIZE, 0);
        let mut records = std::mem::take(&mut self.records_buf);
        records.clear();
        let out = if codec == Codec::None {
            &mut self.write_buf
        } else {
            &mut records
        };
        let mut base_timestamp = horizon;
        let mut max_timestamp = NO_TIMESTAMP;
        for record in Records::in_payload(payload, h.records_count) {
            let r = record?;
            if !filter.keep(h, &r) {
                continue;
            }
            let ts = record_timestamp(h, &r);
            let base = *base_timestamp.get_or_insert(ts);
            // Producers choose timestamps freely; Java's long arithmetic wraps, so does this.
            write_record(out, &r, r.offset_delta, ts.wrapping_sub(base));
            max_timestamp = max_timestamp.max(ts);
        }
        if codec != Codec::None {
            compression::compress(codec, &Levels::default(), &records, &mut self.write_buf)?;
        }
        self.records_buf = records;
        let attributes = match horizon {
            Some(_) => h.attributes | DELETE_HORIZON_FLAG,
            None => h.attributes & !DELETE_HORIZON_FLAG,
        };
        let header = BatchHeader {
            batch_length: (self.write_buf.len() - start - LOG_OVERHEAD) as i32,
            attributes,
            base_timestamp: base_timestamp.unwrap_or(NO_TIMESTAMP),
            max_timestamp: if h.is_log_append_time() {
                h.max_timestamp
            } else {
                max_timestamp
            },
            records_count: kept,
            ..*h
        };
        header.write_sealed(&mut self.write_buf[start..]);
        self.headers.push(header);
        Ok(())
    }

    /// Kafka's `DefaultRecordBatch.writeEmptyHeader`: a record-less batch that keeps a
    /// producer's last offset and sequence.
    fn write_empty(&mut self, h: &BatchHeader) {
        let start = self.write_buf.len();
        self.write_buf.resize(start + HEADER_SIZE, 0);
        // Timestamp type, transactional and control bits stay; no compression, no horizon.
        let header = BatchHeader {
            batch_length: (HEADER_SIZE - LOG_OVERHEAD) as i32,
            attributes: h.attributes & 0x38,
            base_timestamp: NO_TIMESTAMP,
            records_count: 0,
            ..*h
        };
        header.write_sealed(&mut self.write_buf[start..]);
        self.headers.push(header);
    }
}

/// Kafka's `groupSegmentsBySize`: consecutive segments whose total log and index sizes fit one
/// segment and whose offsets fit 4-byte relative offsets become one cleaned segment.
pub fn group_by_size<'a>(
    segments: &'a [Arc<SegmentFiles>],
    config: &LogConfig,
    first_uncleanable_offset: i64,
) -> Vec<&'a [Arc<SegmentFiles>]> {
    let max_size = config.segment_bytes.min(i32::MAX as u64);
    let max_index = u64::from(config.max_index_size);
    let mut groups = Vec::new();
    let mut start = 0;
    while start < segments.len() {
        let first = &segments[start];
        let (mut log, mut index, mut time) = (
            first.size(),
            first.offset_index.entries() * 8,
            first.time_index.entries() * 12,
        );
        let mut end = start + 1;
        while let Some(next) = segments.get(end) {
            let last_offset = segments
                .get(end + 1)
                .map_or(first_uncleanable_offset, |s| s.base_offset)
                - 1;
            let fits = log + next.size() <= max_size
                && index + next.offset_index.entries() * 8 <= max_index
                && time + next.time_index.entries() * 12 <= max_index
                && (next.size() == 0 || last_offset - first.base_offset <= i64::from(i32::MAX));
            if !fits {
                break;
            }
            log += next.size();
            index += next.offset_index.entries() * 8;
            time += next.time_index.entries() * 12;
            end += 1;
        }
        groups.push(&segments[start..end]);
        start = end;
    }
    groups
}
