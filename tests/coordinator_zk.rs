//! The coordinator's ZooKeeper store against a real ZooKeeper (Debian's 3.8 package), started on
//! a free port per test and killed when the test ends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequest, OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequest, OffsetFetchRequestTopic};
use kafka_protocol::messages::{DeleteGroupsRequest, GroupId, TopicName};
use kafka_protocol::protocol::StrBytes;
use zkafka::coordinator::{
    java_string_hash, partition_for, GroupConfig, GroupCoordinator, OffsetExtra, OffsetStore,
    OffsetWrite, TopicPartition, ZkOffsetStore,
};
use zookeeper_client::{Acls, Client, CreateMode};

/// A throw-away ZooKeeper server.
struct ZooKeeper {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ZooKeeper {
    fn start() -> ZooKeeper {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = dir.path().join("zoo.cfg");
        std::fs::write(
            &cfg,
            format!(
                "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n\
                 admin.enableServer=false\n4lw.commands.whitelist=*\n",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("zk.log")).unwrap();
        let child = Command::new("java")
            .args([
                "-cp",
                "/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar",
            ])
            .arg(format!("-Dzookeeper.log.dir={}", dir.path().display()))
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(&cfg)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("java (Debian's zookeeper package) must be installed");
        let zk = ZooKeeper {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while zk.four_letter("ruok") != "imok" {
            assert!(
                Instant::now() < deadline,
                "ZooKeeper did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        zk
    }

    fn four_letter(&self, cmd: &str) -> String {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return String::new();
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(cmd.as_bytes()).is_err() {
            return String::new();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    async fn client(&self) -> Client {
        Client::connect(&format!("127.0.0.1:{}", self.port))
            .await
            .unwrap()
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

fn extra(md: &str, epoch: i32) -> Option<OffsetExtra> {
    Some(OffsetExtra {
        metadata: Some(md.to_string()),
        leader_epoch: epoch,
        commit_timestamp_ms: 1_700_000_000_000,
    })
}

async fn data(client: &Client, path: &str) -> (String, zookeeper_client::Stat) {
    let (d, stat) = client
        .get_data(path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    (String::from_utf8(d).unwrap(), stat)
}

#[tokio::test]
async fn commit_100_partitions_in_one_multi_and_fetch_back() {
    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store = ZkOffsetStore::with_client(client.clone());
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

#[tokio::test]
async fn coordinator_on_zookeeper_v0_rules_metadata_and_delete() {
    let zk = ZooKeeper::start();
    let client = zk.client().await;
    let store: Arc<dyn OffsetStore> = Arc::new(ZkOffsetStore::with_client(client.clone()));
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
        (-1, Some(""), 3)
    );

    // v8: metadata and leader epoch round-trip; the offset znode stays bare decimal.
    let resp = c
        .offset_commit(commit_req("new", &[("t", 0, 99, Some("{\"app\":1}"))]), 8)
        .await;
    assert_eq!(resp.topics[0].partitions[0].error_code, 0);
    assert_eq!(data(&client, "/consumers/new/offsets/t/0").await.0, "99");
    let f = c.offset_fetch(fetch_req("new", "t", &[0]), 7).await;
    let p = &f.topics[0].partitions[0];
    assert_eq!(
        (
            p.committed_offset,
            p.committed_leader_epoch,
            p.metadata.as_deref()
        ),
        (99, 4, Some("{\"app\":1}"))
    );

    // A legacy tool rewrites the offset znode directly: readers see its offset, not stale extras.
    client
        .set_data("/consumers/new/offsets/t/0", b"120", None)
        .await
        .unwrap();
    let f = c.offset_fetch(fetch_req("new", "t", &[0]), 7).await;
    let p = &f.topics[0].partitions[0];
    assert_eq!(
        (
            p.committed_offset,
            p.committed_leader_epoch,
            p.metadata.as_deref()
        ),
        (120, -1, Some(""))
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

/// Waits (bounded) until `path`'s children, with their data, equal `want`.
async fn await_children(client: &Client, path: &str, want: &[(&str, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut got = Vec::new();
        for child in client.list_children(path).await.unwrap_or_default() {
            if let Ok((d, _)) = client.get_data(&format!("{path}/{child}")).await {
                got.push((child, String::from_utf8(d).unwrap()));
            }
        }
        got.sort();
        let mut want: Vec<(String, String)> = want
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        want.sort();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{path}: got {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let store: Arc<dyn OffsetStore> = Arc::new(ZkOffsetStore::with_client(client.clone()));
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
    c.shutdown();
}

#[test]
fn java_string_hash_matches_java() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("a"), 97);
    assert_eq!(java_string_hash("hello"), 99_162_322);
    assert_eq!(java_string_hash("héllo"), 103_094_734);
    assert_eq!(java_string_hash("😀"), 1_772_899);
    assert_eq!(partition_for("polygenelubricants", 50), 0);
}
