//! The Kafka offset store against an in-memory `__consumer_offsets`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;

use super::*;
use crate::coordinator::offsets_log::OffsetsLog;

/// Partitions with a leader epoch (None = not led here) and their appended batches.
#[derive(Default)]
struct MemLog {
    epochs: Mutex<HashMap<i32, i32>>,
    batches: Mutex<HashMap<i32, Vec<Bytes>>>,
}

impl MemLog {
    fn lead(&self, partition: i32, epoch: i32) {
        self.epochs.lock().unwrap().insert(partition, epoch);
    }

    /// Every (key, value) appended to `partition`, in order.
    fn records(&self, partition: i32) -> Vec<(Bytes, Option<Bytes>)> {
        let batches = self.batches.lock().unwrap();
        let mut out = Vec::new();
        for b in batches.get(&partition).into_iter().flatten() {
            let mut b = b.clone();
            for set in RecordBatchDecoder::decode_all(&mut b).unwrap() {
                for r in set.records {
                    out.push((r.key.unwrap(), r.value));
                }
            }
        }
        out
    }
}

impl OffsetsLog for MemLog {
    fn leader_epoch(&self, partition: i32) -> Option<i32> {
        self.epochs.lock().unwrap().get(&partition).copied()
    }

    fn append(&self, partition: i32, batch: Bytes, _acks: i16) -> StoreFuture<'_, ()> {
        self.batches
            .lock()
            .unwrap()
            .entry(partition)
            .or_default()
            .push(batch);
        Box::pin(async { Ok(()) })
    }

    fn read_all(&self, partition: i32) -> StoreFuture<'_, Vec<Bytes>> {
        let all = self
            .batches
            .lock()
            .unwrap()
            .get(&partition)
            .cloned()
            .unwrap_or_default();
        Box::pin(async move { Ok(all) })
    }
}

const PARTITIONS: i32 = 50;

fn store(log: &Arc<MemLog>) -> KafkaOffsetStore {
    KafkaOffsetStore::new(
        log.clone(),
        KafkaStoreConfig {
            partitions: PARTITIONS,
            required_acks: -1,
            retention_ms: 60_000,
        },
    )
}

fn write(topic: &str, partition: i32, offset: i64, ts: i64) -> OffsetWrite {
    OffsetWrite {
        tp: TopicPartition::new(topic, partition),
        offset,
        extra: Some(OffsetExtra {
            metadata: Some("m".into()),
            leader_epoch: 4,
            commit_timestamp_ms: ts,
        }),
    }
}

async fn offsets(s: &KafkaOffsetStore, group: &str) -> Vec<(String, i32, i64)> {
    s.fetch(group, None)
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, c)| (tp.topic, tp.partition, c.unwrap().offset))
        .collect()
}

#[tokio::test]
async fn commits_are_records_of_the_groups_partition() {
    let log = Arc::new(MemLog::default());
    let p = partition_for("g", PARTITIONS);
    log.lead(p, 0);
    let s = store(&log);
    s.commit("g", vec![write("t", 0, 10, 1000), write("t", 1, 20, 1000)])
        .await
        .unwrap();
    let recs = log.records(p);
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].0, offset_key("g", "t", 0));
    let v = decode_offset_value(recs[0].1.as_ref().unwrap()).unwrap();
    assert_eq!(
        (v.offset, v.leader_epoch, v.metadata.as_str()),
        (10, 4, "m")
    );
    assert_eq!(v.commit_timestamp, 1000);
    assert_eq!(
        offsets(&s, "g").await,
        vec![("t".into(), 0, 10), ("t".into(), 1, 20)]
    );
}

#[tokio::test]
async fn a_new_leader_loads_the_partition_and_tombstones_delete() {
    let log = Arc::new(MemLog::default());
    let p = partition_for("g", PARTITIONS);
    log.lead(p, 0);
    let old = store(&log);
    old.commit("g", vec![write("t", 0, 10, 1)]).await.unwrap();
    old.commit("g", vec![write("t", 0, 11, 2), write("u", 0, 5, 2)])
        .await
        .unwrap();
    old.delete_offsets("g", vec![TopicPartition::new("u", 0)])
        .await
        .unwrap();
    // Another broker becomes leader in a later epoch: it replays the log.
    log.lead(p, 1);
    let new = store(&log);
    assert_eq!(offsets(&new, "g").await, vec![("t".into(), 0, 11)]);
    assert_eq!(new.list_groups_with_offsets().await.unwrap(), vec!["g"]);
    assert!(new.delete_group("g").await.unwrap());
    let recs = log.records(p);
    assert_eq!(recs.last().unwrap().0, group_key("g"));
    assert!(recs.last().unwrap().1.is_none());
    log.lead(p, 2);
    assert!(store(&log).fetch("g", None).await.unwrap().is_empty());
}

#[tokio::test]
async fn resigned_partitions_leave_the_cache() {
    let log = Arc::new(MemLog::default());
    let (a, b) = ("g", "other-group");
    let (pa, pb) = (partition_for(a, PARTITIONS), partition_for(b, PARTITIONS));
    assert_ne!(pa, pb);
    log.lead(pa, 0);
    log.lead(pb, 0);
    let s = store(&log);
    s.commit(a, vec![write("t", 0, 1, 1)]).await.unwrap();
    log.epochs.lock().unwrap().remove(&pa);
    s.commit(b, vec![write("t", 0, 1, 1)]).await.unwrap();
    assert!(!s.lock().contains_key(&pa));
    assert!(matches!(
        s.fetch(a, None).await.unwrap_err(),
        StoreError::Unavailable(_)
    ));
}

#[tokio::test]
async fn not_leading_is_retriable() {
    let log = Arc::new(MemLog::default());
    let err = store(&log)
        .commit("g", vec![write("t", 0, 1, 1)])
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn retention_expires_offsets_of_groups_without_members() {
    let log = Arc::new(MemLog::default());
    for g in ["idle", "busy"] {
        log.lead(partition_for(g, PARTITIONS), 0);
    }
    let s = store(&log);
    s.commit(
        "idle",
        vec![write("t", 0, 1, 1_000), write("t", 1, 2, 50_000)],
    )
    .await
    .unwrap();
    s.commit("busy", vec![write("t", 0, 3, 1_000)])
        .await
        .unwrap();
    let active = |g: &str| g == "busy";
    // Retention is 60 s: at 61 s only the offset committed at 1 s is due.
    assert_eq!(s.expire(61_000, &active).await, 1);
    assert_eq!(offsets(&s, "idle").await, vec![("t".into(), 1, 2)]);
    assert_eq!(offsets(&s, "busy").await, vec![("t".into(), 0, 3)]);
    assert_eq!(s.expire(110_000, &active).await, 1);
    assert!(s.fetch("idle", None).await.unwrap().is_empty());
    // The tombstones are in the log: a new leader does not resurrect them.
    let p = partition_for("idle", PARTITIONS);
    log.lead(p, 1);
    assert!(store(&log).fetch("idle", None).await.unwrap().is_empty());
}

#[test]
fn batches_pass_the_logs_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut log =
        crate::log::Log::open(dir.path(), crate::log::LogConfig::default(), 0, 0).unwrap();
    let recs = vec![
        record(
            0,
            1000,
            offset_key("g", "t", 0),
            Some(Bytes::from_static(b"v")),
        ),
        record(1, 1000, offset_key("g", "t", 1), None),
    ];
    let batch = encode_batch(&recs).unwrap();
    let info = log.append_as_leader(&batch, 0, 1000).unwrap();
    assert_eq!((info.first_offset, info.last_offset), (0, 1));
    let mut b = batch.clone();
    assert_eq!(RecordBatchDecoder::decode_all(&mut b).unwrap().len(), 1);
}

#[tokio::test]
async fn becoming_leader_loads_the_partition_before_any_request() {
    let log = Arc::new(MemLog::default());
    let p = partition_for("g", PARTITIONS);
    log.lead(p, 0);
    store(&log)
        .commit("g", vec![write("t", 0, 8, 1)])
        .await
        .unwrap();
    log.lead(p, 1);
    let s = store(&log);
    s.load_partition(p).await.unwrap();
    assert_eq!(s.lock().get(&p).map(|l| l.leader_epoch), Some(1));
    assert_eq!(s.lock()[&p].groups.offsets["g"].len(), 1);
}

fn group_value(generation: i32, members: &[&str]) -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation,
        protocol: Some("range".into()),
        leader: members.first().map(|m| m.to_string()),
        current_state_timestamp: 1,
        members: members
            .iter()
            .map(|m| crate::coordinator::StoredMember {
                member_id: m.to_string(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1000,
                session_timeout_ms: 1000,
                subscription: Bytes::from_static(b"s"),
                assignment: Bytes::from_static(b"a"),
            })
            .collect(),
    }
}

#[tokio::test]
async fn a_new_leader_loads_the_last_group_record_and_forgets_deleted_groups() {
    let log = Arc::new(MemLog::default());
    let p = partition_for("g", PARTITIONS);
    log.lead(p, 0);
    let s = store(&log);
    s.store_group("g", group_value(1, &["a"])).await.unwrap();
    s.store_group("g", group_value(2, &["a", "b"]))
        .await
        .unwrap();
    log.lead(p, 1);
    let loaded = store(&log).load_partition(p).await.unwrap();
    assert_eq!(loaded, vec![("g".to_string(), group_value(2, &["a", "b"]))]);
    store(&log).delete_group("g").await.unwrap();
    log.lead(p, 2);
    assert_eq!(store(&log).stored_group("g").await.unwrap(), None);
}
