//! Follower truncation (Kafka's `truncateTo` / `truncateFullyAndStartAt`): after a leader
//! change a follower cuts its log back to where it agrees with the new leader.

use tracing::info;

use crate::log::partition_log::{wall_clock_ms, Log};
use crate::log::segment::LogSegment;
use crate::log::LogError;

impl Log {
    /// Follower truncation (Kafka's `truncateTo`): drops the batch holding `offset` and all
    /// after it; the log end becomes `offset`. Trims the epoch cache and producer state.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset || offset < 0 {
            return Ok(());
        }
        info!(dir = %self.dir.display(), from = self.log_end_offset, to = offset, "truncating log");
        if self
            .segments
            .first()
            .is_some_and(|s| s.base_offset() > offset)
        {
            return self.truncate_fully_and_start_at(offset);
        }
        while self.segments.len() > 1
            && self
                .segments
                .last()
                .is_some_and(|s| s.base_offset() > offset)
        {
            if let Some(segment) = self.segments.pop() {
                segment.delete()?;
            }
        }
        if let Some(active) = self.segments.last_mut() {
            active.truncate_to(offset)?;
        }
        self.log_end_offset = offset;
        self.log_start_offset = self.log_start_offset.min(offset);
        self.recovery_point = self.recovery_point.min(offset);
        self.epochs.truncate_from_end(offset)?;
        self.producers.truncate_from(offset);
        self.publish();
        Ok(())
    }

    /// Deletes all data and restarts the log, empty, at `offset`.
    pub(crate) fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        for segment in self.segments.drain(..) {
            segment.delete()?;
        }
        self.segments.push(LogSegment::open(
            &self.dir,
            offset,
            &self.config,
            wall_clock_ms(),
        )?);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.recovery_point = offset;
        self.epochs.clear()?;
        self.producers.clear();
        self.publish();
        Ok(())
    }
}
