//! A one-broker stand-in for tests of the tools: serves ApiVersions, Metadata, Produce (storing
//! batches with offsets patched in), Fetch (returning them), CreateTopics, DeleteTopics and
//! DescribeConfigs, with real kafka-protocol encodings, so the client and tools run end to end
//! without the real broker.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::metadata::str_bytes;
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, CreateTopicsResponse, DeleteTopicsResponse,
    DescribeConfigsResponse, FetchResponse, ListOffsetsResponse, MetadataResponse, ProduceResponse,
    RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Default)]
pub struct Log {
    /// partition → stored batches (base offset patched)
    pub batches: BTreeMap<i32, Vec<Bytes>>,
    pub next_offset: BTreeMap<i32, i64>,
    /// Answer this many produce requests with NOT_LEADER_OR_FOLLOWER first.
    pub fail_produces: usize,
    pub metadata_requests: usize,
    /// Answer this many Metadata requests with LEADER_NOT_AVAILABLE for every topic first
    /// (a topic being auto-created).
    pub leaderless_metadata: usize,
    /// Answer this many fetched partitions with NOT_LEADER_OR_FOLLOWER first.
    pub fail_fetches: usize,
    /// topic → (partitions, replication factor, configs); starts with [`TOPIC`].
    pub topics: BTreeMap<String, FakeTopic>,
    /// partition → log start offset (fetches below it get OFFSET_OUT_OF_RANGE)
    pub log_start: BTreeMap<i32, i64>,
}

/// (partitions, replication factor, config overrides)
pub type FakeTopic = (i32, i16, Vec<(String, String)>);

pub struct FakeBroker {
    pub addr: String,
    pub log: Arc<Mutex<Log>>,
}

pub const TOPIC: &str = "perf";
pub const PARTITIONS: i32 = 2;

impl FakeBroker {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mut log = Log::default();
        log.topics
            .insert(TOPIC.to_owned(), (PARTITIONS, 1, Vec::new()));
        let log = Arc::new(Mutex::new(log));
        let (l, a) = (log.clone(), addr.clone());
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, l.clone(), a.clone()));
            }
        });
        Self { addr, log }
    }
}

async fn serve(mut sock: TcpStream, log: Arc<Mutex<Log>>, addr: String) {
    loop {
        let Ok(len) = sock.read_u32().await else {
            return;
        };
        let mut buf = BytesMut::zeroed(len as usize);
        if sock.read_exact(&mut buf).await.is_err() {
            return;
        }
        let mut buf = buf.freeze();
        let key = ApiKey::try_from(i16::from_be_bytes([buf[0], buf[1]])).unwrap();
        let version = i16::from_be_bytes([buf[2], buf[3]]);
        let header = RequestHeader::decode(&mut buf, key.request_header_version(version)).unwrap();
        let req = RequestKind::decode(key, &mut buf, version).unwrap();
        let Some(resp) = answer(req, &log, &addr) else {
            continue;
        };
        let mut frame = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut frame, key.response_header_version(version))
            .unwrap();
        resp.encode(&mut frame, version).unwrap();
        let mut out = BytesMut::new();
        out.put_u32(frame.len() as u32);
        out.extend_from_slice(&frame);
        if sock.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn api(key: ApiKey, min: i16, max: i16) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(key as i16)
        .with_min_version(min)
        .with_max_version(max)
}

fn answer(req: RequestKind, log: &Mutex<Log>, addr: &str) -> Option<ResponseKind> {
    let mut log = log.lock().unwrap();
    Some(match req {
        RequestKind::ApiVersions(_) => {
            ResponseKind::ApiVersions(ApiVersionsResponse::default().with_api_keys(vec![
                api(ApiKey::ApiVersions, 0, 3),
                api(ApiKey::Metadata, 1, 12),
                api(ApiKey::Produce, 3, 9),
                api(ApiKey::Fetch, 4, 12),
                api(ApiKey::CreateTopics, 2, 7),
                api(ApiKey::DeleteTopics, 1, 6),
                api(ApiKey::DescribeConfigs, 1, 4),
                api(ApiKey::ListOffsets, 1, 7),
            ]))
        }
        RequestKind::Metadata(req) => {
            log.metadata_requests += 1;
            let leaderless = log.leaderless_metadata > 0;
            log.leaderless_metadata = log.leaderless_metadata.saturating_sub(1);
            let (host, port) = addr.rsplit_once(':').unwrap();
            let names: Vec<String> = match req.topics {
                None => log.topics.keys().cloned().collect(),
                Some(ts) => ts
                    .into_iter()
                    .filter_map(|t| t.name)
                    .map(|n| n.0.to_string())
                    .collect(),
            };
            let topics = names
                .into_iter()
                .map(|name| {
                    let topic = MetadataResponseTopic::default()
                        .with_name(Some(str_bytes(name.clone()).into()));
                    let Some((count, rf, _)) = log.topics.get(&name) else {
                        return topic
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code());
                    };
                    if leaderless {
                        return topic.with_error_code(ResponseError::LeaderNotAvailable.code());
                    }
                    let replicas: Vec<_> = (1..=i32::from(*rf)).map(Into::into).collect();
                    topic
                        .with_topic_id(uuid::Uuid::from_u128(7))
                        .with_partitions(
                            (0..*count)
                                .map(|p| {
                                    MetadataResponsePartition::default()
                                        .with_partition_index(p)
                                        .with_leader_id(1.into())
                                        .with_replica_nodes(replicas.clone())
                                        .with_isr_nodes(replicas.clone())
                                })
                                .collect(),
                        )
                })
                .collect();
            ResponseKind::Metadata(
                MetadataResponse::default()
                    .with_controller_id(1.into())
                    .with_brokers(vec![MetadataResponseBroker::default()
                        .with_node_id(1.into())
                        .with_host(str_bytes(host))
                        .with_port(port.parse().unwrap())])
                    .with_topics(topics),
            )
        }
        RequestKind::CreateTopics(req) => {
            let results = req
                .topics
                .into_iter()
                .map(|t| {
                    let name = t.name.0.to_string();
                    let result = CreatableTopicResult::default().with_name(t.name);
                    if log.topics.contains_key(&name) {
                        return result.with_error_code(ResponseError::TopicAlreadyExists.code());
                    }
                    let configs = t
                        .configs
                        .iter()
                        .map(|c| {
                            (
                                c.name.to_string(),
                                c.value.as_deref().unwrap_or("").to_owned(),
                            )
                        })
                        .collect();
                    let count = if t.num_partitions < 0 {
                        1
                    } else {
                        t.num_partitions
                    };
                    let rf = if t.replication_factor < 0 {
                        1
                    } else {
                        t.replication_factor
                    };
                    log.topics.insert(name, (count, rf, configs));
                    result
                })
                .collect();
            ResponseKind::CreateTopics(CreateTopicsResponse::default().with_topics(results))
        }
        RequestKind::DeleteTopics(req) => {
            let mut names: Vec<String> = req.topic_names.iter().map(|n| n.0.to_string()).collect();
            names.extend(
                req.topics
                    .iter()
                    .filter_map(|t| t.name.as_ref())
                    .map(|n| n.0.to_string()),
            );
            let results = names
                .into_iter()
                .map(|name| {
                    let code = if log.topics.remove(&name).is_some() {
                        0
                    } else {
                        3
                    };
                    DeletableTopicResult::default()
                        .with_name(Some(str_bytes(name).into()))
                        .with_error_code(code)
                })
                .collect();
            ResponseKind::DeleteTopics(DeleteTopicsResponse::default().with_responses(results))
        }
        RequestKind::DescribeConfigs(req) => {
            let results = req
                .resources
                .into_iter()
                .map(|r| {
                    let configs = log
                        .topics
                        .get(r.resource_name.as_str())
                        .map(|t| t.2.clone())
                        .unwrap_or_default();
                    let mut entries: Vec<_> = configs
                        .into_iter()
                        .map(|(k, v)| {
                            DescribeConfigsResourceResult::default()
                                .with_name(str_bytes(k))
                                .with_value(Some(str_bytes(v)))
                                .with_config_source(1) // DYNAMIC_TOPIC_CONFIG
                        })
                        .collect();
                    entries.push(
                        DescribeConfigsResourceResult::default()
                            .with_name(StrBytes::from_static_str("segment.bytes"))
                            .with_value(Some(StrBytes::from_static_str("1073741824")))
                            .with_config_source(5), // DEFAULT_CONFIG: not printed
                    );
                    DescribeConfigsResult::default()
                        .with_resource_type(r.resource_type)
                        .with_resource_name(r.resource_name)
                        .with_configs(entries)
                })
                .collect();
            ResponseKind::DescribeConfigs(DescribeConfigsResponse::default().with_results(results))
        }
        RequestKind::Produce(req) => {
            let mut topics = Vec::new();
            for t in req.topic_data {
                let mut parts = Vec::new();
                for p in t.partition_data {
                    let mut resp = PartitionProduceResponse::default().with_index(p.index);
                    if log.fail_produces > 0 {
                        log.fail_produces -= 1;
                        resp.error_code = ResponseError::NotLeaderOrFollower.code();
                    } else {
                        let mut batch = BytesMut::from(&p.records.unwrap()[..]);
                        let base = *log.next_offset.get(&p.index).unwrap_or(&0);
                        batch[..8].copy_from_slice(&base.to_be_bytes());
                        let count = i32::from_be_bytes(batch[57..61].try_into().unwrap());
                        log.next_offset.insert(p.index, base + i64::from(count));
                        log.batches.entry(p.index).or_default().push(batch.freeze());
                        resp.base_offset = base;
                    }
                    parts.push(resp);
                }
                topics.push(
                    TopicProduceResponse::default()
                        .with_name(t.name)
                        .with_partition_responses(parts),
                );
            }
            if req.acks == 0 {
                return None;
            }
            ResponseKind::Produce(ProduceResponse::default().with_responses(topics))
        }
        RequestKind::Fetch(req) => {
            let mut topics = Vec::new();
            for t in req.topics {
                let mut parts = Vec::new();
                for p in t.partitions {
                    if log.fail_fetches > 0 {
                        log.fail_fetches -= 1;
                        parts.push(
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(ResponseError::NotLeaderOrFollower.code()),
                        );
                        continue;
                    }
                    let start = *log.log_start.get(&p.partition).unwrap_or(&0);
                    if p.fetch_offset < start {
                        parts.push(
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(ResponseError::OffsetOutOfRange.code()),
                        );
                        continue;
                    }
                    let mut data = BytesMut::new();
                    for b in log.batches.get(&p.partition).into_iter().flatten() {
                        let base = i64::from_be_bytes(b[..8].try_into().unwrap());
                        if base >= p.fetch_offset {
                            data.extend_from_slice(b);
                        }
                    }
                    parts.push(
                        PartitionData::default()
                            .with_partition_index(p.partition)
                            .with_high_watermark(*log.next_offset.get(&p.partition).unwrap_or(&0))
                            .with_records(Some(data.freeze())),
                    );
                }
                topics.push(
                    FetchableTopicResponse::default()
                        .with_topic(t.topic)
                        .with_partitions(parts),
                );
            }
            ResponseKind::Fetch(FetchResponse::default().with_responses(topics))
        }
        RequestKind::ListOffsets(req) => {
            let topics = req
                .topics
                .into_iter()
                .map(|t| {
                    let parts = t
                        .partitions
                        .iter()
                        .map(|p| {
                            let offset = match p.timestamp {
                                -2 => *log.log_start.get(&p.partition_index).unwrap_or(&0),
                                _ => *log.next_offset.get(&p.partition_index).unwrap_or(&0),
                            };
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index)
                                .with_offset(offset)
                        })
                        .collect();
                    ListOffsetsTopicResponse::default()
                        .with_name(t.name)
                        .with_partitions(parts)
                })
                .collect();
            ResponseKind::ListOffsets(ListOffsetsResponse::default().with_topics(topics))
        }
        other => panic!("fake broker got unexpected request {other:?}"),
    })
}
