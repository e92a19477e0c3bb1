//! Retention (Kafka's `deleteOldSegments`): whole segments go when they are older than
//! `retention.ms`, when the log exceeds `retention.bytes`, or when they lie wholly below the log
//! start offset. Never the active segment, never data at or above the high watermark. Age and
//! size only count when `cleanup.policy` contains `delete`: a `compact`-only topic keeps every
//! key's latest value however old, as Kafka's `deleteRetentionMsBreachedSegments` and
//! `deleteRetentionSizeBreachedSegments` skip such logs.

use tracing::info;

use crate::log::partition_log::Log;
use crate::log::LogError;

impl Log {
    /// Deletes the oldest segments that breach a retention rule; returns how many were deleted
    /// and advances the log start offset to the first remaining segment.
    pub fn delete_old_segments(
        &mut self,
        now_ms: i64,
        high_watermark: i64,
    ) -> Result<usize, LogError> {
        let by_policy = self.config.cleanup_delete;
        let total: u64 = self.segments.iter().map(|s| s.size()).sum();
        let mut excess = if by_policy && self.config.retention_bytes >= 0 {
            total as i64 - self.config.retention_bytes
        } else {
            0
        };
        let mut count = 0;
        // Only segments followed by another segment whose base offset is within the high
        // watermark are candidates: all their data is then committed.
        while count + 1 < self.segments.len() {
            let segment = &self.segments[count];
            let next_base = self.segments[count + 1].base_offset();
            if next_base > high_watermark {
                break;
            }
            let below_start = next_base <= self.log_start_offset;
            let by_time = by_policy
                && self.config.retention_ms >= 0
                && now_ms - segment.largest_timestamp()? > self.config.retention_ms;
            let by_size = excess > 0 && excess - segment.size() as i64 >= 0;
            if !(below_start || by_time || by_size) {
                break;
            }
            excess -= segment.size() as i64;
            info!(dir = %self.dir.display(), base_offset = segment.base_offset(), below_start,
                by_time, by_size, "deleting segment by retention");
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        for segment in self.segments.drain(..count) {
            segment.delete()?;
        }
        if let Some(first) = self.segments.first() {
            self.log_start_offset = self.log_start_offset.max(first.base_offset());
        }
        self.epochs.truncate_from_start(self.log_start_offset)?;
        self.publish();
        Ok(count)
    }
}

#[cfg(test)]
#[path = "retention_tests.rs"]
mod tests;
