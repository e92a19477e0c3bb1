//! A throw-away ZooKeeper server (Debian's 3.8 package) on a free port, plus small helpers.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::protocol::StrBytes;
use zookeeper_client::Client;

/// A throw-away ZooKeeper server.
pub struct ZooKeeper {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl ZooKeeper {
    pub fn start() -> ZooKeeper {
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

    pub fn four_letter(&self, cmd: &str) -> String {
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

    /// ZooKeeper's own count of requests received (`mntr` zk_packets_received).
    pub fn packets_received(&self) -> u64 {
        self.four_letter("mntr")
            .lines()
            .find_map(|l| l.strip_prefix("zk_packets_received"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The broker's client, for the store under test.
    pub async fn kafka_client(&self) -> zkafka::zk::KafkaZkClient {
        let settings = zkafka::zk::ZkSettings::new(format!("127.0.0.1:{}", self.port));
        zkafka::zk::KafkaZkClient::connect(&settings).await.unwrap()
    }

    /// An independent raw session that checks what the store wrote, as an outside tool would.
    pub async fn client(&self) -> Client {
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

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

pub fn extra(md: &str, epoch: i32) -> Option<zkafka::coordinator::OffsetExtra> {
    Some(zkafka::coordinator::OffsetExtra {
        metadata: Some(md.to_string()),
        leader_epoch: epoch,
        commit_timestamp_ms: 1_700_000_000_000,
    })
}

pub async fn data(client: &Client, path: &str) -> (String, zookeeper_client::Stat) {
    let (d, stat) = client
        .get_data(path)
        .await
        .unwrap_or_else(|e| panic!("{path}: {e}"));
    (String::from_utf8(d).unwrap(), stat)
}

/// Waits (bounded) until `path`'s children, with their data, equal `want`.
pub async fn await_children(client: &Client, path: &str, want: &[(&str, &str)]) {
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
