//! `zkafka perf produce`: builds magic-2 batches (sticky partitioning, `--batch-size`,
//! `--linger-ms`), keeps up to `--inflight` produce requests outstanding and measures each
//! record's latency from being enqueued to its produce response, like kafka-producer-perf-test.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use rand::Rng;
use tokio::sync::Semaphore;

use super::sender::{Accumulator, Ready, Sender, Shared};
use super::stats::{Stats, Summary};
use crate::client::batch::{batch_size, build_batch_into, records_per_batch};
use crate::client::{check_code, ClusterClient};

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Broker(s) to connect to, host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    /// Topic to produce to (auto-created if the brokers allow it).
    #[arg(long)]
    pub topic: String,
    /// Number of records to produce.
    #[arg(long)]
    pub num_records: u64,
    /// Size of each record's value in bytes.
    #[arg(long)]
    pub record_size: usize,
    /// Records per second to aim for; -1 for no limit.
    #[arg(long, allow_negative_numbers = true)]
    pub throughput: f64,
    /// 0, 1, or all (-1).
    #[arg(long, default_value = "1", value_parser = parse_acks)]
    pub acks: i16,
    /// Produce only to this partition (default: all partitions, one batch at a time each).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Maximum batch size in bytes (Kafka's batch.size).
    #[arg(long, default_value_t = 16384)]
    pub batch_size: usize,
    /// How long a partly filled batch may wait for more records (Kafka's linger.ms).
    #[arg(long, default_value_t = 0)]
    pub linger_ms: u64,
    /// Produce requests in flight at once, over all brokers (like Kafka's
    /// max.in.flight.requests.per.connection with one broker).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub inflight: u32,
    /// Largest produce request in bytes (Kafka's max.request.size); a request carries one
    /// batch per partition up to this size.
    #[arg(long, default_value_t = 1_048_576)]
    pub max_request_size: usize,
    /// Bytes of sealed batches that may wait for a request before records wait instead
    /// (Kafka's buffer.memory).
    #[arg(long, default_value_t = 33_554_432)]
    pub buffer_memory: usize,
    /// Milliseconds a produce request may take (Kafka's request.timeout.ms).
    #[arg(long, default_value_t = 30_000)]
    pub request_timeout_ms: i32,
    /// Milliseconds a batch may keep being retried on a new leader after a broker failed or
    /// leadership moved (Kafka's delivery.timeout.ms).
    #[arg(long, default_value_t = 120_000)]
    pub delivery_timeout_ms: u64,
    /// Milliseconds between progress lines.
    #[arg(long, default_value_t = 5000)]
    pub reporting_interval_ms: u64,
    /// Print one JSON object with the final figures instead of Kafka's text lines.
    #[arg(long)]
    pub json: bool,
}

/// Kafka's `acks` values: "all" is -1.
pub fn parse_acks(s: &str) -> Result<i16, String> {
    match s {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        _ => Err(format!("invalid acks '{s}': expected 0, 1, all or -1")),
    }
}

/// Kafka fills its payload with random upper-case letters; so do we.
fn payload(size: usize) -> Bytes {
    let mut rng = rand::thread_rng();
    (0..size)
        .map(|_| rng.gen_range(b'A'..=b'Z'))
        .collect::<Vec<u8>>()
        .into()
}

/// The batch being filled: enqueue time of each record, for its latency.
struct Filling {
    partition_idx: usize,
    enqueued: Vec<Instant>,
}

/// The generator's side: fills batches (sticky partitioning, as Kafka's producer does for
/// records without a key), seals them into the accumulator and starts requests while permits
/// (`--inflight`) allow.
struct Producer {
    sender: Sender,
    inflight: Arc<Semaphore>,
    accumulator: Accumulator,
    partitions: Vec<i32>,
    value: Bytes,
    /// Capacity of a full batch's buffer.
    batch_bytes: usize,
    max_request_size: usize,
    buffer_memory: usize,
    linger: Duration,
    filling: Filling,
}

impl Producer {
    /// Builds the filling batch (if it has records) into the accumulator and starts the next one
    /// on the next partition in turn.
    fn seal(&mut self) -> anyhow::Result<()> {
        if self.filling.enqueued.is_empty() {
            return Ok(());
        }
        let next = Filling {
            partition_idx: (self.filling.partition_idx + 1) % self.partitions.len(),
            enqueued: Vec::with_capacity(self.filling.enqueued.capacity()),
        };
        let full = std::mem::replace(&mut self.filling, next);
        let mut buf = self.sender.shared.buffer(self.batch_bytes);
        build_batch_into(
            &mut buf,
            &self.value,
            full.enqueued.len(),
            crate::clock::now_ms(),
        )?;
        self.accumulator.push(Ready {
            partition: self.partitions[full.partition_idx],
            records: buf.freeze(),
            enqueued: full.enqueued,
        });
        Ok(())
    }

    /// When the filling batch's `linger.ms` is up.
    fn linger_deadline(&self) -> Option<Instant> {
        self.filling.enqueued.first().map(|t| *t + self.linger)
    }

    /// Starts requests for sealed batches while a permit is free, sealing a batch lingered by
    /// `now` when nothing else waits. Waits for a permit when `buffer.memory` is used up, or when
    /// `flush` (the end of the run) asks for everything to be sent.
    async fn send_ready(&mut self, now: Instant, flush: bool) -> anyhow::Result<()> {
        loop {
            let lingered = self.linger_deadline().is_some_and(|at| at <= now);
            if self.accumulator.is_empty() && !lingered {
                return Ok(());
            }
            let permit = if flush || self.accumulator.bytes() >= self.buffer_memory {
                self.inflight.clone().acquire_owned().await?
            } else {
                match self.inflight.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => return Ok(()),
                }
            };
            if self.accumulator.is_empty() {
                self.seal()?;
            }
            let metadata = self.sender.client.metadata();
            let topic = self.sender.topic.clone();
            let batches = self
                .accumulator
                .drain(|p| metadata.leader(&topic, p), self.max_request_size);
            self.sender.dispatch(batches, permit);
        }
    }
}

pub async fn run(args: ProduceArgs) -> anyhow::Result<()> {
    let summary = produce(&args).await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        println!("{}", summary.kafka_line());
    }
    Ok(())
}

/// Reads the topic's metadata until every partition has a leader: a topic just auto-created by
/// our Metadata request answers LEADER_NOT_AVAILABLE until the controller has elected leaders.
async fn wait_for_leaders(
    client: &ClusterClient,
    topic: &str,
) -> anyhow::Result<crate::client::TopicMetadata> {
    const ATTEMPTS: usize = 40;
    for attempt in 1..=ATTEMPTS {
        let md = client
            .refresh_metadata(Some(&[topic.to_owned()]))
            .await
            .context("reading metadata")?;
        let t = md
            .topics
            .get(topic)
            .with_context(|| format!("topic {topic} not in metadata"))?;
        let result = check_code(t.error_code, || format!("topic {topic}"));
        let ready = !t.partitions.is_empty() && t.partitions.iter().all(|p| p.leader >= 0);
        match result {
            Ok(()) if ready => return Ok(t.clone()),
            Err(e) if !e.is_retriable_metadata() || attempt == ATTEMPTS => return Err(e.into()),
            _ if attempt == ATTEMPTS => bail!("topic {topic}: some partitions have no leader"),
            _ => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
    bail!("topic {topic}: no leaders")
}

/// Runs the benchmark and returns its figures (printing progress lines unless `--json`).
pub async fn produce(args: &ProduceArgs) -> anyhow::Result<Summary> {
    let timeout = Duration::from_millis(args.request_timeout_ms.max(1) as u64);
    let client = ClusterClient::bootstrap(&args.bootstrap_server, "zkafka-producer-perf", timeout)
        .await
        .with_context(|| format!("connecting to {}", args.bootstrap_server))?
        .with_auto_topic_creation(true);
    let topic = wait_for_leaders(&client, &args.topic).await?;
    let partitions: Vec<i32> = match args.partition {
        Some(p) if !topic.partitions.iter().any(|info| info.partition == p) => {
            bail!("topic {} has no partition {p}", args.topic)
        }
        Some(p) => vec![p],
        None => topic.partitions.iter().map(|p| p.partition).collect(),
    };
    if partitions.is_empty() {
        bail!("topic {} has no partitions", args.topic);
    }
    let start = Instant::now();
    let per_batch = records_per_batch(args.batch_size, args.record_size);
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::new(
            args.num_records,
            Duration::from_millis(args.reporting_interval_ms),
            start,
        )),
        errors: Mutex::new((0, None)),
        json: args.json,
        record_size: args.record_size,
        buffers: Mutex::new(Vec::new()),
    });
    let mut producer = Producer {
        sender: Sender {
            client: Arc::new(client),
            shared: shared.clone(),
            topic: Arc::from(args.topic.as_str()),
            acks: args.acks,
            timeout_ms: args.request_timeout_ms,
            delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
        },
        inflight: Arc::new(Semaphore::new(args.inflight as usize)),
        accumulator: Accumulator::default(),
        partitions,
        value: payload(args.record_size),
        batch_bytes: batch_size(args.record_size, per_batch),
        max_request_size: args.max_request_size,
        buffer_memory: args.buffer_memory,
        linger: Duration::from_millis(args.linger_ms),
        filling: Filling {
            partition_idx: 0,
            enqueued: Vec::with_capacity(per_batch),
        },
    };

    for i in 0..args.num_records {
        if args.throughput > 0.0 {
            let due = start + Duration::from_secs_f64(i as f64 / args.throughput);
            // While throttled, a lingering batch may still leave on time.
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                producer.send_ready(now, false).await?;
                // A lingered batch still here waits for a permit: look again at `due`.
                let wake = match producer.linger_deadline() {
                    Some(at) if at > now => at.min(due),
                    _ => due,
                };
                tokio::time::sleep_until(wake.into()).await;
            }
        }
        let now = Instant::now();
        producer.filling.enqueued.push(now);
        if producer.filling.enqueued.len() >= per_batch {
            producer.seal()?;
        }
        producer.send_ready(now, false).await?;
    }
    producer.seal()?;
    producer.send_ready(Instant::now(), true).await?;
    // Every permit back means every response is in.
    let _all = producer.inflight.acquire_many(args.inflight).await?;
    // acks=0 requests have no response: make sure they at least left this process.
    producer.sender.client.flush().await?;
    let summary = shared
        .stats
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .summary(Instant::now());
    let (failed, first) = shared
        .errors
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    if failed > 0 {
        if !args.json {
            println!("{}", summary.kafka_line());
        }
        bail!(
            "{failed} of {} records failed; first error: {}",
            args.num_records,
            first.unwrap_or_default()
        );
    }
    Ok(summary)
}

#[cfg(test)]
#[path = "produce_tests.rs"]
mod tests;
