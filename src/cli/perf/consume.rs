//! `zkafka perf consume`: fetches every partition of a topic from offset 0, one Fetch in flight
//! per leader broker (as Kafka's consumer keeps one per node), counting records from batch
//! headers only, and prints kafka-consumer-perf-test's summary.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, TopicName};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::cli::timefmt::format_ms;
use crate::client::batch::summarize;
use crate::client::{check_code, list_offset, ClientError, ClusterClient, EARLIEST_TIMESTAMP};
use crate::clock::now_ms;
use crate::metadata::str_bytes;

/// Fetch v12 is the last version that names topics (v13+ use topic ids).
const FETCH_MAX_VERSION: i16 = 12;

const OFFSET_OUT_OF_RANGE: i16 = 1;

/// Pause before re-reading metadata after a leader moved (Kafka's retry.backoff.ms).
const RETRY_BACKOFF: Duration = Duration::from_millis(100);

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Broker(s) to connect to, host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    /// Topic to read, every partition from its start.
    #[arg(long)]
    pub topic: String,
    /// Number of records to consume.
    #[arg(long)]
    pub messages: u64,
    /// Maximum bytes per fetch response (Kafka's fetch.max.bytes).
    #[arg(long, default_value_t = 52_428_800)]
    pub fetch_max_bytes: i32,
    /// Maximum bytes per partition per fetch (Kafka's max.partition.fetch.bytes).
    #[arg(long, default_value_t = 1_048_576)]
    pub max_partition_fetch_bytes: i32,
    /// Give up after this many milliseconds without new records.
    #[arg(long, default_value_t = 10_000)]
    pub timeout: u64,
    /// Do not print the header line.
    #[arg(long)]
    pub hide_header: bool,
    /// Print one JSON object instead of Kafka's CSV lines.
    #[arg(long)]
    pub json: bool,
}

/// The figures kafka-consumer-perf-test prints; serialised as the `--json` output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumeSummary {
    pub start_time_ms: i64,
    pub end_time_ms: i64,
    pub records: u64,
    pub bytes: u64,
    pub mb: f64,
    pub mb_per_sec: f64,
    pub records_per_sec: f64,
}

impl ConsumeSummary {
    pub fn new(start_time_ms: i64, end_time_ms: i64, records: u64, bytes: u64) -> Self {
        let secs = ((end_time_ms - start_time_ms) as f64 / 1000.0).max(f64::MIN_POSITIVE);
        let mb = bytes as f64 / (1024.0 * 1024.0);
        Self {
            start_time_ms,
            end_time_ms,
            records,
            bytes,
            mb,
            mb_per_sec: mb / secs,
            records_per_sec: records as f64 / secs,
        }
    }

    pub const HEADER: &'static str = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";

    /// Kafka's CSV line; no consumer group, so rebalance time is 0 and fetch figures equal totals.
    pub fn kafka_line(&self) -> String {
        format!(
            "{}, {}, {:.4}, {:.4}, {}, {:.4}, 0, {}, {:.4}, {:.4}",
            format_ms(self.start_time_ms),
            format_ms(self.end_time_ms),
            self.mb,
            self.mb_per_sec,
            self.records,
            self.records_per_sec,
            self.end_time_ms - self.start_time_ms,
            self.mb_per_sec,
            self.records_per_sec
        )
    }
}

/// Builds a sessionless Fetch for `offsets` (partition → next offset) of `topic`.
pub fn fetch_request(
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
    args: &ConsumeArgs,
) -> FetchRequest {
    let partitions = offsets
        .iter()
        .map(|(p, o)| {
            FetchPartition::default()
                .with_partition(*p)
                .with_fetch_offset(*o)
                .with_partition_max_bytes(args.max_partition_fetch_bytes)
        })
        .collect();
    FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(args.fetch_max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1) // FINAL_EPOCH: no incremental fetch session
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(str_bytes(topic)))
            .with_partitions(partitions)])
}

#[derive(Default)]
struct Progress {
    records: AtomicU64,
    bytes: AtomicU64,
    stop: AtomicBool,
}

/// How a fetcher ended.
enum FetcherEnd {
    /// The target count was reached.
    Stopped,
    /// Its leader moved or died: these partitions, at these offsets, need their new leaders.
    Moved(BTreeMap<i32, i64>, ClientError),
}

type Fetchers = JoinSet<anyhow::Result<FetcherEnd>>;

/// Fetches the partitions led by `leader` until told to stop or until the leader is stale.
async fn fetch_loop(
    client: Arc<ClusterClient>,
    leader: i32,
    mut offsets: BTreeMap<i32, i64>,
    args: Arc<ConsumeArgs>,
    progress: Arc<Progress>,
) -> anyhow::Result<FetcherEnd> {
    match fetch_from(&client, leader, &mut offsets, &args, &progress).await {
        Ok(()) => Ok(FetcherEnd::Stopped),
        Err(e) if e.is_retriable_metadata() => Ok(FetcherEnd::Moved(offsets, e)),
        Err(e) => Err(e).with_context(|| format!("fetching from broker {leader}")),
    }
}

async fn fetch_from(
    client: &ClusterClient,
    leader: i32,
    offsets: &mut BTreeMap<i32, i64>,
    args: &ConsumeArgs,
    progress: &Progress,
) -> Result<(), ClientError> {
    let conn = client.broker_connection(leader).await?;
    let version = conn.version_for::<FetchRequest>(FETCH_MAX_VERSION)?;
    while !progress.stop.load(Ordering::Relaxed) {
        let req = fetch_request(&args.topic, offsets, args);
        let resp = conn.send(req, version).await?;
        check_code(resp.error_code, || format!("fetch from broker {leader}"))?;
        for t in &resp.responses {
            for p in &t.partitions {
                if p.error_code == OFFSET_OUT_OF_RANGE {
                    // The log no longer starts at our offset (retention): restart from its
                    // start, like a consumer with auto.offset.reset=earliest.
                    let start =
                        list_offset(&conn, &args.topic, p.partition_index, EARLIEST_TIMESTAMP)
                            .await?;
                    tracing::info!(
                        partition = p.partition_index,
                        start,
                        "offset out of range, resetting to earliest"
                    );
                    offsets.insert(p.partition_index, start);
                    continue;
                }
                check_code(p.error_code, || {
                    format!("fetching {}-{}", args.topic, p.partition_index)
                })?;
                let Some(records) = p.records.as_ref() else {
                    continue;
                };
                let s = summarize(records);
                if let Some(next) = s.next_offset {
                    offsets.insert(p.partition_index, next);
                }
                progress.bytes.fetch_add(s.bytes, Ordering::Relaxed);
                let total = progress.records.fetch_add(s.records, Ordering::Relaxed) + s.records;
                if total >= args.messages {
                    progress.stop.store(true, Ordering::Relaxed);
                }
            }
        }
    }
    Ok(())
}

/// Starts one fetcher per leader for `offsets`; partitions without a leader get a fetcher that
/// reports them moved after a pause, so they are assigned again with fresher metadata.
fn assign(
    tasks: &mut Fetchers,
    client: &Arc<ClusterClient>,
    offsets: BTreeMap<i32, i64>,
    args: &Arc<ConsumeArgs>,
    progress: &Arc<Progress>,
) {
    let md = client.metadata();
    let mut by_leader: BTreeMap<i32, BTreeMap<i32, i64>> = BTreeMap::new();
    for (partition, offset) in offsets {
        let leader = md.leader(&args.topic, partition).unwrap_or(-1);
        by_leader
            .entry(leader)
            .or_default()
            .insert(partition, offset);
    }
    for (leader, offsets) in by_leader {
        if leader < 0 {
            let topic = args.topic.clone();
            tasks.spawn(async move {
                tokio::time::sleep(RETRY_BACKOFF).await;
                let partition = offsets.keys().next().copied().unwrap_or(-1);
                Ok(FetcherEnd::Moved(
                    offsets,
                    ClientError::NoLeader { topic, partition },
                ))
            });
        } else {
            tasks.spawn(fetch_loop(
                client.clone(),
                leader,
                offsets,
                args.clone(),
                progress.clone(),
            ));
        }
    }
}

pub async fn run(args: ConsumeArgs) -> anyhow::Result<()> {
    let json = args.json;
    let hide_header = args.hide_header;
    let summary = consume(Arc::new(args)).await?;
    if json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        if !hide_header {
            println!("{}", ConsumeSummary::HEADER);
        }
        println!("{}", summary.kafka_line());
    }
    Ok(())
}

/// Runs the benchmark and returns its figures (printing only the timeout warning).
pub async fn consume(args: Arc<ConsumeArgs>) -> anyhow::Result<ConsumeSummary> {
    let client = Arc::new(
        ClusterClient::bootstrap(
            &args.bootstrap_server,
            "zkafka-consumer-perf",
            Duration::from_secs(30),
        )
        .await
        .with_context(|| format!("connecting to {}", args.bootstrap_server))?,
    );
    let md = client
        .refresh_metadata(Some(std::slice::from_ref(&args.topic)))
        .await?;
    let topic = md
        .topics
        .get(&args.topic)
        .with_context(|| format!("topic {} not in metadata", args.topic))?;
    check_code(topic.error_code, || format!("topic {}", args.topic))?;
    let offsets = topic.partitions.iter().map(|p| (p.partition, 0)).collect();
    let progress = Arc::new(Progress::default());
    let start_ms = now_ms();
    let mut tasks = Fetchers::new();
    assign(&mut tasks, &client, offsets, &args, &progress);
    // Watch for the target count, a failed fetcher, or `--timeout` without progress.
    let mut last = (0, Instant::now());
    let mut timed_out = false;
    while !progress.stop.load(Ordering::Relaxed) {
        tokio::select! {
            done = tasks.join_next() => match done {
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(e)) => return Err(e).context("fetch task"),
                Some(Ok(Ok(FetcherEnd::Stopped))) => {}
                Some(Ok(Ok(FetcherEnd::Moved(offsets, e)))) => {
                    tracing::warn!(error = %e, "leader moved, refreshing metadata");
                    tokio::time::sleep(RETRY_BACKOFF).await;
                    if let Err(e) = client.refresh_metadata(Some(std::slice::from_ref(&args.topic))).await {
                        tracing::warn!(error = %e, "metadata refresh failed");
                    }
                    assign(&mut tasks, &client, offsets, &args, &progress);
                }
                None => break,
            },
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let seen = progress.records.load(Ordering::Relaxed);
        if seen != last.0 {
            last = (seen, Instant::now());
        } else if last.1.elapsed() >= Duration::from_millis(args.timeout) {
            timed_out = true;
            break;
        }
    }
    let end_ms = now_ms();
    progress.stop.store(true, Ordering::Relaxed);
    tasks.abort_all();
    if timed_out {
        eprintln!(
            "WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded.",
            args.timeout
        );
    }
    Ok(ConsumeSummary::new(
        start_ms,
        end_ms,
        progress.records.load(Ordering::Relaxed),
        progress.bytes.load(Ordering::Relaxed),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::perf::PerfCommand;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(extra: &[&str]) -> ConsumeArgs {
        let mut args = vec![
            "zkafka",
            "perf",
            "consume",
            "--bootstrap-server",
            "h:9092",
            "--topic",
            "t",
            "--messages",
            "500",
        ];
        args.extend_from_slice(extra);
        match Cli::try_parse_from(args).unwrap().command {
            Command::Perf(p) => match p.command {
                PerfCommand::Consume(a) => a,
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_flags_with_kafka_defaults() {
        let a = parse(&[]);
        assert_eq!(
            (a.messages, a.fetch_max_bytes, a.timeout),
            (500, 52_428_800, 10_000)
        );
        let a = parse(&["--fetch-max-bytes", "1024", "--json"]);
        assert_eq!(a.fetch_max_bytes, 1024);
        assert!(a.json);
    }

    #[test]
    fn summary_line_matches_kafka_columns() {
        // 2 MiB and 1000 records in 2 s.
        let s = ConsumeSummary::new(1_709_251_199_007, 1_709_251_201_007, 1000, 2 * 1024 * 1024);
        assert_eq!(
            s.kafka_line(),
            "2024-02-29 23:59:59:007, 2024-03-01 00:00:01:007, 2.0000, 1.0000, 1000, 500.0000, 0, 2000, 1.0000, 500.0000"
        );
        assert_eq!(
            ConsumeSummary::HEADER.split(", ").count(),
            s.kafka_line().split(", ").count()
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["records_per_sec"], 500.0);
    }

    #[test]
    fn fetch_request_names_partitions_and_offsets() {
        let a = parse(&["--max-partition-fetch-bytes", "4096"]);
        let offsets = BTreeMap::from([(0, 0), (2, 17)]);
        let req = fetch_request("t", &offsets, &a);
        assert_eq!(req.session_epoch, -1);
        let parts = &req.topics[0].partitions;
        assert_eq!(parts.len(), 2);
        assert_eq!(
            (
                parts[1].partition,
                parts[1].fetch_offset,
                parts[1].partition_max_bytes
            ),
            (2, 17, 4096)
        );
    }
}
