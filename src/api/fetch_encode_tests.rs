//! The spliced encoding must be byte for byte kafka-protocol's own encoding of the same response
//! with the records inline, for every Fetch version we serve.

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint,
    PartitionData, SnapshotId,
};
use kafka_protocol::messages::{BrokerId, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::Encodable;
use proptest::prelude::*;
use uuid::Uuid;

use super::encode_fetch_response;
use crate::metadata::str_bytes;
use crate::network::{BodyPart, FileRange};

/// A partition's tagged fields: diverging epoch, current leader, snapshot id.
type Tags = (Option<(i32, i64)>, Option<(i32, i32)>, Option<(i64, i32)>);

#[derive(Debug, Clone)]
struct PartSpec {
    offsets: (i32, i16, i64, i64, i64),
    aborted: Option<Vec<(i64, i64)>>,
    preferred: i32,
    records: Option<Vec<u8>>,
    in_file: bool,
    tags: Tags,
}

#[derive(Debug, Clone)]
struct RespSpec {
    head: (i32, i16, i32),
    topics: Vec<(String, u128, Vec<PartSpec>)>,
    endpoints: Vec<(i32, String, i32, Option<String>)>,
}

fn part_spec() -> impl Strategy<Value = PartSpec> {
    (
        any::<(i32, i16, i64, i64, i64)>(),
        proptest::option::of(proptest::collection::vec(any::<(i64, i64)>(), 0..3)),
        prop_oneof![Just(-1), any::<i32>()],
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        any::<bool>(),
        (
            proptest::option::of(any::<(i32, i64)>()),
            proptest::option::of(any::<(i32, i32)>()),
            proptest::option::of(any::<(i64, i32)>()),
        ),
    )
        .prop_map(
            |(offsets, aborted, preferred, records, in_file, tags)| PartSpec {
                offsets,
                aborted,
                preferred,
                records,
                in_file,
                tags,
            },
        )
}

fn resp_spec() -> impl Strategy<Value = RespSpec> {
    (
        any::<(i32, i16, i32)>(),
        proptest::collection::vec(
            (
                "[a-z._-]{0,20}",
                any::<u128>(),
                proptest::collection::vec(part_spec(), 0..5),
            ),
            0..4,
        ),
        proptest::collection::vec(
            (
                any::<i32>(),
                "[a-z.]{0,12}",
                any::<i32>(),
                proptest::option::of("[a-z]{0,5}"),
            ),
            0..3,
        ),
    )
        .prop_map(|(head, topics, endpoints)| RespSpec {
            head,
            topics,
            endpoints,
        })
}

fn partition(s: &PartSpec, version: i16) -> PartitionData {
    let (index, error, hw, lso, start) = s.offsets;
    let mut p = PartitionData::default()
        .with_partition_index(index)
        .with_error_code(error)
        .with_high_watermark(hw)
        .with_last_stable_offset(lso)
        .with_log_start_offset(if version >= 5 { start } else { -1 })
        .with_aborted_transactions(s.aborted.as_ref().map(|a| {
            a.iter()
                .map(|&(pid, first)| {
                    AbortedTransaction::default()
                        .with_producer_id(ProducerId(pid))
                        .with_first_offset(first)
                })
                .collect()
        }))
        .with_preferred_read_replica(BrokerId(if version >= 11 { s.preferred } else { -1 }))
        .with_records(s.records.clone().map(Bytes::from));
    if version >= 12 {
        if let Some((epoch, end_offset)) = s.tags.0 {
            p.diverging_epoch = EpochEndOffset::default()
                .with_epoch(epoch)
                .with_end_offset(end_offset);
        }
        if let Some((leader, epoch)) = s.tags.1 {
            p.current_leader = LeaderIdAndEpoch::default()
                .with_leader_id(BrokerId(leader))
                .with_leader_epoch(epoch);
        }
        if let Some((end_offset, epoch)) = s.tags.2 {
            p.snapshot_id = SnapshotId::default()
                .with_end_offset(end_offset)
                .with_epoch(epoch);
        }
    }
    p
}

/// The response with inline records, and the file ranges standing for the records of the
/// partitions marked `in_file` (written into `file` with junk around them).
fn build(
    spec: &RespSpec,
    version: i16,
    file: &Arc<std::fs::File>,
) -> (FetchResponse, Vec<Vec<Option<FileRange>>>) {
    let (throttle, error, session) = spec.head;
    let mut resp = FetchResponse::default().with_throttle_time_ms(throttle);
    if version >= 7 {
        resp = resp.with_error_code(error).with_session_id(session);
    }
    if version >= 16 {
        resp.node_endpoints = spec
            .endpoints
            .iter()
            .map(|(id, host, port, rack)| {
                NodeEndpoint::default()
                    .with_node_id(BrokerId(*id))
                    .with_host(str_bytes(host.clone()))
                    .with_port(*port)
                    .with_rack(rack.clone().map(str_bytes))
            })
            .collect();
    }
    let mut files = Vec::new();
    let mut position = 0u64;
    for (name, id, parts) in &spec.topics {
        let mut t = FetchableTopicResponse::default();
        if version >= 13 {
            t.topic_id = Uuid::from_u128(*id);
        } else {
            t.topic = TopicName(str_bytes(name.clone()));
        }
        let mut topic_files = Vec::new();
        for s in parts {
            t.partitions.push(partition(s, version));
            let range = match (&s.records, s.in_file) {
                (Some(records), true) => {
                    let mut f: &std::fs::File = file;
                    f.write_all(b"junk").unwrap();
                    f.write_all(records).unwrap();
                    position += 4;
                    let range = FileRange {
                        file: file.clone(),
                        position,
                        len: records.len(),
                    };
                    position += records.len() as u64;
                    Some(range)
                }
                _ => None,
            };
            topic_files.push(range);
        }
        resp.responses.push(t);
        files.push(topic_files);
    }
    (resp, files)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn spliced_encoding_equals_kafka_protocol(spec in resp_spec()) {
        for version in 4..=16 {
            let file = Arc::new(tempfile::tempfile().unwrap());
            let (resp, files) = build(&spec, version, &file);
            let mut want = bytes::BytesMut::new();
            resp.encode(&mut want, version).unwrap();
            // The inline records of partitions served from the file must not be what is sent.
            let mut hollow = resp.clone();
            for (t, topic_files) in files.iter().enumerate() {
                for (p, f) in topic_files.iter().enumerate() {
                    if f.is_some() {
                        hollow.responses[t].partitions[p].records = Some(Bytes::from_static(b"x"));
                    }
                }
            }
            let body = encode_fetch_response(hollow, files.clone(), version).unwrap();
            let got = body.to_bytes().unwrap();
            prop_assert_eq!(body.len(), want.len(), "v{} length", version);
            prop_assert_eq!(&got[..], &want[..], "v{} bytes", version);
            let file_parts = body
                .parts()
                .iter()
                .filter(|p| matches!(p, BodyPart::File(_)))
                .count();
            let non_empty = files.iter().flatten().flatten().filter(|f| f.len > 0).count();
            prop_assert_eq!(file_parts, non_empty, "v{} records left in the files", version);
        }
    }
}

#[test]
fn compact_lengths_past_one_varint_byte() {
    // 200 records bytes need a two-byte varint (201) in a flexible version.
    let spec = RespSpec {
        head: (0, 0, 0),
        topics: vec![(
            "t".into(),
            1,
            vec![PartSpec {
                offsets: (0, 0, 5, 5, 0),
                aborted: None,
                preferred: -1,
                records: Some(vec![7; 200]),
                in_file: true,
                tags: (None, None, None),
            }],
        )],
        endpoints: vec![],
    };
    for version in [11, 12, 16] {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let (resp, files) = build(&spec, version, &file);
        let mut want = bytes::BytesMut::new();
        resp.encode(&mut want, version).unwrap();
        let got = encode_fetch_response(resp, files, version).unwrap();
        assert_eq!(&got.to_bytes().unwrap()[..], &want[..], "v{version}");
    }
}
