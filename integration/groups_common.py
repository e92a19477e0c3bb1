"""What the consumer-group integration tests share: a broker tuned for fast joins (the `gbroker`
fixture), topics, ZooKeeper offset paths, and the protocol constants the raw-wire tests use."""
from __future__ import annotations

import uuid

import pytest

from helpers import (
    ck_admin,
    ck_producer,
    wait_until,
)


N_PARTITIONS = 6
GROUP_BROKER = {
    "group.initial.rebalance.delay.ms": 0,
    "group.min.session.timeout.ms": 1000,
    "num.partitions": N_PARTITIONS,
}

# api keys
OFFSET_COMMIT, OFFSET_FETCH, FIND_COORDINATOR, JOIN_GROUP, SYNC_GROUP = 8, 9, 10, 11, 14
# error codes
NONE, UNKNOWN_TOPIC_OR_PARTITION, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID = 0, 3, 22, 25
NON_EMPTY_GROUP = 68


def wait_for_metadata(broker) -> None:
    """Until Metadata names the broker and a controller: right after start-up the broker may answer
    before its metadata cache is filled, and librdkafka's admin calls then time out waiting."""
    admin = ck_admin(broker.bootstrap)

    def ready():
        md = admin.list_topics(timeout=5)
        return md.controller_id >= 0 and broker.broker_id in md.brokers

    wait_until(ready, timeout=20, interval=0.2, what=f"broker {broker.broker_id}'s metadata")


@pytest.fixture
def gbroker(broker_factory):
    """One broker with fast group settings."""
    broker = broker_factory(1, overrides=GROUP_BROKER)
    wait_for_metadata(broker)
    return broker


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


