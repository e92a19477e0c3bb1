//! The three-broker cluster of the replication tests: real `zkafka server` processes on a real
//! ZooKeeper, and helpers to produce, read their logs on disk and watch the partition state znode.
//! `REPLICATION_TEST_LOGS=1` makes the tests print the brokers' logs at the end.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::zookeeper::ZooKeeper;
use bytes::Bytes;
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    BrokerId, CreateTopicsRequest, MetadataRequest, OffsetForLeaderEpochRequest, ProduceRequest,
    TopicName,
};
use kafka_protocol::protocol::StrBytes;
use zkafka::client::batch::build_batch;
use zkafka::client::Connection;
use zkafka::topic_partition::TopicPartition;
use zkafka::zk::KafkaZkClient;

pub const TOPIC: &str = "replicated";
pub const TOPIC_ALREADY_EXISTS: i16 = 36;

/// The broker binary: `ZKAFKA_BIN` if set (a shared target dir may hold another worktree's build by
/// the time the test runs), else the one cargo built for this test.
pub fn binary() -> PathBuf {
    std::env::var_os("ZKAFKA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_zkafka")))
}

pub struct Broker {
    pub id: i32,
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Broker {
    /// Starts broker `id`; `extra` adds or overrides properties (later lines win).
    pub fn start(id: i32, zk: &ZooKeeper, extra: &str) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let props = format!(
            "broker.id={id}\nlisteners=PLAINTEXT://127.0.0.1:{port}\nlog.dirs={}\n\
             zookeeper.connect={}/kafka\nzookeeper.session.timeout.ms=6000\n\
             replica.lag.time.max.ms=10000\nreplica.fetch.backoff.ms=200\n\
             offsets.topic.replication.factor=1\nauto.leader.rebalance.enable=false\n{extra}",
            dir.path().join("logs").display(),
            zk.connect_string()
        );
        let path = dir.path().join("server.properties");
        std::fs::write(&path, props).expect("write properties");
        let mut broker = Broker {
            id,
            port,
            dir,
            child: None,
        };
        broker.spawn();
        broker
    }

    /// Starts the process (again) on the same properties, port and log dir; output is appended.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "broker {} is running", self.id);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("broker.out"))
            .expect("broker log");
        let child = Command::new(binary())
            .arg("server")
            .arg(self.dir.path().join("server.properties"))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log"))
            .stderr(log)
            .spawn()
            .expect("spawn zkafka server");
        self.child = Some(child);
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.dir.path().join("logs").join(format!("{TOPIC}-0"))
    }

    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.out")).unwrap_or_default()
    }

    /// Sends a signal by pid (`STOP` freezes the broker without closing its sockets or session).
    pub fn signal(&self, name: &str) {
        if let Some(child) = &self.child {
            let status = Command::new("kill")
                .arg(format!("-{name}"))
                .arg(child.id().to_string())
                .status()
                .expect("run kill");
            assert!(status.success(), "kill -{name} failed");
        }
    }

    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The bytes of every `.log` segment of a partition directory, in offset order.
pub fn log_bytes(dir: &Path) -> Vec<u8> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.retain(|p| p.extension().is_some_and(|e| e == "log"));
    names.sort();
    names
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap_or_default())
        .collect()
}

pub async fn connect(addr: &str) -> Connection {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(c) = Connection::connect(addr, "replication-test", Duration::from_secs(2)).await {
            if c.api_versions().await.is_ok() {
                return c;
            }
        }
        assert!(Instant::now() < deadline, "broker at {addr} never answered");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the broker's metadata names a leader of partition 0 other than `not`.
pub async fn leader(conn: &Connection, not: i32) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let req = MetadataRequest::default().with_topics(None);
        if let Ok(resp) = conn.send(req, 9).await {
            let leader = resp
                .topics
                .iter()
                .filter(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == TOPIC))
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == 0 && p.error_code == 0)
                .map(|p| p.leader_id.0);
            if let Some(l) = leader.filter(|l| *l >= 0 && *l != not) {
                return l;
            }
        }
        assert!(Instant::now() < deadline, "no leader for {TOPIC}-0");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Produces until accepted: right after topic creation or a failover the leader may not have its
/// LeaderAndIsr yet (UNKNOWN_TOPIC_OR_PARTITION / NOT_LEADER_OR_FOLLOWER for a moment).
pub async fn produce_until_ok(conn: &Connection, count: usize, brokers: &[Broker]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match produce_all(conn, count).await {
            0 => return,
            code => {
                if Instant::now() > deadline {
                    for b in brokers {
                        eprintln!("--- broker {} ---\n{}", b.id, b.output());
                    }
                    panic!("produce kept failing: error {code}");
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

pub async fn produce_all(conn: &Connection, count: usize) -> i16 {
    let batch = build_batch(
        &Bytes::from_static(b"replicated value"),
        count,
        1_700_000_000_000,
    )
    .expect("batch");
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(15_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(batch))])]);
    let resp = conn.send(req, 9).await.expect("produce answered");
    resp.responses[0].partition_responses[0].error_code
}

/// Waits until the given brokers hold byte-identical, non-empty logs of the partition.
pub async fn wait_for_identical_logs(brokers: &[&Broker], min_len: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let logs: Vec<Vec<u8>> = brokers.iter().map(|b| log_bytes(&b.log_dir())).collect();
        if logs[0].len() >= min_len && logs.iter().all(|l| *l == logs[0]) {
            return;
        }
        if Instant::now() > deadline {
            let sizes: Vec<usize> = logs.iter().map(Vec::len).collect();
            for b in brokers {
                eprintln!("--- broker {} ---\n{}", b.id, b.output());
            }
            panic!("logs differ or are short: sizes {sizes:?}, want >= {min_len}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn isr(zk: &KafkaZkClient) -> Vec<i32> {
    let states = zk
        .get_partition_states(&[TopicPartition::new(TOPIC, 0)])
        .await
        .expect("state read");
    let (state, _) = states.into_iter().flatten().next().expect("state znode");
    let mut isr = state.isr;
    isr.sort_unstable();
    isr
}

/// OffsetForLeaderEpoch v4 for partition 0: (error code, epoch, end offset).
pub async fn epoch_end(
    conn: &Connection,
    current_leader_epoch: i32,
    epoch: i32,
) -> (i16, i32, i64) {
    let req =
        OffsetForLeaderEpochRequest::default().with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(current_leader_epoch)
                .with_leader_epoch(epoch)])]);
    let resp = conn
        .send(req, 4)
        .await
        .expect("OffsetForLeaderEpoch answered");
    let p = &resp.topics[0].partitions[0];
    (p.error_code, p.leader_epoch, p.end_offset)
}

/// Waits for all three brokers to register, then creates the topic with replication factor 3 (with
/// `replicas` as its assignment when given).
pub async fn create_topic(
    zk: &ZooKeeper,
    brokers: &[Broker],
    replicas: Option<Vec<i32>>,
) -> (Connection, KafkaZkClient) {
    let admin = connect(&brokers[0].addr()).await;
    let zk_client = zk.client("/kafka").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while zk_client
        .get_broker_ids_and_watch()
        .await
        .map_or(0, |(ids, _)| ids.len())
        < 3
    {
        assert!(Instant::now() < deadline, "brokers did not register");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The broker may not know all three live brokers yet (INVALID_REPLICATION_FACTOR): retry.
    loop {
        let mut topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(TOPIC)))
            .with_num_partitions(1)
            .with_replication_factor(3);
        if let Some(r) = &replicas {
            topic = topic
                .with_num_partitions(-1)
                .with_replication_factor(-1)
                .with_assignments(vec![CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(r.iter().map(|b| BrokerId(*b)).collect())]);
        }
        let create = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![topic]);
        let resp = admin.send(create, 5).await.expect("create topics");
        match resp.topics[0].error_code {
            0 | TOPIC_ALREADY_EXISTS => return (admin, zk_client),
            code => assert!(Instant::now() < deadline, "create topic: error {code}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the state znode's ISR is `want` (sorted).
pub async fn wait_for_isr(zk: &KafkaZkClient, want: &[i32], brokers: &[Broker]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = isr(zk).await;
        if now == want {
            return;
        }
        if Instant::now() > deadline {
            for b in brokers {
                eprintln!("--- broker {} ---\n{}", b.id, b.output());
            }
            panic!("ISR is {now:?}, want {want:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The controller's id from `/controller`.
pub async fn controller(zk: &KafkaZkClient) -> i32 {
    zk.get_active_controller()
        .await
        .ok()
        .flatten()
        .map(|(id, _)| id)
        .expect("controller znode")
}
