//! A memory-mapped file of fixed-size index entries that holds no file descriptor.
//!
//! Why a mapping: a broker hosts thousands of partition replicas, and each segment used to keep
//! three files open (`.log`, `.index`, `.timeindex`), so 6,700 replicas needed 20,000
//! descriptors, the machine's hard limit. Kafka's `AbstractIndex` memory-maps its index files
//! and closes their handles right after mapping, so a segment costs one descriptor (its
//! `.log`); this does the same. The alternative, keeping the active index in heap memory and
//! re-opening older ones per lookup, would cost an `open` on every fetch from an old segment.
//!
//! Kafka's scheme, kept here:
//! - The mapping always spans `segment.index.bytes`, so appends never remap (readers use it
//!   without a lock). The file itself grows to that size (sparse, so it costs no disk) the
//!   first time an append needs room: an idle partition's index files stay empty.
//! - Unlike Kafka, the blocks under an entry are allocated (`fallocate`, in
//!   [`ALLOCATE_STEP`] steps) before the entry is stored through the mapping. A store into a
//!   hole of a sparse file makes the kernel allocate the block at page-fault time, and on a
//!   full file system that fault is a SIGBUS that kills the whole broker; allocating first turns
//!   it into an ENOSPC error on this one log, which takes its log dir offline instead.
//! - At roll and clean close the file is trimmed to its entries ([`EntryFile::trim`]), which is
//!   what Kafka leaves on disk and what Kafka's tools read.
//! - After a crash a file may still have its preallocated tail of zeros (the trim's new length
//!   is not fsynced, as in Kafka). Opening counts entries up to the first all-zero one: no real
//!   offset-index entry is zero (its position is past the segment's first batch), and a time
//!   index entry is zero only for timestamp 0 at the base offset, which then just looks
//!   unindexed. Segments from the recovery point on are rebuilt anyway; older ones are
//!   sanity-checked and rebuilt if wrong (recovery.rs).
//!
//! Entries are read and written as `AtomicU32` words of the mapping: the writer appends past
//! the published count while readers binary-search below it, so there is no data race and no
//! lock, as with the positional I/O this replaces. Dropped entries are zeroed, so the
//! zero-tail rule above also holds after a truncation.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw, UncheckedAdvice};

use crate::log::LogError;

/// The largest entry (a time index entry), in bytes.
pub const MAX_ENTRY: usize = 12;

/// A file of `entry_size`-byte entries (a multiple of 4), shared by one writer and readers.
#[derive(Debug)]
pub struct EntryFile {
    path: PathBuf,
    map: MmapRaw,
    entry_size: usize,
    /// Entries readers may see; bumped only after an entry's words are stored.
    entries: AtomicU64,
    /// Length of the file on disk: words at or past it must not be touched (SIGBUS).
    file_len: AtomicU64,
    /// Bytes from the start of the file whose blocks are known to be allocated: entries are
    /// stored only below it (see the module doc).
    allocated: AtomicU64,
}

/// Blocks are allocated under the index this many bytes at a time (a page-aligned step, so a
/// segment's index costs at most this much disk beyond its entries while it is active).
pub const ALLOCATE_STEP: u64 = 16 << 10;

fn io_error(path: &Path, message: &str) -> LogError {
    LogError::io(path)(std::io::Error::other(message.to_string()))
}

impl EntryFile {
    /// Opens (creating if absent) and maps `path`; `max_bytes` is `segment.index.bytes`.
    pub fn open(path: &Path, entry_size: usize, max_bytes: u32) -> Result<EntryFile, LogError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(LogError::io(path))?;
        let file_len = file.metadata().map_err(LogError::io(path))?.len();
        let step = entry_size as u64;
        let capacity = (u64::from(max_bytes) / step * step).max(file_len).max(step);
        let capacity =
            usize::try_from(capacity).map_err(|_| io_error(path, "index file too large to map"))?;
        // The descriptor is closed when `file` drops at the end of this function; the mapping
        // stays valid without it.
        let map = MmapOptions::new()
            .len(capacity)
            .map_raw(&file)
            .map_err(LogError::io(path))?;
        let index = EntryFile {
            path: path.to_path_buf(),
            map,
            entry_size,
            entries: AtomicU64::new(0),
            file_len: AtomicU64::new(file_len),
            allocated: AtomicU64::new(0),
        };
        let written = index.count_before_zero_tail(file_len / step);
        index.entries.store(written, Ordering::Release);
        // Pages holding entries were written, so they have blocks; the rest may be holes.
        index.allocated.store(
            written * step / ALLOCATE_STEP * ALLOCATE_STEP,
            Ordering::Release,
        );
        Ok(index)
    }

    /// The mapping as 4-byte words. Sound because the mapping is page-aligned, lives as long
    /// as `self`, and this process touches it only through these atomics.
    fn words(&self) -> &[AtomicU32] {
        // SAFETY: see above; `len / 4` words lie wholly inside the mapping.
        unsafe {
            std::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU32>(), self.map.len() / 4)
        }
    }

    fn words_per_entry(&self) -> usize {
        self.entry_size / 4
    }

    fn is_zero(&self, n: u64) -> bool {
        let k = self.words_per_entry();
        let at = n as usize * k;
        self.words()[at..at + k]
            .iter()
            .all(|w| w.load(Ordering::Relaxed) == 0)
    }

    /// Entries before the first all-zero slot among the file's first `slots` (binary search:
    /// written entries form a prefix, zeros the rest).
    fn count_before_zero_tail(&self, slots: u64) -> u64 {
        let (mut lo, mut hi) = (0u64, slots);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.is_zero(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }

    /// True when the file length is not a whole number of entries (a torn or foreign file).
    pub fn has_partial_entry(&self) -> bool {
        !self
            .file_len
            .load(Ordering::Acquire)
            .is_multiple_of(self.entry_size as u64)
    }

    pub fn len(&self) -> u64 {
        self.entries.load(Ordering::Acquire)
    }

    /// Entry `n`'s bytes (the first `entry_size` of the array); `n` must be below [`len`].
    ///
    /// [`len`]: EntryFile::len
    pub fn read(&self, n: u64) -> Result<[u8; MAX_ENTRY], LogError> {
        let k = self.words_per_entry();
        let at = n as usize * k;
        let words = self
            .words()
            .get(at..at + k)
            .ok_or_else(|| io_error(&self.path, "index entry past the mapping"))?;
        let mut buf = [0u8; MAX_ENTRY];
        for (chunk, w) in buf.chunks_exact_mut(4).zip(words) {
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        Ok(buf)
    }

    pub fn append(&self, entry: &[u8]) -> Result<(), LogError> {
        let n = self.len();
        let k = self.words_per_entry();
        let at = n as usize * k;
        let end = (n + 1) * self.entry_size as u64;
        self.ensure_file_covers(end)?;
        self.ensure_allocated(end)?;
        let words = self
            .words()
            .get(at..at + k)
            .ok_or_else(|| io_error(&self.path, "index file is full"))?;
        for (chunk, w) in entry.chunks_exact(4).zip(words) {
            w.store(
                u32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]),
                Ordering::Relaxed,
            );
        }
        self.entries.store(n + 1, Ordering::Release);
        Ok(())
    }

    /// Grows the file to the whole mapping (sparse) when `end` lies past it: once per
    /// active segment, or again when truncation makes a trimmed segment active.
    fn ensure_file_covers(&self, end: u64) -> Result<(), LogError> {
        if end <= self.file_len.load(Ordering::Acquire) {
            return Ok(());
        }
        let full = (self.map.len() / self.entry_size * self.entry_size) as u64;
        if end > full {
            return Err(io_error(&self.path, "index file is full"));
        }
        self.set_file_len(full)
    }

    /// Allocates the blocks under the file up to `end` (and a step ahead) before an entry is
    /// stored there, so the store cannot fault on a full disk (see the module doc). A file
    /// system without `fallocate` gets the range written with zeros instead, which allocates
    /// it too; only slots past the last entry are written, and those hold zeros already.
    fn ensure_allocated(&self, end: u64) -> Result<(), LogError> {
        let allocated = self.allocated.load(Ordering::Acquire);
        if end <= allocated {
            return Ok(());
        }
        let file_len = self.file_len.load(Ordering::Acquire);
        let to = (end.div_ceil(ALLOCATE_STEP) * ALLOCATE_STEP).min(file_len);
        let file = OpenOptions::new()
            .write(true)
            .open(&self.path)
            .map_err(LogError::io(&self.path))?;
        match rustix::fs::fallocate(
            &file,
            rustix::fs::FallocateFlags::empty(),
            allocated,
            to - allocated,
        ) {
            Ok(()) => {}
            Err(rustix::io::Errno::OPNOTSUPP) => {
                let from = allocated.max(self.len() * self.entry_size as u64);
                let zeros = vec![0u8; (to - from) as usize];
                std::os::unix::fs::FileExt::write_all_at(&file, &zeros, from)
                    .map_err(LogError::io(&self.path))?;
            }
            Err(e) => return Err(LogError::io(&self.path)(e.into())),
        }
        self.allocated.store(to, Ordering::Release);
        Ok(())
    }

    fn set_file_len(&self, len: u64) -> Result<(), LogError> {
        OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_len(len))
            .map_err(LogError::io(&self.path))?;
        self.file_len.store(len, Ordering::Release);
        Ok(())
    }

    /// Keeps the first `n` entries and zeroes the dropped ones (see the module doc).
    pub fn truncate_entries(&self, n: u64) -> Result<(), LogError> {
        let old = self.len();
        if n >= old {
            return Ok(());
        }
        self.entries.store(n, Ordering::Release);
        let k = self.words_per_entry();
        for w in &self.words()[n as usize * k..old as usize * k] {
            w.store(0, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Index of the last entry whose key is <= `target`, by binary search (keys are sorted).
    pub fn floor(&self, target: i64, key: impl Fn(&[u8]) -> i64) -> Result<Option<u64>, LogError> {
        let (mut lo, mut hi) = (0u64, self.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if key(&self.read(mid)?) <= target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo.checked_sub(1))
    }

    /// Writes dirty entries to disk (`msync`, Kafka's `MappedByteBuffer.force`).
    pub fn sync(&self) -> Result<(), LogError> {
        let len = (self.file_len.load(Ordering::Acquire) as usize).min(self.map.len());
        if len == 0 {
            return Ok(());
        }
        self.map
            .flush_range(0, len)
            .map_err(LogError::io(&self.path))
    }

    /// Kafka's `trimToValidSize`: cuts the file to its entries (at roll and clean close), and
    /// drops the mapped pages from this process's resident set, so a long log's inactive
    /// indexes cost page cache, not broker memory. Readers keep working: the next touch maps
    /// the page again from the page cache.
    pub fn trim(&self) -> Result<(), LogError> {
        let valid = self.len() * self.entry_size as u64;
        if self.file_len.load(Ordering::Acquire) != valid {
            self.set_file_len(valid)?;
            // Cutting the file freed the blocks past `valid`; a later growth gets holes again.
            let kept = self.allocated.load(Ordering::Acquire).min(valid);
            self.allocated
                .store(kept / ALLOCATE_STEP * ALLOCATE_STEP, Ordering::Release);
        }
        // SAFETY: MADV_DONTNEED on a shared file mapping only unmaps pages; their contents
        // (dirty ones included) stay in the page cache and are read back on the next access.
        unsafe { self.map.unchecked_advise(UncheckedAdvice::DontNeed) }
            .map_err(LogError::io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> [u8; 8] {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&n.to_be_bytes());
        e[4..].copy_from_slice(&(n * 100).to_be_bytes());
        e
    }

    /// Whether this process has a descriptor open on `path`.
    fn holds_descriptor(path: &Path) -> bool {
        std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
            .any(|target| target == path)
    }

    #[test]
    fn holds_no_descriptor_and_preallocates_only_when_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let file = EntryFile::open(&path, 8, 4096).unwrap();
        assert!(!holds_descriptor(&path));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        file.append(&entry(1)).unwrap();
        assert!(!holds_descriptor(&path));
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        assert_eq!(&file.read(0).unwrap()[..8], entry(1));
    }

    #[test]
    fn a_crash_leaves_a_zero_tail_that_reopening_does_not_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let file = EntryFile::open(&path, 8, 4096).unwrap();
        for n in 1..=5 {
            file.append(&entry(n)).unwrap();
        }
        file.truncate_entries(3).unwrap();
        file.sync().unwrap();
        // No trim: what kill -9 leaves behind.
        drop(file);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 4096);
        let reopened = EntryFile::open(&path, 8, 4096).unwrap();
        assert_eq!(reopened.len(), 3);
        assert_eq!(&reopened.read(2).unwrap()[..8], entry(3));
        reopened.append(&entry(9)).unwrap();
        reopened.trim().unwrap();
        let mut want = Vec::new();
        for n in [1, 2, 3, 9] {
            want.extend_from_slice(&entry(n));
        }
        assert_eq!(std::fs::read(&path).unwrap(), want);
    }

    /// On a full file system an append is an ENOSPC error, not a SIGBUS: the blocks under an
    /// entry are allocated before it is stored through the mapping. Needs a small tmpfs, so it
    /// runs where `mount` works (as root in CI's container) and says so where it does not.
    #[test]
    fn a_full_file_system_is_an_error_not_a_sigbus() {
        let Some(fs) = crate::log::test_util::SmallFs::mount(64 << 10) else {
            eprintln!("skipped: cannot mount a tmpfs here (not root?)");
            return;
        };
        let path = fs.path().join("0.index");
        // The mapping (1 MiB) is far larger than the file system (64 KiB).
        let file = EntryFile::open(&path, 8, 1 << 20).unwrap();
        file.append(&entry(1)).unwrap();
        fs.fill();
        let mut appended = 1;
        let err = loop {
            match file.append(&entry(appended + 1)) {
                Ok(()) => appended += 1,
                Err(e) => break e,
            }
            assert!(appended < 1 << 17, "appends past the mapping never failed");
        };
        assert!(
            matches!(&err, LogError::Io { source, .. } if source.raw_os_error() == Some(28)),
            "{err}"
        );
        // Everything appended before the error is still there.
        assert_eq!(file.len(), appended as u64);
        assert_eq!(
            &file.read(appended as u64 - 1).unwrap()[..8],
            entry(appended)
        );
    }

    #[test]
    fn a_full_file_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let file = EntryFile::open(&path, 8, 20).unwrap();
        file.append(&entry(1)).unwrap();
        file.append(&entry(2)).unwrap();
        assert!(file.append(&entry(3)).is_err());
        assert_eq!(file.len(), 2);
    }
}
