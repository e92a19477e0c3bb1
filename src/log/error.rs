//! The one error type of the log module. Variants are split by what a caller must tell apart:
//! each maps to the Kafka error code a produce/fetch/list-offsets response carries.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong while storing or reading a partition log.
#[derive(Debug, Error)]
pub enum LogError {
    /// A file operation failed; the path says which file (Kafka: KafkaStorageException).
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// Bytes that are not a well-formed record batch: short header, bad length, CRC mismatch.
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// A well-formed batch that breaks a rule the broker enforces (offset/count mismatch, ...).
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// Magic 0/1 where only magic 2 is read: a Produce v3+ request, a follower fetch, a segment.
    #[error("unsupported record batch magic {0} (only magic 2 is stored)")]
    UnsupportedForMessageFormat(i8),
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    RecordTooLarge { size: usize, max: usize },
    /// A produce request larger than a whole segment (Kafka: RecordBatchTooLargeException).
    #[error("records of {size} bytes exceed segment.bytes {max}")]
    RecordListTooLarge { size: usize, max: u64 },
    #[error("out of order sequence for producer {producer_id}: {reason}")]
    OutOfOrderSequence { producer_id: i64, reason: String },
    #[error("producer {producer_id} epoch {epoch} is older than current epoch {current}")]
    InvalidProducerEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    #[error("offset {offset} is out of range [{log_start}, {log_end}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    /// A follower append whose first offset is below the log end (Kafka:
    /// UnexpectedAppendOffsetException / OffsetsOutOfOrderException).
    #[error("unexpected append offset {offset}: {reason}")]
    UnexpectedAppendOffset { offset: i64, reason: String },
    /// Records refused one by one (Kafka's `RecordValidationException` wrapping an
    /// `InvalidRecordException`): the produce response lists each in `record_errors`.
    #[error(
        "One or more records have been rejected due to {} record errors in total, and only \
         showing the first three errors at most: [{}]",
        .0.len(),
        .0.iter().take(3).map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    RecordErrors(Vec<RecordError>),
    /// Records refused for their timestamps (Kafka's `RecordValidationException` wrapping an
    /// `InvalidTimestampException`): INVALID_TIMESTAMP, each record in `record_errors`.
    #[error("One or more records have been rejected due to invalid timestamp")]
    InvalidTimestamp(Vec<RecordError>),
    /// A checkpoint, metadata or index file whose content cannot be parsed.
    #[error("malformed file {path}: {reason}")]
    BadFile { path: PathBuf, reason: String },
}

/// One refused record: its index within its batch and why (Kafka's `RecordError`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    pub batch_index: i32,
    pub message: String,
}

impl std::fmt::Display for RecordError {
    /// Kafka's `RecordError.toString`, which the produce response's error message embeds.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RecordError(batchIndex={}, message='{}')",
            self.batch_index, self.message
        )
    }
}

impl LogError {
    /// The Kafka error code a response should carry for this error.
    pub fn kafka_error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::Corrupt(_) => 2,
            LogError::InvalidTimestamp(_) => 32,
            LogError::RecordTooLarge { .. } => 10,
            LogError::RecordListTooLarge { .. } => 18,
            LogError::UnsupportedForMessageFormat(_) => 43,
            LogError::OutOfOrderSequence { .. } => 45,
            LogError::InvalidProducerEpoch { .. } => 47,
            LogError::Io { .. } => 56,
            LogError::InvalidRecord(_) | LogError::RecordErrors(_) => 87,
            LogError::UnexpectedAppendOffset { .. } | LogError::BadFile { .. } => -1,
        }
    }

    /// Wraps an `io::Error` with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> LogError {
        let path = path.into();
        move |source| LogError::Io { path, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(LogError::Corrupt("x".into()).kafka_error_code(), 2);
        assert_eq!(
            LogError::RecordTooLarge { size: 2, max: 1 }.kafka_error_code(),
            10
        );
        assert_eq!(
            LogError::UnsupportedForMessageFormat(1).kafka_error_code(),
            43
        );
        let e = LogError::OffsetOutOfRange {
            offset: 9,
            log_start: 0,
            log_end: 3,
        };
        assert_eq!(e.kafka_error_code(), 1);
        assert!(e.to_string().contains('9'));
    }
}
