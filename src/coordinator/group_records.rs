//! The value of a group metadata record of `__consumer_offsets` (GroupMetadataValue), as Kafka
//! 3.9's `GroupMetadataManager.groupMetadataValue` writes it at IBP 3.9 (version 3): the
//! generation, protocol, leader and every member with its assignment. A coordinator that becomes
//! leader of the partition rebuilds the group from the last one (`GroupMetadata.loadGroup`), so a
//! group keeps its generation and members when its coordinator moves between Kafka and zkafka.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::offsets_records::{get_i16, get_i32, get_i64, get_string, put_string, RecordError};

/// The version Kafka 3.9 writes.
const GROUP_VALUE_VERSION: i16 = 3;

/// One member as stored: its metadata for the group's protocol only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

/// A group as stored; no members means the group is Empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMetadataValue {
    /// Empty when the group has none (Kafka writes `protocolType.getOrElse("")`).
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<StoredMember>,
}

fn put_nullable(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len().min(i32::MAX as usize) as i32);
    buf.put_slice(b);
}

fn get_nullable(b: &mut &[u8]) -> Result<Option<String>, RecordError> {
    if b.len() >= 2 && i16::from_be_bytes([b[0], b[1]]) == -1 {
        b.advance(2);
        return Ok(None);
    }
    get_string(b).map(Some)
}

fn get_byte_array(b: &mut &[u8]) -> Result<Bytes, RecordError> {
    let len = get_i32(b)?;
    if len < 0 {
        return Ok(Bytes::new());
    }
    let len = len as usize;
    if b.remaining() < len {
        return Err(RecordError("truncated bytes"));
    }
    let out = Bytes::copy_from_slice(&b[..len]);
    b.advance(len);
    Ok(out)
}

/// Encodes GroupMetadataValue v3.
pub fn group_value(v: &GroupMetadataValue) -> Bytes {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut buf, &v.protocol_type);
    buf.put_i32(v.generation);
    put_nullable(&mut buf, v.protocol.as_deref());
    put_nullable(&mut buf, v.leader.as_deref());
    buf.put_i64(v.current_state_timestamp);
    buf.put_i32(v.members.len() as i32);
    for m in &v.members {
        put_string(&mut buf, &m.member_id);
        put_nullable(&mut buf, m.group_instance_id.as_deref());
        put_string(&mut buf, &m.client_id);
        put_string(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

/// Decodes GroupMetadataValue v0–v3 (what ZooKeeper-mode Kafka writes at any IBP). The member
/// count is not trusted for allocation: members are read while bytes remain.
pub fn decode_group_value(mut b: &[u8]) -> Result<GroupMetadataValue, RecordError> {
    let version = get_i16(&mut b)?;
    if !(0..=GROUP_VALUE_VERSION).contains(&version) {
        return Err(RecordError("unknown GroupMetadataValue version"));
    }
    let protocol_type = get_string(&mut b)?;
    let generation = get_i32(&mut b)?;
    let protocol = get_nullable(&mut b)?;
    let leader = get_nullable(&mut b)?;
    let current_state_timestamp = if version >= 2 { get_i64(&mut b)? } else { -1 };
    let count = get_i32(&mut b)?;
    let mut members = Vec::new();
    for _ in 0..count.max(0) {
        let member_id = get_string(&mut b)?;
        let group_instance_id = if version >= 3 {
            get_nullable(&mut b)?
        } else {
            None
        };
        let client_id = get_string(&mut b)?;
        let client_host = get_string(&mut b)?;
        let rebalance_timeout = if version >= 1 { get_i32(&mut b)? } else { -1 };
        let session_timeout_ms = get_i32(&mut b)?;
        members.push(StoredMember {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            // v0 has none; Kafka then uses the session timeout.
            rebalance_timeout_ms: if rebalance_timeout < 0 {
                session_timeout_ms
            } else {
                rebalance_timeout
            },
            session_timeout_ms,
            subscription: get_byte_array(&mut b)?,
            assignment: get_byte_array(&mut b)?,
        });
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroupMetadataValue {
        GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 7,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp: 1_700_000_000_000,
            members: vec![StoredMember {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(&[0, 1]),
                assignment: Bytes::from_static(&[2]),
            }],
        }
    }

    #[test]
    fn v3_bytes_are_kafkas_layout() {
        let bytes = group_value(&sample());
        let mut expected: Vec<u8> = vec![0, 3, 0, 8];
        expected.extend_from_slice(b"consumer");
        expected.extend_from_slice(&[0, 0, 0, 7, 0, 5]);
        expected.extend_from_slice(b"range");
        expected.extend_from_slice(&[0, 2, b'm', b'1']);
        expected.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 1, 0, 2, b'm', b'1', 0xff, 0xff, 0, 1, b'c', 0, 10]);
        expected.extend_from_slice(b"/127.0.0.1");
        expected.extend_from_slice(&300_000i32.to_be_bytes());
        expected.extend_from_slice(&45_000i32.to_be_bytes());
        expected.extend_from_slice(&[0, 0, 0, 2, 0, 1, 0, 0, 0, 1, 2]);
        assert_eq!(&bytes[..], &expected[..]);
        assert_eq!(decode_group_value(&bytes).unwrap(), sample());
    }

    #[test]
    fn empty_group_round_trips() {
        let v = GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: None,
            leader: None,
            current_state_timestamp: 5,
            members: vec![],
        };
        assert_eq!(decode_group_value(&group_value(&v)).unwrap(), v);
    }

    #[test]
    fn hostile_values_are_errors() {
        let bytes = group_value(&sample());
        for cut in 0..bytes.len() {
            assert!(decode_group_value(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A member count of 2^31-1 with no members behind it fails without allocating for them.
        let mut v = group_value(&GroupMetadataValue {
            members: vec![],
            ..sample()
        })
        .to_vec();
        let n = v.len();
        v[n - 4..].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_group_value(&v).is_err());
        assert!(decode_group_value(&[0, 4, 0, 0]).is_err());
    }
}
