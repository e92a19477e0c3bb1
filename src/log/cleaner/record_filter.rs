//! The cleaner's record filter (Kafka's `Cleaner.shouldRetainRecord` and the `RecordFilter` that
//! `MemoryRecords.filterTo` applies): which records of a batch a cleaning keeps, and the batch
//! helpers the rewrite needs (its codec, its records decompressed, a record's timestamp).

use std::collections::HashMap;

use super::offset_map::OffsetMap;
use crate::log::compression::{self, Codec};
use crate::log::record::{RecordRef, Records};
use crate::log::record_batch::{BatchHeader, HEADER_SIZE};
use crate::log::LogError;

/// How one batch fares under the filter.
pub(super) struct BatchVerdict {
    pub(super) kept: i32,
    pub(super) all_kept: bool,
    pub(super) has_tombstone: bool,
}

/// The per-cleaning inputs of the record filter.
pub(super) struct Filter<'a> {
    pub(super) map: &'a OffsetMap,
    pub(super) now_ms: i64,
    pub(super) delete_retention_ms: i64,
    pub(super) producer_last_offsets: &'a HashMap<i64, i64>,
}

impl Filter<'_> {
    /// Kafka's `Cleaner.shouldRetainRecord`.
    pub(super) fn keep(&self, h: &BatchHeader, r: &RecordRef<'_>) -> bool {
        let offset = h.base_offset + i64::from(r.offset_delta);
        if offset > self.map.latest_offset() {
            return true;
        }
        let Some(key) = r.key else {
            return false;
        };
        let latest = offset >= self.map.get(key);
        let keep_deletes = h
            .delete_horizon_ms()
            .is_none_or(|horizon| self.now_ms < horizon);
        latest && (r.value.is_some() || keep_deletes)
    }

    pub(super) fn judge(&self, payload: &[u8], h: &BatchHeader) -> Result<BatchVerdict, LogError> {
        let mut verdict = BatchVerdict {
            kept: 0,
            all_kept: true,
            has_tombstone: false,
        };
        for record in Records::in_payload(payload, h.records_count) {
            let r = record?;
            if self.keep(h, &r) {
                verdict.kept += 1;
                verdict.has_tombstone |= r.value.is_none();
            } else {
                verdict.all_kept = false;
            }
        }
        Ok(verdict)
    }

    /// Kafka's `isBatchLastRecordOfProducer` for non-transactional producers.
    pub(super) fn last_of_producer(&self, h: &BatchHeader) -> bool {
        h.has_producer_id()
            && self.producer_last_offsets.get(&h.producer_id) == Some(&h.last_offset())
    }
}

/// A batch's codec; ids Kafka does not define are refused when batches are appended, so one
/// here means the segment is corrupt.
pub(super) fn codec_of(h: &BatchHeader) -> Result<Codec, LogError> {
    Codec::from_id(h.compression_codec()).ok_or_else(|| {
        LogError::Corrupt(format!(
            "batch at offset {} has unknown compression codec {}",
            h.base_offset,
            h.compression_codec()
        ))
    })
}

/// The records of a whole stored batch: its body, or for a compressed batch its body
/// decompressed into `scratch`.
pub(super) fn payload<'a>(
    batch: &'a [u8],
    codec: Codec,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], LogError> {
    let body = batch.get(HEADER_SIZE..).unwrap_or_default();
    if codec == Codec::None {
        return Ok(body);
    }
    scratch.clear();
    compression::decompress(codec, body, scratch)?;
    Ok(scratch)
}

/// A record's timestamp as Kafka's `DefaultRecord` reports it.
pub(super) fn record_timestamp(h: &BatchHeader, r: &RecordRef<'_>) -> i64 {
    if h.is_log_append_time() {
        h.max_timestamp
    } else {
        h.base_timestamp.saturating_add(r.timestamp_delta)
    }
}
