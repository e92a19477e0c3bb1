//! Follower truncation (Kafka's `truncateTo` / `truncateFullyAndStartAt`): after a leader
//! change a follower cuts its log back to where it agrees with the new leader.

use tracing::info;

use crate::clock::now_ms;
use crate::log::partition_log::Log;
use crate::log::segment::LogSegment;
use crate::log::LogError;

impl Log {
    /// Follower truncation (Kafka's `truncateTo`): drops the batch holding `offset` and all
    /// after it; the log end becomes `offset`. Trims the epoch cache and producer state.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), LogError> {
        if offset >= self.log_end_offset || offset < 0 {
            return Ok(());
        }
        info!(dir = %self.dir.display(), from = self.log_end_offset, to = offset,
            "truncating log");
        self.truncations += 1;
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

    /// Deletes all data and restarts the log, empty, at `offset` (Kafka's
    /// `truncateFullyAndStartAt`): what a follower does when the leader answers its fetch with
    /// OFFSET_OUT_OF_RANGE because the follower's log end is below the leader's log start.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), LogError> {
        self.truncations += 1;
        for segment in self.segments.drain(..) {
            segment.delete()?;
        }
        self.segments
            .push(LogSegment::open(&self.dir, offset, &self.config, now_ms())?);
        self.log_start_offset = offset;
        self.log_end_offset = offset;
        self.recovery_point = offset;
        self.epochs.clear()?;
        self.producers.clear();
        self.publish();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::log::segment::file_name;
    use crate::log::test_util::simple;
    use crate::log::test_util::*;

    #[test]
    fn truncation_into_an_earlier_segment_removes_later_ones() {
        let (dir, mut log) = filled(30, 3);
        let segments = log.segments.len();
        let last_base = log.segments[segments - 1].base_offset();
        // 31 lies inside the batch 30..=32: the whole batch goes, the log end becomes 31.
        log.truncate_to(31).unwrap();
        assert_eq!(log.log_end_offset(), 31);
        assert!(log.segments.len() < segments);
        assert!(!dir.path().join(file_name(last_base, "log")).exists());
        let reader = log.reader();
        assert_eq!(
            offsets(&reader.read(27, 1000, 31, true).unwrap()),
            vec![27, 28, 29]
        );
        assert!(reader.read(30, 1000, 31, true).unwrap().is_empty());
        let info = log.append_as_leader(&simple(1, 0), 0, 0).unwrap();
        assert_eq!(info.first_offset, 31);
        assert_eq!(offsets(&reader.read(31, 1000, 32, true).unwrap()), vec![31]);
        // Truncation never moves forward.
        log.truncate_to(100).unwrap();
        assert_eq!(log.log_end_offset(), 32);
        // Below the first segment: start over, empty, at that offset.
        log.maybe_increment_log_start_offset(30).unwrap();
        log.delete_old_segments(0, 32).unwrap();
        let first = log.segments[0].base_offset();
        assert!(first > 0);
        log.truncate_to(first - 1).unwrap();
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (first - 1, first - 1)
        );
        assert_eq!(log.segments.len(), 1);
        assert_eq!(
            log.append_as_leader(&simple(1, 0), 0, 0)
                .unwrap()
                .first_offset,
            first - 1
        );
    }
}
