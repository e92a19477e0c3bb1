"""Fixtures for zkafka's integration tests: a real ZooKeeper, real zkafka brokers, real clients.

- `zookeeper` (session): one ZooKeeper from the Debian package on a free port; each test gets its
  own chroot, so tests stay isolated while sharing it. `ZooKeeper` can also be used directly.
- `chroot` / `zk` / `zk_root`: the test's chroot and kazoo clients inside it and at the root.
- `broker_factory`: writes a properties file (free port, temp log dir, the test's chroot), starts
  target/debug/zkafka (env ZKAFKA_BIN overrides) and waits until /brokers/ids/<id> exists and the
  port accepts. Brokers left running are stopped at teardown; their logs are attached to the
  report of a failed test.
Helpers for kcat, confluent-kafka and kafka-python live in `helpers.py`, raw frames in `wire.py`,
the ZooKeeper processes in `zk_process.py`.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from helpers import ROOT, free_port, port_accepts, wait_until
from zk_process import ZooKeeper, ZooKeeperEnsemble

BROKER_START_TIMEOUT = float(os.environ.get("ZKAFKA_START_TIMEOUT", "30"))
# short enough that a killed broker's /brokers/ids/<id> vanishes quickly; ZooKeeper's tickTime
# below (500 ms) allows sessions from 1 s to 10 s
SESSION_TIMEOUT_MS = 6000

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

logging.getLogger("kazoo").setLevel(logging.WARNING)


def broker_binary() -> Path:
    return Path(os.environ.get("ZKAFKA_BIN", ROOT / "target" / "debug" / "zkafka")).resolve()


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory):
    zk = ZooKeeper(tmp_path_factory.mktemp("zookeeper"))
    zk.start()
    yield zk
    zk.stop()


def kazoo_client(hosts: str):
    from kazoo.client import KazooClient

    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=15)
    return client


@pytest.fixture
def chroot(request) -> str:
    """A chroot unique to this test, not yet created in ZooKeeper."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)[:60].strip("-")
    return f"/it/{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def zk_root(zookeeper):
    """A kazoo client at ZooKeeper's root (no chroot)."""
    client = kazoo_client(zookeeper.hosts)
    yield client
    client.stop()
    client.close()


@pytest.fixture
def zk(zookeeper, chroot):
    """A kazoo client inside the test's chroot: paths look like Kafka's (/brokers/ids/1, ...)."""
    client = kazoo_client(zookeeper.hosts + chroot)
    yield client
    client.stop()
    client.close()


# --------------------------------------------------------------------------------------------
# Brokers
# --------------------------------------------------------------------------------------------


class BrokerStartError(AssertionError):
    pass


class Broker:
    """One zkafka process: properties file, log file, data dir; start/stop/kill/restart."""

    def __init__(self, factory: "BrokerFactory", broker_id: int, props: dict, cli_overrides: list,
                 workdir: Path, chroot: str):
        self.factory = factory
        self.chroot = chroot
        self.broker_id = broker_id
        self.props = props
        self.cli_overrides = cli_overrides
        self.workdir = workdir
        self.props_path = workdir / f"server-{broker_id}.properties"
        self.log_path = workdir / f"broker-{broker_id}.log"
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        self.killed = False
        self.extra_args: list[str] = []  # raw command-line arguments after the overrides

    # --- what the properties say
    @property
    def port(self) -> int:
        return int(self.props["listeners"].rsplit(":", 1)[1])

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_dir(self) -> Path:
        return Path(self.props["log.dirs"].split(",")[0])

    @property
    def zk_connect(self) -> str:
        return self.props["zookeeper.connect"]

    @property
    def registration_path(self) -> str:
        """The znode path of this broker's registration, as seen from ZooKeeper's root."""
        return self.chroot + f"/brokers/ids/{self.broker_id}"

    def write_props(self) -> None:
        lines = [f"{k}={v}" for k, v in self.props.items() if v is not None]
        self.props_path.write_text("\n".join(lines) + "\n")

    # --- process control
    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def command(self) -> list[str]:
        """The broker's command line (the properties file is written before it runs)."""
        binary = broker_binary()
        if not binary.exists():
            raise BrokerStartError(f"no broker binary at {binary}: run `cargo build` (or set ZKAFKA_BIN)")
        # log.dirs is left for the broker to create, as Kafka does
        args = [str(binary), "server", str(self.props_path)]
        for k, v in self.cli_overrides:
            args += ["--override", f"{k}={v}"]
        return args + self.extra_args

    def start(self, wait: bool = True, timeout: float = BROKER_START_TIMEOUT) -> "Broker":
        assert not self.running(), f"broker {self.broker_id} already running"
        args = self.command()
        self.write_props()
        self.starts += 1
        self.killed = False
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start #{self.starts}: {' '.join(args)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env={**os.environ, "RUST_BACKTRACE": "1", "NO_COLOR": "1"},
            )
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = BROKER_START_TIMEOUT) -> None:
        zk = self.factory.zk_root()
        deadline = time.monotonic() + timeout
        registered = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BrokerStartError(
                    f"broker {self.broker_id} exited with {self.proc.returncode} during start-up:\n"
                    + self.log_tail(40)
                )
            registered = registered or zk.exists(self.registration_path) is not None
            if registered and port_accepts(self.host, self.port):
                return
            time.sleep(0.1)
        what = "its port never accepted" if registered else f"{self.registration_path} never appeared"
        raise BrokerStartError(
            f"broker {self.broker_id} not ready after {timeout}s ({what}):\n" + self.log_tail(40)
        )

    def wait_exit(self, timeout: float) -> int:
        """Waits for the process to exit; returns its exit code (fails the test on timeout)."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"broker {self.broker_id} still running {timeout}s later:\n" + self.log_tail(30)
            ) from None

    def kill9(self) -> None:
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.killed = True

    def sigterm(self, wait: bool = True, timeout: float = 10.0) -> int | None:
        if not self.running():
            return self.returncode
        self.proc.send_signal(signal.SIGCONT)  # a stopped process would not act on it
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout) if wait else None

    def sigstop(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def sigcont(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> int | None:
        """Teardown: SIGTERM, then SIGKILL after 10 s. Never fails."""
        if not self.running():
            return self.returncode
        try:
            self.sigterm(wait=True, timeout=10)
        except AssertionError:
            self.kill9()
        return self.returncode

    def restart(self, wait: bool = True, timeout: float = BROKER_START_TIMEOUT) -> "Broker":
        """Stops (SIGTERM) if running, then starts again with the same config and data.

        After a kill -9 the old ZooKeeper session still holds /brokers/ids/<id> until it expires
        (zookeeper.session.timeout.ms), and Kafka refuses to register over it; so wait for that.
        """
        if self.running():
            self.sigterm()
        elif self.killed:
            session_ms = int(self.props.get("zookeeper.session.timeout.ms") or SESSION_TIMEOUT_MS)
            zk = self.factory.zk_root()
            wait_until(
                lambda: zk.exists(self.registration_path) is None,
                timeout=session_ms / 1000 * 2 + 10,
                what=f"{self.registration_path} of the killed broker to expire",
            )
        return self.start(wait=wait, timeout=timeout)

    # --- output
    def log_text(self) -> str:
        """Everything the broker printed over all its runs, without terminal colour codes."""
        try:
            return ANSI.sub("", self.log_path.read_text(errors="replace"))
        except OSError:
            return ""

    def log_tail(self, lines: int = 200) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def last_stderr_line(self) -> str:
        """The last non-empty line the current (last) run printed."""
        run = self.log_text().rsplit("\n===== start #", 1)[-1]
        lines = [line for line in run.splitlines()[1:] if line.strip()]
        return lines[-1] if lines else ""

    def partition_dir(self, topic: str, partition: int) -> Path:
        return self.log_dir / f"{topic}-{partition}"

    def segment_files(self, topic: str, partition: int, suffix: str = ".log") -> list[Path]:
        d = self.partition_dir(topic, partition)
        return sorted(d.glob(f"*{suffix}")) if d.exists() else []


class BrokerFactory:
    """Creates brokers for one test, all in that test's chroot by default. `broker_class` is
    Broker (zkafka) or reference.KafkaBroker (Apache Kafka): the same properties start either."""

    def __init__(self, zookeeper: ZooKeeper, chroot: str, workdir: Path, broker_class=None):
        self.zookeeper = zookeeper
        self.chroot = chroot
        self.workdir = workdir
        self.broker_class = broker_class or Broker
        self.brokers: list[Broker] = []
        self._zk = None

    def zk_root(self):
        if self._zk is None:
            self._zk = kazoo_client(self.zookeeper.hosts)
        return self._zk

    def default_props(self, broker_id: int, port: int, log_dir: Path, chroot: str) -> dict:
        return {
            "broker.id": str(broker_id),
            "listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "log.dirs": str(log_dir),
            "zookeeper.connect": f"{self.zookeeper.hosts}{chroot}",
            "zookeeper.session.timeout.ms": str(SESSION_TIMEOUT_MS),
            "zookeeper.connection.timeout.ms": "10000",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "offsets.topic.replication.factor": "1",
            "auto.create.topics.enable": "true",
        }

    def __call__(
        self,
        broker_id: int = 1,
        overrides: dict | None = None,
        cli_overrides: list | dict | None = None,
        start: bool = True,
        wait: bool = True,
        timeout: float = BROKER_START_TIMEOUT,
        chroot: str | None = None,
    ) -> Broker:
        """A new broker. `overrides` change/add properties (value None removes the key);
        `cli_overrides` are passed as `--override k=v`; `chroot` replaces the test's chroot."""
        workdir = self.workdir / f"broker-{broker_id}-{len(self.brokers)}"
        workdir.mkdir(parents=True)
        chroot = self.chroot if chroot is None else chroot
        props = self.default_props(broker_id, free_port(), workdir / "logs", chroot)
        for k, v in (overrides or {}).items():
            props[k] = None if v is None else str(v)
        if isinstance(cli_overrides, dict):
            cli_overrides = list(cli_overrides.items())
        broker = self.broker_class(self, broker_id, props, list(cli_overrides or []), workdir, chroot)
        self.brokers.append(broker)
        if start:
            broker.start(wait=wait, timeout=timeout)
        return broker

    def close(self) -> None:
        for b in self.brokers:
            b.stop()
        if self._zk is not None:
            self._zk.stop()
            self._zk.close()


@pytest.fixture
def broker_factory(zookeeper, chroot, tmp_path):
    factory = BrokerFactory(zookeeper, chroot, tmp_path)
    yield factory
    factory.close()


@pytest.fixture
def broker(broker_factory):
    """One running broker (id 1) with num.partitions=3 in the test's chroot."""
    return broker_factory(1, overrides={"num.partitions": 3})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach every broker's log (and ZooKeeper's tail) to a failed test's report."""
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    funcargs = getattr(item, "funcargs", {}) or {}
    factory = funcargs.get("broker_factory") or funcargs.get("ensemble_broker_factory")
    if factory is not None:
        for b in factory.brokers:
            rep.sections.append(
                (f"broker {b.broker_id} log ({b.log_path}, exit {b.returncode})", b.log_tail(200) or "(empty)")
            )
    for name in ("zkafka_cluster", "kafka_cluster", "either_cluster"):
        cluster = funcargs.get(name)
        for b in getattr(cluster, "brokers", []):
            rep.sections.append(
                (f"{cluster.kind} broker {b.broker_id} log (exit {b.returncode})", b.log_tail(80) or "(empty)")
            )
    zk = funcargs.get("zookeeper")
    if isinstance(zk, ZooKeeper) and not zk.running():
        rep.sections.append(("ZooKeeper log (not running!)", zk.log_tail(40)))
    ensemble = funcargs.get("zk_ensemble")
    if isinstance(ensemble, ZooKeeperEnsemble):
        rep.sections.append((f"ZooKeeper ensemble {ensemble.modes()}", ensemble.log_tail(20)))


def read_json(client, path: str):
    """(parsed JSON, stat) of a znode."""
    data, stat = client.get(path)
    return json.loads(data.decode()), stat


@pytest.fixture
def zk_ensemble(tmp_path):
    """A fresh three-member ensemble for one test (members may be killed)."""
    ensemble = ZooKeeperEnsemble(tmp_path / "ensemble")
    try:
        ensemble.start()
    except BaseException:
        ensemble.stop()
        raise
    yield ensemble
    ensemble.stop()


@pytest.fixture
def ensemble_broker_factory(zk_ensemble, chroot, tmp_path):
    """broker_factory against zk_ensemble: zookeeper.connect lists all three members + the chroot."""
    factory = BrokerFactory(zk_ensemble, chroot, tmp_path / "brokers")
    (tmp_path / "brokers").mkdir()
    yield factory
    factory.close()


# --------------------------------------------------------------------------------------------
# Apache Kafka beside zkafka (the `reference` tests)
# --------------------------------------------------------------------------------------------


def _session_cluster(kind: str, zookeeper, tmp_path_factory):
    from reference import Cluster, kafka_broker_class

    broker_class = kafka_broker_class() if kind == "kafka" else Broker
    factory = BrokerFactory(zookeeper, f"/{kind}-cluster", tmp_path_factory.mktemp(kind), broker_class)
    cluster = Cluster(kind, factory)
    try:
        cluster.start()
    except BaseException:
        cluster.close()
        raise
    return cluster


@pytest.fixture(scope="session")
def kafka_cluster(zookeeper, tmp_path_factory):
    """Three Apache Kafka 3.9 brokers (ZooKeeper mode) from config/server-<n>.properties, once per run."""
    cluster = _session_cluster("kafka", zookeeper, tmp_path_factory)
    yield cluster
    cluster.close()


@pytest.fixture(scope="session")
def zkafka_cluster(zookeeper, tmp_path_factory):
    """Three zkafka brokers from the same config/server-<n>.properties, once per run."""
    cluster = _session_cluster("zkafka", zookeeper, tmp_path_factory)
    yield cluster
    cluster.close()


@pytest.fixture(params=["zkafka", "kafka"])
def either_cluster(request):
    """The test runs twice: against zkafka's cluster and against Kafka's."""
    return request.getfixturevalue(f"{request.param}_cluster")
