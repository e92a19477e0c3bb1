//! A real ZooKeeper 3.8 (Debian's package) for tests: a standalone server on a free port with a
//! temporary data dir, stopped by pid on drop. `stop`/`start` keep port and data, for fault tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLASSPATH: &str = "/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar";

pub struct ZooKeeper {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl ZooKeeper {
    /// Starts a server and waits until it answers `ruok` with `imok`.
    pub fn start() -> ZooKeeper {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let cfg = format!(
            "tickTime=500\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n\
             4lw.commands.whitelist=*\nminSessionTimeout=1000\nmaxSessionTimeout=60000\n",
            dir.path().join("data").display()
        );
        std::fs::write(dir.path().join("zoo.cfg"), cfg).expect("write zoo.cfg");
        let mut zk = ZooKeeper {
            dir,
            port,
            child: None,
        };
        zk.start_again();
        zk
    }

    /// `127.0.0.1:<port>`, without chroot.
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server process (by pid) and waits for it to exit. Sessions survive on disk.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and data dir (after [`Self::stop`]).
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "ZooKeeper already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open zookeeper log");
        let child = Command::new("java")
            .args(["-Xmx128m", "-XX:+UseSerialGC", "-cp", CLASSPATH])
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.dir.path().join("zoo.cfg"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn java ZooKeeper (is the zookeeper package installed?)");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60));
    }

    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("zookeeper.out")
    }

    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.four_letter("ruok").as_deref() == Some("imok") {
                return;
            }
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "ZooKeeper exited with {status}: {}",
                        std::fs::read_to_string(self.log_path()).unwrap_or_default()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("ZooKeeper did not answer ruok within {limit:?}");
    }

    /// Sends a four-letter command (`ruok`, `stat`, `cons`, `dump`) and returns the answer.
    pub fn four_letter(&self, command: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(command.as_bytes()).ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        Some(answer)
    }
}

impl Drop for ZooKeeper {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

impl ZooKeeper {
    /// An independent raw session under `chroot` ("" for none; it must exist already) that looks
    /// at the tree as an outside tool would: tests read back exact bytes and stats with it rather
    /// than through the `KafkaZkClient` they are testing, which never hands out its own session.
    pub async fn observer(&self, chroot: &str) -> zookeeper_client::Client {
        zookeeper_client::Client::connect(&format!("{}{chroot}", self.connect_string()))
            .await
            .expect("observer session")
    }

    /// Settings for a `KafkaZkClient` on this server under `chroot` (`""` for none).
    pub fn settings(&self, chroot: &str) -> zkafka::zk::ZkSettings {
        zkafka::zk::ZkSettings {
            connect: format!("{}{chroot}", self.connect_string()),
            session_timeout: Duration::from_secs(6),
            connection_timeout: Duration::from_secs(10),
            set_acl: false,
            sasl: None,
        }
    }

    /// A `KafkaZkClient` session on this server under `chroot` (`""` for none).
    pub async fn client(&self, chroot: &str) -> zkafka::zk::KafkaZkClient {
        zkafka::zk::KafkaZkClient::connect(&self.settings(chroot))
            .await
            .expect("KafkaZkClient session")
    }
}
