//! Fetch v0-v3: the records a fetch read, converted down to the message format the client
//! reads (v0 for Fetch v0-v1, v1 for v2-v3), as Kafka's `KafkaApis.maybeConvertFetchedData`.
//! This path copies: the records are read from the segment into memory, converted, and sent
//! inline instead of with `sendfile(2)`; what is read is bounded by the fetch's max bytes, and
//! the converted output by what was read (but for a first batch that grew, sent whole).

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::PartitionData;

use crate::log::legacy_records::{self, DownConvertError, MAGIC_V0, MAGIC_V1};
use crate::network::FileRange;

/// The message format a Fetch `version` reads, when it cannot read v2 batches.
pub(super) fn magic_for(version: i16) -> Option<i8> {
    match version {
        0 | 1 => Some(MAGIC_V0),
        2 | 3 => Some(MAGIC_V1),
        _ => None,
    }
}

/// Puts `records` (the partition's v2 batches from `fetch_offset` on), converted to `magic`,
/// inline into `p`. With `message.downconversion.enable=false` records that would need
/// converting are refused with UNSUPPORTED_VERSION (an empty read is not); zstd batches, which
/// no old format carries, with UNSUPPORTED_COMPRESSION_TYPE.
pub(super) fn convert_partition(
    p: &mut PartitionData,
    records: Option<FileRange>,
    magic: i8,
    fetch_offset: i64,
    enabled: bool,
) {
    let Some(range) = records else {
        return;
    };
    if !enabled {
        p.error_code = ResponseError::UnsupportedVersion.code();
        return;
    }
    let stored = match range.read_to_bytes() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "fetch read for down-conversion failed");
            p.error_code = ResponseError::KafkaStorageError.code();
            return;
        }
    };
    match legacy_records::down_convert(&stored, magic, fetch_offset) {
        Ok(out) => p.records = Some(Bytes::from(out)),
        Err(DownConvertError::Zstd) => {
            p.error_code = ResponseError::UnsupportedCompressionType.code();
        }
        Err(DownConvertError::Log(e)) => {
            tracing::warn!(error = %e, magic, "stored records do not down-convert");
            p.error_code = ResponseError::CorruptMessage.code();
        }
    }
}
