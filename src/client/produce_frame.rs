//! Produce requests framed around their record batches instead of copied into one buffer.
//!
//! kafka-protocol encodes a request into one `BytesMut`, which copies every batch once more
//! before the socket copies it again; at the rates `zkafka perf produce` pushes, that copy was
//! the client's largest cost. Here the frame is a list of pieces: the small encoded fields in
//! between, and each partition's batch as the very `Bytes` it was built in. The layout is the
//! one kafka-protocol writes (the tests compare the two byte for byte at every version).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::ClientError;

/// Produce's API key.
const PRODUCE: i16 = 0;
/// Versions framed here: magic-2 batches need v3; v9 is the first flexible one, and nothing
/// past it changes the request.
pub const MIN_VERSION: i16 = 3;
pub const MAX_VERSION: i16 = 9;

/// The frame (length prefix included) of a Produce request for `partitions` of one topic.
pub fn encode_produce(
    version: i16,
    correlation_id: i32,
    client_id: &str,
    acks: i16,
    timeout_ms: i32,
    topic: &str,
    partitions: &[(i32, Bytes)],
) -> Result<Vec<Bytes>, ClientError> {
    let fail = |message: String| ClientError::Encode {
        api: PRODUCE,
        version,
        message,
    };
    if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
        return Err(fail(format!(
            "produce framing covers versions {MIN_VERSION} to {MAX_VERSION}"
        )));
    }
    let flexible = version >= 9;
    let client_len =
        i16::try_from(client_id.len()).map_err(|_| fail("client id too long".into()))?;
    let topic_len = i16::try_from(topic.len()).map_err(|_| fail("topic name too long".into()))?;
    let count = |n: usize| i32::try_from(n).map_err(|_| fail(format!("{n} is too many")));

    let mut parts = Vec::with_capacity(2 * partitions.len() + 1);
    let mut buf = BytesMut::with_capacity(64 + topic.len() + client_id.len());
    buf.put_i32(0); // frame size, set below
                    // Request header v1 (v2 when flexible: the same plus tagged fields).
    buf.put_i16(PRODUCE);
    buf.put_i16(version);
    buf.put_i32(correlation_id);
    buf.put_i16(client_len);
    buf.put_slice(client_id.as_bytes());
    if flexible {
        buf.put_u8(0);
    }
    // Body: no transactional id, acks, timeout, one topic.
    if flexible {
        buf.put_u8(0);
    } else {
        buf.put_i16(-1);
    }
    buf.put_i16(acks);
    buf.put_i32(timeout_ms);
    put_len(&mut buf, flexible, 1);
    if flexible {
        put_uvarint(&mut buf, topic.len() as u64 + 1);
    } else {
        buf.put_i16(topic_len);
    }
    buf.put_slice(topic.as_bytes());
    put_len(&mut buf, flexible, count(partitions.len())?);
    for (index, records) in partitions {
        buf.put_i32(*index);
        put_len(&mut buf, flexible, count(records.len())?);
        parts.push(buf.split().freeze());
        parts.push(records.clone());
        if flexible {
            buf.put_u8(0); // the partition's tagged fields
        }
    }
    if flexible {
        buf.put_u8(0); // the topic's
        buf.put_u8(0); // the request's
    }
    if !buf.is_empty() {
        parts.push(buf.freeze());
    }
    let size = parts.iter().map(Bytes::len).sum::<usize>() - 4;
    let size = i32::try_from(size).map_err(|_| fail(format!("request of {size} bytes")))?;
    // The first piece is ours alone: set its size prefix.
    let mut first = BytesMut::from(parts[0].as_ref());
    first[..4].copy_from_slice(&size.to_be_bytes());
    parts[0] = first.freeze();
    Ok(parts)
}

/// An array or bytes length: compact (`n + 1` as an unsigned varint) when flexible, else int32.
fn put_len(buf: &mut BytesMut, flexible: bool, n: i32) {
    if flexible {
        put_uvarint(buf, n as u64 + 1);
    } else {
        buf.put_i32(n);
    }
}

fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::encode_request;
    use crate::metadata::str_bytes;
    use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
    use kafka_protocol::messages::{ProduceRequest, TopicName};

    fn reference(version: i16, topic: &str, partitions: &[(i32, Bytes)]) -> Bytes {
        let req = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1500)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(str_bytes(topic)))
                .with_partition_data(
                    partitions
                        .iter()
                        .map(|(i, r)| {
                            PartitionProduceData::default()
                                .with_index(*i)
                                .with_records(Some(r.clone()))
                        })
                        .collect(),
                )]);
        encode_request(&req, version, 77, "perf-client").unwrap()
    }

    #[test]
    fn same_bytes_as_kafka_protocol_at_every_version() {
        let big = Bytes::from(vec![7u8; 300]);
        let cases: Vec<Vec<(i32, Bytes)>> = vec![
            vec![(0, Bytes::from_static(b"abc"))],
            vec![
                (3, big.clone()),
                (1, Bytes::new()),
                (5, Bytes::from_static(b"z")),
            ],
        ];
        for version in MIN_VERSION..=MAX_VERSION {
            for partitions in &cases {
                let parts =
                    encode_produce(version, 77, "perf-client", -1, 1500, "topic-a", partitions)
                        .unwrap();
                let ours: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
                assert_eq!(
                    ours,
                    reference(version, "topic-a", partitions)[..],
                    "v{version}"
                );
            }
        }
    }

    #[test]
    fn batches_are_shared_not_copied() {
        let batch = Bytes::from(vec![1u8; 1000]);
        let parts = encode_produce(9, 1, "c", 1, 100, "t", &[(0, batch.clone())]).unwrap();
        assert!(parts.iter().any(|p| p.as_ptr() == batch.as_ptr()));
    }

    #[test]
    fn versions_outside_the_framing_are_refused() {
        for v in [0, 2, 10] {
            let err = encode_produce(v, 1, "c", 1, 100, "t", &[]).unwrap_err();
            assert!(matches!(err, ClientError::Encode { api: 0, .. }), "{err}");
        }
    }
}
