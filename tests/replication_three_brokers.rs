//! Replication across three real `zkafka server` processes and a real ZooKeeper: a topic with
//! replication factor 3 takes acks=all produces, every broker's log ends up with the same bytes, and
//! the controller's state znode keeps all three in the ISR. Then the leader is killed: a new leader
//! takes acks=all produces and the surviving follower replicates them; and an old leader's records
//! that no follower got are truncated when it returns (KIP-101).

mod replication;
mod support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ProduceRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use replication::*;
use support::zookeeper::ZooKeeper;
use zkafka::client::batch::build_batch;

// Needs `replicas.start_replication(..)` in `server.rs` (not owned by the replication work); passes
// with it. Run with `cargo test --test replication_three_brokers -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_all_replicates_to_every_broker_and_survives_leader_loss() {
    let zk = ZooKeeper::start();
    let mut brokers: Vec<Broker> = (1..=3).map(|id| Broker::start(id, &zk, "")).collect();
    let (admin, zk_client) = create_topic(&zk, &brokers, None).await;
    let first = leader(&admin, -1).await;
    let leader_conn = connect(&brokers[(first - 1) as usize].addr()).await;
    produce_until_ok(&leader_conn, 10, &brokers).await;
    assert_eq!(produce_all(&leader_conn, 5).await, 0);
    wait_for_identical_logs(&brokers.iter().collect::<Vec<_>>(), 100).await;
    assert_eq!(isr(&zk_client).await, vec![1, 2, 3]);
    let replicated = log_bytes(&brokers[0].log_dir()).len();

    // Kill the leader: a follower takes over in a new epoch and the other follower follows it.
    brokers[(first - 1) as usize].kill();
    let survivors: Vec<usize> = (0..3).filter(|i| *i != (first - 1) as usize).collect();
    let probe = connect(&brokers[survivors[0]].addr()).await;
    let second = leader(&probe, first).await;
    let conn = connect(&brokers[(second - 1) as usize].addr()).await;
    produce_until_ok(&conn, 7, &brokers).await;
    let alive: Vec<&Broker> = survivors.iter().map(|i| &brokers[*i]).collect();
    wait_for_identical_logs(&alive, replicated + 1).await;

    // The new leader (epoch 1) places epoch 0's end at the first offset it wrote (15 records came
    // before), fences stale and future epochs, and knows no epoch beyond its latest.
    assert_eq!(epoch_end(&conn, 1, 0).await, (0, 0, 15));
    assert_eq!(epoch_end(&conn, 1, 1).await, (0, 1, 22));
    assert_eq!(epoch_end(&conn, -1, 5).await, (0, -1, -1));
    assert_eq!(epoch_end(&conn, 0, 0).await.0, 74, "FENCED_LEADER_EPOCH");
    assert_eq!(epoch_end(&conn, 2, 0).await.0, 75, "UNKNOWN_LEADER_EPOCH");
    let follower = survivors
        .iter()
        .map(|i| &brokers[*i])
        .find(|b| b.id != second)
        .expect("a follower");
    let follower_conn = connect(&follower.addr()).await;
    assert_eq!(
        epoch_end(&follower_conn, 1, 0).await.0,
        6,
        "NOT_LEADER_OR_FOLLOWER"
    );
    if std::env::var_os("REPLICATION_TEST_LOGS").is_some() {
        for b in &brokers {
            eprintln!("--- broker {} ---\n{}", b.id, b.output());
        }
    }
}

/// KIP-101: records only the old leader had (acks=1 while its followers were frozen) are cut from
/// its log when it comes back as a follower of the new leader, which wrote other records at those
/// offsets in a newer epoch; afterwards all three logs are identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn returning_leader_truncates_records_the_new_leader_never_had() {
    let zk = ZooKeeper::start();
    let mut brokers: Vec<Broker> = (1..=3).map(|id| Broker::start(id, &zk, "")).collect();
    // Lead from the controller, so the frozen followers are never needed to elect anyone.
    let probe = zk.client("/kafka").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(probe.get_active_controller().await, Ok(Some(_))) {
        assert!(Instant::now() < deadline, "no controller");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let old = controller(&probe).await;
    let followers: Vec<i32> = (1..=3).filter(|b| *b != old).collect();
    let (_, zk_client) =
        create_topic(&zk, &brokers, Some(vec![old, followers[0], followers[1]])).await;
    let conn = connect(&brokers[(old - 1) as usize].addr()).await;
    produce_until_ok(&conn, 10, &brokers).await;
    wait_for_identical_logs(&brokers.iter().collect::<Vec<_>>(), 100).await;
    let agreed = log_bytes(&brokers[0].log_dir()).len();

    for f in &followers {
        brokers[(f - 1) as usize].signal("STOP");
    }
    // Fetches in flight when they froze are answered (empty) within replica.fetch.wait.max.ms and
    // wait in their sockets; only later records are the old leader's alone.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let req_acks_1 = |n| async move {
        let batch = build_batch(&Bytes::from_static(b"lost"), n, 1_700_000_000_000).expect("batch");
        ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(5_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
                .with_partition_data(vec![PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(batch))])])
    };
    let resp = conn
        .send(req_acks_1(5).await, 9)
        .await
        .expect("acks=1 produce");
    assert_eq!(resp.responses[0].partition_responses[0].error_code, 0);
    brokers[(old - 1) as usize].kill();
    for f in &followers {
        brokers[(f - 1) as usize].signal("CONT");
    }

    // A follower becomes leader in epoch 1 (after the old leader's session expires) and writes
    // offsets 10.. again.
    let probe_conn = connect(&brokers[(followers[0] - 1) as usize].addr()).await;
    let new = leader(&probe_conn, old).await;
    let new_conn = connect(&brokers[(new - 1) as usize].addr()).await;
    produce_until_ok(&new_conn, 3, &brokers).await;

    brokers[(old - 1) as usize].spawn();
    wait_for_identical_logs(&brokers.iter().collect::<Vec<_>>(), agreed + 1).await;
    let out = brokers[(old - 1) as usize].output();
    assert!(
        out.contains("follower truncated") && out.contains("from=15 to=10"),
        "no truncation from 15 to 10 in broker {old}'s log:\n{out}"
    );
    drop(zk_client);
}
