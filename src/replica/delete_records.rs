//! DeleteRecords on the leader (Kafka's `Partition.deleteRecordsOnLeader`): the log start offset
//! moves up to the requested offset, so the records below it can no longer be read; the segments
//! wholly below it go at the next retention pass, and followers move their own log start when
//! their next fetch tells them the leader's. Their following fetch reports it back, which moves
//! the low watermark (the smallest log start of the leader and its ISR) that the request waits
//! for (Kafka's `DelayedDeleteRecords`).

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use tracing::info;

use super::isr::UNKNOWN_OFFSET;
use super::partition::{log_error_code, Partition};

/// The request's offset meaning "up to the high watermark".
pub const HIGH_WATERMARK: i64 = -1;

/// Checks a requested offset against the partition (Kafka's order): the cleanup policy must
/// include `delete`, -1 stands for the high watermark, and the result must lie within
/// `0..=high_watermark`. Returns the offset to move the log start to.
pub fn deletion_offset(
    requested: i64,
    cleanup_delete: bool,
    high_watermark: i64,
) -> Result<i64, ResponseError> {
    if !cleanup_delete {
        return Err(ResponseError::PolicyViolation);
    }
    let offset = if requested == HIGH_WATERMARK {
        high_watermark
    } else {
        requested
    };
    if offset < 0 || offset > high_watermark {
        return Err(ResponseError::OffsetOutOfRange);
    }
    Ok(offset)
}

impl Partition {
    /// Deletes the records below `requested` (or the high watermark) on this leader and returns
    /// the offset the low watermark must reach (Kafka's `deleteRecordsOnLeader`).
    pub fn delete_records_on_leader(&self, requested: i64) -> Result<i64, ResponseError> {
        if !self.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        let high_watermark = self.high_watermark();
        let offset = self.with_log(|log| {
            let offset = deletion_offset(requested, log.config.cleanup_delete, high_watermark)?;
            let moved = self.storage(log.maybe_increment_log_start_offset(offset));
            if moved.map_err(|e| log_error_code(&e))? {
                info!(topic = %self.topic, partition = self.index, offset, "records deleted");
            }
            Ok(offset)
        })?;
        self.refresh_low_watermark();
        Ok(offset)
    }

    /// Kafka's `lowWatermarkIfLeader`: the smallest log start offset of this leader and its ISR
    /// followers (-1 for a follower not heard from in this leader epoch).
    pub fn low_watermark(&self) -> i64 {
        let role = self.role();
        let followers = self.followers.lock().unwrap_or_else(|p| p.into_inner());
        role.isr
            .iter()
            .filter(|r| **r != role.leader)
            .map(|r| {
                followers
                    .get(r)
                    .map_or(UNKNOWN_OFFSET, |f| f.log_start_offset)
            })
            .fold(self.reader().log_start_offset(), i64::min)
    }

    /// Wakes the DeleteRecords waiting for the low watermark after a follower's fetch, a
    /// deletion or a role change (nothing to do while none waits).
    pub(super) fn refresh_low_watermark(&self) {
        if self.low_watermark.receiver_count() > 0 {
            self.low_watermark.send_modify(|_| {});
        }
    }

    /// Kafka's `DelayedDeleteRecords` for one partition: waits until the low watermark reaches
    /// `offset` and returns it; NOT_LEADER_OR_FOLLOWER (low watermark -1) if leadership moved,
    /// KAFKA_STORAGE_ERROR if the log dir failed, REQUEST_TIMED_OUT with the low watermark
    /// reached so far after `timeout`.
    pub async fn wait_for_low_watermark(
        &self,
        offset: i64,
        timeout: Duration,
    ) -> Result<i64, (ResponseError, i64)> {
        let mut rx = self.low_watermark.subscribe();
        let wait = async {
            loop {
                rx.borrow_and_update();
                let lw = self.low_watermark();
                if self.is_offline() {
                    return Err((ResponseError::KafkaStorageError, -1));
                }
                if !self.is_leader() {
                    return Err((ResponseError::NotLeaderOrFollower, -1));
                }
                if lw >= offset {
                    return Ok(lw);
                }
                if rx.changed().await.is_err() {
                    return Err((ResponseError::NotLeaderOrFollower, -1));
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err((ResponseError::RequestTimedOut, self.low_watermark())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_checked_as_kafka_checks_them() {
        assert_eq!(deletion_offset(3, true, 10), Ok(3));
        assert_eq!(deletion_offset(10, true, 10), Ok(10));
        assert_eq!(deletion_offset(HIGH_WATERMARK, true, 10), Ok(10));
        assert_eq!(
            deletion_offset(11, true, 10),
            Err(ResponseError::OffsetOutOfRange)
        );
        assert_eq!(
            deletion_offset(-2, true, 10),
            Err(ResponseError::OffsetOutOfRange)
        );
        assert_eq!(
            deletion_offset(3, false, 10),
            Err(ResponseError::PolicyViolation)
        );
    }
}
