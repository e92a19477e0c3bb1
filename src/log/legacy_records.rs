//! Message formats v0 and v1 (Kafka's `LegacyRecord`), read and written only at the edges.
//!
//! Each legacy message is `offset (8) | size (4) | crc (4) | magic (1) | attributes (1) |
//! [timestamp (8), v1 only] | key | value`, its CRC-32 (not CRC-32C) covering everything from
//! the magic byte. A compressed set is one wrapper message whose value is the compressed inner
//! messages; the wrapper carries the last inner offset, and in v1 the inner offsets are relative
//! (0, 1, ...). The log stores only v2 batches, as Kafka 3.x does (`log.message.format.version`
//! 3.0): a Produce v0-v2 set is converted up to one v2 batch here ([`up_convert`]), and a Fetch
//! v0-v3 is answered with the v2 batches converted down ([`down_convert`]).
//!
//! Old lz4 sets carry KAFKA-3160's broken frame header checksum in magic 0 (computed over the
//! frame magic too); [`lz4_header`] repairs it on the way in and breaks it on the way out.

use crate::log::compression::{self, Codec, Levels};
use crate::log::record::{write_record, RecordRef};
use crate::log::record_batch::{BatchHeader, Batches, HEADER_SIZE, MAGIC_V2, NO_TIMESTAMP};
use crate::log::LogError;

pub const MAGIC_V0: i8 = 0;
pub const MAGIC_V1: i8 = 1;
/// offset + size.
const LOG_OVERHEAD: usize = 12;
/// crc, magic, attributes, key length, value length (Kafka's `RECORD_OVERHEAD_V0`).
const RECORD_OVERHEAD_V0: usize = 14;
/// Where the magic byte of a message (of any format) sits.
const MAGIC_OFFSET: usize = 16;
const CODEC_MASK: i8 = 0x07;
/// Attribute bit 3 (v1): the timestamp is the broker's append time.
const TIMESTAMP_TYPE_FLAG: i8 = 0x08;
/// The same bit in a v2 batch's attributes.
const V2_LOG_APPEND_TIME: i16 = 0x08;

/// One legacy message, borrowing the set's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub offset: i64,
    pub magic: i8,
    pub attributes: i8,
    /// `NO_TIMESTAMP` in v0.
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl Message<'_> {
    pub fn codec(&self) -> i16 {
        i16::from(self.attributes & CODEC_MASK)
    }

    pub fn log_append_time(&self) -> bool {
        self.magic == MAGIC_V1 && self.attributes & TIMESTAMP_TYPE_FLAG != 0
    }
}

/// The magic of the first message or batch of `records`, if it has one.
pub fn first_magic(records: &[u8]) -> Option<i8> {
    records.get(MAGIC_OFFSET).map(|&b| b as i8)
}

/// Whether `records` starts with a legacy (v0/v1) message.
pub fn is_legacy(records: &[u8]) -> bool {
    matches!(first_magic(records), Some(MAGIC_V0 | MAGIC_V1))
}

/// Iterates the messages of a legacy set, checking each one's CRC-32 (Kafka's
/// `LegacyRecord.ensureValid`: CORRUPT_MESSAGE). Every byte must belong to a whole message.
pub struct Messages<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Messages<'a> {
        Messages { buf, pos: 0 }
    }

    fn read(&mut self) -> Result<Message<'a>, LogError> {
        let rest = &self.buf[self.pos..];
        if rest.len() < LOG_OVERHEAD + RECORD_OVERHEAD_V0 {
            return Err(LogError::Corrupt(format!(
                "{} trailing bytes are not a message",
                rest.len()
            )));
        }
        let offset = i64::from_be_bytes(array(rest, 0));
        let size = i32::from_be_bytes(array(rest, 8));
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s >= RECORD_OVERHEAD_V0)
            .ok_or_else(|| LogError::Corrupt(format!("message size {size} is too small")))?;
        let body = rest.get(LOG_OVERHEAD..LOG_OVERHEAD + size).ok_or_else(|| {
            LogError::Corrupt(format!(
                "message of {size} bytes is truncated to {}",
                rest.len() - LOG_OVERHEAD
            ))
        })?;
        let stored = u32::from_be_bytes(array(body, 0));
        let computed = crc32fast::hash(&body[4..]);
        if stored != computed {
            return Err(LogError::Corrupt(format!(
                "Record is corrupt (stored crc = {stored}, computed crc = {computed})"
            )));
        }
        let magic = body[4] as i8;
        let attributes = body[5] as i8;
        let mut pos = 6;
        let timestamp = match magic {
            MAGIC_V0 => NO_TIMESTAMP,
            MAGIC_V1 => {
                let t = body
                    .get(6..14)
                    .map(|b| i64::from_be_bytes(array(b, 0)))
                    .ok_or_else(|| LogError::Corrupt("v1 message without timestamp".into()))?;
                pos = 14;
                t
            }
            other => {
                return Err(LogError::InvalidRecord(format!(
                    "a message set of magic 0/1 holds a message of magic {other}"
                )))
            }
        };
        let key = read_bytes(body, &mut pos)?;
        let value = read_bytes(body, &mut pos)?;
        if pos != body.len() {
            return Err(LogError::Corrupt(format!(
                "message of {size} bytes holds {pos} bytes of fields"
            )));
        }
        self.pos += LOG_OVERHEAD + size;
        Ok(Message {
            offset,
            magic,
            attributes,
            timestamp,
            key,
            value,
        })
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let m = self.read();
        if m.is_err() {
            self.pos = self.buf.len();
        }
        Some(m)
    }
}

fn array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

fn read_bytes<'a>(body: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, LogError> {
    let len = body
        .get(*pos..*pos + 4)
        .map(|b| i32::from_be_bytes(array(b, 0)))
        .ok_or_else(|| LogError::Corrupt("message field past its end".into()))?;
    *pos += 4;
    if len < 0 {
        return Ok(None);
    }
    let end = *pos + len as usize;
    let bytes = body
        .get(*pos..end)
        .ok_or_else(|| LogError::Corrupt(format!("message field of {len} bytes past its end")))?;
    *pos = end;
    Ok(Some(bytes))
}

/// A v2 batch being built from legacy messages.
struct V2Builder {
    out: Vec<u8>,
    count: i32,
    base_timestamp: Option<i64>,
    max_timestamp: i64,
    log_append_time: bool,
}

impl V2Builder {
    fn new() -> V2Builder {
        V2Builder {
            out: Vec::new(),
            count: 0,
            base_timestamp: None,
            max_timestamp: NO_TIMESTAMP,
            log_append_time: false,
        }
    }

    fn push(&mut self, timestamp: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        let base = *self.base_timestamp.get_or_insert(timestamp);
        let record = RecordRef {
            offset_delta: self.count,
            timestamp_delta: 0,
            key,
            value,
            headers: &[0], // no headers: a varint count of 0
        };
        write_record(
            &mut self.out,
            &record,
            self.count,
            timestamp.wrapping_sub(base),
        );
        self.count += 1;
        self.max_timestamp = self.max_timestamp.max(timestamp);
    }
}

/// Converts a Produce v0-v2 set of legacy messages into one v2 batch (base offset 0, no
/// producer id), compressed with the codec the producer used, as Kafka's `LogValidator` does
/// before the batch goes through the usual validation. Magic 0 records get no timestamp; a
/// LogAppendTime flag the producer set is kept, so that validation refuses it as Kafka does.
pub fn up_convert(records: &[u8]) -> Result<Vec<u8>, LogError> {
    let mut batch = V2Builder::new();
    let mut codec = Codec::None;
    let mut scratch = Vec::new();
    for message in Messages::new(records) {
        let message = message?;
        batch.log_append_time |= message.log_append_time();
        let source = Codec::from_id(message.codec()).ok_or_else(|| {
            LogError::InvalidRecord(format!("unknown compression codec {}", message.codec()))
        })?;
        if source == Codec::None {
            batch.push(message.timestamp, message.key, message.value);
            continue;
        }
        if source == Codec::Zstd {
            // Kafka's `DeepRecordsIterator`: INVALID_RECORD, whatever the payload.
            return Err(LogError::InvalidRecord(
                "Invalid wrapper compressionType found in legacy deep record: ZSTD".into(),
            ));
        }
        codec = source;
        scratch.clear();
        decompress(
            source,
            message.magic,
            message.value.unwrap_or_default(),
            &mut scratch,
        )?;
        for inner in Messages::new(&scratch) {
            let inner = inner?;
            if inner.magic != message.magic {
                return Err(LogError::InvalidRecord(format!(
                    "Log record magic {} does not match outer magic {}",
                    inner.magic, message.magic
                )));
            }
            if inner.codec() != Codec::None.id() {
                return Err(LogError::InvalidRecord(
                    "Compressed outer record should not have an inner record with a \
                     compression attribute set"
                        .into(),
                ));
            }
            let timestamp = if message.log_append_time() {
                message.timestamp
            } else {
                inner.timestamp
            };
            batch.push(timestamp, inner.key, inner.value);
        }
    }
    if batch.count == 0 {
        return Err(LogError::InvalidRecord("an empty message set".into()));
    }
    let mut out = vec![0u8; HEADER_SIZE];
    compression::compress(codec, &Levels::default(), &batch.out, &mut out)?;
    let header = BatchHeader {
        base_offset: 0,
        batch_length: i32::try_from(out.len() - 12).map_err(|_| LogError::RecordTooLarge {
            size: out.len(),
            max: i32::MAX as usize,
        })?,
        partition_leader_epoch: -1,
        magic: MAGIC_V2,
        crc: 0,
        attributes: codec.id()
            | if batch.log_append_time {
                V2_LOG_APPEND_TIME
            } else {
                0
            },
        last_offset_delta: batch.count - 1,
        base_timestamp: batch.base_timestamp.unwrap_or(NO_TIMESTAMP),
        max_timestamp: batch.max_timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records_count: batch.count,
    };
    header.write_sealed(&mut out);
    Ok(out)
}

/// Why a fetch cannot be down-converted.
#[derive(Debug, PartialEq, Eq)]
pub enum DownConvertError {
    /// A zstd batch: no legacy format can carry it (UNSUPPORTED_COMPRESSION_TYPE).
    Zstd,
    /// The stored bytes do not decode.
    Log(String),
}

impl From<LogError> for DownConvertError {
    fn from(e: LogError) -> Self {
        DownConvertError::Log(e.to_string())
    }
}

/// Converts the v2 batches a fetch read (`input`, as many whole batches as it holds) to
/// messages of `magic`, as Kafka's `RecordsUtil.downConvert` and `LazyDownConversionRecords`:
/// control batches are skipped, headers dropped, records of an uncompressed batch below
/// `fetch_offset` left out, a compressed batch becomes one wrapper with the same codec. The
/// output is bounded by the input's size, except that the first converted batch is always
/// whole (so a consumer moves on even when conversion made it bigger than the fetch size).
pub fn down_convert(
    input: &[u8],
    magic: i8,
    fetch_offset: i64,
) -> Result<Vec<u8>, DownConvertError> {
    let mut out = Vec::with_capacity(input.len());
    let mut payload = Vec::new();
    let mut inner = Vec::new();
    for b in Batches::new(input) {
        let h = b.header;
        if h.is_control() {
            continue;
        }
        let codec = Codec::from_id(h.compression_codec())
            .ok_or_else(|| DownConvertError::Log(format!("codec {}", h.compression_codec())))?;
        if codec == Codec::Zstd {
            return Err(DownConvertError::Zstd);
        }
        let body = &input[b.range.start + HEADER_SIZE..b.range.end];
        payload.clear();
        compression::decompress(codec, body, &mut payload)?;
        let log_append_time = h.is_log_append_time();
        let attributes = if log_append_time && magic == MAGIC_V1 {
            TIMESTAMP_TYPE_FLAG
        } else {
            0
        };
        let start = out.len();
        let target = if codec == Codec::None {
            &mut out
        } else {
            inner.clear();
            &mut inner
        };
        let mut last_offset = h.base_offset;
        for (i, record) in
            crate::log::record::Records::in_payload(&payload, h.records_count).enumerate()
        {
            let record = record?;
            let offset = h.base_offset + i64::from(record.offset_delta);
            if codec == Codec::None && offset < fetch_offset {
                continue;
            }
            last_offset = offset;
            let timestamp = if log_append_time {
                h.max_timestamp
            } else {
                h.base_timestamp.wrapping_add(record.timestamp_delta)
            };
            let stored_offset = if codec != Codec::None && magic == MAGIC_V1 {
                i64::try_from(i).unwrap_or(i64::MAX)
            } else {
                offset
            };
            let attrs = if codec == Codec::None { attributes } else { 0 };
            write_message(
                target,
                stored_offset,
                magic,
                attrs,
                timestamp,
                record.key,
                record.value,
            );
        }
        if codec != Codec::None {
            let mut compressed = Vec::with_capacity(inner.len() / 2);
            compress(codec, magic, &inner, &mut compressed)?;
            write_message(
                &mut out,
                last_offset,
                magic,
                attributes | codec.id() as i8,
                h.max_timestamp,
                None,
                Some(&compressed),
            );
        }
        if start > 0 && out.len() > input.len() {
            out.truncate(start);
            break;
        }
    }
    Ok(out)
}

/// Appends one legacy message (Kafka's `LegacyRecord.write`).
pub fn write_message(
    out: &mut Vec<u8>,
    offset: i64,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    let ts_len = if magic == MAGIC_V1 { 8 } else { 0 };
    let size =
        RECORD_OVERHEAD_V0 + ts_len + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(size as i32).to_be_bytes());
    let crc_at = out.len();
    out.extend_from_slice(&[0; 4]);
    out.push(magic as u8);
    out.push(attributes as u8);
    if magic == MAGIC_V1 {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for field in [key, value] {
        match field {
            Some(b) => {
                out.extend_from_slice(&(b.len() as i32).to_be_bytes());
                out.extend_from_slice(b);
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    let crc = crc32fast::hash(&out[crc_at + 4..]);
    out[crc_at..crc_at + 4].copy_from_slice(&crc.to_be_bytes());
}

fn decompress(codec: Codec, magic: i8, input: &[u8], out: &mut Vec<u8>) -> Result<(), LogError> {
    let map = |e: LogError| match e {
        LogError::Corrupt(m) => LogError::InvalidRecord(m),
        other => other,
    };
    if codec == Codec::Lz4 && magic == MAGIC_V0 {
        let mut fixed = input.to_vec();
        lz4_header(&mut fixed, false);
        return compression::decompress(codec, &fixed, out).map_err(map);
    }
    compression::decompress(codec, input, out).map_err(map)
}

fn compress(codec: Codec, magic: i8, input: &[u8], out: &mut Vec<u8>) -> Result<(), LogError> {
    compression::compress(codec, &Levels::default(), input, out)?;
    if codec == Codec::Lz4 && magic == MAGIC_V0 {
        lz4_header(out, true);
    }
    Ok(())
}

/// Rewrites the header checksum byte of an LZ4 frame: `broken` computes it as Kafka's magic-0
/// writers did (KAFKA-3160: over the frame magic, FLG and BD), otherwise as the frame format
/// says (over FLG and BD). Frames with a content size field are left alone (Kafka never wrote
/// one).
pub fn lz4_header(frame: &mut [u8], broken: bool) {
    const HC: usize = 6;
    if frame.len() <= HC || frame[4] & 0x08 != 0 {
        return;
    }
    let from = if broken { 0 } else { 4 };
    frame[HC] = (xxh32(&frame[from..HC], 0) >> 8) as u8;
}

/// xxHash32 of a short input (the LZ4 frame header checksum).
fn xxh32(input: &[u8], seed: u32) -> u32 {
    const P1: u32 = 2_654_435_761;
    const P2: u32 = 2_246_822_519;
    const P3: u32 = 3_266_489_917;
    const P4: u32 = 668_265_263;
    const P5: u32 = 374_761_393;
    debug_assert!(input.len() < 16);
    let mut h = seed.wrapping_add(P5).wrapping_add(input.len() as u32);
    let mut words = input.chunks_exact(4);
    for w in &mut words {
        let k = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        h = h
            .wrapping_add(k.wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
    }
    for &b in words.remainder() {
        h = h
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    h ^= h >> 15;
    h = h.wrapping_mul(P2);
    h ^= h >> 13;
    h = h.wrapping_mul(P3);
    h ^ (h >> 16)
}

#[cfg(test)]
#[path = "legacy_records_tests.rs"]
mod tests;
