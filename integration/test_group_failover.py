"""Group coordinator failover: the coordinator is the leader of the group's __consumer_offsets
partition, so killing its broker moves the group to the new leader, which serves the same committed
offsets from ZooKeeper."""

import json
import time

import pytest

from helpers import ck_admin, ck_produce, offsets_partition, unique_topic, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(150)]

OFFSETS_PARTITIONS = 50



def consume(consumer, want: int, timeout: float) -> list:
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        m = consumer.poll(0.5)
        if m is not None and not m.error():
            got.append((m.partition(), m.offset()))
    return got


def test_group_moves_to_the_new_coordinator_and_resumes_from_committed_offsets(broker_factory, zk):
    overrides = {"offsets.topic.replication.factor": 3, "default.replication.factor": 3,
                 "group.initial.rebalance.delay.ms": 0}
    brokers = {i: broker_factory(i, overrides=overrides) for i in (1, 2, 3)}
    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    topic, group = unique_topic("gfail"), unique_topic("gfail-group")
    admin = ck_admin(bootstrap)
    from confluent_kafka.admin import NewTopic
    admin.create_topics([NewTopic(topic, 6, 3)])[topic].result(30)
    ck_produce(bootstrap, topic, [f"v{i}" for i in range(600)], **{"acks": "all"})

    from confluent_kafka import Consumer
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "broker.address.family": "v4", "session.timeout.ms": 6000}
    c = Consumer(conf)
    c.subscribe([topic])
    first = consume(c, 300, timeout=60)
    assert len(first) >= 300
    c.commit(asynchronous=False)
    committed = {tp.partition: tp.offset for tp in c.committed(c.assignment(), timeout=10)}
    c.close()
    base = f"/consumers/{group}/offsets/{topic}"
    in_zk = {int(p): int(zk.get(f"{base}/{p}")[0]) for p in zk.get_children(base)}
    assert in_zk == {p: o for p, o in committed.items() if o >= 0}

    state_path = f"/brokers/topics/__consumer_offsets/partitions/{offsets_partition(group, OFFSETS_PARTITIONS)}/state"
    coordinator = json.loads(zk.get(state_path)[0])["leader"]
    brokers[coordinator].kill9()
    wait_until(lambda: json.loads(zk.get(state_path)[0])["leader"] not in (coordinator, -1),
               timeout=40, what="a new leader of the group's __consumer_offsets partition")

    # A restarted member of the same group finds the new coordinator and starts where the group left off.
    c = Consumer(conf)
    c.subscribe([topic])
    rest = consume(c, 600 - sum(in_zk.values()), timeout=60)
    c.commit(asynchronous=False)
    c.close()
    assert rest, "nothing consumed after the coordinator failover"
    for partition, offset in rest:
        assert offset >= in_zk.get(partition, 0), f"re-read committed record {partition}:{offset}"
    assert len(rest) == 600 - sum(in_zk.values()), "every uncommitted record read exactly once"
    final = {int(p): int(zk.get(f"{base}/{p}")[0]) for p in zk.get_children(base)}
    assert sum(final.values()) == 600
