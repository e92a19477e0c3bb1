//! Admin znodes, legacy group mirrors and config-change purging against a real ZooKeeper.

mod support;

use std::time::Duration;

use support::schema::validate_tree;
use support::zookeeper::ZooKeeper;
use zkafka::zk::*;

#[tokio::test]
async fn reassignment_and_preferred_election_lifecycle() {
    let zk = ZooKeeper::start();
    let c = zk.client("/kafka").await;
    let observer = zk.observer("/kafka").await;
    c.ensure_persistent_paths().await.unwrap();
    let epoch = c.try_elect_controller(1).await.unwrap().unwrap();

    let (none, watcher) = c.get_reassignment_and_watch().await.unwrap();
    assert!(none.is_none());
    let entry = |p| ReassignmentEntry {
        topic: "foo".into(),
        partition: p,
        replicas: vec![1, 2, 3],
        log_dirs: None,
    };
    let request = ReassignmentZnode {
        version: 1,
        partitions: vec![entry(0), entry(1)],
    };
    c.create_reassignment(&request).await.unwrap();
    assert!(matches!(
        c.create_reassignment(&request).await,
        Err(ZkError::NodeExists(_))
    ));
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("exists-watch fires on create");
    let (pending, _) = c.get_reassignment_and_watch().await.unwrap();
    assert_eq!(pending, Some(request));
    validate_tree(&observer).await;
    c.update_reassignment(
        &epoch,
        &ReassignmentZnode {
            version: 1,
            partitions: vec![entry(1)],
        },
    )
    .await
    .unwrap();
    let (data, _) = observer
        .get_data("/admin/reassign_partitions")
        .await
        .unwrap();
    assert_eq!(
        data,
        br#"{"version":1,"partitions":[{"topic":"foo","partition":1,"replicas":[1,2,3]}]}"#
    );
    c.update_reassignment(
        &epoch,
        &ReassignmentZnode {
            version: 1,
            partitions: vec![],
        },
    )
    .await
    .unwrap();
    assert!(observer
        .check_stat("/admin/reassign_partitions")
        .await
        .unwrap()
        .is_none());

    let election = PreferredElectionZnode {
        version: 1,
        partitions: vec![TopicPartitionEntry {
            topic: "foo".into(),
            partition: 0,
        }],
    };
    c.create_preferred_election(&election).await.unwrap();
    let (pending, watcher) = c.get_preferred_election_and_watch().await.unwrap();
    assert_eq!(pending, Some(election));
    validate_tree(&observer).await;
    c.delete_preferred_election(&epoch).await.unwrap();
    c.delete_preferred_election(&epoch).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), watcher.changed())
        .await
        .expect("exists-watch fires on delete");
}

#[tokio::test]
async fn group_mirrors_are_ephemeral_and_config_changes_purge() {
    let zk = ZooKeeper::start();
    let c = zk.client("").await;
    let observer = zk.observer("").await;
    c.ensure_persistent_paths().await.unwrap();
    let member = ConsumerRegistration::static_subscription(&["foo".to_string()], 1_423_016_430_000);
    // Setting the same picture twice leaves it as it is.
    for _ in 0..2 {
        c.set_group_members("g", &[("g-member-1", member.clone())])
            .await
            .unwrap();
        c.set_partition_owners("g", &[(("foo", 0), "g-member-1")])
            .await
            .unwrap();
    }
    let commit = OffsetCommitEntry {
        topic: "foo",
        partition: 0,
        offset: 3,
        extras: None,
    };
    c.commit_consumer_offsets("g", &[commit]).await.unwrap();
    let (data, stat) = observer
        .get_data("/consumers/g/ids/g-member-1")
        .await
        .unwrap();
    assert_eq!(
        data,
        br#"{"version":1,"subscription":{"foo":1},"pattern":"static","timestamp":"1423016430000"}"#
    );
    assert_eq!(stat.ephemeral_owner, c.session_id());
    let (data, stat) = observer
        .get_data("/consumers/g/owners/foo/0")
        .await
        .unwrap();
    assert_eq!(data, b"g-member-1");
    assert_eq!(stat.ephemeral_owner, c.session_id());
    validate_tree(&observer).await;
    // The owner moves to another member; then the group empties.
    c.set_group_members("g", &[("g-member-2", member.clone())])
        .await
        .unwrap();
    c.set_partition_owners("g", &[(("foo", 0), "g-member-2")])
        .await
        .unwrap();
    assert_eq!(
        observer.list_children("/consumers/g/ids").await.unwrap(),
        ["g-member-2"]
    );
    let (data, _) = observer
        .get_data("/consumers/g/owners/foo/0")
        .await
        .unwrap();
    assert_eq!(data, b"g-member-2");
    c.set_partition_owners("g", &[]).await.unwrap();
    c.set_group_members("g", &[]).await.unwrap();
    assert!(observer
        .list_children("/consumers/g/ids")
        .await
        .unwrap()
        .is_empty());
    assert!(observer
        .list_children("/consumers/g/owners/foo")
        .await
        .unwrap()
        .is_empty());
    // A deleted group is not re-created by mirroring it empty.
    let deleted = c.delete_consumer_group("g").await.unwrap();
    assert!(deleted.had_offsets);
    c.set_group_members("g", &[]).await.unwrap();
    c.set_partition_owners("g", &[]).await.unwrap();
    assert!(observer.check_stat("/consumers/g").await.unwrap().is_none());

    for i in 0..3 {
        c.set_topic_config("foo", &[("retention.ms".to_string(), i.to_string())].into())
            .await
            .unwrap();
    }
    assert_eq!(
        c.purge_config_changes(Duration::from_secs(900))
            .await
            .unwrap(),
        0
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(c.purge_config_changes(Duration::ZERO).await.unwrap(), 3);
    let (left, _) = c.get_config_changes_and_watch().await.unwrap();
    assert!(left.is_empty());
}

#[tokio::test]
async fn secure_acls_without_authentication_are_refused() {
    let settings = ZkSettings {
        connect: "127.0.0.1:1".into(),
        session_timeout: Duration::from_secs(6),
        connection_timeout: Duration::from_secs(1),
        set_acl: true,
        sasl: None,
    };
    assert!(matches!(
        KafkaZkClient::connect(&settings).await,
        Err(ZkError::AclsNeedAuthentication)
    ));
}
