//! Kafka's flush on roll: `roll` schedules `flushUptoOffsetExclusive(newSegment.baseOffset)`,
//! which fsyncs the segments that stopped being active and then moves the recovery point to
//! the new active segment's base, so a restart after a crash re-reads only the active segment.
//!
//! As in Kafka, the fsyncs run without the log's writer lock (a rolled segment of
//! `segment.bytes` can take a while to reach the disk, and appends to the new active segment
//! must not wait for it); only taking the new recovery point needs the lock. A failed fsync
//! returns before the recovery point moves, and the caller takes the log dir offline, so no
//! later fsync can report pages as written that the kernel has dropped.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use tracing::debug;

use crate::log::segment_files::SegmentFiles;
use crate::log::{Log, LogError};

/// Rolled segments waiting for their fsync, taken from a [`Log`] under its lock.
pub struct RolledFlush {
    files: Vec<Arc<SegmentFiles>>,
    dir: PathBuf,
    /// The recovery point once they are on disk: the active segment's base offset.
    up_to: i64,
    /// The log's truncation count when taken: a truncation meanwhile voids the result.
    truncations: u64,
}

impl RolledFlush {
    /// Fsyncs the segments and the directory (their entries). No lock is held.
    pub fn run(&self) -> Result<(), LogError> {
        for files in &self.files {
            files.sync()?;
        }
        fs::File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(LogError::io(&self.dir))
    }
}

impl Log {
    /// The segments rolled since the recovery point, if any: every segment from the one
    /// holding the recovery point up to, not including, the active one.
    pub fn rolled_flush(&self) -> Option<RolledFlush> {
        let active_base = self.segments.last()?.base_offset();
        if active_base <= self.recovery_point {
            return None;
        }
        let from = self
            .segments
            .iter()
            .rposition(|s| s.base_offset() <= self.recovery_point)
            .unwrap_or(0);
        let inactive = self.segments.len() - 1;
        Some(RolledFlush {
            files: self.segments[from..inactive]
                .iter()
                .map(|s| s.files().clone())
                .collect(),
            dir: self.dir.clone(),
            up_to: active_base,
            truncations: self.truncations,
        })
    }

    /// Moves the recovery point after `flush` ran successfully, unless the log was truncated
    /// meanwhile (the flushed offsets may be gone) or a full flush already went further.
    pub fn mark_flushed(&mut self, flush: &RolledFlush) {
        if flush.truncations != self.truncations || flush.up_to <= self.recovery_point {
            return;
        }
        debug!(dir = %self.dir.display(), from = self.recovery_point, to = flush.up_to,
            "flushed rolled segments");
        self.recovery_point = flush.up_to.min(self.log_end_offset);
    }

    /// [`Log::rolled_flush`], run and marked in one go (with the log to itself).
    pub fn flush_rolled_segments(&mut self) -> Result<(), LogError> {
        if let Some(flush) = self.rolled_flush() {
            flush.run()?;
            self.mark_flushed(&flush);
        }
        Ok(())
    }
}
