//! The follower side of a [`Partition`]: appending what the leader sent, following the leader's high
//! watermark and log start, and truncating to where this log agrees with the leader's.

use tracing::info;

use super::partition::Partition;
use crate::log::{AppendInfo, LogError};

/// Where a follower fetches from next and what it tells the leader about its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub log_end_offset: i64,
    pub log_start_offset: i64,
    pub high_watermark: i64,
    /// The newest leader epoch in the log (`last_fetched_epoch`), if the log has any.
    pub latest_epoch: Option<i32>,
}

impl Partition {
    /// This replica's log end, log start, high watermark and newest epoch.
    pub fn fetch_position(&self) -> FetchPosition {
        let (log_end_offset, log_start_offset, latest_epoch) = self.with_log(|log| {
            (
                log.log_end_offset(),
                log.log_start_offset(),
                log.latest_epoch(),
            )
        });
        FetchPosition {
            log_end_offset,
            log_start_offset,
            high_watermark: self.high_watermark(),
            latest_epoch,
        }
    }

    /// Kafka's `endOffsetForEpoch` on this replica's log: the largest epoch <= `epoch` it knows and
    /// where that epoch ends.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> Option<(i32, i64)> {
        self.with_log(|log| log.end_offset_for_epoch(epoch))
    }

    /// Appends batches fetched from the leader, offsets and epochs as the leader assigned them,
    /// straight from the fetch response's buffer.
    pub fn append_as_follower(&self, records: &[u8]) -> Result<AppendInfo, LogError> {
        let appended = self.lock_log().append_as_follower(records);
        let info = self.storage(appended)?;
        self.log_end.send_replace(self.reader().log_end_offset());
        Ok(info)
    }

    /// A follower's high watermark is the leader's, bounded by what it has itself.
    pub fn set_follower_high_watermark(&self, leader_high_watermark: i64) {
        let reader = self.reader();
        let hw = leader_high_watermark
            .min(reader.log_end_offset())
            .max(reader.log_start_offset());
        self.high_watermark.send_if_modified(|current| {
            let changed = *current != hw;
            *current = hw;
            changed
        });
    }

    /// Follows the leader's log start (retention, DeleteRecords), never past our high watermark, as
    /// Kafka's follower does.
    pub fn follow_log_start_offset(&self, leader_log_start: i64) -> Result<(), LogError> {
        let bound = leader_log_start.min(self.high_watermark());
        self.storage(self.with_log(|log| log.maybe_increment_log_start_offset(bound)))
            .map(|_| ())
    }

    /// Truncates the log to `offset` (no-op at or beyond the log end) and logs why.
    pub fn truncate_to(&self, offset: i64, reason: &str) -> Result<(), LogError> {
        let before = self.reader().log_end_offset();
        if offset >= before {
            return Ok(());
        }
        self.storage(self.with_log(|log| log.truncate_to(offset)))?;
        info!(topic = %self.topic, partition = self.index, from = before, to = offset, reason,
            "follower truncated");
        self.after_truncation(None);
        Ok(())
    }

    /// Empties the log and restarts it at `offset` (the leader's log start is beyond our log end).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        let before = self.reader().log_end_offset();
        self.storage(self.with_log(|log| log.truncate_fully_and_start_at(offset)))?;
        info!(topic = %self.topic, partition = self.index, from = before, start = offset,
            "follower log emptied to start at the leader's log start");
        self.after_truncation(Some(offset));
        Ok(())
    }

    fn after_truncation(&self, high_watermark: Option<i64>) {
        let leo = self.reader().log_end_offset();
        self.log_end.send_replace(leo);
        match high_watermark {
            Some(hw) => {
                self.high_watermark.send_replace(hw);
            }
            None => self.clamp_high_watermark(),
        }
    }
}
