//! Swapping a cleaned segment in for the segments it was cleaned from (Kafka's
//! `LocalLog.replaceSegments`), in steps that a crash at any point leaves recoverable:
//!
//! 1. the cleaner has written and fsynced `<base>.log.cleaned` (and `.index.cleaned`,
//!    `.timeindex.cleaned`); they are renamed to `.swap` and the directory is fsynced, which
//!    commits the swap (recovery completes it from here on);
//! 2. the replaced segments' files are renamed to `.deleted`;
//! 3. the `.swap` files drop their suffix and the directory is fsynced;
//! 4. the new segment list is published to readers and the `.deleted` files are removed.
//!
//! Readers that took the old segment list keep reading the old files through their open
//! descriptors and mappings until they drop them, so a fetch across a swap sees either the old
//! or the new bytes, never a mix. `recovery.rs` finishes or discards each step as `LogLoader`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use tracing::info;

use crate::clock::now_ms;
use crate::log::partition_log::Log;
use crate::log::segment::{
    delete_files, rename_files, LogSegment, SegmentFiles, CLEANED_SUFFIX, DELETED_SUFFIX,
    SWAP_SUFFIX,
};
use crate::log::LogError;

fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(LogError::io(dir))
}

impl Log {
    /// Replaces `old`, consecutive segments identified by their shared files, with the cleaned
    /// segment at `base` written as `.cleaned` files. When the log changed since the cleaner
    /// looked (a truncation, or retention removed one of `old`) nothing is replaced, the
    /// cleaned files are removed and `false` is returned.
    pub(crate) fn replace_segments(
        &mut self,
        base: i64,
        old: &[Arc<SegmentFiles>],
        truncations: u64,
    ) -> Result<bool, LogError> {
        let first = old
            .first()
            .and_then(|o| self.segments.iter().position(|s| Arc::ptr_eq(s.files(), o)));
        let unchanged = truncations == self.truncations
            && first.is_some_and(|i| {
                // Never the active segment: it must stay after all of `old`.
                i + old.len() < self.segments.len()
                    && old
                        .iter()
                        .zip(&self.segments[i..])
                        .all(|(o, s)| Arc::ptr_eq(o, s.files()))
            });
        let Some(at) = first.filter(|_| unchanged) else {
            info!(dir = %self.dir.display(), base_offset = base,
                "log changed during cleaning, cleaned segment discarded");
            delete_files(&self.dir, base, CLEANED_SUFFIX)?;
            return Ok(false);
        };
        rename_files(&self.dir, base, CLEANED_SUFFIX, SWAP_SUFFIX)?;
        sync_dir(&self.dir)?;
        for o in old {
            rename_files(&self.dir, o.base_offset, "", DELETED_SUFFIX)?;
        }
        rename_files(&self.dir, base, SWAP_SUFFIX, "")?;
        sync_dir(&self.dir)?;
        let segment = LogSegment::open(&self.dir, base, &self.config, now_ms())?;
        segment.on_become_inactive()?;
        self.segments
            .splice(at..at + old.len(), std::iter::once(segment));
        self.publish();
        for o in old {
            delete_files(&self.dir, o.base_offset, DELETED_SUFFIX)?;
        }
        info!(dir = %self.dir.display(), base_offset = base, replaced = old.len(),
            "swapped in cleaned segment");
        Ok(true)
    }
}
