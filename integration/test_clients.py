"""Produce and consume with three real clients, as a user would:
kcat (Debian's librdkafka 2.0.2), confluent-kafka (a recent librdkafka), kafka-python."""
import time
from collections import defaultdict

import pytest

from helpers import (
    ck_consumer,
    ck_produce,
    ck_read,
    kcat_consume,
    kcat_metadata,
    kcat_produce,
    kp_consumer,
    kp_producer,
    kp_read,
    unique_topic,
)

pytestmark = pytest.mark.clients

N_PARTITIONS = 3


def partitions_by_key(records):
    seen = defaultdict(set)
    for r in records:
        seen[r.key].add(r.partition)
    return seen


# --- keyless records spread over all partitions of an auto-created topic ---------------------


def test_kcat_keyless_records_spread_over_auto_created_partitions(broker):
    topic = unique_topic("kcat")
    values = [f"v{i}" for i in range(300)]
    kcat_produce(broker.bootstrap, topic, values)
    got = kcat_consume(broker.bootstrap, topic)
    assert sorted(r.value for r in got) == sorted(values), "every record comes back exactly once"
    assert {r.partition for r in got} == set(range(N_PARTITIONS))
    meta = kcat_metadata(broker.bootstrap, topic)
    assert f'topic "{topic}" with {N_PARTITIONS} partitions' in meta
    # offsets in each partition are 0..n-1, in produce order
    for p in range(N_PARTITIONS):
        in_p = [r for r in got if r.partition == p]
        assert [r.offset for r in in_p] == list(range(len(in_p)))
        assert [int(r.value[1:]) for r in in_p] == sorted(int(r.value[1:]) for r in in_p)


def test_confluent_keyless_records_spread_over_auto_created_partitions(broker):
    topic = unique_topic("ck")
    values = [f"v{i}" for i in range(300)]
    delivered = ck_produce(broker.bootstrap, topic, values)
    assert len(delivered) == 300
    assert {p for p, *_ in delivered} == set(range(N_PARTITIONS))
    got = ck_read(broker.bootstrap, topic, range(N_PARTITIONS))
    assert sorted(r.value for r in got) == sorted(values)
    assert {(r.partition, r.offset) for r in got} == {(p, o) for p, o, *_ in delivered}


def test_kafka_python_keyless_records_spread_over_auto_created_partitions(broker):
    topic = unique_topic("kp")
    p = kp_producer(broker.bootstrap, acks="all")
    futures = []
    for i in range(300):
        futures.append(p.send(topic, value=f"v{i}".encode()))
        if i % 5 == 4:  # a new batch (and with sticky partitioners a new partition) every 5
            p.flush(timeout=20)
    p.flush(timeout=20)
    metas = [f.get(timeout=20) for f in futures]
    p.close(timeout=10)
    assert {m.partition for m in metas} == set(range(N_PARTITIONS))
    got = kp_read(broker.bootstrap, topic, range(N_PARTITIONS))
    assert sorted(r.value for r in got) == sorted(f"v{i}" for i in range(300))


# --- keyed records keep their partition ------------------------------------------------------


def test_kcat_same_key_same_partition_across_runs(broker):
    topic = unique_topic("keys")
    keys = [f"key-{i}" for i in range(30)]
    kcat_produce(broker.bootstrap, topic, [(k, "run1") for k in keys])
    kcat_produce(broker.bootstrap, topic, [(k, "run2") for k in keys])
    got = kcat_consume(broker.bootstrap, topic)
    assert len(got) == 60
    by_key = partitions_by_key(got)
    assert set(by_key) == set(keys)
    assert all(len(ps) == 1 for ps in by_key.values()), by_key
    assert len({next(iter(ps)) for ps in by_key.values()}) > 1, "30 keys should not all hash to one partition"
    # within a partition, run1's record for a key comes before run2's
    for k in keys:
        vals = [r.value for r in sorted((r for r in got if r.key == k), key=lambda r: r.offset)]
        assert vals == ["run1", "run2"]


def test_java_compatible_partitioning_agrees_between_clients(broker):
    """kafka-python's default partitioner and confluent's murmur2_random are Java's: same key,
    same partition, whichever client sent it."""
    topic = unique_topic("murmur")
    keys = [f"user-{i}" for i in range(30)]
    delivered = ck_produce(broker.bootstrap, topic, [(k, "ck") for k in keys], partitioner="murmur2_random")
    ck_partition = {k: p for p, _o, k, _v in delivered}
    prod = kp_producer(broker.bootstrap, acks=1)
    kp_partition = {k: prod.send(topic, key=k.encode(), value=b"kp").get(timeout=20).partition for k in keys}
    prod.close(timeout=10)
    assert ck_partition == kp_partition
    got = kcat_consume(broker.bootstrap, topic)
    assert all(len(ps) == 1 for ps in partitions_by_key(got).values())
    assert len(got) == 60


# --- acks ------------------------------------------------------------------------------------


def read_at_least(read, n: int, timeout: float = 10):
    """Reads until `read()` returns `n` records or `timeout` passes, and returns the last read:
    acks=0 has no answer to wait for, so the broker may still be appending."""
    deadline = time.monotonic() + timeout
    while True:
        got = read()
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.3)


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_kcat_acks(broker, acks):
    topic = unique_topic(f"acks{acks}")
    values = [f"a{acks}-{i}" for i in range(50)]
    kcat_produce(broker.bootstrap, topic, values, acks=acks)
    got = read_at_least(lambda: kcat_consume(broker.bootstrap, topic), len(values))
    assert sorted(r.value for r in got) == sorted(values)


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_confluent_acks(broker, acks):
    topic = unique_topic("ckacks")
    values = [f"c-{i}" for i in range(50)]
    delivered = ck_produce(broker.bootstrap, topic, values, acks=acks)
    assert len(delivered) == 50
    if acks != 0:
        assert all(o >= 0 for _p, o, *_ in delivered), "acks>=1 reports real offsets"
    got = read_at_least(lambda: ck_read(broker.bootstrap, topic, range(N_PARTITIONS)), 50)
    assert sorted(r.value for r in got) == sorted(values)


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_kafka_python_acks(broker, acks):
    topic = unique_topic("kpacks")
    p = kp_producer(broker.bootstrap, acks=acks)
    metas = [p.send(topic, value=f"k-{i}".encode(), partition=i % N_PARTITIONS) for i in range(30)]
    p.flush(timeout=20)
    metas = [m.get(timeout=20) for m in metas]
    p.close(timeout=10)
    if acks != 0:
        assert sorted(m.offset for m in metas if m.partition == 0) == list(range(10))
    got = read_at_least(lambda: kp_read(broker.bootstrap, topic, range(N_PARTITIONS)), 30)
    assert sorted(r.value for r in got) == sorted(f"k-{i}" for i in range(30))


# --- reading by offset: ListOffsets earliest / latest / by timestamp -------------------------


def produce_timed(broker, topic, n=20, base_ts=None):
    """n records to partition 0 with CreateTime timestamps base_ts + 1000*i; returns base_ts."""
    from helpers import ck_producer

    base_ts = base_ts or (int(time.time() * 1000) - 3_600_000)
    p = ck_producer(broker.bootstrap, acks="all")
    errors = []
    for i in range(n):
        p.produce(topic, value=f"t{i}", partition=0, timestamp=base_ts + 1000 * i,
                  on_delivery=lambda err, msg: err and errors.append(err))
    assert p.flush(20) == 0
    assert not errors, errors
    return base_ts


def test_kafka_python_list_offsets_and_offsets_for_times(broker):
    from kafka import TopicPartition

    topic = unique_topic("lo")
    base = produce_timed(broker, topic)
    tp = TopicPartition(topic, 0)
    c = kp_consumer(broker.bootstrap)
    try:
        assert c.beginning_offsets([tp])[tp] == 0
        assert c.end_offsets([tp])[tp] == 20
        found = c.offsets_for_times({tp: base + 5000})[tp]
        assert found.offset == 5 and found.timestamp == base + 5000
        between = c.offsets_for_times({tp: base + 5500})[tp]
        assert between.offset == 6 and between.timestamp == base + 6000
        assert c.offsets_for_times({tp: base + 10**9})[tp] is None, "no record that late"
        # read from an offset
        c.assign([tp])
        c.seek(tp, 17)
        vals = []
        deadline = time.monotonic() + 15
        while len(vals) < 3 and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=500).values():
                vals += [(m.offset, m.value.decode(), m.timestamp) for m in msgs]
        assert vals == [(17, "t17", base + 17000), (18, "t18", base + 18000), (19, "t19", base + 19000)]
    finally:
        c.close()


def test_confluent_watermarks_and_offsets_for_times(broker):
    from confluent_kafka import TopicPartition

    topic = unique_topic("lock")
    base = produce_timed(broker, topic)
    c = ck_consumer(broker.bootstrap)
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        assert (low, high) == (0, 20)
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 12000)], timeout=10)
        assert res[0].error is None and res[0].offset == 12
        res = c.offsets_for_times([TopicPartition(topic, 0, base - 10_000)], timeout=10)
        assert res[0].offset == 0
        res = c.offsets_for_times([TopicPartition(topic, 0, base + 10**9)], timeout=10)
        assert res[0].offset == -1, "past the last timestamp: the end (-1)"
    finally:
        c.close()
    got = ck_read(broker.bootstrap, topic, [0], start_offset=15)
    assert [(r.offset, r.value) for r in got] == [(o, f"t{o}") for o in range(15, 20)]


def test_kcat_reads_from_offset_and_from_end(broker):
    topic = unique_topic("koff")
    kcat_produce(broker.bootstrap, topic, [f"r{i}" for i in range(10)], partition=0)
    got = kcat_consume(broker.bootstrap, topic, partition=0, offset=7)
    assert [(r.offset, r.value) for r in got] == [(7, "r7"), (8, "r8"), (9, "r9")]
    got = kcat_consume(broker.bootstrap, topic, partition=0, offset=-2)  # 2 from the end
    assert [r.offset for r in got] == [8, 9]
    assert kcat_consume(broker.bootstrap, topic, partition=0, offset="end") == []
