//! Concurrent reads of a partition log: fetches and ListOffsets.
//!
//! A [`LogReader`] holds the log's published [`View`]: the segment list and end offsets. A read
//! copies the view under a read lock (a few `Arc` clones), releases it, then works with
//! positional reads on the shared segment files, so appends and reads never wait on each other.
//! Fetch does not even read the records: it gets a [`LogSlice`] (a byte range of a segment file)
//! and the connection sends that range from the page cache.

use std::fs::File;
use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::log::segment::SegmentFiles;
use crate::log::LogError;

/// What readers may see: published by the writer after every change.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub segments: Arc<[Arc<SegmentFiles>]>,
    pub log_start: i64,
    pub log_end: i64,
}

/// Whole stored batches: `len` bytes of one segment's `.log` file from `position`.
#[derive(Debug, Clone)]
pub struct LogSlice {
    segment: Arc<SegmentFiles>,
    pub position: u64,
    pub len: usize,
}

impl LogSlice {
    /// The open segment file. Holding it keeps the bytes readable even if retention deletes the
    /// segment meanwhile (the unlinked inode lives until the last handle closes).
    pub fn file(&self) -> &Arc<File> {
        self.segment.log_file()
    }

    /// The batches copied into memory.
    pub fn read(&self) -> Result<Bytes, LogError> {
        self.segment.read(self.position, self.len)
    }
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
        match self.read_slice(offset, max_bytes, upper_bound, min_one_batch)? {
            Some(slice) => slice.read(),
            None => Ok(Bytes::new()),
        }
    }

    /// What [`LogReader::read`] would return, as a range of the segment file instead of bytes;
    /// `None` when no batch qualifies. Only batch headers are read to find the range's end.
    pub fn read_slice(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one_batch: bool,
    ) -> Result<Option<LogSlice>, LogError> {
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
            let limit = segment.size().min(pos.saturating_add(want as u64));
            let end = segment.batches_end(pos, &header, limit, bound)?;
            return Ok(Some(LogSlice {
                segment: segment.clone(),
                position: pos,
                len: (end - pos) as usize,
            }));
        }
        Ok(None)
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::FileExt;

    use crate::log::record_batch::Batches;
    use crate::log::test_util::*;
    use crate::log::{Log, LogConfig};

    /// Every batch of a one-segment log as (position, size, last offset), from a full read.
    fn all_batches(log: &Log) -> Vec<(u64, usize, i64)> {
        let seg = log.segments[0].files();
        let bytes = seg.read(0, seg.size() as usize).unwrap();
        Batches::new(&bytes)
            .map(|b| (b.range.start as u64, b.range.len(), b.header.last_offset()))
            .collect()
    }

    /// The slice Kafka's rules call for, worked out from the full list of batches.
    fn expected(
        batches: &[(u64, usize, i64)],
        offset: i64,
        max_bytes: usize,
        bound: i64,
        min_one: bool,
    ) -> Option<(u64, usize)> {
        let i = batches.iter().position(|b| b.2 >= offset)?;
        let (pos, size, last) = batches[i];
        if last >= bound || (!min_one && size > max_bytes) {
            return None;
        }
        let want = max_bytes.max(if min_one { size } else { 0 });
        let mut len = 0;
        for &(_, size, last) in &batches[i..] {
            if len + size > want || last >= bound {
                break;
            }
            len += size;
        }
        Some((pos, len))
    }

    #[test]
    fn slices_end_where_a_full_walk_of_the_batches_says() {
        let dir = tempfile::tempdir().unwrap();
        let config = LogConfig {
            segment_bytes: 1 << 20,
            index_interval_bytes: 100,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let mut log = Log::open(dir.path(), config, 0, 0).unwrap();
        for i in 0..150usize {
            let b = batch(1 + i % 4, 1000, (-1, -1, -1), (i * 37) % 120);
            log.append_as_leader(&b, 0, 0).unwrap();
        }
        assert_eq!(log.segments.len(), 1);
        assert!(log.segments[0].files().offset_index.entries() > 20);
        let batches = all_batches(&log);
        let end = log.log_end_offset();
        let reader = log.reader();
        for offset in (0..end).step_by(7) {
            for max_bytes in [0, 60, 333, 1000, 4096, 1 << 20] {
                for bound in [offset, offset + 1, offset + 40, end - 3, end] {
                    for min_one in [false, true] {
                        let got = reader
                            .read_slice(offset, max_bytes, bound, min_one)
                            .unwrap()
                            .map(|s| (s.position, s.len));
                        let want = expected(&batches, offset, max_bytes, bound, min_one);
                        assert_eq!(got, want, "{offset} {max_bytes} {bound} {min_one}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_slice_outlives_retention_and_truncation_makes_it_short() {
        let (_dir, mut log) = filled(30, 3);
        let reader = log.reader();
        let old = reader.read_slice(0, 1 << 20, 90, true).unwrap().unwrap();
        let want = old.read().unwrap();
        let second = log.segments[1].base_offset();
        log.update_config(LogConfig {
            retention_ms: 10,
            ..small_config()
        });
        assert_eq!(log.delete_old_segments(1_000_000, second).unwrap(), 1);
        let mut got = vec![0; old.len];
        old.file().read_exact_at(&mut got, old.position).unwrap();
        assert_eq!(got, want, "the deleted segment's bytes are still served");

        let last = reader.read_slice(87, 1 << 20, 90, true).unwrap().unwrap();
        log.truncate_to(84).unwrap();
        let mut buf = vec![0; last.len];
        let err = last
            .file()
            .read_exact_at(&mut buf, last.position)
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
