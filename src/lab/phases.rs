//! The controller's phases on the lab's timeline, from what each kind of cluster lets an outsider
//! see:
//! - zkafka: its controller event stream (`zkafka.controller.events.file`, one file per broker),
//!   every phase of every event with the controller's timestamps;
//! - any cluster (so Kafka too): the lab's own ZooKeeper watches on `/brokers/ids` (when ZooKeeper
//!   expired or closed the lost broker's session, as a watcher sees it) and on `/controller` (a
//!   new controller), and afterwards the modification times of the partition state znodes whose
//!   leader moved (when the controller wrote them: first and last).

use crate::topic_partition::TopicPartition;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use tokio::task::JoinHandle;

use super::result::PhasePoint;
use crate::clock::now_ms;
use crate::zk::{KafkaZkClient, ZkError};

#[derive(Deserialize)]
struct StreamLine {
    ts_ms: i64,
    broker: i32,
    event: String,
    seq: u64,
    phase: String,
    partitions: u64,
    brokers: Vec<i32>,
}

/// The event-stream phases between `from_ms` and `to_ms`, in time order. Lines that do not parse
/// (a file being written as it is read) are skipped.
pub fn read_event_files(files: &[PathBuf], from_ms: i64, to_ms: i64) -> Vec<PhasePoint> {
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(f) else {
            continue;
        };
        for line in text.lines() {
            let Ok(l) = serde_json::from_str::<StreamLine>(line) else {
                continue;
            };
            if l.ts_ms < from_ms || l.ts_ms > to_ms {
                continue;
            }
            out.push(PhasePoint {
                phase: l.phase,
                ts_ms: l.ts_ms,
                source: "zkafka-events".into(),
                event: l.event,
                seq: l.seq,
                controller: l.broker,
                partitions: l.partitions,
                brokers: l.brokers,
            });
        }
    }
    out.sort_by_key(|p| p.ts_ms);
    out
}

/// The lab's watches on `/brokers/ids` and `/controller`, recording what they see.
pub struct ZkWatch {
    seen: Arc<Mutex<Vec<PhasePoint>>>,
    tasks: Vec<JoinHandle<()>>,
}

fn point(phase: &str, controller: i32, brokers: Vec<i32>) -> PhasePoint {
    PhasePoint {
        phase: phase.into(),
        ts_ms: now_ms(),
        source: "zookeeper-watch".into(),
        event: String::new(),
        seq: 0,
        controller,
        partitions: 0,
        brokers,
    }
}

impl ZkWatch {
    pub fn start(zk: KafkaZkClient) -> ZkWatch {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let brokers = tokio::spawn(watch_brokers(zk.clone(), seen.clone()));
        let controller = tokio::spawn(watch_controller(zk, seen.clone()));
        ZkWatch {
            seen,
            tasks: vec![brokers, controller],
        }
    }

    pub fn finish(self) -> Vec<PhasePoint> {
        for t in &self.tasks {
            t.abort();
        }
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.clone()
    }
}

async fn watch_brokers(zk: KafkaZkClient, seen: Arc<Mutex<Vec<PhasePoint>>>) {
    let mut before: Option<BTreeSet<i32>> = None;
    loop {
        let Ok((ids, watcher)) = zk.get_broker_ids_and_watch().await else {
            return;
        };
        let now: BTreeSet<i32> = ids.into_iter().collect();
        if let Some(before) = &before {
            let lost: Vec<i32> = before.difference(&now).copied().collect();
            if !lost.is_empty() {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.push(point("broker_lost_seen", -1, lost));
            }
        }
        before = Some(now);
        watcher.changed().await;
    }
}

async fn watch_controller(zk: KafkaZkClient, seen: Arc<Mutex<Vec<PhasePoint>>>) {
    let mut before: Option<Option<i32>> = None;
    loop {
        let Ok((current, watcher)) = zk.get_controller_and_watch().await else {
            return;
        };
        if before.is_some_and(|b| b != current) {
            if let Some(id) = current {
                let mut seen = seen.lock().unwrap_or_else(PoisonError::into_inner);
                seen.push(point("controller_elected", id, Vec::new()));
            }
        }
        before = Some(current);
        watcher.changed().await;
    }
}

/// `zk_written` (first) and `zk_written_last` from the state znodes of `moved` partitions (whose
/// leader changed), by their mtimes; none when no state was rewritten after `since_ms`.
pub async fn state_write_times(
    zk: &KafkaZkClient,
    moved: &[TopicPartition],
    since_ms: i64,
) -> Result<Vec<PhasePoint>, ZkError> {
    let times = zk.get_partition_state_times(moved).await?;
    let mut mtimes: Vec<i64> = times
        .iter()
        .flatten()
        .map(|t| t.mtime_ms)
        .filter(|m| *m >= since_ms)
        .collect();
    mtimes.sort_unstable();
    let n = mtimes.len() as u64;
    let mk = |phase: &str, ts_ms: i64| PhasePoint {
        phase: phase.into(),
        ts_ms,
        source: "zookeeper-mtime".into(),
        event: String::new(),
        seq: 0,
        controller: -1,
        partitions: n,
        brokers: Vec::new(),
    };
    Ok(match (mtimes.first(), mtimes.last()) {
        (Some(first), Some(last)) => vec![mk("zk_written", *first), mk("zk_written_last", *last)],
        _ => Vec::new(),
    })
}
