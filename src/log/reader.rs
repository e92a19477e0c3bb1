//! Concurrent reads of a partition log: fetches and ListOffsets.
//!
//! A [`LogReader`] holds the log's published [`View`]: the segment list and end offsets. A read
//! copies the view under a read lock (a few `Arc` clones), releases it, then works with
//! positional reads on the shared segment files, so appends and reads never wait on each other.

use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::log::record_batch::Batches;
use crate::log::segment::SegmentFiles;
use crate::log::LogError;

/// What readers may see: published by the writer after every change.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub segments: Arc<[Arc<SegmentFiles>]>,
    pub log_start: i64,
    pub log_end: i64,
}

/// A cheap, cloneable, thread-safe handle for reading one partition log.
#[derive(Debug, Clone)]
pub struct LogReader {
    view: Arc<RwLock<View>>,
}

impl LogReader {
    pub(crate) fn new(view: Arc<RwLock<View>>) -> LogReader {
        LogReader { view }
    }

    fn snapshot(&self) -> View {
        self.view.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn log_end_offset(&self) -> i64 {
        self.snapshot().log_end
    }

    pub fn log_start_offset(&self) -> i64 {
        self.snapshot().log_start
    }

    /// Reads whole batches from the one holding `offset`, up to `max_bytes` (but at least one
    /// batch if `min_one_batch`), from a single segment as Kafka does, leaving out any batch
    /// whose last offset is at or beyond `upper_bound` (high watermark or log end).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one_batch: bool,
    ) -> Result<Bytes, LogError> {
        let view = self.snapshot();
        if offset < view.log_start || offset > view.log_end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start: view.log_start,
                log_end: view.log_end,
            });
        }
        let bound = upper_bound.min(view.log_end);
        let first = view
            .segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1);
        for segment in view.segments.iter().skip(first) {
            if offset >= bound || segment.base_offset >= bound {
                break;
            }
            let Some((pos, header)) = segment.find_batch(offset)? else {
                continue;
            };
            if header.last_offset() >= bound || (!min_one_batch && header.size() > max_bytes) {
                break;
            }
            let want = max_bytes.max(if min_one_batch { header.size() } else { 0 });
            let available = segment.size().saturating_sub(pos);
            let buf = segment.read(pos, want.min(available as usize))?;
            let mut end = 0;
            for batch in Batches::new(&buf) {
                if batch.header.last_offset() >= bound {
                    break;
                }
                end = batch.range.end;
            }
            return Ok(buf.slice(..end));
        }
        Ok(Bytes::new())
    }

    /// ListOffsets by timestamp: the first record at or after the log start whose timestamp is at
    /// least `timestamp`, as (offset, timestamp). Batch headers find the batch; inside an
    /// uncompressed batch only record lengths and deltas are read (compressed batches answer
    /// with their first offset and max timestamp).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        let view = self.snapshot();
        for segment in view.segments.iter() {
            // Kafka's `largestTimestamp` test: a segment's max timestamp is exact (the tail
            // beyond its time index is scanned at load), so older segments are skipped unread.
            if segment.max_timestamp().timestamp < timestamp {
                continue;
            }
            if let Some(found) = segment.find_by_timestamp(timestamp, view.log_start)? {
                if found.0 < view.log_end {
                    return Ok(Some(found));
                }
            }
        }
        Ok(None)
    }

    /// ListOffsets -3 (MAX_TIMESTAMP): the largest batch timestamp and the last offset of the
    /// first batch that reached it (Kafka's shallow offset of the max timestamp).
    pub fn max_timestamp_offset(&self) -> Result<Option<(i64, i64)>, LogError> {
        let view = self.snapshot();
        let mut best: Option<(i64, i64)> = None;
        for segment in view.segments.iter() {
            let m = segment.max_timestamp();
            if m.timestamp >= 0
                && m.offset >= view.log_start
                && best.is_none_or(|(_, ts)| m.timestamp > ts)
            {
                best = Some((m.offset, m.timestamp));
            }
        }
        Ok(best)
    }
}
