//! Loading a partition directory after a clean or unclean shutdown (Kafka's `LogLoader`).
//!
//! First an interrupted cleaner swap is completed or discarded exactly as Kafka does: `.cleaned`
//! files (a cleaning still being written) are deleted, and so is any `.swap` file at or above the
//! lowest `.cleaned` base offset (its renaming had not finished); the remaining `.swap` files are
//! complete, flushed replacements, so every original segment file whose offset lies in the range
//! they cover is deleted and the `.swap` suffix is dropped. `.deleted` and `.tmp` files go.
//!
//! Everything below the recovery point was fsynced and is trusted (only its index files are
//! sanity-checked: whole entries, none below the base offset, none pointing past the `.log`;
//! a preallocated zero tail left by a crash is not counted, see `entry_file.rs`). Every batch from the segment holding the recovery point onwards is re-read
//! and CRC-checked; the first torn or corrupt batch ends the log: the rest of that segment and
//! all later segments are dropped, and the indexes of the re-read segments are rebuilt.

use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::log::record_batch::{BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use crate::log::segment::{LogSegment, CLEANED_SUFFIX, DELETED_SUFFIX, SWAP_SUFFIX};
use crate::log::{LogConfig, LogError};

/// Suffixes of files a crash can leave behind mid-operation that are simply deleted.
const STRAY_SUFFIXES: [&str; 2] = [".tmp", DELETED_SUFFIX];

/// The offset a segment file name starts with (Kafka's `offsetFromFileName`); `None` for files
/// that are not named after an offset (checkpoints, `partition.metadata`).
fn offset_from_file_name(name: &str) -> Option<i64> {
    let (stem, _) = name.split_once('.')?;
    stem.parse().ok()
}

fn remove(path: &Path, why: &str) -> Result<(), LogError> {
    info!(path = %path.display(), why, "removing file left by an interrupted operation");
    fs::remove_file(path).map_err(LogError::io(path))
}

/// The offset after the last whole batch of a segment file (Kafka's `readNextOffset`), walking
/// batch headers; `base` for an empty file.
fn next_offset_of(path: &Path, base: i64) -> Result<i64, LogError> {
    let file = File::open(path).map_err(LogError::io(path))?;
    let len = file.metadata().map_err(LogError::io(path))?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut header = [0u8; HEADER_SIZE];
    let (mut pos, mut next) = (0u64, base);
    while pos + HEADER_SIZE as u64 <= len {
        reader.read_exact(&mut header).map_err(LogError::io(path))?;
        let Some(h) = BatchHeader::parse(&header) else {
            break;
        };
        if h.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 || pos + h.size() as u64 > len {
            break;
        }
        next = h.last_offset() + 1;
        reader
            .seek_relative((h.size() - HEADER_SIZE) as i64)
            .map_err(LogError::io(path))?;
        pos += h.size() as u64;
    }
    Ok(next)
}

/// Kafka's `removeTempFilesAndCollectSwapFiles` and the three swap passes of `LogLoader.load`.
fn finish_interrupted_swaps(dir: &Path) -> Result<(), LogError> {
    let mut swaps: Vec<(PathBuf, i64)> = Vec::new();
    let mut cleaned: Vec<PathBuf> = Vec::new();
    let mut min_cleaned = i64::MAX;
    for entry in fs::read_dir(dir).map_err(LogError::io(dir))? {
        let path = entry.map_err(LogError::io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if STRAY_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            remove(&path, "stray temporary file")?;
        } else if name.ends_with(CLEANED_SUFFIX) {
            if let Some(offset) = offset_from_file_name(name) {
                min_cleaned = min_cleaned.min(offset);
            }
            cleaned.push(path);
        } else if name.ends_with(SWAP_SUFFIX) {
            if let Some(offset) = offset_from_file_name(name) {
                swaps.push((path, offset));
            }
        }
    }
    // KAFKA-6264: a .swap file at or above the lowest .cleaned offset belongs to an operation
    // whose renaming never finished; its originals are all still in place.
    let (invalid, valid): (Vec<_>, Vec<_>) =
        swaps.into_iter().partition(|(_, o)| *o >= min_cleaned);
    for (path, _) in &invalid {
        remove(path, "incomplete swap")?;
    }
    for path in &cleaned {
        remove(path, "unfinished cleaning")?;
    }
    if valid.is_empty() {
        return Ok(());
    }
    let (mut min_swap, mut max_swap) = (i64::MAX, i64::MIN);
    for (path, base) in &valid {
        if path
            .to_string_lossy()
            .ends_with(&format!(".log{SWAP_SUFFIX}"))
        {
            min_swap = min_swap.min(*base);
            max_swap = max_swap.max(next_offset_of(path, *base)?);
        }
    }
    for entry in fs::read_dir(dir).map_err(LogError::io(dir))? {
        let path = entry.map_err(LogError::io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.ends_with(SWAP_SUFFIX) || !path.is_file() {
            continue;
        }
        if offset_from_file_name(name).is_some_and(|o| o >= min_swap && o < max_swap) {
            remove(&path, "segment replaced by a completed cleaning")?;
        }
    }
    for (path, _) in &valid {
        let target = path.with_extension("");
        info!(path = %path.display(), "completing an interrupted swap");
        fs::rename(path, &target).map_err(LogError::io(path))?;
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::io(dir))
}

/// The segments of a loaded directory, plus where each leader epoch starts among the batches
/// recovery re-read (they must reach the epoch cache even if its checkpoint lagged behind).
pub struct Loaded {
    pub segments: Vec<LogSegment>,
    pub recovered_epochs: Vec<(i32, i64)>,
}

/// A segment file set found on disk.
struct Found {
    base: i64,
    /// Both index files exist (a missing one must be rebuilt, as Kafka does).
    indexes_present: bool,
}

/// The `.log` files in `dir`, after removing stray and orphaned files.
fn list_segments(dir: &Path) -> Result<Vec<Found>, LogError> {
    finish_interrupted_swaps(dir)?;
    let mut bases = Vec::new();
    let mut index_files = Vec::new();
    for entry in fs::read_dir(dir).map_err(LogError::io(dir))? {
        let path = entry.map_err(LogError::io(dir))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        match ext {
            "log" => bases.push(base),
            "index" | "timeindex" => index_files.push((base, path)),
            _ => {}
        }
    }
    for (base, path) in &index_files {
        if !bases.contains(base) {
            info!(path = %path.display(), "removing index without a log file");
            fs::remove_file(path).map_err(LogError::io(path))?;
        }
    }
    bases.sort_unstable();
    Ok(bases
        .into_iter()
        .map(|base| Found {
            base,
            indexes_present: index_files.iter().filter(|(b, _)| *b == base).count() == 2,
        })
        .collect())
}

/// Opens every segment in `dir` and recovers those at or after `recovery_point`. An empty
/// directory gets one empty segment starting at `log_start_offset`.
pub fn load(
    dir: &Path,
    config: &LogConfig,
    recovery_point: i64,
    log_start_offset: i64,
    now_ms: i64,
) -> Result<Loaded, LogError> {
    let found = list_segments(dir)?;
    let mut segments = Vec::with_capacity(found.len().max(1));
    let mut missing_indexes = Vec::new();
    for f in found {
        if !f.indexes_present {
            missing_indexes.push(f.base);
        }
        segments.push(LogSegment::open(dir, f.base, config, now_ms)?);
    }
    if segments.is_empty() {
        segments.push(LogSegment::open(
            dir,
            log_start_offset.max(0),
            config,
            now_ms,
        )?);
    }
    // The segment holding the recovery point is the last one whose base offset is <= it.
    let first_unflushed = segments
        .iter()
        .rposition(|s| s.base_offset() <= recovery_point)
        .unwrap_or(0);
    let mut recovered_epochs: Vec<(i32, i64)> = Vec::new();
    for (i, segment) in segments.iter_mut().enumerate().take(first_unflushed) {
        let files = segment.files();
        let sane = !missing_indexes.contains(&segment.base_offset())
            && files.offset_index.is_sane()?
            && files.time_index.is_sane()?
            && files
                .offset_index
                .last_entry()?
                .is_none_or(|(_, pos)| u64::from(pos) < segment.size());
        if sane {
            // A crash can leave a rolled segment's index preallocated (the trim's new length
            // was not fsynced); its entries were counted up to the zero tail, trim the rest.
            files.offset_index.trim()?;
            files.time_index.trim()?;
        } else {
            warn!(dir = %dir.display(), segment = i, base_offset = segment.base_offset(),
                "missing or corrupt index files, rebuilding");
            segment.recover(|_| {})?;
        }
    }
    let mut keep = segments.len();
    for (i, segment) in segments.iter_mut().enumerate().skip(first_unflushed) {
        let size_before = segment.size();
        let mut next_offset = segment.base_offset();
        let outcome = segment.recover(|h| {
            if recovered_epochs
                .last()
                .is_none_or(|e| e.0 != h.partition_leader_epoch)
            {
                recovered_epochs.push((h.partition_leader_epoch, h.base_offset));
            }
            next_offset = h.last_offset() + 1;
        })?;
        if let Some(reason) = outcome.stop_reason {
            warn!(dir = %dir.display(), offset = next_offset,
                bytes_dropped = size_before - outcome.valid_bytes, %reason,
                "truncating corrupt or torn log tail");
            keep = i + 1;
            break;
        }
    }
    for segment in segments.drain(keep..) {
        warn!(dir = %dir.display(), base_offset = segment.base_offset(),
            "deleting segment after a corrupt tail");
        segment.delete()?;
    }
    Ok(Loaded {
        segments,
        recovered_epochs,
    })
}

#[cfg(test)]
#[path = "recovery_tests.rs"]
mod tests;
