//! What a leader checks and changes in each batch a producer sends before storing it (Kafka's
//! `LogValidator`): every record is decoded (decompressing a compressed batch), its offset delta
//! must be its index, a compacted topic refuses keyless records, CreateTime timestamps must lie
//! within `message.timestamp.before.max.ms` / `after.max.ms` of the broker's clock; then the
//! batch is stamped with `LogAppendTime` if the topic asks for it, its max timestamp set to
//! what its records hold, and it is recompressed when the topic's `compression.type` names
//! another codec than the producer used.
//!
//! Most batches need none of that rewriting: an uncompressed batch is walked in place without
//! any allocation and stored exactly as sent, so the append stays a vectored write of the
//! request's own bytes (`append_bytes`). Stamping changes only header fields, so it costs a
//! re-computed CRC, not a copy; only recompression builds new bytes.
//!
//! Error codes are Kafka 3.9's: records that do not decode (and a compressed payload that does
//! not decompress) are INVALID_RECORD without per-record errors, as Kafka's
//! `InvalidRecordException` from `DefaultRecord.readFrom`; keyless records and out-of-range
//! timestamps are listed one by one (`RecordValidationException`), the whole batch answering
//! INVALID_TIMESTAMP if any timestamp is refused and INVALID_RECORD otherwise.

use crate::log::compression::{self, Codec, Levels, TargetCompression};
use crate::log::record::Records;
use crate::log::record_batch::{BatchHeader, HEADER_SIZE, LOG_OVERHEAD, NO_TIMESTAMP};
use crate::log::{LogError, RecordError};

/// Attribute bit 3: the batch's timestamps are the broker's append time.
const LOG_APPEND_TIME_FLAG: i16 = 0x08;
const COMPRESSION_MASK: i16 = 0x07;

/// The topic settings a leader validates producer batches against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidatorConfig {
    /// `message.timestamp.type=LogAppendTime`: batches carry the broker's time.
    pub log_append_time: bool,
    /// `message.timestamp.before.max.ms` (or the deprecated `difference.max.ms`): how far in
    /// the past a CreateTime timestamp may be.
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms` (or `difference.max.ms`): how far in the future.
    pub timestamp_after_max_ms: i64,
    /// `cleanup.policy` contains `compact`: every record needs a key.
    pub compact: bool,
    /// `compression.type`.
    pub compression: TargetCompression,
    /// `compression.{gzip,lz4,zstd}.level`.
    pub levels: Levels,
}

impl Default for ValidatorConfig {
    fn default() -> Self {
        ValidatorConfig {
            log_append_time: false,
            timestamp_before_max_ms: i64::MAX,
            timestamp_after_max_ms: i64::MAX,
            compact: false,
            compression: TargetCompression::Producer,
            levels: Levels::default(),
        }
    }
}

/// How a validated batch is stored.
#[derive(Debug, PartialEq, Eq)]
pub enum Stored {
    /// Exactly as sent (but for the offsets and leader epoch every append assigns).
    AsSent,
    /// With the header [`Validated::header`] holds (timestamp type, max timestamp, CRC).
    NewHeader,
    /// As these bytes: the batch recompressed, header included and sealed.
    Rebuilt(Vec<u8>),
}

/// A batch that passed validation: its header as stored and how to store it.
#[derive(Debug, PartialEq, Eq)]
pub struct Validated {
    pub header: BatchHeader,
    pub stored: Stored,
}

/// Validates one producer batch (`batch`, whole, CRC already checked) at broker time `now`.
/// `scratch` holds a compressed batch's records while they are checked; `topic_partition`
/// names the partition in error messages as Kafka's do.
pub fn validate_batch(
    batch: &[u8],
    header: &BatchHeader,
    config: &ValidatorConfig,
    now: i64,
    topic_partition: &str,
    scratch: &mut Vec<u8>,
) -> Result<Validated, LogError> {
    let source = Codec::from_id(header.compression_codec()).ok_or_else(|| {
        LogError::Corrupt(format!(
            "unknown compression codec {}",
            header.compression_codec()
        ))
    })?;
    let target = config.compression.resolve(source);
    let body = batch.get(HEADER_SIZE..header.size()).ok_or_else(|| {
        LogError::Corrupt(format!("batch of {} bytes has no full header", batch.len()))
    })?;
    let payload = if source == Codec::None {
        body
    } else {
        scratch.clear();
        compression::decompress(source, body, scratch).map_err(|e| match e {
            LogError::Corrupt(m) => LogError::InvalidRecord(m),
            other => other,
        })?;
        &scratch[..]
    };
    let max_timestamp = check_records(payload, header, config, now, topic_partition)?;

    let mut stored = *header;
    stored.attributes &= !(LOG_APPEND_TIME_FLAG | COMPRESSION_MASK);
    stored.attributes |= target.id();
    if config.log_append_time {
        stored.attributes |= LOG_APPEND_TIME_FLAG;
        stored.max_timestamp = now;
    } else {
        stored.max_timestamp = max_timestamp;
    }
    if target != source {
        let mut out = Vec::with_capacity(HEADER_SIZE + payload.len() / 2);
        out.resize(HEADER_SIZE, 0);
        compression::compress(target, &config.levels, payload, &mut out)?;
        stored.batch_length =
            i32::try_from(out.len() - LOG_OVERHEAD).map_err(|_| LogError::RecordTooLarge {
                size: out.len(),
                max: i32::MAX as usize,
            })?;
        stored.crc = stored.write_sealed(&mut out);
        return Ok(Validated {
            header: stored,
            stored: Stored::Rebuilt(out),
        });
    }
    if stored.attributes == header.attributes && stored.max_timestamp == header.max_timestamp {
        return Ok(Validated {
            header: *header,
            stored: Stored::AsSent,
        });
    }
    stored.crc = stored.crc_with_body(body);
    Ok(Validated {
        header: stored,
        stored: Stored::NewHeader,
    })
}

/// Walks the records of a payload: each must decode with offset delta = its index; keys and
/// timestamps are checked as Kafka's `validateRecord`. Returns the largest record timestamp.
fn check_records(
    payload: &[u8],
    header: &BatchHeader,
    config: &ValidatorConfig,
    now: i64,
    topic_partition: &str,
) -> Result<i64, LogError> {
    let create_time = !config.log_append_time;
    let mut max_timestamp = NO_TIMESTAMP;
    let mut errors: Vec<RecordError> = Vec::new();
    let mut bad_timestamp = false;
    for (index, record) in Records::in_payload(payload, header.records_count).enumerate() {
        let record = record?;
        let index = index as i32;
        if record.offset_delta != index {
            return Err(LogError::InvalidRecord(format!(
                "record {index} of the batch has offset delta {}; a producer's records must \
                 have consecutive offset deltas from 0 in topic partition {topic_partition}",
                record.offset_delta
            )));
        }
        // Java's long arithmetic: a forged delta wraps rather than fails.
        let timestamp = header.base_timestamp.wrapping_add(record.timestamp_delta);
        max_timestamp = max_timestamp.max(timestamp);
        let offset = header
            .base_offset
            .wrapping_add(i64::from(record.offset_delta));
        if config.compact && record.key.is_none() {
            errors.push(RecordError {
                batch_index: index,
                message: format!(
                    "Compacted topic cannot accept message without key in topic partition \
                     {topic_partition}."
                ),
            });
        } else if create_time && timestamp != NO_TIMESTAMP {
            let before = now.wrapping_sub(timestamp);
            if before > config.timestamp_before_max_ms
                || before.wrapping_neg() > config.timestamp_after_max_ms
            {
                bad_timestamp = true;
                errors.push(RecordError {
                    batch_index: index,
                    message: format!(
                        "Timestamp {timestamp} of message with offset {offset} is out of range. \
                         The timestamp should be within [{}, {}]",
                        now.saturating_sub(config.timestamp_before_max_ms),
                        now.saturating_add(config.timestamp_after_max_ms)
                    ),
                });
            }
        } else if header.is_log_append_time() {
            bad_timestamp = true;
            errors.push(RecordError {
                batch_index: index,
                message: format!(
                    "Invalid timestamp type in message with offset {offset}. Producer should \
                     not set timestamp type to LogAppendTime."
                ),
            });
        }
    }
    if errors.is_empty() {
        Ok(max_timestamp)
    } else if bad_timestamp {
        Err(LogError::InvalidTimestamp(errors))
    } else {
        Err(LogError::RecordErrors(errors))
    }
}

#[cfg(test)]
#[path = "validator_tests.rs"]
mod tests;
