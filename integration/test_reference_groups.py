"""Consumer groups of three members reach the same assignment on zkafka as on Apache Kafka 3.9, in
comparable time: kafka-python 3.x and confluent-kafka members, each in its own thread, on a topic
of six partitions; then one member leaves and the other two take over its partitions. (The Java
client's groups are in test_java_client.py.)
"""
from __future__ import annotations

import threading
import time

import pytest

from helpers import unique_topic
from reference import kafka_tool

pytestmark = pytest.mark.reference

PARTITIONS = 6
TRIES = 3
SETTLE_TIMEOUT = 40.0


class Member(threading.Thread):
    """One group member polling in its own thread; `assigned` is what it owns now."""

    def __init__(self, client: str, bootstrap: str, topic: str, group: str):
        super().__init__(daemon=True)
        self.client, self.bootstrap, self.topic, self.group = client, bootstrap, topic, group
        self.assigned: frozenset = frozenset()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        try:
            if self.client == "kafka-python":
                self.run_kafka_python()
            else:
                self.run_confluent()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e

    def run_kafka_python(self):
        from kafka import KafkaConsumer

        c = KafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=self.group,
                          enable_auto_commit=False, session_timeout_ms=10000, heartbeat_interval_ms=1000,
                          auto_offset_reset="earliest")
        try:
            while not self.stop.is_set():
                c.poll(timeout_ms=100)
                self.assigned = frozenset(tp.partition for tp in c.assignment())
        finally:
            c.close()

    def run_confluent(self):
        from confluent_kafka import Consumer

        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.group,
                      "enable.auto.commit": False, "session.timeout.ms": 10000,
                      "heartbeat.interval.ms": 1000, "broker.address.family": "v4"})
        c.subscribe([self.topic])
        try:
            while not self.stop.is_set():
                c.poll(0.1)
                self.assigned = frozenset(tp.partition for tp in c.assignment())
        finally:
            c.close()


def settled(members: list[Member]) -> bool:
    owned = [m.assigned for m in members]
    union = frozenset().union(*owned)
    return (union == frozenset(range(PARTITIONS)) and sum(len(o) for o in owned) == PARTITIONS
            and max(len(o) for o in owned) - min(len(o) for o in owned) <= 1)


def wait_settled(members: list[Member], timeout: float) -> float | None:
    """Seconds until the members own disjoint, balanced shares of every partition for a whole
    second (None if never within timeout)."""
    start = time.monotonic()
    since = None
    while time.monotonic() - start < timeout:
        for m in members:
            assert m.error is None, f"{m.client} member failed: {m.error!r}"
        if settled(members):
            since = since or time.monotonic()
            if time.monotonic() - since >= 1.0:
                return since - start
        else:
            since = None
        time.sleep(0.05)
    return None


def one_try(cluster, client: str) -> tuple[float | None, float | None]:
    """(seconds for three new members to settle, seconds for two to settle after one leaves)."""
    topic, group = unique_topic("grp"), unique_topic("grp-g")
    kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
               "--partitions", str(PARTITIONS), "--replication-factor", "1")
    members = [Member(client, cluster.bootstrap, topic, group) for _ in range(3)]
    for m in members:
        m.start()
    try:
        first = wait_settled(members, SETTLE_TIMEOUT)
        members[0].stop.set()
        members[0].join(timeout=30)
        after_leave = wait_settled(members[1:], SETTLE_TIMEOUT) if first is not None else None
        return first, after_leave
    finally:
        for m in members:
            m.stop.set()
        for m in members:
            m.join(timeout=30)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_three_members_settle_as_on_kafka(zkafka_cluster, kafka_cluster, client):
    times = {"zkafka": [], "kafka": []}
    for _ in range(TRIES):
        for cluster in (zkafka_cluster, kafka_cluster):
            times[cluster.kind].append(one_try(cluster, client))
    print(f"{client}: seconds to settle (three members, then two after one leaves): {times}")
    assert all(a is not None and b is not None for a, b in times["kafka"]), f"Kafka did not settle: {times}"
    assert all(a is not None and b is not None for a, b in times["zkafka"]), f"zkafka did not settle: {times}"
    worst = lambda kind, i: max(t[i] for t in times[kind])  # noqa: E731
    for i, what in enumerate(["three members", "after a member left"]):
        assert worst("zkafka", i) <= 2 * worst("kafka", i) + 3, f"{what}: {times}"
