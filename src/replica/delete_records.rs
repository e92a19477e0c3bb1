//! DeleteRecords on the leader (Kafka's `Partition.deleteRecordsOnLeader`): the log start offset
//! moves up to the requested offset, so the records below it can no longer be read; the segments
//! wholly below it go at the next retention pass, and followers move their own log start when
//! their next fetch tells them the leader's.

use kafka_protocol::error::ResponseError;
use tracing::info;

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
    /// the new log start offset, which the response reports as the low watermark.
    pub fn delete_records_on_leader(&self, requested: i64) -> Result<i64, ResponseError> {
        if !self.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        let high_watermark = self.high_watermark();
        self.with_log(|log| {
            let offset = deletion_offset(requested, log.config.cleanup_delete, high_watermark)?;
            let moved = self.storage(log.maybe_increment_log_start_offset(offset));
            if moved.map_err(|e| log_error_code(&e))? {
                info!(topic = %self.topic, partition = self.index, offset, "records deleted");
            }
            Ok(log.log_start_offset())
        })
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
