//! The key and value schemas of `__consumer_offsets` records, as Kafka 3.9 writes them
//! (`group-coordinator` module: `OffsetCommitKey`, `OffsetCommitValue`, `GroupMetadataKey`;
//! written by `GroupMetadataManager.offsetCommitKey/offsetCommitValue`).
//!
//! Kafka 3.9 writes OffsetCommitKey version 1 and OffsetCommitValue version 3 (the highest
//! non-flexible version; v1 only when an expire timestamp is set, which OffsetCommit v2+ never
//! sends). Every version Kafka ever wrote is read back, so a log dir of an older cluster loads.
//! A record whose value is null is a tombstone: the offset (or group) was deleted.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// A key of `__consumer_offsets`, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsKey {
    /// Key versions 0 and 1: one committed offset.
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Key version 2: the group's metadata (members, generation).
    GroupMetadata { group: String },
    /// Records of the new consumer-group protocol (key versions 3+): not used by zkafka.
    Other,
}

/// OffsetCommitValue, decoded (any of versions 0-4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
}

/// Why a record of `__consumer_offsets` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed __consumer_offsets record: {0}")]
pub struct RecordError(pub(super) &'static str);

const OFFSET_KEY_VERSION: i16 = 1;
const GROUP_KEY_VERSION: i16 = 2;
const OFFSET_VALUE_VERSION: i16 = 3;

pub(super) fn put_string(buf: &mut BytesMut, s: &str) {
    // Strings above i16::MAX bytes never get here: group, topic and metadata are all capped
    // far lower (255 bytes, 249 bytes, `offset.metadata.max.bytes`).
    buf.put_i16(s.len().min(i16::MAX as usize) as i16);
    buf.put_slice(&s.as_bytes()[..s.len().min(i16::MAX as usize)]);
}

/// The key of an offset commit record (OffsetCommitKey v1).
pub fn offset_key(group: &str, topic: &str, partition: i32) -> Bytes {
    let mut buf = BytesMut::with_capacity(10 + group.len() + topic.len());
    buf.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut buf, group);
    put_string(&mut buf, topic);
    buf.put_i32(partition);
    buf.freeze()
}

/// The key of a group metadata record (GroupMetadataKey v2); its value is
/// [`super::group_records::GroupMetadataValue`], a tombstone when the group is deleted.
pub fn group_key(group: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + group.len());
    buf.put_i16(GROUP_KEY_VERSION);
    put_string(&mut buf, group);
    buf.freeze()
}

/// The value of an offset commit record (OffsetCommitValue v3). Kafka stores a missing
/// metadata string as empty.
pub fn offset_value(v: &OffsetValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + v.metadata.len());
    buf.put_i16(OFFSET_VALUE_VERSION);
    buf.put_i64(v.offset);
    buf.put_i32(v.leader_epoch);
    put_string(&mut buf, &v.metadata);
    buf.put_i64(v.commit_timestamp);
    buf.freeze()
}

pub(super) fn get_i16(b: &mut &[u8]) -> Result<i16, RecordError> {
    if b.remaining() < 2 {
        return Err(RecordError("truncated int16"));
    }
    Ok(b.get_i16())
}

pub(super) fn get_i32(b: &mut &[u8]) -> Result<i32, RecordError> {
    if b.remaining() < 4 {
        return Err(RecordError("truncated int32"));
    }
    Ok(b.get_i32())
}

pub(super) fn get_i64(b: &mut &[u8]) -> Result<i64, RecordError> {
    if b.remaining() < 8 {
        return Err(RecordError("truncated int64"));
    }
    Ok(b.get_i64())
}

pub(super) fn get_bytes(b: &mut &[u8], len: usize) -> Result<String, RecordError> {
    if b.remaining() < len {
        return Err(RecordError("truncated string"));
    }
    let s = std::str::from_utf8(&b[..len]).map_err(|_| RecordError("string is not UTF-8"))?;
    let s = s.to_owned();
    b.advance(len);
    Ok(s)
}

pub(super) fn get_string(b: &mut &[u8]) -> Result<String, RecordError> {
    let len = get_i16(b)?;
    if len < 0 {
        return Err(RecordError("null string"));
    }
    get_bytes(b, len as usize)
}

fn get_uvarint(b: &mut &[u8]) -> Result<u64, RecordError> {
    let mut v = 0u64;
    for shift in (0..35).step_by(7) {
        if !b.has_remaining() {
            return Err(RecordError("truncated varint"));
        }
        let byte = b.get_u8();
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(RecordError("varint too long"))
}

fn get_compact_string(b: &mut &[u8]) -> Result<String, RecordError> {
    match get_uvarint(b)? {
        0 => Err(RecordError("null string")),
        n => get_bytes(b, (n - 1) as usize),
    }
}

/// Decodes a key; unknown key versions (the new protocol's records) are [`OffsetsKey::Other`].
pub fn decode_key(mut b: &[u8]) -> Result<OffsetsKey, RecordError> {
    match get_i16(&mut b)? {
        0 | 1 => Ok(OffsetsKey::Offset {
            group: get_string(&mut b)?,
            topic: get_string(&mut b)?,
            partition: get_i32(&mut b)?,
        }),
        2 => Ok(OffsetsKey::GroupMetadata {
            group: get_string(&mut b)?,
        }),
        _ => Ok(OffsetsKey::Other),
    }
}

/// Decodes an OffsetCommitValue of any version Kafka wrote (0-4).
pub fn decode_offset_value(mut b: &[u8]) -> Result<OffsetValue, RecordError> {
    let version = get_i16(&mut b)?;
    let offset = get_i64(&mut b)?;
    let leader_epoch = if version >= 3 { get_i32(&mut b)? } else { -1 };
    let metadata = if version >= 4 {
        get_compact_string(&mut b)?
    } else {
        get_string(&mut b)?
    };
    let commit_timestamp = get_i64(&mut b)?;
    if !(0..=4).contains(&version) {
        return Err(RecordError("unknown OffsetCommitValue version"));
    }
    Ok(OffsetValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_key_matches_kafkas_bytes() {
        // OffsetCommitKey v1 {group "g", topic "t", partition 3} as Kafka 3.9 serializes it.
        let key = offset_key("g", "t", 3);
        assert_eq!(&key[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(
            decode_key(&key).unwrap(),
            OffsetsKey::Offset {
                group: "g".into(),
                topic: "t".into(),
                partition: 3
            }
        );
    }

    #[test]
    fn group_key_round_trips() {
        assert_eq!(&group_key("ab")[..], &[0, 2, 0, 2, b'a', b'b']);
        assert_eq!(
            decode_key(&group_key("ab")).unwrap(),
            OffsetsKey::GroupMetadata { group: "ab".into() }
        );
        assert_eq!(decode_key(&[0, 3, 0, 0]).unwrap(), OffsetsKey::Other);
    }

    #[test]
    fn offset_value_v3_round_trips() {
        let v = OffsetValue {
            offset: 42,
            leader_epoch: 7,
            metadata: "meta".into(),
            commit_timestamp: 1_700_000_000_000,
        };
        let bytes = offset_value(&v);
        assert_eq!(&bytes[..2], &[0, 3]);
        assert_eq!(bytes.len(), 2 + 8 + 4 + 2 + 4 + 8);
        assert_eq!(decode_offset_value(&bytes).unwrap(), v);
    }

    #[test]
    fn older_and_flexible_values_decode() {
        // v1: offset, metadata, commit timestamp, expire timestamp.
        let mut v1 = BytesMut::new();
        v1.put_i16(1);
        v1.put_i64(5);
        put_string(&mut v1, "m");
        v1.put_i64(100);
        v1.put_i64(200);
        let d = decode_offset_value(&v1).unwrap();
        assert_eq!((d.offset, d.leader_epoch, d.commit_timestamp), (5, -1, 100));
        // v4: flexible, compact string, empty tagged fields.
        let mut v4 = BytesMut::new();
        v4.put_i16(4);
        v4.put_i64(9);
        v4.put_i32(2);
        v4.put_u8(2);
        v4.put_u8(b'x');
        v4.put_i64(300);
        v4.put_u8(0);
        let d = decode_offset_value(&v4).unwrap();
        assert_eq!((d.offset, d.leader_epoch, d.metadata.as_str()), (9, 2, "x"));
    }

    #[test]
    fn truncated_input_is_an_error() {
        assert!(decode_key(&[0]).is_err());
        assert!(decode_key(&[0, 1, 0, 5, b'a']).is_err());
        assert!(decode_offset_value(&[0, 3, 0, 0]).is_err());
        assert!(
            decode_offset_value(&[0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_err()
        );
    }
}
