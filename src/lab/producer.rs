//! The lab's steady producer: every tick, one record to every partition, sent in one Produce
//! request per (leader, topic) as a Java producer's accumulator would group them, and every
//! acknowledgement logged with the record's offset. Records are never retried: a tick that fails
//! leaves no acknowledgement, which is exactly what marks the partition unavailable, and a record
//! that is never re-sent cannot be duplicated by the client, so the read-back can blame the broker
//! for any duplicate.
//!
//! Like Kafka's producer, it refreshes metadata after an error (at most every
//! [`RETRY_BACKOFF`], Kafka's `retry.backoff.ms`) and otherwise keeps what it knows.

use crate::topic_partition::TopicPartition;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ProduceRequest;
use tokio::task::JoinHandle;

use crate::client::batch::build_batch_into;
use crate::client::produce_frame::{encode_produce, MAX_VERSION, MIN_VERSION};
use crate::client::{ClientError, ClusterClient, RETRY_BACKOFF};
use crate::clock::now_ms;

/// Requests in flight per broker before ticks for its partitions are skipped (a stopped broker
/// must not pile up requests without bound).
const MAX_IN_FLIGHT: usize = 8;

/// A record's value: the tick (8 bytes) and the partition's index in the lab (4 bytes).
pub const VALUE_LEN: usize = 12;

/// One acknowledged record.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub seq: u64,
    pub offset: i64,
    pub sent_ms: i64,
    pub acked_ms: i64,
}

/// The value of record `seq` of partition `index`.
pub fn value(seq: u64, index: u32) -> [u8; VALUE_LEN] {
    let mut v = [0u8; VALUE_LEN];
    v[..8].copy_from_slice(&seq.to_be_bytes());
    v[8..].copy_from_slice(&index.to_be_bytes());
    v
}

/// The (seq, index) of a lab record's value, if it is one.
pub fn parse_value(v: &[u8]) -> Option<(u64, u32)> {
    if v.len() != VALUE_LEN {
        return None;
    }
    let seq = u64::from_be_bytes(v[..8].try_into().ok()?);
    let index = u32::from_be_bytes(v[8..].try_into().ok()?);
    Some((seq, index))
}

/// How the producer sends.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    pub acks: i16,
    pub rate_per_partition: f64,
    pub request_timeout: Duration,
}

/// Counters for the progress line.
#[derive(Default)]
pub struct Counters {
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
}

struct Shared {
    client: Arc<ClusterClient>,
    partitions: Vec<TopicPartition>,
    topics: Vec<String>,
    settings: ProducerSettings,
    acks: Mutex<Vec<Vec<Ack>>>,
    counters: Arc<Counters>,
    refresh: AtomicBool,
    stop: AtomicBool,
    in_flight: Mutex<HashMap<i32, Arc<AtomicUsize>>>,
}

/// A running producer; [`SteadyProducer::stop`] returns every partition's acknowledgements.
pub struct SteadyProducer {
    shared: Arc<Shared>,
    ticker: JoinHandle<()>,
    refresher: JoinHandle<()>,
}

impl SteadyProducer {
    /// Starts producing to `partitions` (their index in this list is in every record's value).
    pub fn start(
        client: Arc<ClusterClient>,
        partitions: Vec<TopicPartition>,
        settings: ProducerSettings,
    ) -> SteadyProducer {
        let topics = TopicPartition::topics_of(&partitions);
        let n = partitions.len();
        let shared = Arc::new(Shared {
            client,
            partitions,
            topics,
            settings,
            acks: Mutex::new(vec![Vec::new(); n]),
            counters: Arc::new(Counters::default()),
            refresh: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            in_flight: Mutex::new(HashMap::new()),
        });
        let ticker = tokio::spawn(tick_loop(shared.clone()));
        let refresher = tokio::spawn(refresh_loop(shared.clone()));
        SteadyProducer {
            shared,
            ticker,
            refresher,
        }
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.shared.counters.clone()
    }

    /// How many partitions have any acknowledgement.
    pub fn partitions_acked(&self) -> usize {
        self.partitions_acked_since(i64::MIN)
    }

    /// How many partitions have an acknowledgement of a record sent at or after `since_ms`.
    pub fn partitions_acked_since(&self, since_ms: i64) -> usize {
        let acks = self
            .shared
            .acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        acks.iter()
            .filter(|a| a.iter().any(|x| x.sent_ms >= since_ms))
            .count()
    }

    /// Stops ticking, waits up to the request timeout for requests in flight, and returns the
    /// acknowledgements per partition (in the order given to [`Self::start`]).
    pub async fn stop(self) -> Vec<Vec<Ack>> {
        self.shared.stop.store(true, Ordering::Release);
        let SteadyProducer {
            shared,
            ticker,
            refresher,
        } = self;
        let _ = ticker.await;
        refresher.abort();
        let this = Stopped { shared };
        let deadline = tokio::time::Instant::now() + this.shared.settings.request_timeout;
        while tokio::time::Instant::now() < deadline && this.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut acks = this
            .shared
            .acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *acks)
    }
}

/// A producer whose ticking ended, waiting for its last answers.
struct Stopped {
    shared: Arc<Shared>,
}

impl Stopped {
    fn in_flight(&self) -> usize {
        let map = self
            .shared
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.values().map(|c| c.load(Ordering::Acquire)).sum()
    }
}

async fn tick_loop(shared: Arc<Shared>) {
    let period = Duration::from_secs_f64(1.0 / shared.settings.rate_per_partition.max(0.01));
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut seq = 0u64;
    while !shared.stop.load(Ordering::Acquire) {
        ticks.tick().await;
        seq += 1;
        let md = shared.client.metadata();
        // (leader, topic) → indexes of its partitions.
        let mut groups: BTreeMap<(i32, &str), Vec<u32>> = BTreeMap::new();
        for (
            i,
            TopicPartition {
                topic: t,
                partition: p,
            },
        ) in shared.partitions.iter().enumerate()
        {
            match md.leader(t, *p) {
                Some(l) if l >= 0 && md.brokers.contains_key(&l) => {
                    groups.entry((l, t.as_str())).or_default().push(i as u32)
                }
                _ => {
                    shared.counters.skipped.fetch_add(1, Ordering::Relaxed);
                    shared.refresh.store(true, Ordering::Release);
                }
            }
        }
        for ((leader, topic), indexes) in groups {
            let counter = {
                let mut map = shared
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                map.entry(leader).or_default().clone()
            };
            if counter.load(Ordering::Acquire) >= MAX_IN_FLIGHT {
                shared
                    .counters
                    .skipped
                    .fetch_add(indexes.len() as u64, Ordering::Relaxed);
                continue;
            }
            counter.fetch_add(1, Ordering::AcqRel);
            let shared = shared.clone();
            let topic = topic.to_owned();
            tokio::spawn(async move {
                send(&shared, leader, &topic, &indexes, seq).await;
                counter.fetch_sub(1, Ordering::AcqRel);
            });
        }
    }
}

/// One Produce request carrying one single-record batch per partition in `indexes`.
async fn send(shared: &Shared, leader: i32, topic: &str, indexes: &[u32], seq: u64) {
    let sent_ms = now_ms();
    let fail = |why: &dyn std::fmt::Display| {
        tracing::debug!(leader, topic, error = %why, "lab produce failed");
        shared
            .counters
            .failed
            .fetch_add(indexes.len() as u64, Ordering::Relaxed);
        shared.refresh.store(true, Ordering::Release);
    };
    let conn = match shared.client.broker_connection(leader).await {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let version = match conn.version_for::<ProduceRequest>(MAX_VERSION) {
        Ok(v) if v >= MIN_VERSION => v,
        Ok(v) => return fail(&format!("Produce v{v} cannot carry magic-2 batches")),
        Err(e) => return fail(&e),
    };
    let mut buf = BytesMut::new();
    let mut parts: Vec<(i32, Bytes)> = Vec::with_capacity(indexes.len());
    let mut by_partition: HashMap<i32, usize> = HashMap::with_capacity(indexes.len());
    for i in indexes {
        let TopicPartition {
            topic: _,
            partition: p,
        } = &shared.partitions[*i as usize];
        if let Err(e) = build_batch_into(&mut buf, &value(seq, *i), 1, sent_ms) {
            return fail(&e);
        }
        by_partition.insert(*p, *i as usize);
        parts.push((*p, buf.split().freeze()));
    }
    let acks = shared.settings.acks;
    let timeout_ms = shared.settings.request_timeout.as_millis() as i32;
    let frame = |id, client_id: &str| {
        encode_produce(version, id, client_id, acks, timeout_ms, topic, &parts)
    };
    let resp = match conn.send_framed::<ProduceRequest>(version, frame).await {
        Ok(r) => r,
        Err(e) => {
            if matches!(e, ClientError::RequestTimeout { .. }) {
                // As Kafka's producer does: the requests queued behind it would time out too.
                conn.close("request timed out");
            }
            return fail(&e);
        }
    };
    let acked_ms = now_ms();
    let mut ok = 0u64;
    let mut failed = 0u64;
    {
        let mut log = shared.acks.lock().unwrap_or_else(PoisonError::into_inner);
        for p in resp
            .responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
        {
            let Some(&i) = by_partition.get(&p.index) else {
                continue;
            };
            if p.error_code == 0 {
                log[i].push(Ack {
                    seq,
                    offset: p.base_offset,
                    sent_ms,
                    acked_ms,
                });
                ok += 1;
            } else {
                failed += 1;
            }
        }
    }
    shared.counters.acked.fetch_add(ok, Ordering::Relaxed);
    if failed > 0 {
        shared.counters.failed.fetch_add(failed, Ordering::Relaxed);
        shared.refresh.store(true, Ordering::Release);
    }
}

async fn refresh_loop(shared: Arc<Shared>) {
    loop {
        tokio::time::sleep(RETRY_BACKOFF).await;
        if shared.refresh.swap(false, Ordering::AcqRel) {
            if let Err(e) = shared.client.refresh_metadata(Some(&shared.topics)).await {
                tracing::debug!(error = %e, "lab metadata refresh failed");
                shared.refresh.store(true, Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip() {
        assert_eq!(parse_value(&value(42, 7)), Some((42, 7)));
        assert_eq!(parse_value(b"short"), None);
    }
}
