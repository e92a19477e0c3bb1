//! Reading the consumer protocol's opaque bytes (subscriptions in JoinGroup, assignments in
//! SyncGroup), only to mirror them into ZooKeeper for legacy tools and to know which topics a
//! group consumes (OffsetDelete). The broker itself never needs them to run a group.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use kafka_protocol::protocol::Decodable;

use super::store::TopicPartition;

/// The newest ConsumerProtocol schema version we know; newer versions only add fields at the
/// end, so they are read with this one (as Kafka's `ConsumerProtocol` does).
const MAX_KNOWN_VERSION: i16 = 3;

fn split_version(bytes: &Bytes) -> Option<(i16, Bytes)> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return None;
    }
    let version = buf.get_i16();
    if version < 0 {
        return None;
    }
    Some((version.min(MAX_KNOWN_VERSION), buf))
}

/// The topics of a `ConsumerProtocolSubscription` (version prefix + body); `None` if the bytes
/// are not one.
pub fn subscribed_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let (version, mut body) = split_version(metadata)?;
    let sub = ConsumerProtocolSubscription::decode(&mut body, version).ok()?;
    Some(sub.topics.iter().map(|t| t.as_str().to_string()).collect())
}

/// The partitions of a `ConsumerProtocolAssignment`; `None` if the bytes are not one. An empty
/// byte string (an idle member's assignment) is no partitions.
pub fn assigned_partitions(assignment: &Bytes) -> Option<Vec<TopicPartition>> {
    if assignment.is_empty() {
        return Some(Vec::new());
    }
    let (version, mut body) = split_version(assignment)?;
    let a = ConsumerProtocolAssignment::decode(&mut body, version).ok()?;
    Some(
        a.assigned_partitions
            .iter()
            .flat_map(|tp| {
                tp.partitions
                    .iter()
                    .map(move |p| TopicPartition::new(tp.topic.0.as_str(), *p))
            })
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod test_bytes {
    //! Builders of consumer-protocol bytes for tests.
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedTp;
    use kafka_protocol::messages::{
        ConsumerProtocolAssignment, ConsumerProtocolSubscription, TopicName,
    };
    use kafka_protocol::protocol::Encodable;

    use crate::metadata::str_bytes;

    pub fn subscription(topics: &[&str]) -> Bytes {
        let sub = ConsumerProtocolSubscription::default()
            .with_topics(topics.iter().map(|t| str_bytes(*t)).collect());
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        sub.encode(&mut buf, 1).unwrap();
        buf.freeze()
    }

    pub fn assignment(parts: &[(&str, &[i32])]) -> Bytes {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(
            parts
                .iter()
                .map(|(t, ps)| {
                    AssignedTp::default()
                        .with_topic(TopicName(str_bytes(*t)))
                        .with_partitions(ps.to_vec())
                })
                .collect(),
        );
        let mut buf = BytesMut::new();
        buf.put_i16(0);
        a.encode(&mut buf, 0).unwrap();
        buf.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::test_bytes::*;
    use super::*;

    #[test]
    fn round_trips() {
        assert_eq!(
            subscribed_topics(&subscription(&["a", "b"])),
            Some(vec!["a".into(), "b".into()])
        );
        let got = assigned_partitions(&assignment(&[("t", &[0, 2])])).unwrap();
        assert_eq!(
            got,
            vec![TopicPartition::new("t", 0), TopicPartition::new("t", 2)]
        );
        assert_eq!(assigned_partitions(&Bytes::new()), Some(vec![]));
        assert_eq!(subscribed_topics(&Bytes::from_static(b"\x00")), None);
    }
}
