"""One ZooKeeper and N zkafka brokers on free loopback ports in a temporary directory, for
bench/failover.py. Every process is started here with Popen and stopped by its pid.

Env: ZKAFKA (binary; default target/release/zkafka), BENCH_TMP (parent dir; default the system's),
BENCH_KEEP (keep the directory).
"""
import datetime
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import warnings

from kazoo.client import KazooClient

ZK_CP = "/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar"
CHROOT = "/zkafka"
LINE = re.compile(r"^(\S+Z)\s+(\w+)\s+(\S+):\s+(.*)$")
logging.getLogger("kazoo").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", message="No chroot path exists")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_ts(ts):
    """RFC 3339 UTC timestamp of a tracing line -> seconds since the epoch."""
    return datetime.datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def fields(msg):
    """key=value pairs of a tracing message (values as strings)."""
    return dict(re.findall(r"(\w+)=(\[[^\]]*\]|\S+)", msg))


class Cluster:
    def __init__(self, brokers=3, props=()):
        self.dir = tempfile.mkdtemp(prefix="zkafka-failover.", dir=os.environ.get("BENCH_TMP"))
        self.bin = os.environ.get(
            "ZKAFKA", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "target", "release", "zkafka"))
        self.zk_port = free_port()
        self.ids = list(range(1, brokers + 1))
        self.ports = {b: free_port() for b in self.ids}
        self.props = list(props)
        self.procs = {}
        self.zk_proc = None
        self.zk = None

    # ---- processes -------------------------------------------------------------------------
    def start(self):
        zkdir = os.path.join(self.dir, "zk")
        os.makedirs(zkdir)
        cfg = os.path.join(self.dir, "zoo.cfg")
        with open(cfg, "w") as f:
            f.write(f"tickTime=2000\ndataDir={zkdir}\nclientPort={self.zk_port}\nclientPortAddress=127.0.0.1\n"
                    "admin.enableServer=false\n4lw.commands.whitelist=*\nmaxClientCnxns=0\n")
        with open(os.path.join(self.dir, "zookeeper.log"), "w") as log:
            self.zk_proc = subprocess.Popen(
                ["java", f"-Dzookeeper.log.dir={self.dir}", "-cp", ZK_CP,
                 "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg],
                stdout=log, stderr=subprocess.STDOUT)
        self.zk = KazooClient(hosts=f"127.0.0.1:{self.zk_port}", timeout=10)
        for _ in range(150):
            try:
                self.zk.start(timeout=2)
                break
            except Exception:
                if self.zk_proc.poll() is not None:
                    raise SystemExit("ZooKeeper exited during start-up")
                time.sleep(0.2)
        else:
            raise SystemExit("ZooKeeper did not start")
        for b in self.ids:
            self.start_broker(b)
        for b in self.ids:
            self.wait_registered(b)

    def start_broker(self, b):
        props = os.path.join(self.dir, f"server-{b}.properties")
        logdir = os.path.join(self.dir, f"kafka-logs-{b}")
        os.makedirs(logdir, exist_ok=True)
        port = self.ports[b]
        with open(props, "w") as f:
            for line in [
                f"broker.id={b}",
                f"listeners=PLAINTEXT://127.0.0.1:{port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                f"log.dirs={logdir}",
                f"zookeeper.connect=127.0.0.1:{self.zk_port}{CHROOT}",
                "num.partitions=1",
                "default.replication.factor=2",
                "offsets.topic.replication.factor=1",
                "min.insync.replicas=1",
                "auto.create.topics.enable=false",
                "socket.request.max.bytes=104857600",
                *self.props,
            ]:
                f.write(line + "\n")
        log = open(self.log_path(b), "a")
        self.procs[b] = subprocess.Popen([self.bin, "server", props], stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def descriptors(self, b):
        """Broker b's open file descriptors, its replicas (partition directories) and its limit."""
        pid = self.procs[b].pid
        logdir = os.path.join(self.dir, f"kafka-logs-{b}")
        replicas = sum(1 for e in os.scandir(logdir) if e.is_dir())
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        limit = None
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    limit = int(line.split()[3])
        return {"fds": fds, "replicas": replicas, "fd_limit": limit,
                "fds_per_replica": round(fds / replicas, 3) if replicas else None}

    def log_path(self, b):
        return os.path.join(self.dir, f"broker-{b}.log")

    def wait_registered(self, b, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs[b].poll() is not None:
                raise SystemExit(f"broker {b} exited: see {self.log_path(b)}")
            if self.zk.exists(f"{CHROOT}/brokers/ids/{b}"):
                try:
                    with socket.create_connection(("127.0.0.1", self.ports[b]), timeout=1):
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise SystemExit(f"broker {b} not registered after {timeout}s")

    def signal(self, b, sig):
        """Sends sig to broker b's pid; returns the wall-clock time just before."""
        t = time.time()
        os.kill(self.procs[b].pid, sig)
        return t

    def wait_exit(self, b, timeout=120):
        try:
            self.procs[b].wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.procs[b].pid, signal.SIGKILL)
            self.procs[b].wait(10)

    def stop(self):
        for b, p in self.procs.items():
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for b, p in self.procs.items():
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(10)
        if self.zk is not None:
            try:
                self.zk.stop()
                self.zk.close()
            except Exception:
                pass
        if self.zk_proc is not None and self.zk_proc.poll() is None:
            os.kill(self.zk_proc.pid, signal.SIGTERM)
            try:
                self.zk_proc.wait(20)
            except subprocess.TimeoutExpired:
                os.kill(self.zk_proc.pid, signal.SIGKILL)
                self.zk_proc.wait(10)
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- ZooKeeper / logs ------------------------------------------------------------------
    def bootstrap(self, exclude=()):
        return ",".join(f"127.0.0.1:{self.ports[b]}" for b in self.ids if b not in exclude)

    def controller(self):
        try:
            data, stat = self.zk.get(f"{CHROOT}/controller")
            return json.loads(data)["brokerid"], stat
        except Exception:
            return None, None

    def log_offset(self, b):
        try:
            return os.path.getsize(self.log_path(b))
        except OSError:
            return 0

    def log_lines(self, b, offset):
        """(ts, level, target, message, fields) of broker b's log lines after byte offset."""
        out = []
        with open(self.log_path(b), "rb") as f:
            f.seek(offset)
            for raw in f.read().decode(errors="replace").splitlines():
                m = LINE.match(raw)
                if m:
                    out.append((parse_ts(m.group(1)), m.group(2), m.group(3), m.group(4), fields(m.group(4))))
        return out

    def count(self, offsets, text):
        """How many lines containing text the brokers logged after offsets {broker: byte offset}."""
        return sum(sum(1 for ln in self.log_lines(b, o) if text in ln[3]) for b, o in offsets.items())
