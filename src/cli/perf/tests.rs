//! perf produce → fake broker → perf consume, end to end through the real client.

use std::sync::Arc;

use clap::Parser;
use kafka_protocol::records::RecordBatchDecoder;

use super::consume::{consume, ConsumeArgs};
use super::produce::{produce, ProduceArgs};
use super::PerfCommand;
use crate::cli::fake_broker::{FakeBroker, PARTITIONS, TOPIC};
use crate::cli::{Cli, Command};

fn perf(args: &[&str]) -> PerfCommand {
    let mut full = vec!["zkafka", "perf"];
    full.extend_from_slice(args);
    match Cli::try_parse_from(full).unwrap().command {
        Command::Perf(p) => p.command,
        other => panic!("{other:?}"),
    }
}

fn produce_args(addr: &str, records: &str, extra: &[&str]) -> ProduceArgs {
    let mut args = vec![
        "produce",
        "--bootstrap-server",
        addr,
        "--topic",
        TOPIC,
        "--num-records",
        records,
        "--record-size",
        "100",
        "--batch-size",
        "4096",
        "--inflight",
        "3",
        "--json",
    ];
    if !extra.contains(&"--throughput") {
        args.extend_from_slice(&["--throughput", "-1"]);
    }
    args.extend_from_slice(extra);
    match perf(&args) {
        PerfCommand::Produce(a) => a,
        other => panic!("{other:?}"),
    }
}

fn consume_args(addr: &str, messages: &str) -> ConsumeArgs {
    match perf(&[
        "consume",
        "--bootstrap-server",
        addr,
        "--topic",
        TOPIC,
        "--messages",
        messages,
        "--timeout",
        "1000",
    ]) {
        PerfCommand::Consume(a) => a,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_then_consume_counts_every_record() {
    let broker = FakeBroker::start().await;
    let summary = produce(&produce_args(&broker.addr, "3000", &[]))
        .await
        .unwrap();
    assert_eq!(summary.records, 3000);
    assert!(summary.records_per_sec > 0.0);
    assert!(summary.p50_latency_ms as f64 <= summary.max_latency_ms);
    {
        let log = broker.log.lock().unwrap();
        // Sticky partitioning spreads batches over both partitions.
        assert_eq!(log.batches.len(), PARTITIONS as usize);
        let mut total = 0;
        for batches in log.batches.values() {
            for b in batches {
                assert!(
                    b.len() <= 4096,
                    "batch of {} bytes exceeds --batch-size",
                    b.len()
                );
                let mut b = b.clone();
                let sets = RecordBatchDecoder::decode_all(&mut b).unwrap();
                total += sets.iter().map(|s| s.records.len()).sum::<usize>();
            }
        }
        assert_eq!(total, 3000);
    }
    let consumed = consume(Arc::new(consume_args(&broker.addr, "3000")))
        .await
        .unwrap();
    assert_eq!(consumed.records, 3000);
    assert!(consumed.bytes > 3000 * 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_retries_after_not_leader() {
    let broker = FakeBroker::start().await;
    broker.log.lock().unwrap().fail_produces = 2;
    let summary = produce(&produce_args(&broker.addr, "50", &["--partition", "1"]))
        .await
        .unwrap();
    assert_eq!(summary.records, 50);
    let log = broker.log.lock().unwrap();
    assert_eq!(log.next_offset.get(&1), Some(&50));
    assert!(
        log.metadata_requests >= 3,
        "metadata must be refreshed after NOT_LEADER_OR_FOLLOWER"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_gets_no_response_but_records_land() {
    let broker = FakeBroker::start().await;
    let summary = produce(&produce_args(&broker.addr, "500", &["--acks", "0"]))
        .await
        .unwrap();
    assert_eq!(summary.records, 500);
    // Fire-and-forget: wait for the fake broker to have read everything.
    let consumed = consume(Arc::new(consume_args(&broker.addr, "500")))
        .await
        .unwrap();
    assert_eq!(consumed.records, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_times_out_when_records_are_missing() {
    let broker = FakeBroker::start().await;
    produce(&produce_args(&broker.addr, "10", &[]))
        .await
        .unwrap();
    let consumed = consume(Arc::new(consume_args(&broker.addr, "20")))
        .await
        .unwrap();
    assert_eq!(consumed.records, 10);
    assert!(consumed.end_time_ms - consumed.start_time_ms >= 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_produce_respects_throughput() {
    let broker = FakeBroker::start().await;
    let start = std::time::Instant::now();
    let summary = produce(&produce_args(
        &broker.addr,
        "40",
        &["--throughput", "100", "--linger-ms", "5"],
    ))
    .await
    .unwrap();
    assert_eq!(summary.records, 40);
    // 40 records at 100/s take at least ~390 ms.
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(380),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_resets_to_log_start_after_retention() {
    let broker = FakeBroker::start().await;
    produce(&produce_args(&broker.addr, "1000", &["--partition", "0"]))
        .await
        .unwrap();
    let removed = {
        // Retention deletes the first batch: the log now starts at the second one.
        let mut log = broker.log.lock().unwrap();
        let batches = log.batches.get_mut(&0).unwrap();
        let first = batches.remove(0);
        let count = i32::from_be_bytes(first[57..61].try_into().unwrap());
        log.log_start.insert(0, i64::from(count));
        count as u64
    };
    let consumed = consume(Arc::new(consume_args(
        &broker.addr,
        &(1000 - removed).to_string(),
    )))
    .await
    .unwrap();
    assert_eq!(consumed.records, 1000 - removed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_waits_for_leaders_of_a_new_topic() {
    let broker = FakeBroker::start().await;
    broker.log.lock().unwrap().leaderless_metadata = 4;
    let summary = produce(&produce_args(&broker.addr, "10", &[]))
        .await
        .unwrap();
    assert_eq!(summary.records, 10);
    assert!(broker.log.lock().unwrap().metadata_requests >= 5);
}

#[tokio::test]
async fn produce_to_missing_partition_is_an_error() {
    let broker = FakeBroker::start().await;
    let err = produce(&produce_args(&broker.addr, "10", &["--partition", "9"]))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "topic perf has no partition 9");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_gives_up_after_delivery_timeout() {
    let broker = FakeBroker::start().await;
    broker.log.lock().unwrap().fail_produces = usize::MAX;
    let start = std::time::Instant::now();
    let err = produce(&produce_args(
        &broker.addr,
        "20",
        &["--partition", "0", "--delivery-timeout-ms", "400"],
    ))
    .await
    .unwrap_err();
    let elapsed = start.elapsed();
    let msg = format!("{err:#}");
    assert!(msg.starts_with("20 of 20 records failed"), "{msg}");
    assert!(msg.contains("NotLeaderOrFollower"), "{msg}");
    assert!(
        elapsed >= std::time::Duration::from_millis(300),
        "{elapsed:?}"
    );
    assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consume_follows_a_moved_leader() {
    let broker = FakeBroker::start().await;
    produce(&produce_args(&broker.addr, "400", &[]))
        .await
        .unwrap();
    let before = {
        let mut log = broker.log.lock().unwrap();
        log.fail_fetches = 3;
        log.metadata_requests
    };
    let consumed = consume(Arc::new(consume_args(&broker.addr, "400")))
        .await
        .unwrap();
    assert_eq!(consumed.records, 400);
    let log = broker.log.lock().unwrap();
    assert_eq!(log.fail_fetches, 0);
    // bootstrap + initial read + at least one refresh per NOT_LEADER_OR_FOLLOWER answer
    assert!(
        log.metadata_requests >= before + 3,
        "{} {}",
        log.metadata_requests,
        before
    );
}
