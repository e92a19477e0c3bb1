//! Topic creation, topic configs and consumer offsets against a real ZooKeeper.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::schema::validate_tree;
use support::zookeeper::ZooKeeper;
use zkafka::topic_partition::TopicPartition;
use zkafka::zk::{
    new_topic_id, CommittedOffsetZnode, KafkaZkClient, OffsetCommitEntry, TopicZnode, ZkError,
};

async fn client(zk: &ZooKeeper) -> KafkaZkClient {
    let c = zk.client("/kafka").await;
    c.ensure_persistent_paths().await.unwrap();
    c
}

#[tokio::test]
async fn create_topic_assignment_and_config() {
    let zk = ZooKeeper::start();
    let c = client(&zk).await;
    let observer = zk.observer("/kafka").await;
    let (topics, watcher) = c.get_topics_and_watch().await.unwrap();
    assert!(topics.is_empty());
    let id = new_topic_id();
    let assignment: BTreeMap<i32, Vec<i32>> =
        [(0, vec![1, 2]), (1, vec![2, 3]), (2, vec![3, 1])].into();
    let config: BTreeMap<String, String> =
        [("retention.ms".to_string(), "86400000".to_string())].into();
    c.create_topic("foo", &assignment, &id, &config)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("child watch fires");
    match c
        .create_topic("foo", &assignment, &id, &BTreeMap::new())
        .await
    {
        Err(ZkError::TopicExists(t)) => assert_eq!(t, "foo"),
        other => panic!("expected TopicExists, got {other:?}"),
    }
    let (data, _) = observer.get_data("/brokers/topics/foo").await.unwrap();
    assert_eq!(
        String::from_utf8(data).unwrap(),
        format!(
            r#"{{"removing_replicas":{{}},"partitions":{{"0":[1,2],"1":[2,3],"2":[3,1]}},"topic_id":"{id}","adding_replicas":{{}},"version":3}}"#
        )
    );
    let (data, _) = observer.get_data("/config/topics/foo").await.unwrap();
    assert_eq!(
        data,
        br#"{"version":1,"config":{"retention.ms":"86400000"}}"#
    );

    // A leftover config znode does not block creation.
    observer
        .create(
            "/config/topics/bar",
            br#"{"version":1,"config":{"a":"b"}}"#,
            &zookeeper_client::CreateMode::Persistent
                .with_acls(zookeeper_client::Acls::anyone_all()),
        )
        .await
        .unwrap();
    c.create_topic(
        "bar",
        &[(0, vec![1])].into(),
        &new_topic_id(),
        &BTreeMap::new(),
    )
    .await
    .unwrap();

    let found = c
        .get_topics(&["foo".to_string(), "bar".to_string(), "nope".to_string()])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    let (foo, version) = found["foo"].clone();
    assert_eq!(foo.topic_id.as_deref(), Some(id.as_str()));
    assert_eq!(version, 0);

    // Add a partition on the read version; a stale version is refused.
    let mut grown: TopicZnode = foo.clone();
    grown.partitions.insert(3, vec![1, 2]);
    assert_eq!(
        c.set_topic_assignment("foo", &grown, version)
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        c.set_topic_assignment("foo", &grown, version).await,
        Err(ZkError::BadVersion(_))
    ));

    // Config change + notification.
    let configs = c
        .get_topic_configs(&["foo".into(), "bar".into(), "nope".into()])
        .await
        .unwrap();
    assert_eq!(configs["foo"], config);
    assert!(configs["bar"].is_empty() && configs["nope"].is_empty());
    let (changes, watcher) = c.get_config_changes_and_watch().await.unwrap();
    assert!(changes.is_empty());
    let newer: BTreeMap<String, String> =
        [("cleanup.policy".to_string(), "compact".to_string())].into();
    c.set_topic_config("foo", &newer).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("config change watch fires");
    let (changes, _) = c.get_config_changes_and_watch().await.unwrap();
    assert_eq!(changes, vec!["config_change_0000000000".to_string()]);
    let change = c.get_config_change(&changes[0]).await.unwrap().unwrap();
    assert_eq!(change.entity_path, "topics/foo");
    let (data, _) = observer
        .get_data("/config/changes/config_change_0000000000")
        .await
        .unwrap();
    assert_eq!(data, br#"{"version":2,"entity_path":"topics/foo"}"#);
    assert_eq!(
        c.get_topic_configs(&["foo".into()]).await.unwrap()["foo"],
        newer
    );
    c.set_entity_config(
        "clients",
        "<default>",
        &[("producer_byte_rate".to_string(), "1024".to_string())].into(),
    )
    .await
    .unwrap();
    assert_eq!(
        c.get_entity_config("clients", "<default>")
            .await
            .unwrap()
            .len(),
        1
    );
    validate_tree(&observer).await;
}

fn commit(topic: &str, partition: i32, offset: i64) -> OffsetCommitEntry<'_> {
    OffsetCommitEntry {
        topic,
        partition,
        offset,
        extras: None,
    }
}

fn offsets(found: Vec<Option<CommittedOffsetZnode>>) -> Vec<Option<i64>> {
    found.into_iter().map(|o| o.map(|o| o.offset)).collect()
}

#[tokio::test]
async fn offsets_commit_fetch_round_trip() {
    let zk = ZooKeeper::start();
    let c = client(&zk).await;
    let observer = zk.observer("/kafka").await;
    let tps = [("foo", 0), ("foo", 1), ("bar", 0)];
    assert_eq!(
        offsets(c.fetch_consumer_offsets("g", &tps).await.unwrap()),
        vec![None, None, None]
    );
    assert!(c.consumer_offset_partitions("g").await.unwrap().is_empty());
    assert!(c.consumer_groups_with_offsets().await.unwrap().is_empty());

    // A first commit: the setData multi fails as a whole (a znode is missing), then one multi
    // creates everything; a repeat commit is the setData multi alone.
    let first = [commit("foo", 0, 42), commit("bar", 0, 7)];
    assert_eq!(c.commit_consumer_offsets("g", &first).await.unwrap(), 1);
    assert_eq!(c.commit_consumer_offsets("g", &first).await.unwrap(), 1);
    assert_eq!(
        offsets(c.fetch_consumer_offsets("g", &tps).await.unwrap()),
        vec![Some(42), None, Some(7)]
    );
    let (data, stat) = observer
        .get_data("/consumers/g/offsets/foo/0")
        .await
        .unwrap();
    assert_eq!(data, b"42", "bare decimal text");
    assert_eq!(stat.ephemeral_owner, 0);

    // Mixed set + create in one commit; many partitions at once.
    let mut many = vec![commit("foo", 0, 43), commit("foo", 1, 5)];
    many.extend((0..300).map(|p| commit("wide", p, i64::from(p) * 10)));
    c.commit_consumer_offsets("g", &many).await.unwrap();
    assert_eq!(
        offsets(c.fetch_consumer_offsets("g", &tps).await.unwrap()),
        vec![Some(43), Some(5), Some(7)]
    );
    let listed = c.consumer_offset_partitions("g").await.unwrap();
    assert_eq!(listed.len(), 303);
    assert_eq!(listed[0], TopicPartition::new("bar".to_string(), 0));
    assert_eq!(listed[3], TopicPartition::new("wide".to_string(), 0));
    assert_eq!(
        listed[4],
        TopicPartition::new("wide".to_string(), 1),
        "numeric partition order"
    );
    assert_eq!(c.consumer_groups_with_offsets().await.unwrap(), ["g"]);
    // Another group is separate.
    assert_eq!(
        offsets(c.fetch_consumer_offsets("h", &tps).await.unwrap()),
        vec![None, None, None]
    );
    validate_tree(&observer).await;

    // OffsetDelete: the offsets go, missing ones are fine.
    c.delete_consumer_offsets("g", &[("foo", 0), ("foo", 9)])
        .await
        .unwrap();
    assert_eq!(
        offsets(c.fetch_consumer_offsets("g", &tps).await.unwrap()),
        vec![None, Some(5), Some(7)]
    );
}
