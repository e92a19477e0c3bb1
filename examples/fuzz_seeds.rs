//! Writes the seed corpus of the fuzz targets in `fuzz/` (see docs/fuzzing.md):
//!
//! ```text
//! cargo run --example fuzz_seeds -- fuzz/seeds
//! ```
//!
//! - `request_decode/`: one request frame (header and body, no size prefix) for every API and
//!   version the broker serves, encoded by kafka-protocol (an encoder zkafka did not write); the
//!   requests clients send most carry a topic, a partition and a record batch.
//! - `batch_validate/`: a settings byte and a mode byte, then record batches: uncompressed,
//!   compressed with each codec, idempotent, keyed, several in a row (see the target's doc).
//! - `segment_recovery/`: segment files: batches at consecutive offsets, with a torn tail.

use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use zkafka::api::versions::SUPPORTED;
use zkafka::log::compression::{self, Codec, Levels};
use zkafka::log::record_batch::{BatchHeader, HEADER_SIZE, LOG_OVERHEAD};
use zkafka::network::request_header_version;

const TOPIC: &str = "seed-topic";

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str(TOPIC))
}

/// An uncompressed batch of `n` records (keys `k<i>`, values `v<i>`), base offset `base`.
fn batch(n: usize, base: i64, producer: (i64, i16, i32)) -> BytesMut {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional: false,
            control: false,
            partition_leader_epoch: 0,
            producer_id: producer.0,
            producer_epoch: producer.1,
            timestamp_type: TimestampType::Creation,
            offset: base + i as i64,
            sequence: if producer.2 < 0 {
                -1
            } else {
                producer.2 + i as i32
            },
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("v{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &opts).expect("encode seed batch");
    buf
}

/// `b` with its records compressed with `codec`, sealed with a correct CRC.
fn compressed(b: &[u8], codec: Codec) -> Vec<u8> {
    let mut h = BatchHeader::parse(b).expect("seed batch header");
    let mut out = b[..HEADER_SIZE].to_vec();
    compression::compress(codec, &Levels::default(), &b[HEADER_SIZE..], &mut out)
        .expect("compress seed batch");
    h.attributes |= codec.id();
    h.batch_length = (out.len() - LOG_OVERHEAD) as i32;
    h.write_sealed(&mut out);
    out
}

/// The request sent for `key` at `version`: filled in for the APIs clients and brokers send most,
/// empty (kafka-protocol's defaults) for the rest.
fn request(key: ApiKey, version: i16) -> RequestKind {
    let records = Some(batch(3, 0, (-1, -1, -1)).freeze());
    match key {
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(topic())
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(records),
                    ])]),
        ),
        ApiKey::Fetch => {
            let mut t = fetch_request::FetchTopic::default().with_partitions(vec![
                fetch_request::FetchPartition::default()
                    .with_partition(0)
                    .with_fetch_offset(5)
                    .with_partition_max_bytes(1 << 20),
            ]);
            t = if version >= 13 {
                t.with_topic_id(uuid::Uuid::from_u128(0x1234_5678))
            } else {
                t.with_topic(topic())
            };
            RequestKind::Fetch(
                FetchRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_max_wait_ms(500)
                    .with_min_bytes(1)
                    .with_max_bytes(1 << 20)
                    .with_topics(vec![t]),
            )
        }
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(topic())),
            ])))
        }
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_topics(vec![create_topics_request::CreatableTopic::default()
                    .with_name(topic())
                    .with_num_partitions(3)
                    .with_replication_factor(1)])
                .with_timeout_ms(1000),
        ),
        ApiKey::LeaderAndIsr => RequestKind::LeaderAndIsr(
            LeaderAndIsrRequest::default()
                .with_controller_id(BrokerId(1))
                .with_controller_epoch(1)
                .with_broker_epoch(25)
                .with_ungrouped_partition_states(if version < 2 {
                    vec![
                        leader_and_isr_request::LeaderAndIsrPartitionState::default()
                            .with_topic_name(topic())
                            .with_leader(BrokerId(1))
                            .with_isr(vec![BrokerId(1)])
                            .with_replicas(vec![BrokerId(1)]),
                    ]
                } else {
                    Vec::new()
                })
                .with_topic_states(if version >= 2 {
                    vec![leader_and_isr_request::LeaderAndIsrTopicState::default()
                        .with_topic_name(topic())
                        .with_partition_states(vec![
                            leader_and_isr_request::LeaderAndIsrPartitionState::default()
                                .with_leader(BrokerId(1))
                                .with_isr(vec![BrokerId(1)])
                                .with_replicas(vec![BrokerId(1)]),
                        ])]
                } else {
                    Vec::new()
                }),
        ),
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("seed-group")))
                .with_topics(vec![
                    offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic())
                        .with_partitions(vec![
                            offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_committed_offset(7),
                        ]),
                ]),
        ),
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("seed-group")))
                .with_session_timeout_ms(10_000)
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"\0\0\0\0\0\0"))]),
        ),
        _ => default_request(key),
    }
}

fn default_request(key: ApiKey) -> RequestKind {
    macro_rules! defaults {
        ($($k:ident => $t:ident),* $(,)?) => {
            match key {
                $(ApiKey::$k => RequestKind::$k($t::default()),)*
                other => panic!("no seed for {other:?}"),
            }
        };
    }
    defaults!(
        Produce => ProduceRequest, Fetch => FetchRequest, ListOffsets => ListOffsetsRequest,
        Metadata => MetadataRequest, LeaderAndIsr => LeaderAndIsrRequest,
        StopReplica => StopReplicaRequest, UpdateMetadata => UpdateMetadataRequest,
        ApiVersions => ApiVersionsRequest, CreateTopics => CreateTopicsRequest,
        DeleteTopics => DeleteTopicsRequest, InitProducerId => InitProducerIdRequest,
        DescribeConfigs => DescribeConfigsRequest, AlterConfigs => AlterConfigsRequest,
        IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
        ElectLeaders => ElectLeadersRequest, DeleteRecords => DeleteRecordsRequest,
        DescribeLogDirs => DescribeLogDirsRequest, CreatePartitions => CreatePartitionsRequest,
        FindCoordinator => FindCoordinatorRequest, JoinGroup => JoinGroupRequest,
        SyncGroup => SyncGroupRequest, Heartbeat => HeartbeatRequest,
        LeaveGroup => LeaveGroupRequest, ListGroups => ListGroupsRequest,
        DescribeGroups => DescribeGroupsRequest, DeleteGroups => DeleteGroupsRequest,
        OffsetCommit => OffsetCommitRequest, OffsetFetch => OffsetFetchRequest,
        OffsetDelete => OffsetDeleteRequest, ControlledShutdown => ControlledShutdownRequest,
        AlterPartition => AlterPartitionRequest, OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
    )
}

/// Header and body of `req`; `None` when the request has a field the version lacks.
fn frame(key: ApiKey, version: i16, req: &RequestKind) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("seed")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, request_header_version(key, version))
        .ok()?;
    req.encode(&mut buf, version).ok()?;
    Some(buf.to_vec())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::write(dir.join(name), bytes).expect("write seed");
}

fn main() {
    let root = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    let dirs: Vec<PathBuf> = ["request_decode", "batch_validate", "segment_recovery"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    for d in &dirs {
        std::fs::create_dir_all(d).expect("create seed dir");
    }

    for (key, min, max) in SUPPORTED {
        for version in *min..=*max {
            let bytes = frame(*key, version, &request(*key, version))
                .or_else(|| frame(*key, version, &default_request(*key)))
                .unwrap_or_else(|| panic!("{key:?} v{version} does not encode"));
            write(&dirs[0], &format!("{key:?}-v{version}"), &bytes);
        }
    }

    let plain = batch(4, 0, (-1, -1, -1));
    let idempotent = batch(2, 0, (4000, 0, 0));
    // settings 0: producer's codec, CreateTime, no limits; mode 0: the bytes as sent.
    let mut seed = vec![0u8, 0];
    seed.extend_from_slice(&plain);
    write(&dirs[1], "plain", &seed);
    let mut seed = vec![0x18u8, 0]; // compacted, LogAppendTime
    seed.extend_from_slice(&plain);
    seed.extend_from_slice(&idempotent);
    write(&dirs[1], "two-batches", &seed);
    for codec in [Codec::Gzip, Codec::Snappy, Codec::Lz4, Codec::Zstd] {
        let mut seed = vec![0u8, 0];
        seed.extend_from_slice(&compressed(&plain, codec));
        write(&dirs[1], &format!("{codec:?}"), &seed);
        // recompressed by the topic's compression.type: zstd (settings 5), or gzip (2) for zstd
        let mut seed = vec![if codec == Codec::Zstd { 2u8 } else { 5 }, 0];
        seed.extend_from_slice(&compressed(&idempotent, codec));
        write(&dirs[1], &format!("{codec:?}-recompressed"), &seed);
        // mode odd: the harness compresses the records with the codec the mode names
        let mut seed = vec![0u8, 1 | ((codec.id() as u8) << 1)];
        seed.extend_from_slice(&plain);
        write(&dirs[1], &format!("{codec:?}-built"), &seed);
    }

    let mut segment = Vec::new();
    segment.extend_from_slice(&batch(3, 0, (-1, -1, -1)));
    segment.extend_from_slice(&compressed(&batch(2, 3, (-1, -1, -1)), Codec::Gzip));
    segment.extend_from_slice(&batch(2, 5, (4000, 0, 0)));
    write(&dirs[2], "three-batches", &segment);
    let torn = &segment[..segment.len() - 7];
    write(&dirs[2], "torn-tail", torn);
}
