//! Controller election, fencing and partition-state writes against a real ZooKeeper.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::schema::validate_tree;
use support::zookeeper::ZooKeeper;
use zkafka::topic_partition::TopicPartition;
use zkafka::zk::{new_topic_id, ControllerEpoch, KafkaZkClient, PartitionState, ZkError};

async fn clients(zk: &ZooKeeper, n: usize) -> Vec<KafkaZkClient> {
    let mut all = Vec::new();
    for _ in 0..n {
        all.push(zk.client("/kafka").await);
    }
    all[0].ensure_persistent_paths().await.unwrap();
    all
}

#[tokio::test]
async fn election_race_has_one_winner_and_epochs_increment() {
    let zk = ZooKeeper::start();
    let c = clients(&zk, 3).await;
    let observer = zk.observer("/kafka").await;
    let (none, watcher) = c[0].get_controller_and_watch().await.unwrap();
    assert_eq!(none, None);
    let results = tokio::join!(
        c[0].try_elect_controller(1),
        c[1].try_elect_controller(2),
        c[2].try_elect_controller(3)
    );
    let results = [results.0.unwrap(), results.1.unwrap(), results.2.unwrap()];
    let winners: Vec<(usize, ControllerEpoch)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.map(|e| (i, e)))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner: {results:?}");
    let (winner, epoch) = winners[0];
    assert_eq!(
        epoch,
        ControllerEpoch {
            epoch: 1,
            zk_version: 1
        }
    );
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("exists-watch fires on create");
    let (controller, watcher) = c[1].get_controller_and_watch().await.unwrap();
    assert_eq!(controller, Some(winner as i32 + 1));
    assert_eq!(c[2].get_controller_epoch().await.unwrap(), Some(epoch));
    let (data, _) = observer.get_data("/controller_epoch").await.unwrap();
    assert_eq!(data, b"1");
    validate_tree(&observer).await;

    // Only the holder can resign; then the watch fires on delete and the next election adds 1.
    let other = (winner + 1) % 3;
    c[other].resign_controller(other as i32 + 1).await.unwrap();
    assert!(observer.check_stat("/controller").await.unwrap().is_some());
    c[winner]
        .resign_controller(winner as i32 + 1)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("exists-watch fires on delete");
    let next = c[other]
        .try_elect_controller(other as i32 + 1)
        .await
        .unwrap();
    assert_eq!(
        next,
        Some(ControllerEpoch {
            epoch: 2,
            zk_version: 2
        })
    );
    assert_eq!(
        c[winner]
            .try_elect_controller(winner as i32 + 1)
            .await
            .unwrap(),
        None
    );
}

fn tp(topic: &str, p: i32) -> TopicPartition {
    TopicPartition::new(topic, p)
}

#[tokio::test]
async fn partition_states_create_update_and_fencing() {
    let zk = ZooKeeper::start();
    let c = clients(&zk, 2).await;
    let observer = zk.observer("/kafka").await;
    let assignment: BTreeMap<i32, Vec<i32>> = (0..3).map(|p| (p, vec![1, 2])).collect();
    c[0].create_topic("foo", &assignment, &new_topic_id(), &BTreeMap::new())
        .await
        .unwrap();
    let epoch = c[0].try_elect_controller(1).await.unwrap().unwrap();

    let states: Vec<(TopicPartition, PartitionState)> = (0..3)
        .map(|p| {
            (
                tp("foo", p),
                PartitionState::new(epoch.epoch, 1, 0, vec![1, 2]),
            )
        })
        .collect();
    let created = c[0].create_partition_states(&epoch, &states).await.unwrap();
    assert!(created.iter().all(|r| matches!(r, Ok(0))), "{created:?}");
    // Again: each partition reports NodeExists, nothing is lost.
    let again = c[0]
        .create_partition_states(&epoch, &states[..2])
        .await
        .unwrap();
    assert!(
        again
            .iter()
            .all(|r| matches!(r, Err(ZkError::NodeExists(_)))),
        "{again:?}"
    );
    let (data, _) = observer
        .get_data("/brokers/topics/foo/partitions/1/state")
        .await
        .unwrap();
    assert_eq!(
        data,
        format!(
            r#"{{"controller_epoch":{},"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}}"#,
            epoch.epoch
        )
        .as_bytes()
    );

    // Update all three; partition 1 carries a stale version and alone fails.
    let shrunk = PartitionState::new(epoch.epoch, 2, 1, vec![2]);
    let updates = vec![
        (tp("foo", 0), shrunk.clone(), 0),
        (tp("foo", 1), shrunk.clone(), 7),
        (tp("foo", 2), shrunk.clone(), 0),
    ];
    let outcome = c[0]
        .update_partition_states(&epoch, &updates)
        .await
        .unwrap();
    assert!(matches!(outcome[0], Ok(1)), "{outcome:?}");
    assert!(
        matches!(&outcome[1], Err(ZkError::BadVersion(p)) if p == "/brokers/topics/foo/partitions/1/state"),
        "{outcome:?}"
    );
    assert!(matches!(outcome[2], Ok(1)), "{outcome:?}");
    let read = c[1]
        .get_partition_states(&[tp("foo", 0), tp("foo", 1), tp("foo", 9), tp("bar", 0)])
        .await
        .unwrap();
    assert_eq!(read[0], Some((shrunk.clone(), 1)));
    assert_eq!(
        read[1],
        Some((PartitionState::new(epoch.epoch, 1, 0, vec![1, 2]), 0))
    );
    assert_eq!(read[2], None);
    assert_eq!(read[3], None);
    validate_tree(&observer).await;

    // Another controller is elected: the old one's writes fail with ControllerMoved.
    c[0].resign_controller(1).await.unwrap();
    let newer = c[1].try_elect_controller(2).await.unwrap().unwrap();
    assert_eq!(newer.epoch, epoch.epoch + 1);
    let stale = c[0]
        .update_partition_states(&epoch, &[(tp("foo", 1), shrunk.clone(), 0)])
        .await;
    assert!(matches!(stale, Err(ZkError::ControllerMoved)), "{stale:?}");
    let stale = c[0]
        .create_partition_states(&epoch, &[(tp("foo", 5), shrunk.clone())])
        .await;
    assert!(matches!(stale, Err(ZkError::ControllerMoved)), "{stale:?}");
    assert!(matches!(
        c[0].delete_topic(&epoch, "foo").await,
        Err(ZkError::ControllerMoved)
    ));
    let fresh = c[1]
        .update_partition_states(&newer, &[(tp("foo", 1), shrunk.clone(), 0)])
        .await
        .unwrap();
    assert!(matches!(fresh[0], Ok(1)));
}

#[tokio::test]
async fn many_partitions_span_several_multis_and_delete_topic() {
    let zk = ZooKeeper::start();
    let c = clients(&zk, 1).await;
    let observer = zk.observer("/kafka").await;
    let n = 1500;
    let assignment: BTreeMap<i32, Vec<i32>> = (0..n).map(|p| (p, vec![1])).collect();
    c[0].create_topic("big", &assignment, &new_topic_id(), &BTreeMap::new())
        .await
        .unwrap();
    c[0].create_topic(
        "small",
        &[(0, vec![1])].into(),
        &new_topic_id(),
        &BTreeMap::new(),
    )
    .await
    .unwrap();
    let epoch = c[0].try_elect_controller(1).await.unwrap().unwrap();
    let mut states: Vec<(TopicPartition, PartitionState)> = (0..n)
        .map(|p| {
            (
                tp("big", p),
                PartitionState::new(epoch.epoch, 1, 0, vec![1]),
            )
        })
        .collect();
    states.push((
        tp("small", 0),
        PartitionState::new(epoch.epoch, 1, 0, vec![1]),
    ));
    states.push((
        tp("gone", 0),
        PartitionState::new(epoch.epoch, 1, 0, vec![1]),
    ));
    let created = c[0].create_partition_states(&epoch, &states).await.unwrap();
    let failed: Vec<_> = created
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        matches!(created.last(), Some(Err(ZkError::NoNode(_)))),
        "no topic znode → NoNode"
    );

    // Every other partition has a stale expected version: the others still go through.
    let updates: Vec<_> = (0..n)
        .map(|p| {
            (
                tp("big", p),
                PartitionState::new(epoch.epoch, 1, 1, vec![1]),
                if p % 500 == 7 { 3 } else { 0 },
            )
        })
        .collect();
    let outcome = c[0]
        .update_partition_states(&epoch, &updates)
        .await
        .unwrap();
    for (p, r) in outcome.iter().enumerate() {
        if p % 500 == 7 {
            assert!(matches!(r, Err(ZkError::BadVersion(_))), "{p}: {r:?}");
        } else {
            assert!(matches!(r, Ok(1)), "{p}: {r:?}");
        }
    }

    // Read back in batched reads (several multiReads), absent partitions in place.
    let mut wanted: Vec<TopicPartition> = (0..n).map(|p| tp("big", p)).collect();
    wanted.insert(600, tp("big", n + 1));
    wanted.push(tp("gone", 0));
    let read = c[0].get_partition_states(&wanted).await.unwrap();
    assert_eq!(read.len(), wanted.len());
    for (
        i,
        (
            TopicPartition {
                topic,
                partition: p,
            },
            r,
        ),
    ) in wanted.iter().zip(&read).enumerate()
    {
        let expected = match *p {
            _ if topic == "gone" => None,
            p if p >= n => None,
            p if p % 500 == 7 => Some(0),
            _ => Some(1),
        };
        assert_eq!(r.as_ref().map(|(_, v)| *v), expected, "read {i}: p{p}");
    }
    assert_eq!(read[601].as_ref().map(|(s, _)| s.leader_epoch), Some(1));
    assert_eq!(read.last(), Some(&None), "a topic that does not exist");

    c[0].request_topic_deletion("big").await.unwrap();
    assert!(matches!(
        c[0].request_topic_deletion("big").await,
        Err(ZkError::NodeExists(_))
    ));
    let (marked, _) = c[0].get_delete_topics_and_watch().await.unwrap();
    assert_eq!(marked, vec!["big".to_string()]);
    c[0].delete_topic(&epoch, "big").await.unwrap();
    for path in [
        "/brokers/topics/big",
        "/config/topics/big",
        "/admin/delete_topics/big",
    ] {
        assert!(
            observer.check_stat(path).await.unwrap().is_none(),
            "{path} deleted"
        );
    }
    let (topics, _) = c[0].get_topics_and_watch().await.unwrap();
    assert_eq!(topics, vec!["small".to_string()]);
    c[0].request_topic_deletion("small").await.unwrap();
    c[0].remove_deletion_marker("small").await.unwrap();
    assert!(observer
        .check_stat("/brokers/topics/small")
        .await
        .unwrap()
        .is_some());
    validate_tree(&observer).await;
}
