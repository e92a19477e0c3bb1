//! `.index` and `.timeindex` files: sparse, sorted, fixed-size big-endian entries.
//!
//! Offset index entry: relative offset (4) + file position (4). Time index entry: timestamp (8) +
//! relative offset (4). Both are memory-mapped and hold no file descriptor, preallocated while
//! active and trimmed at roll and close, as in Kafka ([`EntryFile`] says why and how).

use std::marker::PhantomData;
use std::path::Path;

use crate::log::entry_file::{EntryFile, MAX_ENTRY};
use crate::log::LogError;

const OFFSET_ENTRY: usize = 8;
const TIME_ENTRY: usize = MAX_ENTRY;

fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// What tells the two index kinds apart (Kafka's `AbstractIndex` subclasses): an entry's size,
/// how it is read, and the offset it points at.
pub trait IndexEntry: Copy {
    const SIZE: usize;
    fn parse(b: &[u8], base_offset: i64) -> Self;
    fn offset(&self) -> i64;
}

/// An offset index entry: (offset, position in the `.log` file).
impl IndexEntry for (i64, u32) {
    const SIZE: usize = OFFSET_ENTRY;
    fn parse(b: &[u8], base_offset: i64) -> Self {
        (base_offset + i64::from(i32_at(b, 0)), i32_at(b, 4) as u32)
    }
    fn offset(&self) -> i64 {
        self.0
    }
}

/// A time index entry: (timestamp, offset).
impl IndexEntry for (i64, i64) {
    const SIZE: usize = TIME_ENTRY;
    fn parse(b: &[u8], base_offset: i64) -> Self {
        (timestamp_at(b), base_offset + i64::from(i32_at(b, 8)))
    }
    fn offset(&self) -> i64 {
        self.1
    }
}

fn timestamp_at(b: &[u8]) -> i64 {
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&b[..8]);
    i64::from_be_bytes(ts)
}

/// One index file of entries `E` (Kafka's `AbstractIndex`).
#[derive(Debug)]
pub struct Index<E> {
    base_offset: i64,
    max_entries: u64,
    inner: EntryFile,
    entry: PhantomData<E>,
}

/// Maps offsets to byte positions in the segment's `.log` file.
pub type OffsetIndex = Index<(i64, u32)>;

/// Maps timestamps to offsets; timestamps strictly increase from entry to entry.
pub type TimeIndex = Index<(i64, i64)>;

impl<E: IndexEntry> Index<E> {
    pub fn open(path: &Path, base_offset: i64, max_index_size: u32) -> Result<Self, LogError> {
        Ok(Index {
            base_offset,
            max_entries: u64::from(max_index_size) / E::SIZE as u64,
            inner: EntryFile::open(path, E::SIZE, max_index_size)?,
            entry: PhantomData,
        })
    }

    pub fn entries(&self) -> u64 {
        self.inner.len()
    }

    pub fn is_full(&self) -> bool {
        self.entries() >= self.max_entries
    }

    fn entry(&self, n: u64) -> Result<E, LogError> {
        Ok(E::parse(&self.inner.read(n)?, self.base_offset))
    }

    pub fn last_entry(&self) -> Result<Option<E>, LogError> {
        match self.entries().checked_sub(1) {
            Some(n) => self.entry(n).map(Some),
            None => Ok(None),
        }
    }

    /// Kafka's `sanityCheck`: whole entries, and none pointing below the base offset.
    pub fn is_sane(&self) -> Result<bool, LogError> {
        if self.inner.has_partial_entry() {
            return Ok(false);
        }
        Ok(match self.last_entry()? {
            Some(e) => e.offset() >= self.base_offset,
            None => true,
        })
    }

    pub fn reset(&self) -> Result<(), LogError> {
        self.inner.truncate_entries(0)
    }

    pub fn sync(&self) -> Result<(), LogError> {
        self.inner.sync()
    }

    /// Cuts the file to its entries (the segment became inactive or is closing).
    pub fn trim(&self) -> Result<(), LogError> {
        self.inner.trim()
    }
}

impl OffsetIndex {
    /// Appends (offset, position); offsets must increase.
    pub fn append(&self, offset: i64, position: u32) -> Result<(), LogError> {
        let rel = (offset - self.base_offset) as i32;
        let mut e = [0u8; OFFSET_ENTRY];
        e[..4].copy_from_slice(&rel.to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.inner.append(&e)
    }

    /// The position of the last indexed offset <= `offset`, or 0 (the segment start).
    pub fn lookup(&self, offset: i64) -> Result<u32, LogError> {
        let base = self.base_offset;
        match self
            .inner
            .floor(offset, |b| base + i64::from(i32_at(b, 0)))?
        {
            Some(n) => Ok(self.entry(n)?.1),
            None => Ok(0),
        }
    }

    /// The position of the last entry at or below both `max_position` and `max_offset`. An entry
    /// is a batch's position and last offset, so every batch before that position ends within
    /// `max_position` and holds only offsets up to `max_offset`: a reader can skip them unread.
    pub fn floor_position(
        &self,
        max_position: u64,
        max_offset: i64,
    ) -> Result<Option<u32>, LogError> {
        let base = self.base_offset;
        let max_position = i64::try_from(max_position).unwrap_or(i64::MAX);
        let by_position = self
            .inner
            .floor(max_position, |b| i64::from(i32_at(b, 4) as u32))?;
        let by_offset = self
            .inner
            .floor(max_offset, |b| base + i64::from(i32_at(b, 0)))?;
        match by_position.zip(by_offset) {
            Some((a, b)) => Ok(Some(self.entry(a.min(b))?.1)),
            None => Ok(None),
        }
    }

    /// Drops entries for offsets >= `offset`.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let base = self.base_offset;
        let keep = match self
            .inner
            .floor(offset - 1, |b| base + i64::from(i32_at(b, 0)))?
        {
            Some(n) => n + 1,
            None => 0,
        };
        self.inner.truncate_entries(keep)
    }
}

impl TimeIndex {
    /// Kafka's `TimeIndex.maybeAppend`: appends only if `timestamp` is larger than the last one.
    pub fn maybe_append(&self, timestamp: i64, offset: i64) -> Result<(), LogError> {
        if let Some((last_ts, _)) = self.last_entry()? {
            if timestamp <= last_ts {
                return Ok(());
            }
        }
        let rel = (offset - self.base_offset) as i32;
        let mut e = [0u8; TIME_ENTRY];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&rel.to_be_bytes());
        self.inner.append(&e)
    }

    /// The entry with the largest timestamp <= `timestamp`, or `None` if all are larger.
    pub fn lookup(&self, timestamp: i64) -> Result<Option<(i64, i64)>, LogError> {
        match self.inner.floor(timestamp, timestamp_at)? {
            Some(n) => self.entry(n).map(Some),
            None => Ok(None),
        }
    }

    /// Drops entries pointing at offsets >= `offset` (offsets grow with timestamps here).
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        let mut keep = self.entries();
        while keep > 0 && self.entry(keep - 1)?.1 >= offset {
            keep -= 1;
        }
        self.inner.truncate_entries(keep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_round_trip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000100.index");
        let idx = OffsetIndex::open(&path, 100, 1024).unwrap();
        idx.append(110, 4000).unwrap();
        idx.append(120, 8000).unwrap();
        assert_eq!(idx.lookup(105).unwrap(), 0);
        assert_eq!(idx.lookup(110).unwrap(), 4000);
        assert_eq!(idx.lookup(119).unwrap(), 4000);
        assert_eq!(idx.lookup(500).unwrap(), 8000);
        // Preallocated while active, exactly Kafka's bytes once trimmed.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1024);
        idx.trim().unwrap();
        let raw = std::fs::read(&path).unwrap();
        assert_eq!(raw, [0, 0, 0, 10, 0, 0, 15, 160, 0, 0, 0, 20, 0, 0, 31, 64]);
        let reopened = OffsetIndex::open(&path, 100, 1024).unwrap();
        assert_eq!(reopened.last_entry().unwrap(), Some((120, 8000)));
        reopened.truncate_to(120).unwrap();
        assert_eq!(reopened.entries(), 1);
        reopened.trim().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 8);
        // A trimmed index that becomes active again (truncation) grows back for appends.
        reopened.append(130, 9000).unwrap();
        assert_eq!(reopened.lookup(131).unwrap(), 9000);
    }

    #[test]
    fn partial_entry_is_not_sane() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        std::fs::write(&path, [0u8; 11]).unwrap();
        assert!(!OffsetIndex::open(&path, 0, 1024)
            .unwrap()
            .is_sane()
            .unwrap());
    }

    #[test]
    fn time_index_monotonic_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.timeindex");
        let idx = TimeIndex::open(&path, 50, 1200).unwrap();
        idx.maybe_append(1000, 55).unwrap();
        idx.maybe_append(900, 56).unwrap();
        idx.maybe_append(2000, 60).unwrap();
        assert_eq!(idx.entries(), 2);
        assert_eq!(idx.lookup(999).unwrap(), None);
        assert_eq!(idx.lookup(1500).unwrap(), Some((1000, 55)));
        assert_eq!(idx.lookup(2000).unwrap(), Some((2000, 60)));
        idx.trim().unwrap();
        assert_eq!(std::fs::read(&path).unwrap().len(), 24);
        idx.truncate_to(60).unwrap();
        assert_eq!(idx.last_entry().unwrap(), Some((1000, 55)));
        assert!(!idx.is_full());
    }
}
