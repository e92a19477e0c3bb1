"""Apache Kafka 3.9 in ZooKeeper mode beside zkafka, for the differential tests.

- `KafkaBroker`: a conftest.Broker whose process is Apache Kafka (`kafka.Kafka`, the jars that
  scripts/kafka-java.sh brings from Maven Central), started from the same properties file a zkafka
  broker would get.
- `Cluster`: three brokers of one kind in one chroot, started from config/server-<n>.properties
  with only ports, log dirs and the chroot overridden (as scripts/kafka-reference.sh does).
- `kafka_tool(name, *args)`: one of Kafka's command-line tools (scripts/kafka-tool.sh).
- `java_client(...)`: runs a Java source file of integration/java/ against a kafka-clients version.
"""
from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from helpers import ROOT

KAFKA_VERSION = os.environ.get("KAFKA_VERSION", "3.9.2")
# the Java client versions the client tests run: Kafka 3.9's own and the newest 4.x Maven serves
JAVA_CLIENT_VERSIONS = os.environ.get("ZKAFKA_JAVA_CLIENTS", "3.9.2,4.4.0").split(",")
KAFKA_HEAP = os.environ.get("KAFKA_HEAP", "-Xms512m -Xmx512m").split()
JAVA_DIR = Path(__file__).resolve().parent / "java"

# keys of config/server-<n>.properties that the cluster replaces; every other key is kept
PLACE_KEYS = {"broker.id", "listeners", "advertised.listeners", "log.dirs", "zookeeper.connect"}


@functools.cache
def kafka_classpath(kind: str = "broker", version: str = KAFKA_VERSION) -> str:
    """`DIR/*` of Kafka's jars (fetched from Maven Central on first use, cached outside the repo)."""
    cp = subprocess.run(
        [str(ROOT / "scripts" / "kafka-java.sh"), kind, version],
        capture_output=True, text=True, timeout=600,
    )
    if cp.returncode != 0:
        raise RuntimeError(f"scripts/kafka-java.sh {kind} {version} failed:\n{cp.stderr}")
    return cp.stdout.strip()


def config_file_props(broker_id: int) -> dict:
    """The keys of config/server-<id>.properties that a test cluster keeps (all but PLACE_KEYS)."""
    props = {}
    for line in (ROOT / "config" / f"server-{broker_id}.properties").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key not in PLACE_KEYS:
            props[key] = value
    return props


def _broker_class():
    from conftest import Broker

    class KafkaBroker(Broker):
        """Apache Kafka started from the properties file a zkafka broker would get."""

        kind = "kafka"

        def command(self) -> list[str]:
            args = [
                "java", *KAFKA_HEAP, "-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
                "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{ROOT / 'reference' / 'log4j.properties'}",
                "-cp", kafka_classpath(), "kafka.Kafka", str(self.props_path),
            ]
            for k, v in self.cli_overrides:
                args += ["--override", f"{k}={v}"]
            return args + self.extra_args

    return KafkaBroker


@functools.cache
def kafka_broker_class():
    return _broker_class()


@dataclass
class Cluster:
    """Three brokers of one kind ("zkafka" or "kafka") in their own chroot."""

    kind: str
    factory: object
    brokers: list = field(default_factory=list)

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap for b in self.brokers if b.running())

    @property
    def chroot(self) -> str:
        return self.factory.chroot

    @property
    def zk_connect(self) -> str:
        return self.factory.zookeeper.hosts + self.chroot

    def broker(self, broker_id: int):
        return next(b for b in self.brokers if b.broker_id == broker_id)

    def start(self, ids=(1, 2, 3), extra: dict | None = None) -> "Cluster":
        for broker_id in ids:
            props = {**config_file_props(broker_id), **(extra or {})}
            self.brokers.append(self.factory(broker_id, overrides=props, wait=False))
        for b in self.brokers:
            b.wait_ready(timeout=120 if self.kind == "kafka" else 30)
        return self

    def close(self) -> None:
        self.factory.close()


def kafka_tool(name: str, *args: str, timeout: float = 120, check: bool = True,
               input: str | None = None) -> subprocess.CompletedProcess:
    """Runs one of Kafka 3.9's command-line tools (scripts/kafka-tool.sh) with a hard timeout."""
    cp = subprocess.run(
        [str(ROOT / "scripts" / "kafka-tool.sh"), name, *args],
        capture_output=True, text=True, timeout=timeout, input=input,
    )
    if check and cp.returncode != 0:
        raise AssertionError(
            f"{name} {' '.join(args)} exited {cp.returncode}:\n{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
        )
    return cp


def java_client(source: str, *args: str, version: str = KAFKA_VERSION, timeout: float = 120,
                check: bool = True) -> subprocess.CompletedProcess:
    """Runs integration/java/<source> (a single-file Java program) on kafka-clients `version`."""
    cp = subprocess.run(
        ["java", "-Xmx256m", "-cp", kafka_classpath("client", version), str(JAVA_DIR / source), *args],
        capture_output=True, text=True, timeout=timeout,
    )
    if check and cp.returncode != 0:
        raise AssertionError(
            f"{source} {' '.join(args)} (kafka-clients {version}) exited {cp.returncode}:\n"
            f"{cp.stdout[-3000:]}\n{cp.stderr[-3000:]}"
        )
    return cp
