//! The coordinator on a ZkOffsetStore: offset API rules, DeleteGroups, member/owner mirror.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
use kafka_protocol::messages::{DeleteGroupsRequest, GroupId, TopicName};
use zkafka::coordinator::{GroupConfig, GroupCoordinator, OffsetStore, ZkOffsetStore};
use zookeeper_client::{Acls, CreateMode};

use super::harness::{await_children, data, sb, ZooKeeper};

fn commit_req(group: &str, parts: &[(&str, i32, i64, Option<&str>)]) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(
            parts
                .iter()
                .map(|(t, p, o, md)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(sb(t)))
                        .with_partitions(vec![OffsetCommitRequestPartition::default()
                            .with_partition_index(*p)
                            .with_committed_offset(*o)
                            .with_committed_leader_epoch(4)
                            .with_committed_metadata(md.map(sb))])
                })
                .collect(),
        )
}

fn fetch_req(group: &str, topic: &str, partitions: &[i32]) -> OffsetFetchRequest {
    OffsetFetchRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(TopicName(sb(topic)))
            .with_partition_indexes(partitions.to_vec())]))
}

/// What OffsetFetch v7 answers for `group`'s `topic`-0: offset, leader epoch, metadata.
async fn committed_v7(
    c: &GroupCoordinator,
    group: &str,
    topic: &str,
) -> (i64, i32, Option<String>) {
    let f = c.offset_fetch(fetch_req(group, topic, &[0]), 7).await;
    let p = &f.topics[0].partitions[0];
    (
        p.committed_offset,
        p.committed_leader_epoch,
        p.metadata.as_deref().map(str::to_owned),
    )
}

#[tokio::test]
async fn coordinator_on_zookeeper_v0_rules_metadata_and_delete() {
    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store: Arc<dyn OffsetStore> = Arc::new(ZkOffsetStore::with_client(zk.kafka_client().await));
    let c = GroupCoordinator::new(GroupConfig::default(), store);

    // v0: Kafka's ZooKeeper commit. Metadata dropped, no extras znode.
    let resp = c
        .offset_commit(commit_req("old", &[("t", 0, 17, Some("lost"))]), 0)
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(data(&client, "/consumers/old/offsets/t/0").await.0, "17");
    assert!(client
        .check_stat("/zkafka/consumers/old/offsets/t/0")
        .await
        .unwrap()
        .is_none());
    let f = c.offset_fetch(fetch_req("old", "t", &[0, 1]), 0).await;
    let p = &f.topics[0].partitions;
    assert_eq!(
        (
            p[0].committed_offset,
            p[0].metadata.as_deref(),
            p[0].error_code
        ),
        (17, Some(""), 0)
    );
    assert_eq!(
        (
            p[1].committed_offset,
            p[1].metadata.as_deref(),
            p[1].error_code
        ),
        (-1, Some(""), ResponseError::UnknownTopicOrPartition.code())
    );

    // v8: metadata and leader epoch round-trip; the offset znode stays bare decimal.
    let resp = c
        .offset_commit(commit_req("new", &[("t", 0, 99, Some("{\"app\":1}"))]), 8)
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(data(&client, "/consumers/new/offsets/t/0").await.0, "99");
    assert_eq!(
        committed_v7(&c, "new", "t").await,
        (99, 4, Some("{\"app\":1}".to_owned()))
    );

    // A legacy tool rewrites the offset znode directly: readers see its offset, not stale extras.
    client
        .set_data("/consumers/new/offsets/t/0", b"120", None)
        .await
        .unwrap();
    assert_eq!(
        committed_v7(&c, "new", "t").await,
        (120, -1, Some(String::new()))
    );

    // An offset written by an old ZooKeeper consumer (no zkafka involved) is readable.
    let persistent = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client
        .mkdir("/consumers/zkconsumer/offsets/t", &persistent)
        .await
        .unwrap();
    client
        .create("/consumers/zkconsumer/offsets/t/3", b"314", &persistent)
        .await
        .unwrap();
    let f = c
        .offset_fetch(
            OffsetFetchRequest::default()
                .with_group_id(GroupId(sb("zkconsumer")))
                .with_topics(None),
            7,
        )
        .await;
    assert_eq!(f.topics[0].partitions[0].committed_offset, 314);

    // DeleteGroups removes both trees.
    let del = c
        .delete_groups(
            DeleteGroupsRequest::default()
                .with_groups_names(vec![GroupId(sb("new")), GroupId(sb("nope"))]),
            2,
        )
        .await;
    assert_eq!(
        del.results.iter().map(|r| r.error_code).collect::<Vec<_>>(),
        vec![0, 69]
    );
    assert!(client.check_stat("/consumers/new").await.unwrap().is_none());
    assert!(client
        .check_stat("/zkafka/consumers/new")
        .await
        .unwrap()
        .is_none());
    assert!(client.check_stat("/consumers/old").await.unwrap().is_some());
    c.shutdown();
}

fn subscription(topics: &[&str]) -> bytes::Bytes {
    use bytes::BufMut;
    use kafka_protocol::protocol::Encodable;
    let sub = kafka_protocol::messages::ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| sb(t)).collect());
    let mut buf = bytes::BytesMut::new();
    buf.put_i16(1);
    sub.encode(&mut buf, 1).unwrap();
    buf.freeze()
}

fn assignment(topic: &str, partitions: &[i32]) -> bytes::Bytes {
    use bytes::BufMut;
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition as Tp;
    use kafka_protocol::protocol::Encodable;
    let a = kafka_protocol::messages::ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![Tp::default()
            .with_topic(TopicName(sb(topic)))
            .with_partitions(partitions.to_vec())]);
    let mut buf = bytes::BytesMut::new();
    buf.put_i16(0);
    a.encode(&mut buf, 0).unwrap();
    buf.freeze()
}

#[tokio::test]
async fn live_members_and_owners_are_mirrored() {
    use kafka_protocol::messages::join_group_request::{
        JoinGroupRequest, JoinGroupRequestProtocol,
    };
    use kafka_protocol::messages::sync_group_request::{
        SyncGroupRequest, SyncGroupRequestAssignment,
    };
    use kafka_protocol::messages::LeaveGroupRequest;

    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store: Arc<dyn OffsetStore> = Arc::new(ZkOffsetStore::with_client(zk.kafka_client().await));
    let config = GroupConfig {
        initial_rebalance_delay_ms: 100,
        ..GroupConfig::default()
    };
    let c = GroupCoordinator::new(config, store);
    let join = |member: String| {
        let c = c.clone();
        tokio::spawn(async move {
            let req = JoinGroupRequest::default()
                .with_group_id(GroupId(sb("mirror")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(5_000)
                .with_member_id(sb(&member))
                .with_protocol_type(sb("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(sb("range"))
                    .with_metadata(subscription(&["orders"]))]);
            c.join_group(req, 3, "app", "/127.0.0.1").await
        })
    };
    let (a, b) = (join(String::new()), join(String::new()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!((a.error_code, b.error_code, a.generation_id), (0, 0, 1));
    let (leader, follower) = if a.leader == a.member_id {
        (a, b)
    } else {
        (b, a)
    };
    let (l, f) = (leader.member_id.to_string(), follower.member_id.to_string());
    let sync = |member: &str, assignments: Vec<(String, bytes::Bytes)>| {
        let c = c.clone();
        let req = SyncGroupRequest::default()
            .with_group_id(GroupId(sb("mirror")))
            .with_generation_id(1)
            .with_member_id(sb(member))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(m, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(sb(&m))
                            .with_assignment(a)
                    })
                    .collect(),
            );
        tokio::spawn(async move { c.sync_group(req, 3).await })
    };
    let fs = sync(&f, vec![]);
    let ls = sync(
        &l,
        vec![
            (l.clone(), assignment("orders", &[0])),
            (f.clone(), assignment("orders", &[1, 2])),
        ],
    );
    assert_eq!(fs.await.unwrap().assignment, assignment("orders", &[1, 2]));
    assert_eq!(ls.await.unwrap().error_code, 0);

    let registration = |ts: &str| {
        format!(
            r#"{{"version":1,"subscription":{{"orders":1}},"pattern":"static","timestamp":"{ts}"}}"#
        )
    };
    let mut ids = client
        .list_children("/consumers/mirror/ids")
        .await
        .unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        ids = client
            .list_children("/consumers/mirror/ids")
            .await
            .unwrap_or_default();
    }
    ids.sort();
    let mut want_ids = vec![l.clone(), f.clone()];
    want_ids.sort();
    assert_eq!(ids, want_ids);
    let (json, stat) = data(&client, &format!("/consumers/mirror/ids/{l}")).await;
    assert_ne!(
        stat.ephemeral_owner, 0,
        "member registrations are ephemeral"
    );
    let ts: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json, registration(ts["timestamp"].as_str().unwrap()));
    await_children(
        &client,
        "/consumers/mirror/owners/orders",
        &[("0", &l), ("1", &f), ("2", &f)],
    )
    .await;

    // The follower leaves: its registration and its partitions' owners disappear.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb("mirror")))
        .with_member_id(sb(&f));
    assert_eq!(c.leave_group(leave, 1).await.error_code, 0);
    await_children(&client, "/consumers/mirror/owners/orders", &[]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while client
        .list_children("/consumers/mirror/ids")
        .await
        .unwrap_or_default()
        .len()
        != 1
    {
        assert!(
            Instant::now() < deadline,
            "the leaver's registration stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The leader leaves too; the emptied group is deleted and its znodes stay gone.
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb("mirror")))
        .with_member_id(sb(&l));
    assert_eq!(c.leave_group(leave, 1).await.error_code, 0);
    await_children(&client, "/consumers/mirror/ids", &[]).await;
    let del = c
        .delete_groups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb("mirror"))]),
            2,
        )
        .await;
    assert_eq!(del.results[0].error_code, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(client
        .check_stat("/consumers/mirror")
        .await
        .unwrap()
        .is_none());
    c.shutdown();
}
