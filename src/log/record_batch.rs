//! Magic-2 record batch headers, read straight out of the wire/segment bytes.
//!
//! The broker never decodes records: it checks the 61-byte header and the CRC-32C, and patches the
//! two fields that lie outside the CRC (base offset, partition leader epoch). The stored bytes are
//! therefore exactly the bytes the producer sent, and exactly the bytes a fetch returns.

use std::ops::Range;

use crate::log::compression::{self, Codec};
use crate::log::record::Records;
use crate::log::LogError;

/// Size of a magic-2 batch header (Kafka's `RECORD_BATCH_OVERHEAD`).
pub const HEADER_SIZE: usize = 61;
/// Bytes before the length-delimited part: base offset (8) + batch length (4) (`LOG_OVERHEAD`).
pub const LOG_OVERHEAD: usize = 12;
/// The only message format this broker stores.
pub const MAGIC_V2: i8 = 2;

const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
/// Where the CRC-32C sits; it covers everything from the attributes on.
pub const CRC_OFFSET: usize = 17;
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Smallest legal batch length field: a legacy v0 message (Kafka's `RECORD_OVERHEAD_V0`); anything
/// shorter cannot be a batch of any magic, so the bytes are corrupt rather than merely unsupported.
const MIN_LEGACY_LENGTH: i32 = 14;
/// Attribute bit 3: timestamps are the broker's append time (`LogAppendTime`).
const LOG_APPEND_TIME_FLAG: i16 = 0x08;
const TRANSACTIONAL_FLAG: i16 = 0x10;
const CONTROL_FLAG: i16 = 0x20;
/// Attribute bit 6 (KIP-534): the base timestamp is the delete horizon the cleaner set.
pub const DELETE_HORIZON_FLAG: i16 = 0x40;
const COMPRESSION_MASK: i16 = 0x07;
/// No timestamp (Kafka's `RecordBatch.NO_TIMESTAMP`).
pub const NO_TIMESTAMP: i64 = -1;
/// zstd, the highest codec id Kafka defines.
const MAX_COMPRESSION_CODEC: i16 = 4;

/// The fixed fields of a magic-2 batch header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the first [`HEADER_SIZE`] bytes; `None` if fewer are given.
    pub fn parse(b: &[u8]) -> Option<BatchHeader> {
        if b.len() < HEADER_SIZE {
            return None;
        }
        Some(BatchHeader {
            base_offset: be_i64(b, 0),
            batch_length: be_i32(b, 8),
            partition_leader_epoch: be_i32(b, PARTITION_LEADER_EPOCH_OFFSET),
            magic: b[MAGIC_OFFSET] as i8,
            crc: be_i32(b, CRC_OFFSET) as u32,
            attributes: be_i16(b, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(b, 23),
            base_timestamp: be_i64(b, 27),
            max_timestamp: be_i64(b, 35),
            producer_id: be_i64(b, 43),
            producer_epoch: be_i16(b, 51),
            base_sequence: be_i32(b, 53),
            records_count: be_i32(b, 57),
        })
    }

    /// Whole size on disk, including the 12-byte log overhead.
    pub fn size(&self) -> usize {
        LOG_OVERHEAD + self.batch_length.max(0) as usize
    }

    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Sequence of the last record, wrapping at `i32::MAX` as Kafka's `incrementSequence` does.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return self.base_sequence;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta.max(0));
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }

    /// Attribute bits 0-2: none, gzip, snappy, lz4, zstd.
    pub fn compression_codec(&self) -> i16 {
        self.attributes & COMPRESSION_MASK
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_FLAG != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_FLAG != 0
    }

    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }

    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_FLAG != 0
    }

    /// The delete horizon the cleaner recorded in this batch (KIP-534), if any.
    pub fn delete_horizon_ms(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_FLAG != 0).then_some(self.base_timestamp)
    }

    /// Writes every header field into `out[..HEADER_SIZE]`, then the CRC-32C of
    /// `out[ATTRIBUTES..]`: `out` must be the whole batch, records included (Kafka's
    /// `DefaultRecordBatch.writeHeader`). The `crc` field of `self` is ignored; the CRC written
    /// is returned.
    pub fn write_sealed(&self, out: &mut [u8]) -> u32 {
        self.write_fields(out);
        let crc = compute_crc(out);
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        crc
    }

    /// Writes every header field, the `crc` field as it is, into `out[..HEADER_SIZE]`.
    pub fn write_fields(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.base_offset.to_be_bytes());
        out[8..12].copy_from_slice(&self.batch_length.to_be_bytes());
        out[PARTITION_LEADER_EPOCH_OFFSET..16]
            .copy_from_slice(&self.partition_leader_epoch.to_be_bytes());
        out[MAGIC_OFFSET] = self.magic as u8;
        out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&self.crc.to_be_bytes());
        out[ATTRIBUTES_OFFSET..23].copy_from_slice(&self.attributes.to_be_bytes());
        out[23..27].copy_from_slice(&self.last_offset_delta.to_be_bytes());
        out[27..35].copy_from_slice(&self.base_timestamp.to_be_bytes());
        out[35..43].copy_from_slice(&self.max_timestamp.to_be_bytes());
        out[43..51].copy_from_slice(&self.producer_id.to_be_bytes());
        out[51..53].copy_from_slice(&self.producer_epoch.to_be_bytes());
        out[53..57].copy_from_slice(&self.base_sequence.to_be_bytes());
        out[57..61].copy_from_slice(&self.records_count.to_be_bytes());
    }

    /// The CRC-32C of a batch with this header and `body` (the bytes after the header): a
    /// header changed in place gets its CRC without the batch being copied.
    pub fn crc_with_body(&self, body: &[u8]) -> u32 {
        let mut header = [0u8; HEADER_SIZE];
        self.write_fields(&mut header);
        crc32c::crc32c_append(crc32c::crc32c(&header[ATTRIBUTES_OFFSET..]), body)
    }
}

/// A batch found in a buffer: its header and where its bytes lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRef {
    pub header: BatchHeader,
    pub range: Range<usize>,
}

/// Iterates the complete batches at the start of a buffer. It stops, without error, at the first
/// place it cannot read a whole batch (a partial trailing batch, as fetch responses and torn
/// segment tails have, or an impossible length); [`Batches::position`] then says how far it got.
pub struct Batches<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Batches<'a> {
    pub fn new(buf: &'a [u8]) -> Batches<'a> {
        Batches { buf, pos: 0 }
    }

    /// Bytes consumed by the batches yielded so far.
    pub fn position(&self) -> usize {
        self.pos
    }
}

impl Iterator for Batches<'_> {
    type Item = BatchRef;

    fn next(&mut self) -> Option<BatchRef> {
        let rest = self.buf.get(self.pos..)?;
        let header = BatchHeader::parse(rest)?;
        if header.batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return None;
        }
        let size = header.size();
        if rest.len() < size {
            return None;
        }
        let range = self.pos..self.pos + size;
        self.pos += size;
        Some(BatchRef { header, range })
    }
}

/// CRC-32C of a complete batch's bytes, computed over everything after the CRC field.
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Checks one complete batch's structure and CRC (what Kafka's `DefaultRecordBatch.ensureValid`
/// checks); used on both the leader and the follower path and during recovery.
pub fn ensure_valid(batch: &[u8], header: &BatchHeader) -> Result<(), LogError> {
    if header.magic != MAGIC_V2 {
        return Err(LogError::UnsupportedForMessageFormat(header.magic));
    }
    if batch.len() < HEADER_SIZE || batch.len() != header.size() {
        return Err(LogError::Corrupt(format!(
            "batch length {} does not match {} available bytes",
            header.batch_length,
            batch.len()
        )));
    }
    let crc = compute_crc(batch);
    if crc != header.crc {
        return Err(LogError::Corrupt(format!(
            "CRC-32C mismatch at base offset {}: stored {:#010x}, computed {crc:#010x}",
            header.base_offset, header.crc
        )));
    }
    Ok(())
}

/// Validates a produce request's `records` and returns the batches found. Every byte must belong
/// to a complete, CRC-valid magic-2 batch no larger than `max_message_bytes` whose record count
/// agrees with its offset range.
pub fn validate(buf: &[u8], max_message_bytes: Option<usize>) -> Result<Vec<BatchRef>, LogError> {
    validate_inner(buf, max_message_bytes, true)
}

/// Validates records fetched from the leader: structure and CRC only. Neither the size limit
/// nor the record count applies (Kafka skips both for replication; compaction on the leader
/// leaves batches with fewer records than their offset range).
pub fn validate_replicated(buf: &[u8]) -> Result<Vec<BatchRef>, LogError> {
    validate_inner(buf, None, false)
}

fn validate_inner(
    buf: &[u8],
    max_message_bytes: Option<usize>,
    from_client: bool,
) -> Result<Vec<BatchRef>, LogError> {
    let mut batches = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        if rest.len() < LOG_OVERHEAD {
            return Err(LogError::Corrupt(format!(
                "{} trailing bytes are not a batch",
                rest.len()
            )));
        }
        let length = be_i32(rest, 8);
        if length < MIN_LEGACY_LENGTH {
            return Err(LogError::Corrupt(format!(
                "batch length {length} is too small"
            )));
        }
        let size = LOG_OVERHEAD + length as usize;
        if let Some(max) = max_message_bytes {
            if size > max {
                return Err(LogError::RecordTooLarge { size, max });
            }
        }
        if rest.len() < size {
            return Err(LogError::Corrupt(format!(
                "batch of {size} bytes is truncated to {}",
                rest.len()
            )));
        }
        if rest.len() > MAGIC_OFFSET && rest[MAGIC_OFFSET] as i8 != MAGIC_V2 {
            return Err(LogError::UnsupportedForMessageFormat(
                rest[MAGIC_OFFSET] as i8,
            ));
        }
        let header = BatchHeader::parse(rest)
            .filter(|_| size >= HEADER_SIZE)
            .ok_or_else(|| {
                LogError::Corrupt(format!("batch of {size} bytes has no full header"))
            })?;
        let bytes = &rest[..size];
        ensure_valid(bytes, &header)?;
        if header.last_offset_delta < 0 {
            return Err(LogError::InvalidRecord(format!(
                "negative last offset delta {}",
                header.last_offset_delta
            )));
        }
        if header.compression_codec() > MAX_COMPRESSION_CODEC {
            return Err(LogError::Corrupt(format!(
                "unknown compression codec {}",
                header.compression_codec()
            )));
        }
        if from_client {
            check_client_rules(&header)?;
        }
        batches.push(BatchRef {
            header,
            range: pos..pos + size,
        });
        pos += size;
    }
    Ok(batches)
}

/// What Kafka's `LogValidator` demands of batches that come from producers (rather than from
/// a leader): a record count matching the offset range, and no broker-only batch kinds.
fn check_client_rules(header: &BatchHeader) -> Result<(), LogError> {
    if header.records_count <= 0
        || i64::from(header.records_count) != i64::from(header.last_offset_delta) + 1
    {
        return Err(LogError::InvalidRecord(format!(
            "record count {} does not match last offset delta {}",
            header.records_count, header.last_offset_delta
        )));
    }
    if header.is_transactional() && !header.has_producer_id() {
        return Err(LogError::InvalidRecord(
            "transactional batch without a producer id".into(),
        ));
    }
    Ok(())
}

/// Sets a batch's base offset in place; outside the CRC, so the CRC stays valid.
pub fn set_base_offset(batch: &mut [u8], offset: i64) {
    batch[..8].copy_from_slice(&offset.to_be_bytes());
}

/// Sets a batch's partition leader epoch in place; outside the CRC, so the CRC stays valid.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) {
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
}

/// In a batch (decompressing a compressed one), the (offset, timestamp) of the first record at
/// or after `min_offset` whose timestamp is >= `timestamp`, as Kafka's `LogSegment.findOffsetByTimestamp`
/// answers ListOffsets with the exact record. In a `LogAppendTime` batch every record carries
/// the batch's max timestamp. `None` if the bytes end early or do not decode.
pub fn first_record_at_or_after(
    batch: &[u8],
    header: &BatchHeader,
    timestamp: i64,
    min_offset: i64,
) -> Option<(i64, i64)> {
    let body = batch.get(HEADER_SIZE..header.size().min(batch.len()))?;
    let codec = Codec::from_id(header.compression_codec())?;
    let mut decompressed = Vec::new();
    let payload = if codec == Codec::None {
        body
    } else {
        compression::decompress(codec, body, &mut decompressed).ok()?;
        &decompressed[..]
    };
    for record in Records::in_payload(payload, header.records_count) {
        let record = record.ok()?;
        let ts = if header.is_log_append_time() {
            header.max_timestamp
        } else {
            header.base_timestamp.checked_add(record.timestamp_delta)?
        };
        let offset = header
            .base_offset
            .checked_add(i64::from(record.offset_delta))?;
        if ts >= timestamp && offset >= min_offset {
            return Some((offset, ts));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::test_util::{batch, simple};
    use bytes::Bytes;
    use kafka_protocol::records::RecordBatchDecoder;
    use proptest::prelude::*;

    #[test]
    fn parses_encoder_output() {
        let b = batch(3, 1000, (7, 2, 10), 5);
        let refs = validate(&b, Some(1 << 20)).expect("valid");
        assert_eq!(refs.len(), 1);
        let h = refs[0].header;
        assert_eq!(h.magic, 2);
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.base_timestamp, 1000);
        assert_eq!(h.max_timestamp, 1002);
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 2, 10)
        );
        assert_eq!(h.last_sequence(), 12);
        assert_eq!(h.size(), b.len());
    }

    #[test]
    fn patching_keeps_crc_and_decodes() {
        let mut b = simple(2, 5);
        set_base_offset(&mut b, 42);
        set_partition_leader_epoch(&mut b, 9);
        let refs = validate(&b, None).expect("still valid");
        assert_eq!(refs[0].header.base_offset, 42);
        assert_eq!(refs[0].header.partition_leader_epoch, 9);
        let mut bytes = Bytes::from(b.to_vec());
        let set = RecordBatchDecoder::decode(&mut bytes).expect("decode");
        assert_eq!(set.records[1].offset, 43);
        assert_eq!(set.records[0].partition_leader_epoch, 9);
    }

    #[test]
    fn rejects_bad_crc_size_magic_and_tail() {
        let mut b = simple(1, 0);
        let last = b.len() - 1;
        b[last] ^= 1;
        assert!(matches!(validate(&b, None), Err(LogError::Corrupt(_))));
        let b = simple(4, 0);
        assert!(matches!(
            validate(&b, Some(b.len() - 1)),
            Err(LogError::RecordTooLarge { .. })
        ));
        let mut b = simple(1, 0);
        b[MAGIC_OFFSET] = 1;
        assert!(matches!(
            validate(&b, None),
            Err(LogError::UnsupportedForMessageFormat(1))
        ));
        let b = simple(1, 0);
        assert!(matches!(
            validate(&b[..b.len() - 1], None),
            Err(LogError::Corrupt(_))
        ));
    }

    #[test]
    fn rejects_count_mismatch_even_with_good_crc() {
        let mut b = simple(2, 0);
        b[60] = 3; // records_count low byte
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(matches!(
            validate(&b, None),
            Err(LogError::InvalidRecord(_))
        ));
    }

    #[test]
    fn rejects_unknown_codec_and_producerless_transactions() {
        let set_attributes = |attributes: i16| {
            let mut b = simple(1, 0);
            b[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
            let crc = compute_crc(&b);
            b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
            b
        };
        assert!(matches!(
            validate(&set_attributes(5), None),
            Err(LogError::Corrupt(_))
        ));
        assert!(matches!(
            validate(&set_attributes(0x10), None),
            Err(LogError::InvalidRecord(_))
        ));
        assert!(validate_replicated(&set_attributes(0x10)).is_ok());
    }

    #[test]
    fn a_written_header_parses_back_and_seals_the_crc() {
        let b = batch(3, 1000, (7, 2, 10), 5);
        let mut h = BatchHeader::parse(&b).unwrap();
        h.base_offset = 40;
        h.attributes |= DELETE_HORIZON_FLAG;
        h.base_timestamp = 99;
        let mut copy = b.to_vec();
        h.write_sealed(&mut copy);
        let back = validate_replicated(&copy).unwrap()[0].header;
        assert_eq!(back.crc, compute_crc(&copy));
        assert_eq!(BatchHeader { crc: h.crc, ..back }, h);
        assert_eq!(back.delete_horizon_ms(), Some(99));
        assert_eq!(BatchHeader::parse(&b).unwrap().delete_horizon_ms(), None);
    }

    #[test]
    fn iterator_stops_at_partial_tail() {
        let mut buf = simple(1, 0);
        let first = buf.len();
        buf.extend_from_slice(&simple(2, 0));
        let mut it = Batches::new(&buf[..buf.len() - 3]);
        assert_eq!(it.next().map(|b| b.range), Some(0..first));
        assert!(it.next().is_none());
        assert_eq!(it.position(), first);
    }

    proptest! {
        #[test]
        fn validator_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = validate(&data, Some(1000));
            let _ = Batches::new(&data).count();
        }

        #[test]
        fn mutated_batches_never_panic(pos in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
            let mut b = batch(3, 1, (1, 0, 0), 20).to_vec();
            b.extend_from_slice(&simple(2, 7));
            let p = pos % b.len();
            b[p] = byte;
            b.truncate(b.len().saturating_sub(cut));
            let _ = validate(&b, Some(1 << 20));
            let _ = Batches::new(&b).count();
        }
    }

    #[test]
    fn finds_the_exact_record_by_timestamp_inside_a_batch() {
        // Records at timestamps 1000..1010, offsets 0..9 (base offset 0).
        let batch = crate::log::test_util::batch(10, 1000, (-1, -1, -1), 100);
        let header = BatchHeader::parse(&batch).unwrap();
        assert_eq!(
            first_record_at_or_after(&batch, &header, 1005, 0),
            Some((5, 1005))
        );
        assert_eq!(
            first_record_at_or_after(&batch, &header, 0, 7),
            Some((7, 1007))
        );
        assert_eq!(first_record_at_or_after(&batch, &header, 2000, 0), None);
        // A cut-off batch never reads past its end.
        assert_eq!(
            first_record_at_or_after(&batch[..HEADER_SIZE + 20], &header, 1009, 0),
            None
        );
    }

    #[test]
    fn finds_the_exact_record_inside_a_compressed_batch() {
        let plain = crate::log::test_util::batch(10, 1000, (-1, -1, -1), 100);
        for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
            let mut h = BatchHeader::parse(&plain).unwrap();
            let mut b = plain[..HEADER_SIZE].to_vec();
            let levels = compression::Levels::default();
            compression::compress(codec, &levels, &plain[HEADER_SIZE..], &mut b).unwrap();
            h.attributes |= codec.id();
            h.batch_length = (b.len() - LOG_OVERHEAD) as i32;
            h.write_sealed(&mut b);
            assert_eq!(
                first_record_at_or_after(&b, &h, 1005, 0),
                Some((5, 1005)),
                "{codec:?}"
            );
            assert_eq!(first_record_at_or_after(&b, &h, 1003, 8), Some((8, 1008)));
        }
    }

    #[test]
    fn log_append_time_records_carry_the_batch_time() {
        let plain = crate::log::test_util::batch(3, 1000, (-1, -1, -1), 10);
        let mut h = BatchHeader::parse(&plain).unwrap();
        h.attributes |= LOG_APPEND_TIME_FLAG;
        h.max_timestamp = 5000;
        assert_eq!(
            first_record_at_or_after(&plain, &h, 4000, 1),
            Some((1, 5000))
        );
        assert_eq!(first_record_at_or_after(&plain, &h, 5001, 0), None);
    }
}
