//! The read-back: every acknowledged record fetched again from the partition's current leader and
//! checked by offset. A record is lost when its offset no longer holds its value (truncated away
//! or overwritten); a record is duplicated when its value appears at more than one offset (the lab
//! never re-sends a record, so only the broker can have written it twice).

use crate::topic_partition::TopicPartition;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::producer::{parse_value, Ack};
use super::result::Verification;
use crate::client::{ClientError, ClusterClient};

/// Fetch v12: the last version that names topics.
const FETCH_VERSION: i16 = 12;
/// Attempts per partition group before its partitions count as unreadable.
const ATTEMPTS: usize = 20;

/// Per partition: (lost, duplicated); `None` where it could not be read.
pub type PartitionChecks = Vec<Option<(u64, u64)>>;

/// What one partition holds: offset → (seq, partition index) of lab records.
#[derive(Default)]
struct Contents {
    at: HashMap<i64, (u64, u32)>,
}

/// Reads every partition back and checks `acks` (indexed like `partitions`).
pub async fn check(
    client: &ClusterClient,
    partitions: &[TopicPartition],
    acks: &[Vec<Ack>],
) -> (Verification, PartitionChecks) {
    let mut checks: PartitionChecks = vec![None; partitions.len()];
    let mut v = Verification::default();
    let mut pending: Vec<usize> = (0..partitions.len()).collect();
    for _ in 0..ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let topics = TopicPartition::topics_of(partitions);
        let md = match client.refresh_metadata(Some(&topics)).await {
            Ok(md) => md,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let mut groups: BTreeMap<(i32, String), Vec<usize>> = BTreeMap::new();
        for i in &pending {
            let TopicPartition {
                topic: t,
                partition: p,
            } = &partitions[*i];
            if let Some(l) = md.leader(t, *p).filter(|l| *l >= 0) {
                groups.entry((l, t.clone())).or_default().push(*i);
            }
        }
        let mut still = Vec::new();
        let mut grouped = 0;
        for ((leader, topic), idxs) in groups {
            grouped += idxs.len();
            match read_all(client, leader, &topic, partitions, &idxs).await {
                Ok(contents) => {
                    for (i, c) in idxs.iter().zip(contents) {
                        checks[*i] = Some(judge(*i as u32, &c, &acks[*i], &mut v));
                    }
                }
                Err(e) => {
                    tracing::debug!(leader, error = %e, "read-back failed; retrying");
                    still.extend(idxs);
                }
            }
        }
        if grouped < pending.len() {
            still.extend(pending.iter().filter(|i| {
                let TopicPartition {
                    topic: t,
                    partition: p,
                } = &partitions[**i];
                md.leader(t, *p).filter(|l| *l >= 0).is_none()
            }));
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    v.unreadable_partitions = pending.len();
    v.acked = acks.iter().map(|a| a.len() as u64).sum();
    (v, checks)
}

fn judge(index: u32, c: &Contents, acks: &[Ack], v: &mut Verification) -> (u64, u64) {
    let mut lost = 0;
    for a in acks {
        if c.at.get(&a.offset) != Some(&(a.seq, index)) {
            lost += 1;
        }
    }
    let mut counts: HashMap<u64, u64> = HashMap::with_capacity(c.at.len());
    for (seq, i) in c.at.values() {
        if *i == index {
            *counts.entry(*seq).or_default() += 1;
        }
    }
    let duplicated: u64 = counts.values().map(|n| n - 1).sum();
    v.read_back += c.at.len() as u64;
    v.lost += lost;
    v.duplicated += duplicated;
    (lost, duplicated)
}

/// Fetches `idxs` partitions of `topic` from `leader`, from offset 0 to their high watermarks.
async fn read_all(
    client: &ClusterClient,
    leader: i32,
    topic: &str,
    partitions: &[TopicPartition],
    idxs: &[usize],
) -> Result<Vec<Contents>, ClientError> {
    let conn = client.broker_connection(leader).await?;
    let mut next: BTreeMap<i32, i64> = idxs.iter().map(|i| (partitions[*i].partition, 0)).collect();
    let slot: HashMap<i32, usize> = idxs
        .iter()
        .enumerate()
        .map(|(k, i)| (partitions[*i].partition, k))
        .collect();
    let mut out: Vec<Contents> = idxs.iter().map(|_| Contents::default()).collect();
    while !next.is_empty() {
        let req = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .with_min_bytes(0)
            .with_max_bytes(32 << 20)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(TopicName(StrBytes::from_string(topic.to_owned())))
                .with_partitions(
                    next.iter()
                        .map(|(p, o)| {
                            FetchPartition::default()
                                .with_partition(*p)
                                .with_fetch_offset(*o)
                                .with_partition_max_bytes(1 << 20)
                        })
                        .collect(),
                )]);
        let resp = conn.send(req, FETCH_VERSION).await?;
        let mut progressed = false;
        crate::client::check_code(resp.error_code, || format!("read-back from {leader}"))?;
        for p in resp.responses.iter().flat_map(|t| t.partitions.iter()) {
            let part = p.partition_index;
            crate::client::check_code(p.error_code, || format!("read-back {topic}-{part}"))?;
            let Some(&k) = slot.get(&part) else { continue };
            let from = next.get(&part).copied().unwrap_or(0);
            let mut at = from;
            if let Some(records) = &p.records {
                let mut buf: Bytes = records.clone();
                let sets =
                    RecordBatchDecoder::decode_all(&mut buf).map_err(|e| ClientError::Decode {
                        api: 1,
                        version: FETCH_VERSION,
                        message: format!("{e}"),
                    })?;
                for r in sets.iter().flat_map(|s| s.records.iter()) {
                    if let Some(v) = r.value.as_deref().and_then(parse_value) {
                        out[k].at.insert(r.offset, v);
                    }
                    at = at.max(r.offset + 1);
                }
            }
            progressed |= at > from || at >= p.high_watermark;
            if at >= p.high_watermark {
                next.remove(&part);
            } else {
                next.insert(part, at);
            }
        }
        if !progressed {
            return Err(ClientError::Decode {
                api: 1,
                version: FETCH_VERSION,
                message: format!("read-back from broker {leader} made no progress"),
            });
        }
    }
    Ok(out)
}
