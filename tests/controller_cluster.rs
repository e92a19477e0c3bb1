//! The controller in a real cluster: a real ZooKeeper and three real `zkafka server` processes.
//! Conditions are awaited with ZooKeeper watches on the znodes the controller writes.

mod support;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_partition_request::{PartitionData, TopicData};
use kafka_protocol::messages::{AlterPartitionRequest, BrokerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use support::zookeeper::ZooKeeper;
use tokio::process::{Child, Command};
use zkafka::client::Connection;
use zkafka::zk::{
    new_topic_id, PartitionState, PreferredElectionZnode, ReassignmentEntry, ReassignmentZnode,
    TopicPartitionEntry,
};

const CHROOT: &str = "/kafka";
const WAIT: Duration = Duration::from_secs(40);

struct Broker {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

struct Cluster {
    zk: ZooKeeper,
    /// Watches the tree from outside, as a tool would.
    observer: zookeeper_client::Client,
    brokers: BTreeMap<i32, Broker>,
    _dir: tempfile::TempDir,
    overrides: Vec<String>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Cluster {
    /// ZooKeeper plus brokers 1..=n, started in order; broker 1 becomes the controller.
    async fn start(n: i32, overrides: &[&str]) -> Cluster {
        let zk = ZooKeeper::start();
        let observer = zk.observer("").await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut cluster = Cluster {
            zk,
            observer,
            brokers: BTreeMap::new(),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            _dir: dir,
        };
        for id in 1..=n {
            let broker = Broker {
                port: free_port(),
                dir: cluster._dir.path().join(format!("broker-{id}")),
                child: None,
            };
            cluster.brokers.insert(id, broker);
            cluster.launch(id);
            cluster.wait_registered(id).await;
            if id == 1 {
                cluster.wait_controller(|c| c == Some(1)).await;
            }
        }
        cluster
    }

    /// Starts (or restarts) broker `id` with the same port and log dir.
    fn launch(&mut self, id: i32) {
        let connect = format!("{}{CHROOT}", self.zk.connect_string());
        let b = self.brokers.get_mut(&id).expect("known broker");
        std::fs::create_dir_all(&b.dir).expect("broker dir");
        let props = b.dir.join("server.properties");
        let text = format!(
            "broker.id={id}\nlisteners=PLAINTEXT://127.0.0.1:{}\nlog.dirs={}\nzookeeper.connect={connect}\n\
             zookeeper.session.timeout.ms=6000\ncontrolled.shutdown.retry.backoff.ms=500\n",
            b.port,
            b.dir.join("logs").display()
        );
        std::fs::write(&props, text).expect("write properties");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(b.dir.join("broker.log"))
            .expect("broker log");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zkafka"));
        cmd.arg("server").arg(&props);
        for o in &self.overrides {
            cmd.arg("--override").arg(o);
        }
        let child = cmd
            .env("RUST_LOG", "info")
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start zkafka server");
        b.child = Some(child);
    }

    fn log(&self, id: i32) -> String {
        std::fs::read_to_string(self.brokers[&id].dir.join("broker.log")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for a clean exit.
    async fn terminate(&mut self, id: i32) {
        let b = self.brokers.get_mut(&id).expect("known broker");
        let mut child = b.child.take().expect("running broker");
        let pid = child.id().expect("pid");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let exit = tokio::time::timeout(WAIT, child.wait())
            .await
            .expect("broker exits after SIGTERM")
            .expect("exit status");
        assert!(exit.success(), "broker {id} exit: {exit:?}");
    }

    /// SIGKILL: the broker vanishes only when its ZooKeeper session expires.
    async fn kill(&mut self, id: i32) {
        let b = self.brokers.get_mut(&id).expect("known broker");
        let mut child = b.child.take().expect("running broker");
        child.kill().await.expect("kill");
    }

    async fn wait_registered(&self, id: i32) {
        let path = format!("{CHROOT}/brokers/ids/{id}");
        self.wait_znode(&path, |data| data.is_some()).await;
    }

    async fn wait_controller(&self, pred: impl Fn(Option<i32>) -> bool) -> Option<i32> {
        let path = format!("{CHROOT}/controller");
        let data = self
            .wait_znode(&path, |d| pred(d.and_then(controller_of)))
            .await;
        data.and_then(|d| controller_of(&d))
    }

    /// Waits (with exists/data watches) until `pred` holds for the znode's data (None: absent).
    async fn wait_znode(
        &self,
        path: &str,
        pred: impl Fn(Option<&[u8]>) -> bool,
    ) -> Option<Vec<u8>> {
        let deadline = Instant::now() + WAIT;
        let raw = &self.observer;
        loop {
            let (stat, watcher) = raw.check_and_watch_stat(path).await.expect("exists watch");
            let data = match stat {
                Some(_) => raw.get_data(path).await.ok().map(|(d, _)| d),
                None => None,
            };
            if pred(data.as_deref()) {
                return data;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, watcher.changed()).await.is_err() {
                panic!(
                    "timed out waiting on {path}; last data {:?}",
                    data.map(String::from_utf8)
                );
            }
        }
    }

    async fn wait_state(
        &self,
        topic: &str,
        p: i32,
        pred: impl Fn(&PartitionState) -> bool,
    ) -> PartitionState {
        let path = format!("{CHROOT}/brokers/topics/{topic}/partitions/{p}/state");
        let data = self
            .wait_znode(&path, |d| {
                d.and_then(|d| serde_json::from_slice::<PartitionState>(d).ok())
                    .is_some_and(|s| pred(&s))
            })
            .await
            .expect("state present");
        serde_json::from_slice(&data).expect("state json")
    }

    /// Creates a topic as a tool does and waits for every partition to have a leader.
    async fn create_topic(&self, topic: &str, assignment: &[&[i32]]) {
        let zk = self.zk.client(CHROOT).await;
        let a: BTreeMap<i32, Vec<i32>> = assignment
            .iter()
            .enumerate()
            .map(|(p, r)| (p as i32, r.to_vec()))
            .collect();
        zk.create_topic(topic, &a, &new_topic_id(), &BTreeMap::new())
            .await
            .expect("create topic");
        for p in 0..assignment.len() as i32 {
            self.wait_state(topic, p, |s| s.leader >= 0).await;
        }
        zk.close().await;
    }

    async fn broker_epoch(&self, id: i32) -> i64 {
        let path = format!("{CHROOT}/brokers/ids/{id}");
        let stat = self.observer.check_stat(&path).await.expect("stat");
        stat.expect("registered").czxid
    }

    async fn connect(&self, id: i32) -> Connection {
        let addr = format!("127.0.0.1:{}", self.brokers[&id].port);
        Connection::connect(&addr, "controller-test", Duration::from_secs(5))
            .await
            .expect("connect to broker")
    }
}

fn controller_of(data: &[u8]) -> Option<i32> {
    let v: serde_json::Value = serde_json::from_slice(data).ok()?;
    v.get("brokerid")?.as_i64().map(|i| i as i32)
}

/// Partition p prefers broker 1 for p0..p3 (so broker 1 leads most), 2 and 3 for the others.
const ASSIGNMENT: [&[i32]; 6] = [
    &[1, 2, 3],
    &[1, 3, 2],
    &[1, 2, 3],
    &[1, 3, 2],
    &[2, 3, 1],
    &[3, 1, 2],
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_moves_leadership_before_the_broker_exits() {
    let mut c = Cluster::start(3, &[]).await;
    c.create_topic("cs", &ASSIGNMENT).await;
    for p in 0..4 {
        assert_eq!(c.wait_state("cs", p, |_| true).await.leader, 1);
    }
    c.terminate(1).await;
    let log = c.log(1);
    assert!(
        log.contains("controlled shutdown succeeded"),
        "broker 1 did not complete controlled shutdown:\n{log}"
    );
    for p in 0..6 {
        let s = c
            .wait_state("cs", p, |s| s.leader != 1 && !s.isr.contains(&1))
            .await;
        assert!(s.leader == 2 || s.leader == 3, "p{p}: {s:?}");
    }
    // Broker 1 was the controller too: another broker took over.
    let next = c.wait_controller(|id| id.is_some_and(|id| id != 1)).await;
    assert!(matches!(next, Some(2) | Some(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_controller_is_replaced_within_the_session_timeout() {
    let mut c = Cluster::start(3, &[]).await;
    c.create_topic("fo", &ASSIGNMENT).await;
    let killed = Instant::now();
    c.kill(1).await;
    let next = c.wait_controller(|id| id.is_some_and(|id| id != 1)).await;
    let took = killed.elapsed();
    assert!(matches!(next, Some(2) | Some(3)));
    // 6 s session timeout plus the election itself.
    assert!(
        took < Duration::from_secs(9),
        "new controller after {took:?}"
    );
    // The new controller moved broker 1's leaderships.
    for p in 0..4 {
        let s = c.wait_state("fo", p, |s| s.leader != 1).await;
        assert!(!s.isr.contains(&1), "p{p}: {s:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_leaders_return_after_a_restart() {
    let mut c = Cluster::start(
        3,
        &[
            "leader.imbalance.check.interval.seconds=1",
            "leader.imbalance.per.broker.percentage=0",
        ],
    )
    .await;
    c.create_topic("pl", &ASSIGNMENT).await;
    // Broker 2 (not the controller) leaves in a controlled way and comes back.
    c.terminate(2).await;
    let moved = c
        .wait_state("pl", 4, |s| s.leader != 2 && !s.isr.contains(&2))
        .await;
    assert!(c.log(2).contains("controlled shutdown succeeded"));
    c.launch(2);
    c.wait_registered(2).await;
    let leader = moved.leader;

    // AlterPartition is for the active controller only.
    let req = |isr: Vec<i32>, s: &PartitionState, partition_epoch: i32, epoch: i64| {
        AlterPartitionRequest::default()
            .with_broker_id(BrokerId(s.leader))
            .with_broker_epoch(epoch)
            .with_topics(vec![TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_static_str("pl")))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(4)
                    .with_leader_epoch(s.leader_epoch)
                    .with_new_isr(isr.into_iter().map(BrokerId).collect())
                    .with_partition_epoch(partition_epoch)])])
    };
    let path = format!("{CHROOT}/brokers/topics/pl/partitions/4/state");
    let (_, stat) = c.observer.get_data(&path).await.expect("state");
    let epoch = c.broker_epoch(leader).await;
    let not_controller = c.connect(3).await;
    let resp = not_controller
        .send(req(vec![leader, 2], &moved, stat.version, epoch), 1)
        .await
        .expect("AlterPartition answer");
    assert_eq!(
        resp.error_code,
        ResponseError::NotController.code(),
        "NOT_CONTROLLER from a non-controller"
    );

    // A stale partition epoch is refused by the controller.
    let controller = c.connect(1).await;
    let stale = controller
        .send(req(vec![leader], &moved, stat.version - 1, epoch), 1)
        .await
        .expect("AlterPartition answer");
    assert_eq!(stale.error_code, 0);
    // INVALID_UPDATE_VERSION, or FENCED_LEADER_EPOCH if the rebalance already moved p4.
    let code = stale.topics[0].partitions[0].error_code;
    assert!(code == 95 || code == 74, "{stale:?}");

    // The imbalance check gives p4 back to its preferred leader, broker 2.
    let s = c.wait_state("pl", 4, |s| s.leader == 2).await;
    assert!(s.isr.contains(&2));
    let log = c.log(1);
    assert!(log.contains("leader imbalance found"), "{log}");
}

async fn topic_znode(c: &Cluster, topic: &str) -> zkafka::zk::TopicZnode {
    let zk = c.zk.client(CHROOT).await;
    let topics = zk.get_topics(&[topic.to_string()]).await.expect("topic");
    zk.close().await;
    topics.get(topic).expect("topic exists").0.clone()
}

fn entry(topic: &str, partition: i32, replicas: &[i32]) -> ReassignmentEntry {
    ReassignmentEntry {
        topic: topic.into(),
        partition,
        replicas: replicas.to_vec(),
        log_dirs: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignments_and_preferred_elections_from_admin_znodes() {
    let mut c = Cluster::start(3, &[]).await;
    c.create_topic("ra", &[&[1, 2, 3], &[1, 2, 3], &[1, 2]])
        .await;
    let zk = c.zk.client(CHROOT).await;
    let reassign = format!("{CHROOT}/admin/reassign_partitions");

    // p0 drops its leader's replica, p1 only changes order: both complete at once (the targets are
    // in the ISR already).
    zk.create_reassignment(&ReassignmentZnode {
        version: 1,
        partitions: vec![entry("ra", 0, &[2, 3]), entry("ra", 1, &[2, 1, 3])],
    })
    .await
    .expect("reassignment");
    c.wait_znode(&reassign, |d| d.is_none()).await;
    let t = topic_znode(&c, "ra").await;
    assert_eq!(t.partitions[&0], vec![2, 3]);
    assert_eq!(t.partitions[&1], vec![2, 1, 3]);
    assert!(t.adding_replicas.is_empty() && t.removing_replicas.is_empty());
    let s = c.wait_state("ra", 0, |_| true).await;
    assert_eq!((s.leader, s.isr), (2, vec![2, 3]));

    // p1's leader (1) is not its preferred replica (2) any more; the admin znode fixes that.
    assert_eq!(c.wait_state("ra", 1, |_| true).await.leader, 1);
    zk.create_preferred_election(&PreferredElectionZnode {
        version: 1,
        partitions: vec![TopicPartitionEntry {
            topic: "ra".into(),
            partition: 1,
        }],
    })
    .await
    .expect("preferred election");
    c.wait_state("ra", 1, |s| s.leader == 2).await;
    c.wait_znode(&format!("{CHROOT}/admin/preferred_replica_election"), |d| {
        d.is_none()
    })
    .await;

    // p2 gains broker 3, which is down: the reassignment waits until broker 3 is back, has caught
    // up, and its leader (broker 1) has added it to the ISR through AlterPartition.
    c.terminate(3).await;
    c.wait_state("ra", 0, |s| !s.isr.contains(&3)).await;
    zk.create_reassignment(&ReassignmentZnode {
        version: 1,
        partitions: vec![entry("ra", 2, &[1, 2, 3])],
    })
    .await
    .expect("reassignment");
    let path = format!("{CHROOT}/brokers/topics/ra");
    c.wait_znode(&path, |d| {
        d.and_then(|d| serde_json::from_slice::<zkafka::zk::TopicZnode>(d).ok())
            .is_some_and(|t| t.adding_replicas.get(&2) == Some(&vec![3]))
    })
    .await;
    assert!(c.wait_znode(&reassign, |_| true).await.is_some());
    let s = c.wait_state("ra", 2, |_| true).await;
    assert_eq!((s.leader, s.isr), (1, vec![1, 2]));
    c.launch(3);
    c.wait_registered(3).await;
    let s = c.wait_state("ra", 2, |s| s.isr.contains(&3)).await;
    assert_eq!(s.leader, 1);
    c.wait_znode(&reassign, |d| d.is_none()).await;
    let t = topic_znode(&c, "ra").await;
    assert_eq!(t.partitions[&2], vec![1, 2, 3]);
    assert!(t.adding_replicas.is_empty());
    zk.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_config_change_allows_an_unclean_election() {
    let mut c = Cluster::start(3, &[]).await;
    c.create_topic("uc", &[&[2, 3]]).await;
    c.wait_state("uc", 0, |s| s.isr == vec![2, 3]).await;
    // Broker 3 leaves the ISR, then the only ISR member dies: the partition has no leader.
    c.terminate(3).await;
    c.wait_state("uc", 0, |s| s.isr == vec![2]).await;
    c.kill(2).await;
    c.wait_state("uc", 0, |s| s.leader == -1).await;
    // Broker 3 is back but was not in sync, and unclean election is off (Kafka's default).
    c.launch(3);
    c.wait_registered(3).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = c.wait_state("uc", 0, |_| true).await;
    assert_eq!((s.leader, s.isr), (-1, vec![2]));

    // kafka-configs --alter --add-config unclean.leader.election.enable=true, as ZooKeeper sees it.
    let zk = c.zk.client(CHROOT).await;
    let config = BTreeMap::from([(
        "unclean.leader.election.enable".to_string(),
        "true".to_string(),
    )]);
    zk.set_topic_config("uc", &config).await.expect("config");
    zk.close().await;
    let s = c.wait_state("uc", 0, |s| s.leader == 3).await;
    assert_eq!(s.isr, vec![3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_waits_for_its_stopped_replica() {
    let mut c = Cluster::start(3, &[]).await;
    c.create_topic("dl", &[&[1, 2, 3], &[2, 3, 1]]).await;
    let dir = |c: &Cluster, id: i32, p: i32| c.brokers[&id].dir.join(format!("logs/dl-{p}"));
    until("broker 3 to create its replicas", || {
        dir(&c, 3, 0).exists() && dir(&c, 3, 1).exists()
    })
    .await;
    c.terminate(3).await;

    let zk = c.zk.client(CHROOT).await;
    zk.request_topic_deletion("dl")
        .await
        .expect("mark for deletion");
    until("the live replicas to be deleted", || {
        !dir(&c, 1, 0).exists() && !dir(&c, 2, 1).exists()
    })
    .await;
    // Broker 3 still holds its replicas, so the topic stays marked for deletion.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let topic = format!("{CHROOT}/brokers/topics/dl");
    assert!(c.wait_znode(&topic, |_| true).await.is_some());
    let marker = format!("{CHROOT}/admin/delete_topics/dl");
    assert!(c.wait_znode(&marker, |_| true).await.is_some());
    assert!(dir(&c, 3, 0).exists());

    // Back again, broker 3 is told to delete; only then do the znodes go.
    c.launch(3);
    c.wait_znode(&topic, |d| d.is_none()).await;
    c.wait_znode(&marker, |d| d.is_none()).await;
    assert!(!dir(&c, 3, 0).exists() && !dir(&c, 3, 1).exists());
    zk.close().await;
}

/// Polls `cond` (a file-system fact no watch can signal) until it holds, for at most [`WAIT`].
async fn until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
