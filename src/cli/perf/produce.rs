//! `zkafka perf produce`: builds magic-2 batches (sticky partitioning, `--batch-size`,
//! `--linger-ms`), keeps up to `--inflight` produce requests outstanding and measures each
//! record's latency from being enqueued to its produce response, like kafka-producer-perf-test.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use rand::Rng;
use tokio::sync::Semaphore;

use super::stats::{Stats, Summary};
use crate::client::batch::{build_batch, records_per_batch};
use crate::client::{check_code, ClientError, ClusterClient, Connection};

/// Highest Produce version we send; v9 is the first flexible one and all a 3.x broker needs.
const PRODUCE_MAX_VERSION: i16 = 9;

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

/// Builds the one-partition produce request for `batch`.
pub fn produce_request(
    topic: &str,
    partition: i32,
    acks: i16,
    timeout_ms: i32,
    batch: Bytes,
) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(timeout_ms)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}

/// Sends one produce request and turns a partition error code into an error.
async fn produce_once(conn: Arc<Connection>, req: ProduceRequest) -> Result<(), ClientError> {
    let version = conn.version_for::<ProduceRequest>(PRODUCE_MAX_VERSION)?;
    if version < 3 {
        // Magic-2 batches need Produce v3+.
        return Err(ClientError::UnsupportedApi {
            addr: conn.addr().to_owned(),
            api: 0,
        });
    }
    if req.acks == 0 {
        return conn.send_without_response(req, version).await;
    }
    let resp = conn.send(req, version).await?;
    for t in &resp.responses {
        for p in &t.partition_responses {
            check_code(p.error_code, || {
                format!("producing to {}-{}", t.name.0, p.index)
            })?;
        }
    }
    Ok(())
}

/// Shared between the generator and the tasks awaiting responses.
struct Shared {
    stats: Mutex<Stats>,
    errors: Mutex<(u64, Option<String>)>,
    json: bool,
    record_size: usize,
}

impl Shared {
    fn done(&self, enqueued: &[Instant], result: Result<(), ClientError>) {
        let now = Instant::now();
        match result {
            Ok(()) => {
                let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
                for t in enqueued {
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
                errors.0 += enqueued.len() as u64;
                if errors.1.is_none() {
                    eprintln!("zkafka: produce failed: {e}");
                    errors.1 = Some(e.to_string());
                }
            }
        }
    }
}

/// The batch being filled: enqueue time of each record, for its latency.
struct Pending {
    partition_idx: usize,
    enqueued: Vec<Instant>,
}

struct Producer {
    client: Arc<ClusterClient>,
    shared: Arc<Shared>,
    inflight: Arc<Semaphore>,
    topic: String,
    partitions: Vec<i32>,
    value: Bytes,
    acks: i16,
    timeout_ms: i32,
    delivery_timeout: Duration,
}

impl Producer {
    /// Takes the filled batch out and starts an empty one for the next partition in turn
    /// (sticky partitioning, as Kafka's producer does for records without a key).
    fn take(&self, batch: &mut Pending, capacity: usize) -> Pending {
        let next = Pending {
            partition_idx: (batch.partition_idx + 1) % self.partitions.len(),
            enqueued: Vec::with_capacity(capacity),
        };
        std::mem::replace(batch, next)
    }

    /// Encodes `batch` and hands it to a task that sends it (retrying on a moved leader).
    async fn dispatch(
        &self,
        batch: Pending,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> anyhow::Result<()> {
        let partition = self.partitions[batch.partition_idx];
        let ts = crate::cli::timefmt::now_ms();
        let records = build_batch(&self.value, batch.enqueued.len(), ts)?;
        let req = produce_request(&self.topic, partition, self.acks, self.timeout_ms, records);
        let (client, shared, topic) =
            (self.client.clone(), self.shared.clone(), self.topic.clone());
        let delivery_timeout = self.delivery_timeout;
        tokio::spawn(async move {
            let result = client
                .with_leader(&topic, partition, delivery_timeout, |conn| {
                    produce_once(conn, req.clone())
                })
                .await;
            shared.done(&batch.enqueued, result);
            drop(permit);
        });
        Ok(())
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
    let shared = Arc::new(Shared {
        stats: Mutex::new(Stats::new(
            args.num_records,
            Duration::from_millis(args.reporting_interval_ms),
            start,
        )),
        errors: Mutex::new((0, None)),
        json: args.json,
        record_size: args.record_size,
    });
    let inflight = args.inflight as usize;
    let producer = Producer {
        client: Arc::new(client),
        shared: shared.clone(),
        inflight: Arc::new(Semaphore::new(inflight)),
        topic: args.topic.clone(),
        partitions,
        value: payload(args.record_size),
        acks: args.acks,
        timeout_ms: args.request_timeout_ms,
        delivery_timeout: Duration::from_millis(args.delivery_timeout_ms),
    };
    let per_batch = records_per_batch(args.batch_size, args.record_size);
    let linger = Duration::from_millis(args.linger_ms);
    let mut batch = Pending {
        partition_idx: 0,
        enqueued: Vec::with_capacity(per_batch),
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
                match batch.enqueued.first().map(|t| *t + linger) {
                    Some(at) if at <= now => match producer.inflight.clone().try_acquire_owned() {
                        Ok(permit) => {
                            let full = producer.take(&mut batch, per_batch);
                            producer.dispatch(full, permit).await?;
                        }
                        Err(_) => tokio::time::sleep_until(due.into()).await,
                    },
                    Some(at) => tokio::time::sleep_until(at.min(due).into()).await,
                    None => tokio::time::sleep_until(due.into()).await,
                }
            }
        }
        batch.enqueued.push(Instant::now());
        let full = batch.enqueued.len() >= per_batch;
        let lingered = batch
            .enqueued
            .first()
            .is_some_and(|t| t.elapsed() >= linger);
        let permit = if full {
            Some(producer.inflight.clone().acquire_owned().await?)
        } else if lingered {
            producer.inflight.clone().try_acquire_owned().ok()
        } else {
            None
        };
        if let Some(permit) = permit {
            let full = producer.take(&mut batch, per_batch);
            producer.dispatch(full, permit).await?;
        }
    }
    if !batch.enqueued.is_empty() {
        let permit = producer.inflight.clone().acquire_owned().await?;
        producer.dispatch(batch, permit).await?;
    }
    // Every permit back means every response is in.
    let _all = producer.inflight.acquire_many(args.inflight).await?;
    // acks=0 requests have no response: make sure they at least left this process.
    producer.client.flush().await?;
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
