"""Bounded work per request (issue #11 item 3): a 10,000-batch idempotent Produce, CreateTopics and
CreatePartitions with counts and assignments Kafka refuses or that ZooKeeper could not store,
OffsetCommit to partitions the topic lacks, group, member and client ids past their length limits.
"""
from __future__ import annotations

import json
import socket
import struct
import time

import pytest

from helpers import kcat_produce, unique_topic, wait_until
from hostile import (
    INIT_PRODUCER_ID,
    PRODUCE,
    CREATE_PARTITIONS,
    JOIN_GROUP,
    INVALID_PARTITIONS,
    INVALID_REPLICA_ASSIGNMENT,
    INVALID_REQUEST,
    INVALID_GROUP_ID,
    UNKNOWN_TOPIC_OR_PARTITION,
    UNKNOWN_MEMBER_ID,
    i32s,
    consume_values,
    create_topics_v1,
    offset_commit_v2,
)
from test_cluster import create_topic, start_cluster
from wire import WireReader, karray, kstr, raw_call, recv_frame, request_frame

pytestmark = [pytest.mark.hostile, pytest.mark.timeout(240)]


def init_producer_id(broker) -> tuple[int, int]:
    r = raw_call(broker.host, broker.port, INIT_PRODUCER_ID, 0, kstr(None) + struct.pack(">i", 60000))
    r.int32()
    assert r.int16() == 0
    return r.int64(), r.int16()


def idempotent_batches(pid: int, epoch: int, first_seq: int, n: int) -> bytes:
    from kafka.record.default_records import DefaultRecordBatchBuilder

    out = []
    ts = int(time.time() * 1000)
    for i in range(n):
        b = DefaultRecordBatchBuilder(2, 0, False, pid, epoch, first_seq + i, 1 << 20)
        b.append(0, ts, None, f"v{first_seq + i}".encode(), [])
        out.append(bytes(b.build()))
    return b"".join(out)


def produce_raw_records(broker, topic: str, records: bytes, timeout: float = 60) -> tuple[int, int, float]:
    """Produce v3 of `records` (any number of batches) to partition 0; (error, base offset, seconds)."""
    from wire import kbytes, parse_produce_response

    body = (kstr(None) + struct.pack(">hi", -1, 30000)
            + karray([topic], lambda t: kstr(t) + karray([0], lambda p: struct.pack(">i", p) + kbytes(records))))
    with socket.create_connection((broker.host, broker.port), timeout=timeout) as s:
        s.settimeout(timeout)
        frame = request_frame(PRODUCE, 3, 42, body=body)
        started = time.monotonic()
        s.sendall(frame)
        r = WireReader(recv_frame(s))
        elapsed = time.monotonic() - started
    assert r.int32() == 42
    err, base = parse_produce_response(r)
    return err, base, elapsed


def test_ten_thousand_batch_idempotent_produce_is_answered_quickly(broker):
    topic = unique_topic("idem")
    kcat_produce(broker.bootstrap, topic, ["warm"], partition=0)
    pid, epoch = init_producer_id(broker)
    records = idempotent_batches(pid, epoch, 0, 10_000)
    err, base, elapsed = produce_raw_records(broker, topic, records)
    print(f"10,000-batch idempotent produce answered in {elapsed * 1000:.0f} ms")
    assert (err, base) == (0, 1)
    # quadratic checking took about 1 s here (debug build); linear takes about 15 ms
    assert elapsed < 0.4, f"{elapsed:.2f} s"
    # the sequence state is right: the last batch again is a duplicate with its original offset,
    # a gap is refused
    err, dup_base, _ = produce_raw_records(broker, topic, idempotent_batches(pid, epoch, 9_999, 1))
    assert (err, dup_base) == (0, 10_000)
    OUT_OF_ORDER_SEQUENCE_NUMBER = 45
    err, _, _ = produce_raw_records(broker, topic, idempotent_batches(pid, epoch, 10_005, 1))
    assert err == OUT_OF_ORDER_SEQUENCE_NUMBER
    values = consume_values(broker.bootstrap, topic)
    assert len(values) == 10_001 and values[1] == "v0" and values[-1] == "v9999"


def create_partitions_v0(broker, topic: str, count: int, assignments: list | None = None) -> tuple[int, str | None]:
    a = struct.pack(">i", -1) if assignments is None else karray(assignments, i32s)
    body = karray([kstr(topic) + struct.pack(">i", count) + a], lambda b: b) + struct.pack(">i?", 10000, False)
    r = raw_call(broker.host, broker.port, CREATE_PARTITIONS, 0, body, timeout=30)
    r.int32()
    (res,) = r.array(lambda q: (q.string(), q.int16(), q.string()))
    return res[1], res[2]


def test_create_topics_and_partitions_refuse_what_kafka_refuses(broker_factory, zk):
    brokers = start_cluster(broker_factory)
    b = brokers[1]
    topic = unique_topic("ct")
    # a broker named twice in one partition
    err, msg = create_topics_v1(b, topic, -1, -1, {0: [1, 1, 2]})
    assert err == INVALID_REPLICA_ASSIGNMENT and "Duplicate" in msg
    err, _ = create_topics_v1(b, topic, -1, -1, {0: [1, 2], 1: [3]})
    assert err == INVALID_REPLICA_ASSIGNMENT
    err, _ = create_topics_v1(b, topic, -1, -1, {0: [1], 2: [2]})
    assert err == INVALID_REPLICA_ASSIGNMENT
    err, _ = create_topics_v1(b, topic, 3, 1, {0: [1]})
    assert err == INVALID_REQUEST
    # counts whose topic znode would exceed ZooKeeper's 1 MiB jute.maxbuffer, refused at once
    for partitions, rf in ((2_000_000_000, 1), (200_000, 1), (100_000, 3)):
        started = time.monotonic()
        err, msg = create_topics_v1(b, topic, partitions, rf)
        assert err == INVALID_PARTITIONS and "jute.maxbuffer" in msg, (partitions, msg)
        assert time.monotonic() - started < 2
    err, msg = create_topics_v1(b, topic, 2_000_000_000, 1, validate_only=True)
    assert err == INVALID_PARTITIONS
    assert not zk.exists(f"/brokers/topics/{topic}")
    # the topic made right, then partitions added wrongly
    create_topic(brokers, zk, topic, partitions=1, rf=2)
    err, msg = create_partitions_v0(b, topic, 2_000_000_000)
    assert err == INVALID_PARTITIONS and "jute.maxbuffer" in msg
    err, msg = create_partitions_v0(b, topic, 2, [[2, 2]])
    assert err == INVALID_REPLICA_ASSIGNMENT and "Duplicate" in msg
    err, _ = create_partitions_v0(b, topic, 2, [[1, 2, 3]])
    assert err == INVALID_REPLICA_ASSIGNMENT
    assert len(json.loads(zk.get(f"/brokers/topics/{topic}")[0])["partitions"]) == 1
    err, _ = create_partitions_v0(b, topic, 2, [[3, 1]])
    assert err == 0
    wait_until(lambda: len(json.loads(zk.get(f"/brokers/topics/{topic}")[0])["partitions"]) == 2, 10)
    assert all(x.running for x in brokers.values())


def join_group_v0(broker, group: str, member: str = "", client_id: str = "it") -> int:
    body = (kstr(group) + struct.pack(">i", 10000) + kstr(member) + kstr("consumer")
            + karray([("range", b"")], lambda p: kstr(p[0]) + struct.pack(">i", 0)))
    with socket.create_connection((broker.host, broker.port), timeout=15) as s:
        s.settimeout(15)
        s.sendall(request_frame(JOIN_GROUP, 0, 3, client_id=client_id, body=body))
        r = WireReader(recv_frame(s))
    r.int32()
    return r.int16()


def test_offset_commit_and_group_ids_are_bounded(broker, zk):
    topic = unique_topic("oc")
    kcat_produce(broker.bootstrap, topic, ["a"], partition=0)  # num.partitions=3
    group = unique_topic("g")

    def coordinator_ready():
        # FindCoordinator v0 creates __consumer_offsets on first use
        r = raw_call(broker.host, broker.port, 10, 0, kstr(group))
        return r.int16() == 0 and offset_commit_v2(broker, group, topic, [0]) == [(0, 0)]

    wait_until(coordinator_ready, 30, interval=0.5, what="the group coordinator")
    res = dict(offset_commit_v2(broker, group, topic, [1, 3, 1_000_000, -1]))
    assert res == {1: 0, 3: UNKNOWN_TOPIC_OR_PARTITION, 1_000_000: UNKNOWN_TOPIC_OR_PARTITION,
                   -1: UNKNOWN_TOPIC_OR_PARTITION}
    offsets = zk.get_children(f"/consumers/{group}/offsets/{topic}")
    assert sorted(offsets) == ["0", "1"]
    # ids past 255 bytes are refused, not stored
    long_group = "g" * 256
    assert offset_commit_v2(broker, long_group, topic, [0]) == [(0, INVALID_GROUP_ID)]
    assert join_group_v0(broker, long_group) == INVALID_GROUP_ID
    assert not zk.exists(f"/consumers/{long_group}")
    assert join_group_v0(broker, group, member="m" * 1000) == UNKNOWN_MEMBER_ID
    assert join_group_v0(broker, group, client_id="c" * 5000) == INVALID_REQUEST
