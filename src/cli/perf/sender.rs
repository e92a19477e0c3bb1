//! The sending half of `zkafka perf produce`, shaped like Kafka's producer `Sender`: sealed
//! batches wait in a queue (the record accumulator), and each request takes at most one batch per
//! partition, for partitions with the same leader, up to `max.request.size`. So while requests
//! are in flight, batches for every partition pile up and the next request carries them all, as
//! the Java producer's requests do; one batch per request made Kafka's default 16 KiB batches a
//! round trip each.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ProduceRequest;
use tokio::sync::OwnedSemaphorePermit;

use super::stats::Stats;
use crate::client::produce_frame::{self, encode_produce};
use crate::client::{check_code, ClientError, ClusterClient, Connection, RETRY_BACKOFF};

/// A batch sealed and waiting to be sent.
pub struct Ready {
    pub partition: i32,
    pub records: Bytes,
    /// When each of its records was handed to the producer, for its latency.
    pub enqueued: Vec<Instant>,
}

/// The batches waiting to be sent, oldest first.
#[derive(Default)]
pub struct Accumulator {
    queue: VecDeque<Ready>,
    bytes: usize,
}

impl Accumulator {
    pub fn push(&mut self, batch: Ready) {
        self.bytes += batch.records.len();
        self.queue.push_back(batch);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes waiting (Kafka blocks `send` once `buffer.memory` of them are).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Kafka's `RecordAccumulator.drain` for one request: the oldest batch, then the oldest batch
    /// of every other partition with the same leader while the request stays within
    /// `max_request_size` (the first batch always goes, however large). Batches whose leader is
    /// unknown go alone; the send finds their leader.
    pub fn drain(
        &mut self,
        leader_of: impl Fn(i32) -> Option<i32>,
        max_request_size: usize,
    ) -> Vec<Ready> {
        let Some(first) = self.queue.pop_front() else {
            return Vec::new();
        };
        let leader = leader_of(first.partition);
        let mut size = first.records.len();
        let mut out = vec![first];
        if leader.is_some() {
            let mut i = 0;
            while i < self.queue.len() {
                let b = &self.queue[i];
                let taken = out.iter().any(|o| o.partition == b.partition);
                if !taken && leader_of(b.partition) == leader {
                    if size + b.records.len() > max_request_size {
                        break;
                    }
                    size += b.records.len();
                    out.extend(self.queue.remove(i));
                } else {
                    i += 1;
                }
            }
        }
        self.bytes -= size;
        out
    }
}

/// What the sending tasks share with the generator.
pub struct Shared {
    pub stats: Mutex<Stats>,
    pub errors: Mutex<(u64, Option<String>)>,
    pub json: bool,
    pub record_size: usize,
    /// Batch buffers back from finished requests, reused for new batches.
    pub buffers: Mutex<Vec<BytesMut>>,
}

/// Buffers kept for reuse; more than the requests in flight can hold is never needed at once.
const MAX_POOLED: usize = 64;

impl Shared {
    fn done(&self, batch: Ready, result: Result<(), &ClientError>) {
        let now = Instant::now();
        match result {
            Ok(()) => {
                let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
                for t in &batch.enqueued {
                    let ms = u32::try_from(now.duration_since(*t).as_millis()).unwrap_or(u32::MAX);
                    if let Some(line) = stats.record(ms, self.record_size, now) {
                        if !self.json {
                            println!("{line}");
                        }
                    }
                }
            }
            Err(e) => {
                let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
                errors.0 += batch.enqueued.len() as u64;
                if errors.1.is_none() {
                    eprintln!("zkafka: produce failed: {e}");
                    errors.1 = Some(e.to_string());
                }
            }
        }
        if let Ok(mut buf) = batch.records.try_into_mut() {
            let mut pool = self.buffers.lock().unwrap_or_else(PoisonError::into_inner);
            if pool.len() < MAX_POOLED {
                buf.clear();
                pool.push(buf);
            }
        }
    }

    /// An empty buffer for the next batch, reused when one is back.
    pub fn buffer(&self, capacity: usize) -> BytesMut {
        self.buffers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_else(|| BytesMut::with_capacity(capacity))
    }
}

/// How requests are made; cloned into each request's task.
#[derive(Clone)]
pub struct Sender {
    pub client: Arc<ClusterClient>,
    pub shared: Arc<Shared>,
    pub topic: Arc<str>,
    pub acks: i16,
    pub timeout_ms: i32,
    pub delivery_timeout: Duration,
}

impl Sender {
    /// Sends `batches` (one request, or several if their leaders turn out to differ) on a task
    /// that holds `permit` until every batch is answered.
    pub fn dispatch(&self, batches: Vec<Ready>, permit: OwnedSemaphorePermit) {
        let this = self.clone();
        tokio::spawn(async move {
            this.send_batches(batches).await;
            drop(permit);
        });
    }

    async fn send_batches(&self, batches: Vec<Ready>) {
        let outcome = match self
            .client
            .leader_connection(&self.topic, batches[0].partition)
            .await
        {
            Ok((_, conn)) => self.produce(&conn, &batches).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(codes) => {
                for (batch, result) in batches.into_iter().zip(codes) {
                    match result {
                        Err(e) if e.is_retriable_metadata() => self.retry_alone(batch).await,
                        other => self.shared.done(batch, other.as_ref().map(|_| ())),
                    }
                }
            }
            Err(e) if e.is_retriable_metadata() => {
                for batch in batches {
                    self.retry_alone(batch).await;
                }
            }
            Err(e) => {
                for batch in batches {
                    self.shared.done(batch, Err(&e));
                }
            }
        }
    }

    /// A batch the first try could not place: after `retry.backoff.ms` and a metadata refresh
    /// (the leader may have moved), sent on its own to its leader until `delivery.timeout.ms`,
    /// as the Java producer retries per batch.
    async fn retry_alone(&self, batch: Ready) {
        tokio::time::sleep(RETRY_BACKOFF).await;
        if let Err(e) = self
            .client
            .refresh_metadata(Some(&[self.topic.to_string()]))
            .await
        {
            tracing::debug!(error = %e, "metadata refresh failed");
        }
        let result = self
            .client
            .with_leader(
                &self.topic,
                batch.partition,
                self.delivery_timeout,
                |conn| {
                    let one = std::slice::from_ref(&batch);
                    async move {
                        let mut codes = self.produce(&conn, one).await?;
                        codes.pop().unwrap_or(Ok(()))
                    }
                },
            )
            .await;
        self.shared.done(batch, result.as_ref().map(|_| ()));
    }

    /// One Produce request for `batches`; per batch, its partition's outcome.
    async fn produce(
        &self,
        conn: &Connection,
        batches: &[Ready],
    ) -> Result<Vec<Result<(), ClientError>>, ClientError> {
        let version = conn.version_for::<ProduceRequest>(produce_frame::MAX_VERSION)?;
        if version < produce_frame::MIN_VERSION {
            // Magic-2 batches need Produce v3+.
            return Err(ClientError::UnsupportedApi {
                addr: conn.addr().to_owned(),
                api: 0,
            });
        }
        let parts: Vec<(i32, Bytes)> = batches
            .iter()
            .map(|b| (b.partition, b.records.clone()))
            .collect();
        let (acks, timeout_ms, topic) = (self.acks, self.timeout_ms, &*self.topic);
        let frame = |id, client_id: &str| {
            encode_produce(version, id, client_id, acks, timeout_ms, topic, &parts)
        };
        if acks == 0 {
            conn.send_framed_without_response(frame).await?;
            return Ok(batches.iter().map(|_| Ok(())).collect());
        }
        let resp = conn.send_framed::<ProduceRequest>(version, frame).await?;
        Ok(batches
            .iter()
            .map(|b| {
                let code = resp
                    .responses
                    .iter()
                    .flat_map(|t| t.partition_responses.iter())
                    .find(|p| p.index == b.partition)
                    .map_or(-1, |p| p.error_code);
                check_code(code, || {
                    format!("producing to {}-{}", self.topic, b.partition)
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(partition: i32, len: usize) -> Ready {
        Ready {
            partition,
            records: Bytes::from(vec![0u8; len]),
            enqueued: Vec::new(),
        }
    }

    fn partitions(batches: &[Ready]) -> Vec<i32> {
        batches.iter().map(|b| b.partition).collect()
    }

    #[test]
    fn drain_takes_one_batch_per_partition_of_the_first_leader() {
        let mut acc = Accumulator::default();
        for p in [0, 1, 0, 2, 3, 1] {
            acc.push(ready(p, 10));
        }
        // Partitions 0..=2 on broker 1, 3 on broker 2.
        let leader = |p: i32| Some(if p == 3 { 2 } else { 1 });
        assert_eq!(partitions(&acc.drain(leader, 1000)), vec![0, 1, 2]);
        assert_eq!(acc.bytes(), 30);
        assert_eq!(partitions(&acc.drain(leader, 1000)), vec![0, 1]);
        assert_eq!(partitions(&acc.drain(leader, 1000)), vec![3]);
        assert!(acc.is_empty());
        assert_eq!(acc.bytes(), 0);
        assert!(acc.drain(leader, 1000).is_empty());
    }

    #[test]
    fn drain_respects_max_request_size_but_always_sends_one() {
        let mut acc = Accumulator::default();
        acc.push(ready(0, 500));
        acc.push(ready(1, 400));
        acc.push(ready(2, 200));
        let leader = |_| Some(1);
        assert_eq!(partitions(&acc.drain(leader, 300)), vec![0]);
        assert_eq!(partitions(&acc.drain(leader, 700)), vec![1, 2]);
    }

    #[test]
    fn a_batch_without_a_known_leader_goes_alone() {
        let mut acc = Accumulator::default();
        acc.push(ready(0, 1));
        acc.push(ready(1, 1));
        let leader = |p: i32| (p == 1).then_some(1);
        assert_eq!(partitions(&acc.drain(leader, 100)), vec![0]);
        assert_eq!(partitions(&acc.drain(leader, 100)), vec![1]);
    }
}
