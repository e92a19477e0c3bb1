//! Record batches for the client side: build magic-2 batches to produce, and walk fetched bytes
//! reading only batch headers (record count, offsets) so a consumer benchmark measures the
//! broker, not our decoder.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ClientError;

// The batch layout is the log's (`log::record_batch`): one definition of the wire format.
use crate::log::record_batch::{ATTRIBUTES_OFFSET, CRC_OFFSET, HEADER_SIZE as BATCH_OVERHEAD};

/// Encodes one uncompressed magic-2 batch of `count` records, each with no key, value `value`
/// and timestamp `timestamp_ms`; offsets are 0..count (the broker assigns real ones).
pub fn build_batch(value: &Bytes, count: usize, timestamp_ms: i64) -> Result<Bytes, ClientError> {
    let mut buf = BytesMut::new();
    build_batch_into(&mut buf, value, count, timestamp_ms)?;
    Ok(buf.freeze())
}

/// [`build_batch`] appended to `buf`, written field by field as Kafka's `MemoryRecordsBuilder`
/// does: the value is copied once, straight into place, so a reused `buf` makes a batch without
/// allocating.
pub fn build_batch_into(
    buf: &mut BytesMut,
    value: &[u8],
    count: usize,
    timestamp_ms: i64,
) -> Result<(), ClientError> {
    let too_big = || ClientError::Encode {
        api: 0,
        version: 2,
        message: format!(
            "record batch of {count} records of {} bytes is too large",
            value.len()
        ),
    };
    let count_i32 = i32::try_from(count).map_err(|_| too_big())?;
    let value_len = i64::try_from(value.len()).map_err(|_| too_big())?;
    let size = batch_size(value.len(), count);
    let batch_length = i32::try_from(size - 12).map_err(|_| too_big())?;
    let start = buf.len();
    buf.reserve(size);
    buf.put_i64(0); // base offset
    buf.put_i32(batch_length);
    buf.put_i32(-1); // partition leader epoch: the broker sets it
    buf.put_i8(2); // magic
    buf.put_u32(0); // CRC, filled in below
    buf.put_i16(0); // attributes: no compression, create time, not transactional
    buf.put_i32(count_i32.saturating_sub(1)); // last offset delta
    buf.put_i64(timestamp_ms); // base timestamp
    buf.put_i64(timestamp_ms); // max timestamp
    buf.put_i64(-1); // producer id: not idempotent
    buf.put_i16(-1); // producer epoch
    buf.put_i32(-1); // base sequence
    buf.put_i32(count_i32);
    for i in 0..count {
        put_varint(buf, record_body_len(value.len(), i) as i64);
        buf.put_i8(0); // attributes
        put_varint(buf, 0); // timestamp delta
        put_varint(buf, i as i64); // offset delta
        put_varint(buf, -1); // no key
        put_varint(buf, value_len);
        buf.put_slice(value);
        put_varint(buf, 0); // no headers
    }
    let crc = crc32c::crc32c(&buf[start + ATTRIBUTES_OFFSET..]);
    buf[start + CRC_OFFSET..start + ATTRIBUTES_OFFSET].copy_from_slice(&crc.to_be_bytes());
    debug_assert_eq!(buf.len() - start, size);
    Ok(())
}

/// Writes `v` as a zig-zag varint, as a record's fields are written.
fn put_varint(buf: &mut BytesMut, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// Size of a zig-zag varint, as a record's length fields are written.
fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// Encoded size of one record with no key and no headers and a `value_len`-byte value at
/// offset delta `delta` with timestamp delta 0 (Kafka's `DefaultRecord.sizeInBytes`).
pub fn record_size(value_len: usize, delta: usize) -> usize {
    let body = record_body_len(value_len, delta);
    varint_len(body as i64) + body
}

/// A record's bytes after its length field: attributes(1) + timestampDelta(0 → 1) + offsetDelta
/// + keyLen(-1 → 1) + valueLen + value + headers(0 → 1).
fn record_body_len(value_len: usize, delta: usize) -> usize {
    1 + 1 + varint_len(delta as i64) + 1 + varint_len(value_len as i64) + value_len + 1
}

/// Bytes of a batch of `count` records with `value_len`-byte values, as [`build_batch`] makes it.
pub fn batch_size(value_len: usize, count: usize) -> usize {
    BATCH_OVERHEAD + (0..count).map(|i| record_size(value_len, i)).sum::<usize>()
}

/// How many `value_len`-byte records fit in a batch of at most `batch_size` bytes (at least one,
/// as Kafka's producer always sends an oversized record alone).
pub fn records_per_batch(batch_size: usize, value_len: usize) -> usize {
    let mut size = BATCH_OVERHEAD;
    let mut n = 0;
    while size + record_size(value_len, n) <= batch_size {
        size += record_size(value_len, n);
        n += 1;
    }
    n.max(1)
}

/// What a run of fetched batches contains, read from headers only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    /// Complete batches (or legacy message-set entries) seen.
    pub batches: usize,
    /// Data records (control batches excluded), from `recordsCount`.
    pub records: u64,
    /// Bytes of the complete batches.
    pub bytes: u64,
    /// Offset to fetch next: one past the last offset of the last complete batch.
    pub next_offset: Option<i64>,
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Walks `data` (a Fetch response's `records`) batch by batch. A partial batch at the end (the
/// broker cuts at `max_bytes`) is ignored, as Kafka's consumer does.
pub fn summarize(data: &[u8]) -> BatchSummary {
    let mut s = BatchSummary::default();
    let mut pos = 0;
    while let (Some(base), Some(len)) = (be_i64(data, pos), be_i32(data, pos + 8)) {
        let Ok(len) = usize::try_from(len) else { break };
        let total = 12 + len;
        let Some(batch) = data.get(pos..pos + total) else {
            break;
        };
        match batch.get(16) {
            Some(2) if total >= BATCH_OVERHEAD => {
                let attributes = i16::from_be_bytes([batch[21], batch[22]]);
                let last_delta = be_i32(batch, 23).unwrap_or(0);
                let count = be_i32(batch, 57).unwrap_or(0);
                if attributes & 0x20 == 0 {
                    s.records += u64::try_from(count).unwrap_or(0);
                }
                s.next_offset = Some(base + i64::from(last_delta) + 1);
            }
            // Legacy message set entry (magic 0/1): its offset is its (last) record's offset.
            Some(0 | 1) => {
                s.records += 1;
                s.next_offset = Some(base + 1);
            }
            _ => break,
        }
        s.batches += 1;
        s.bytes += total as u64;
        pos += total;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    #[test]
    fn built_batch_decodes_back() {
        let value = Bytes::from_static(b"hello world");
        let batch = build_batch(&value, 5, 1_700_000_000_000).unwrap();
        let mut buf = batch.clone();
        let sets = RecordBatchDecoder::decode_all(&mut buf).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].version, 2);
        let recs = &sets[0].records;
        assert_eq!(recs.len(), 5);
        assert!(recs
            .iter()
            .all(|r| r.value.as_ref() == Some(&value) && r.key.is_none()));
        assert_eq!(recs[4].offset, 4);
        assert_eq!(recs[0].timestamp, 1_700_000_000_000);
        // No idempotence: base sequence and producer id stay -1 in the header.
        assert_eq!(be_i32(&batch, 53), Some(-1));
        assert_eq!(be_i64(&batch, 43), Some(-1));
        assert_eq!(be_i32(&batch, 57), Some(5));
    }

    /// The same batch as kafka-protocol's encoder makes, byte for byte.
    fn reference_batch(value: &Bytes, count: usize, ts: i64) -> BytesMut {
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
            NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE,
        };
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                partition_leader_epoch: NO_PARTITION_LEADER_EPOCH,
                producer_id: NO_PRODUCER_ID,
                producer_epoch: NO_PRODUCER_EPOCH,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: NO_SEQUENCE.wrapping_add(i as i32),
                timestamp: ts,
                key: None,
                value: Some(value.clone()),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
        buf
    }

    #[test]
    fn builder_matches_kafka_protocol_encoder() {
        for (len, count) in [(0, 1), (1, 2), (100, 3), (1024, 200), (70_000, 2)] {
            let value = Bytes::from(vec![b'q'; len]);
            let ours = build_batch(&value, count, 1_700_000_000_123).unwrap();
            assert_eq!(
                ours[..],
                reference_batch(&value, count, 1_700_000_000_123)[..],
                "len {len} count {count}"
            );
        }
        // Appending to a reused buffer leaves what was there.
        let mut buf = BytesMut::from(&b"xyz"[..]);
        build_batch_into(&mut buf, b"v", 2, 5).unwrap();
        assert_eq!(&buf[..3], b"xyz");
        assert_eq!(
            buf[3..],
            build_batch(&Bytes::from_static(b"v"), 2, 5).unwrap()[..]
        );
    }

    #[test]
    fn size_estimate_matches_encoder() {
        for (len, count) in [(0, 1), (100, 3), (100, 200), (1000, 16)] {
            let value = Bytes::from(vec![b'x'; len]);
            let batch = build_batch(&value, count, 0).unwrap();
            let expect: usize =
                BATCH_OVERHEAD + (0..count).map(|i| record_size(len, i)).sum::<usize>();
            assert_eq!(batch.len(), expect, "len {len} count {count}");
        }
    }

    #[test]
    fn records_per_batch_fills_without_overflow() {
        let n = records_per_batch(16384, 100);
        let fits: usize = BATCH_OVERHEAD + (0..n).map(|i| record_size(100, i)).sum::<usize>();
        assert!(fits <= 16384);
        assert!(fits + record_size(100, n) > 16384);
        assert_eq!(records_per_batch(100, 1000), 1);
    }

    #[test]
    fn summarize_counts_headers_and_skips_partial_tail() {
        let value = Bytes::from_static(b"v");
        let mut first = BytesMut::from(&build_batch(&value, 3, 0).unwrap()[..]);
        first[..8].copy_from_slice(&10i64.to_be_bytes()); // base offset 10 → offsets 10..=12
        let second = build_batch(&value, 2, 0).unwrap();
        let mut second = BytesMut::from(&second[..]);
        second[..8].copy_from_slice(&13i64.to_be_bytes());
        let mut data = first.clone();
        data.extend_from_slice(&second);
        let full = summarize(&data);
        assert_eq!(full.batches, 2);
        assert_eq!(full.records, 5);
        assert_eq!(full.bytes, data.len() as u64);
        assert_eq!(full.next_offset, Some(15));
        let cut = summarize(&data[..data.len() - 1]);
        assert_eq!(
            (cut.batches, cut.records, cut.next_offset),
            (1, 3, Some(13))
        );
        assert_eq!(summarize(&[]), BatchSummary::default());
    }

    #[test]
    fn summarize_skips_control_batches_records() {
        let mut b = BytesMut::from(&build_batch(&Bytes::from_static(b"v"), 1, 0).unwrap()[..]);
        b[22] |= 0x20;
        let s = summarize(&b);
        assert_eq!((s.batches, s.records, s.next_offset), (1, 0, Some(1)));
    }
}
