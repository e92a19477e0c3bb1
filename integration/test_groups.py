"""Consumer groups against a real zkafka broker: membership and assignment as confluent-kafka,
kafka-python and kcat see them, and committed offsets as ZooKeeper shows them at
/consumers/<group>/offsets/<topic>/<partition> (bare decimal text, see zk-layout.md).

Brokers run with group.initial.rebalance.delay.ms=0 and group.min.session.timeout.ms=1000 so that
joins and expiries take a second or two, not Kafka's defaults.
"""
from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import uuid

import pytest

from helpers import (
    Rec,
    ck_admin,
    ck_consumer,
    ck_producer,
    karray,
    kbytes,
    kcat,
    kp_consumer,
    kstr,
    raw_call,
    unique_topic,
    wait_until,
)

pytestmark = pytest.mark.clients

N_PARTITIONS = 6
GROUP_BROKER = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "num.partitions": N_PARTITIONS,
}

# api keys
OFFSET_COMMIT, OFFSET_FETCH, JOIN_GROUP, SYNC_GROUP = 8, 9, 11, 14
# error codes
NONE, UNKNOWN_TOPIC_OR_PARTITION, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID = 0, 3, 22, 25
NON_EMPTY_GROUP = 68


@pytest.fixture
def gbroker(broker_factory):
    """One broker with fast group settings."""
    return broker_factory(1, overrides=GROUP_BROKER)


def unique_group(prefix: str = "g") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def offset_path(group: str, topic: str, partition: int) -> str:
    return f"/consumers/{group}/offsets/{topic}/{partition}"


def zk_offsets(zk, group: str, topic: str) -> dict[int, bytes]:
    """{partition: raw znode data} of every committed offset of group/topic in ZooKeeper."""
    base = f"/consumers/{group}/offsets/{topic}"
    if zk.exists(base) is None:
        return {}
    return {int(p): zk.get(f"{base}/{p}")[0] for p in zk.get_children(base)}


def create_topic(bootstrap: str, topic: str, partitions: int = N_PARTITIONS) -> None:
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(bootstrap)
    admin.create_topics([NewTopic(topic, partitions, 1)], request_timeout=15)[topic].result(timeout=20)

    def ready():
        md = admin.list_topics(topic, timeout=5).topics[topic]
        return md.error is None and len(md.partitions) == partitions and all(
            p.leader >= 0 for p in md.partitions.values())

    wait_until(ready, timeout=15, what=f"{topic} to have {partitions} partitions with leaders")


def produce_per_partition(bootstrap: str, topic: str, per_partition: int, partitions: int = N_PARTITIONS) -> set:
    """per_partition records to each partition (values 'p<p>-<i>'); returns {(partition, offset)}."""
    p = ck_producer(bootstrap, acks="all")
    delivered, errors = set(), []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.add((msg.partition(), msg.offset()))

    for i in range(per_partition):
        for part in range(partitions):
            p.produce(topic, value=f"p{part}-{i}", partition=part, on_delivery=cb)
        p.poll(0)
    assert p.flush(20) == 0, "records not delivered within 20s"
    assert not errors, errors[:5]
    assert len(delivered) == per_partition * partitions
    return delivered


class Member:
    """A confluent-kafka group member subscribed to one topic; poll() drains what is ready."""

    def __init__(self, bootstrap: str, group: str, topic: str, **conf):
        base = {
            "group.id": group,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "partition.assignment.strategy": "range",
            "enable.partition.eof": False,
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000,
        }
        base.update(conf)
        self.consumer = ck_consumer(bootstrap, **base)
        self.consumer.subscribe([topic])
        self.records: list[Rec] = []
        self.closed = False

    def poll(self, timeout: float = 0.05) -> None:
        for m in self.consumer.consume(num_messages=1000, timeout=timeout):
            if m.error():
                raise AssertionError(f"consumer error: {m.error()}")
            self.records.append(Rec(m.partition(), m.offset(), None, m.value().decode()))

    def assignment(self) -> list[int]:
        return sorted(tp.partition for tp in self.consumer.assignment())

    def member_id(self) -> str:
        return self.consumer.memberid()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.consumer.close()


@pytest.fixture
def members(gbroker):
    """A list to put Members in; closed at teardown, before the broker stops."""
    created: list[Member] = []
    yield created
    for m in created:
        try:
            m.close()
        except Exception:  # noqa: BLE001 - teardown must not mask the test's own failure
            pass


def pump(members: list[Member], until, timeout: float, what: str):
    """Polls every open member in turn until until() is truthy; fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        for m in members:
            if not m.closed:
                m.poll()
        value = until()
        if value:
            return value
        if time.monotonic() > deadline:
            state = {i: m.assignment() for i, m in enumerate(members) if not m.closed}
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; assignments: {state}")


def describe(bootstrap: str, group: str):
    return ck_admin(bootstrap).describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)


def described_assignment(desc) -> dict[str, list[int]]:
    return {m.member_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members}


# --- 1. two members split six partitions ------------------------------------------------------


@pytest.mark.timeout(60)
def test_two_members_split_six_partitions_and_consume_each_record_once(gbroker, members, zk):
    topic, group = unique_topic("split"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    members += [Member(gbroker.bootstrap, group, topic) for _ in range(2)]
    a, b = members
    pump(members, lambda: a.assignment() and b.assignment() and len(a.assignment()) + len(b.assignment()) == 6,
         timeout=30, what="both members to hold all six partitions")
    assert len(a.assignment()) == 3 and len(b.assignment()) == 3
    assert set(a.assignment()) | set(b.assignment()) == set(range(N_PARTITIONS))

    desc = describe(gbroker.bootstrap, group)
    assert sorted(described_assignment(desc).values()) == sorted([a.assignment(), b.assignment()])
    assert {a.member_id(), b.member_id()} == set(described_assignment(desc))

    delivered = produce_per_partition(gbroker.bootstrap, topic, 100)
    pump(members, lambda: len(a.records) + len(b.records) >= len(delivered), timeout=30,
         what="600 records consumed")
    # a little longer: a duplicate would show up now
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        for m in members:
            m.poll()
    got = [(r.partition, r.offset) for r in a.records + b.records]
    assert len(got) == len(set(got)), "no record consumed twice"
    assert set(got) == delivered, "every record consumed"
    assert {r.partition for r in a.records} <= set(a.assignment())
    assert {r.partition for r in b.records} <= set(b.assignment())
