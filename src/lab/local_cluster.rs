//! A throw-away local cluster for one lab run: ZooKeeper from Debian's `zookeeper` package (as
//! scripts/cluster.sh starts it) and brokers of one kind: zkafka from the running executable, each
//! with its controller event stream on, or Apache Kafka 3.9 ([`super::kafka_process`]), each with
//! its controller log; the same broker properties for both, all under a temporary directory that
//! is removed afterwards.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::kafka_process;
use crate::client::ClusterClient;

/// Where Debian's zookeeper package puts the server and a log4j configuration.
const ZK_CLASSPATH: &str = "/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar";
/// A JVM broker loading thousands of partitions on a busy machine takes minutes.
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Which brokers the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    Zkafka,
    Kafka,
}

impl BrokerKind {
    pub fn name(self) -> &'static str {
        match self {
            BrokerKind::Zkafka => "zkafka",
            BrokerKind::Kafka => "kafka",
        }
    }
}

/// How to set up the brokers.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    pub kind: BrokerKind,
    pub brokers: usize,
    pub session_timeout_ms: u64,
    pub replication_factor: i16,
    pub min_insync_replicas: i32,
}

/// How a broker process is started.
enum Launcher {
    Zkafka(PathBuf),
    Kafka { libs: PathBuf, log4j: PathBuf },
}

pub struct LocalCluster {
    dir: PathBuf,
    zookeeper: Child,
    brokers: BTreeMap<i32, Child>,
    pub zk_connect: String,
    pub bootstrap: String,
    /// Broker id → `host:port`.
    pub addresses: BTreeMap<i32, String>,
    /// Broker id → its controller event stream file (zkafka).
    pub event_files: Vec<PathBuf>,
    /// Broker id → its controller and state-change logs (Kafka).
    pub controller_logs: Vec<(i32, PathBuf, PathBuf)>,
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

/// ZooKeeper's `ruok` four-letter command answered `imok`.
fn zk_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut answer = String::new();
    s.write_all(b"ruok").is_ok() && s.read_to_string(&mut answer).is_ok() && answer == "imok"
}

impl LocalCluster {
    /// Starts ZooKeeper and the brokers under `parent` and waits until every broker is in the
    /// metadata.
    pub async fn start(settings: &LocalSettings, parent: &Path) -> anyhow::Result<LocalCluster> {
        let dir = parent.join(format!(
            "cluster-{}-{}",
            std::process::id(),
            crate::clock::now_ms()
        ));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let zk_port = free_port()?;
        let zk_conf = dir.join("zookeeper.properties");
        std::fs::write(
            &zk_conf,
            format!(
                "dataDir={}\nclientPort={zk_port}\nclientPortAddress=127.0.0.1\ntickTime=2000\n\
                 minSessionTimeout=1000\nmaxSessionTimeout=120000\nmaxClientCnxns=0\n\
                 admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,stat,mntr\n",
                dir.join("zookeeper").display()
            ),
        )?;
        let zk_log = std::fs::File::create(dir.join("zookeeper.log"))?;
        let zookeeper = Command::new("java")
            .arg(format!("-Dzookeeper.log.dir={}", dir.display()))
            .args([
                "-cp",
                ZK_CLASSPATH,
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            ])
            .arg(&zk_conf)
            .stdout(zk_log.try_clone()?)
            .stderr(zk_log)
            .stdin(Stdio::null())
            .spawn()
            .context("starting ZooKeeper (java and Debian's zookeeper package are needed)")?;
        let mut cluster = LocalCluster {
            dir,
            zookeeper,
            brokers: BTreeMap::new(),
            zk_connect: format!("127.0.0.1:{zk_port}/lab"),
            bootstrap: String::new(),
            addresses: BTreeMap::new(),
            event_files: Vec::new(),
            controller_logs: Vec::new(),
        };
        let started = Instant::now();
        while !zk_ok(zk_port) {
            if started.elapsed() > START_TIMEOUT {
                bail!("ZooKeeper did not answer ruok on port {zk_port}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let launcher = match settings.kind {
            BrokerKind::Zkafka => {
                Launcher::Zkafka(std::env::current_exe().context("finding the zkafka executable")?)
            }
            BrokerKind::Kafka => Launcher::Kafka {
                libs: kafka_process::kafka_libs()?,
                log4j: kafka_process::write_log4j(&cluster.dir)?,
            },
        };
        for id in 1..=settings.brokers as i32 {
            cluster.start_broker(&launcher, id, settings)?;
        }
        cluster.bootstrap = cluster
            .addresses
            .values()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        cluster.wait_for_brokers(settings.brokers).await?;
        Ok(cluster)
    }

    fn start_broker(
        &mut self,
        launcher: &Launcher,
        id: i32,
        s: &LocalSettings,
    ) -> anyhow::Result<()> {
        let port = free_port()?;
        let addr = format!("127.0.0.1:{port}");
        let conf = self.dir.join(format!("server-{id}.properties"));
        // The same keys for both kinds, so a comparison compares the brokers.
        let mut props = format!(
            "broker.id={id}\nlisteners=PLAINTEXT://{addr}\nlog.dirs={}\n\
             zookeeper.connect={}\nzookeeper.session.timeout.ms={}\n\
             default.replication.factor={}\nmin.insync.replicas={}\n\
             offsets.topic.replication.factor={}\n",
            self.dir.join(format!("logs-{id}")).display(),
            self.zk_connect,
            s.session_timeout_ms,
            s.replication_factor,
            s.min_insync_replicas,
            s.brokers.min(3),
        );
        let mut cmd = match launcher {
            Launcher::Zkafka(exe) => {
                let events = self.dir.join(format!("controller-events-{id}.jsonl"));
                props.push_str(&format!(
                    "zkafka.controller.events.file={}\n",
                    events.display()
                ));
                self.event_files.push(events);
                let mut cmd = Command::new(exe);
                cmd.arg("server").arg(&conf).env("RUST_LOG", "info");
                cmd
            }
            Launcher::Kafka { libs, log4j } => {
                self.controller_logs.push((
                    id,
                    kafka_process::controller_log(&self.dir, id),
                    kafka_process::state_change_log(&self.dir, id),
                ));
                kafka_process::command(libs, log4j, id, &conf)
            }
        };
        std::fs::write(&conf, props)?;
        let log = std::fs::File::create(self.dir.join(format!("broker-{id}.log")))?;
        let child = cmd
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting broker {id}"))?;
        self.brokers.insert(id, child);
        self.addresses.insert(id, addr);
        Ok(())
    }

    async fn wait_for_brokers(&self, n: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Ok(c) =
                ClusterClient::bootstrap(&self.bootstrap, "zkafka-lab", Duration::from_secs(5))
                    .await
            {
                let md = c.metadata();
                if md.brokers.len() == n && md.controller_id >= 0 {
                    return Ok(());
                }
            }
            if started.elapsed() > START_TIMEOUT {
                bail!(
                    "the brokers did not all register within {:?} (logs in {})",
                    START_TIMEOUT,
                    self.dir.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Broker id → process id.
    pub fn pids(&self) -> BTreeMap<i32, u32> {
        self.brokers.iter().map(|(id, c)| (*id, c.id())).collect()
    }

    /// Copies the brokers' and ZooKeeper's logs to `to` (kept with the results for inspection).
    pub fn keep_logs(&self, to: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.ends_with(".log") || name.ends_with(".jsonl") {
                std::fs::copy(&path, to.join(name))?;
            }
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in self.brokers.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.zookeeper.kill();
        let _ = self.zookeeper.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
