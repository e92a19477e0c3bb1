//! ZkOffsetStore directly: one multi per commit, layout, fetch, stale extras.

use zkafka::coordinator::{OffsetStore, OffsetWrite, TopicPartition, ZkOffsetStore};

use super::harness::{data, extra, ZooKeeper};

#[tokio::test]
async fn commit_100_partitions_in_one_multi_and_fetch_back() {
    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store = ZkOffsetStore::with_client(zk.kafka_client().await);
    let writes: Vec<OffsetWrite> = (0..100)
        .map(|p| OffsetWrite {
            tp: TopicPartition::new(if p % 2 == 0 { "even" } else { "odd" }, p),
            offset: 1000 + i64::from(p),
            extra: extra(&format!("md-{p}"), p),
        })
        .collect();
    let before = store.multi_count();
    store.commit("g1", writes.clone()).await.unwrap();
    assert_eq!(
        store.multi_count() - before,
        1,
        "one multi for 100 partitions"
    );

    // One transaction: every znode the commit wrote carries the same zxid.
    let (text, first) = data(&client, "/consumers/g1/offsets/even/0").await;
    assert_eq!(text, "1000", "bare decimal text");
    for p in 0..100 {
        let t = if p % 2 == 0 { "even" } else { "odd" };
        let (text, stat) = data(&client, &format!("/consumers/g1/offsets/{t}/{p}")).await;
        assert_eq!(text, (1000 + p).to_string());
        assert_eq!(stat.mzxid, first.mzxid);
        let (json, xstat) = data(&client, &format!("/zkafka/consumers/g1/offsets/{t}/{p}")).await;
        assert_eq!(xstat.mzxid, first.mzxid);
        assert_eq!(
            json,
            format!(
                r#"{{"version":1,"metadata":"md-{p}","leader_epoch":{p},"commit_timestamp":"1700000000000"}}"#
            )
        );
    }
    for parent in [
        "/consumers/g1",
        "/consumers/g1/offsets",
        "/consumers/g1/offsets/even",
    ] {
        assert_eq!(
            data(&client, parent).await.0,
            "",
            "{parent} is an empty container"
        );
    }

    // Fetch everything, then a few partitions (one never committed).
    let all = store.fetch("g1", None).await.unwrap();
    assert_eq!(all.len(), 100);
    for (tp, c) in &all {
        let c = c.as_ref().unwrap();
        assert_eq!(c.offset, 1000 + i64::from(tp.partition));
        assert_eq!(
            c.extra,
            extra(&format!("md-{}", tp.partition), tp.partition)
        );
    }
    let some = store
        .fetch(
            "g1",
            Some(vec![
                TopicPartition::new("odd", 99),
                TopicPartition::new("odd", 100),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(some[0].1.as_ref().map(|c| c.offset), Some(1099));
    assert_eq!(some[1].1, None);

    // A second commit (updates, plus a new partition) is again one multi.
    let before = store.multi_count();
    store
        .commit(
            "g1",
            vec![
                OffsetWrite {
                    tp: TopicPartition::new("even", 0),
                    offset: 5,
                    extra: None,
                },
                OffsetWrite {
                    tp: TopicPartition::new("new", 0),
                    offset: 6,
                    extra: None,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(store.multi_count() - before, 1);
    assert_eq!(data(&client, "/consumers/g1/offsets/even/0").await.0, "5");
    // The extras of even/0 are now stale (the offset was rewritten without them): not returned.
    let got = store
        .fetch("g1", Some(vec![TopicPartition::new("even", 0)]))
        .await
        .unwrap();
    assert_eq!(
        got[0].1.as_ref().map(|c| (c.offset, c.extra.clone())),
        Some((5, None))
    );
    assert_eq!(
        store.list_groups_with_offsets().await.unwrap(),
        vec!["g1".to_string()]
    );
}

/// Once the znodes exist, committing 100 partitions is exactly one request to ZooKeeper: the
/// setData multi, with no existence checks first (ZooKeeper's own packet counter says so).
#[tokio::test]
async fn a_repeat_commit_of_100_partitions_is_one_zookeeper_request() {
    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store = ZkOffsetStore::with_client(zk.kafka_client().await);
    let writes = |base: i64| -> Vec<OffsetWrite> {
        (0..100)
            .map(|p| OffsetWrite {
                tp: TopicPartition::new("t", p),
                offset: base + i64::from(p),
                extra: extra("m", 1),
            })
            .collect()
    };
    store.commit("g", writes(0)).await.unwrap();
    let before = zk.packets_received();
    store.commit("g", writes(500)).await.unwrap();
    // mntr's own connection counts too; the commit itself must add exactly one request.
    let after = zk.packets_received();
    let baseline = {
        let a = zk.packets_received();
        zk.packets_received() - a
    };
    assert_eq!(
        after - before - baseline,
        1,
        "requests for a repeat 100-partition commit"
    );
    assert_eq!(data(&client, "/consumers/g/offsets/t/99").await.0, "599");
}

#[tokio::test]
async fn a_commit_too_big_for_one_request_is_split_but_complete() {
    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store = ZkOffsetStore::with_client(zk.kafka_client().await);
    let metadata = "m".repeat(300);
    let writes: Vec<OffsetWrite> = (0..3000)
        .map(|p| OffsetWrite {
            tp: TopicPartition::new("big", p),
            offset: i64::from(p),
            extra: extra(&metadata, 1),
        })
        .collect();
    let before = store.multi_count();
    store.commit("g", writes).await.unwrap();
    let multis = store.multi_count() - before;
    assert!((2..=6).contains(&multis), "{multis} multis for ~1.5 MB");
    let all = store.fetch("g", None).await.unwrap();
    assert_eq!(all.len(), 3000);
    for (tp, c) in &all {
        let c = c.as_ref().unwrap();
        assert_eq!(c.offset, i64::from(tp.partition));
        // Same transaction for an offset and its extras, whatever the split.
        assert_eq!(c.extra, extra(&metadata, 1), "partition {}", tp.partition);
    }
    // Deleting ~6000 znodes also takes more than one multi, and removes everything.
    assert!(store.delete_group("g").await.unwrap());
    assert!(client.check_stat("/consumers/g").await.unwrap().is_none());
    assert!(client
        .check_stat("/zkafka/consumers/g")
        .await
        .unwrap()
        .is_none());
    assert!(!store.delete_group("g").await.unwrap());
}
