"""Hostile input over a real socket (issue #11): forged control requests, a client posing as a
follower, topic names that would escape the log directory, malformed znodes, requests sized to
make the broker work without bound.

Every forged request is a raw frame sent to a real broker; each test then looks at what a user
would see: the error code in the answer, the data still readable, the metadata and the partition
states in ZooKeeper unchanged.
"""
from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest

from helpers import ck_read, kcat_produce, unique_topic, wait_until
from test_cluster import create_topic, start_cluster, state
from wire import (
    WireReader,
    closed_or_answered,
    karray,
    kstr,
    raw_call,
    raw_produce,
    recv_frame,
    request_frame,
)

pytestmark = [pytest.mark.hostile, pytest.mark.timeout(240)]

FETCH = 1
LEADER_AND_ISR = 4
STOP_REPLICA = 5
UPDATE_METADATA = 6
CONTROLLED_SHUTDOWN = 7

STALE_CONTROLLER_EPOCH = 11
STALE_BROKER_EPOCH = 77
NOT_LEADER_OR_FOLLOWER = 6
REQUEST_TIMED_OUT = 7


# --------------------------------------------------------------------------------------------
# what ZooKeeper says, and forged control request bodies (non-flexible versions)
# --------------------------------------------------------------------------------------------


def controller(zk) -> tuple[int, int]:
    """(brokerid in /controller, /controller_epoch)."""
    return json.loads(zk.get("/controller")[0])["brokerid"], int(zk.get("/controller_epoch")[0])


def broker_epoch(zk, broker_id: int) -> int:
    """Kafka's broker epoch: the czxid of /brokers/ids/<id>."""
    return zk.exists(f"/brokers/ids/{broker_id}").czxid


def i32s(values: list[int]) -> bytes:
    return karray(values, lambda v: struct.pack(">i", v))


def stop_replica_v1(controller_id: int, epoch: int, broker_ep: int, topic: str, partitions: list[int],
                    delete: bool = True) -> bytes:
    return (struct.pack(">iiq?", controller_id, epoch, broker_ep, delete)
            + karray([topic], lambda t: kstr(t) + i32s(partitions)))


def leader_and_isr_v2(controller_id: int, epoch: int, broker_ep: int, topic: str, partition: int,
                      leader: int, leader_epoch: int, replicas: list[int], host: str, port: int) -> bytes:
    ps = (struct.pack(">iiii", partition, epoch, leader, leader_epoch) + i32s(replicas)
          + struct.pack(">i", 0) + i32s(replicas) + b"\x00")
    return (struct.pack(">iiq", controller_id, epoch, broker_ep)
            + karray([topic], lambda t: kstr(t) + karray([ps], lambda b: b))
            + karray([leader], lambda b: struct.pack(">i", b) + kstr(host) + struct.pack(">i", port)))


def update_metadata_v5(controller_id: int, epoch: int, broker_ep: int, topic: str, partition: int,
                       leader: int, live: tuple[int, str, int] = (99, "10.255.255.1", 1)) -> bytes:
    """UpdateMetadata naming `live` (id, host, port) as the only live broker; by default broker 99
    at an address nothing answers on (leader -2 would delete the topic from the cache)."""
    bid, host, port = live
    ps = (struct.pack(">iiii", partition, epoch, leader, 0) + i32s([leader]) + struct.pack(">i", 0)
          + i32s([leader]) + i32s([]))
    broker = (struct.pack(">i", bid)
              + karray([0], lambda _: struct.pack(">i", port) + kstr(host) + kstr("PLAINTEXT")
                       + struct.pack(">h", 0))
              + kstr(None))
    return (struct.pack(">iiq", controller_id, epoch, broker_ep)
            + karray([topic], lambda t: kstr(t) + karray([ps], lambda b: b))
            + karray([broker], lambda b: b))


def top_error(r: WireReader) -> int:
    return r.int16()


def connection_closed(host: str, port: int, api_key: int, version: int, body: bytes) -> bool:
    """True when the broker closes the connection instead of answering."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request_frame(api_key, version, 5, body=body))
        return closed_or_answered(s, 5) == "closed"


def consume_values(bootstrap: str, topic: str, partition: int = 0) -> list[str]:
    return [r.value for r in ck_read(bootstrap, topic, [partition], timeout=20)]


# --------------------------------------------------------------------------------------------
# 1. control requests only from the controller
# --------------------------------------------------------------------------------------------


def forged_claims(zk, broker_id: int) -> list[tuple[str, int, int, int, int]]:
    """(what, controller id, controller epoch, broker epoch, expected error) of forgeries that
    differ from the truth in one field each."""
    cid, epoch = controller(zk)
    bep = broker_epoch(zk, broker_id)
    return [
        ("another controller id", cid + 98, epoch, bep, STALE_CONTROLLER_EPOCH),
        ("a newer controller epoch", cid, epoch + 1000, bep, STALE_CONTROLLER_EPOCH),
        ("an older controller epoch", cid, epoch - 1, bep, STALE_CONTROLLER_EPOCH),
        ("an older broker epoch", cid, epoch, bep - 1, STALE_BROKER_EPOCH),
        ("a newer broker epoch", cid, epoch, bep + 1000, STALE_BROKER_EPOCH),
        ("no broker epoch", cid, epoch, -1, STALE_BROKER_EPOCH),
    ]


def test_forged_stop_replica_deletes_nothing(broker, zk):
    topic = unique_topic("sr")
    kcat_produce(broker.bootstrap, topic, ["a", "b", "c"], partition=0)
    part_dir = broker.partition_dir(topic, 0)
    assert part_dir.is_dir()
    for what, cid, epoch, bep, expected in forged_claims(zk, broker.broker_id):
        r = raw_call(broker.host, broker.port, STOP_REPLICA, 1,
                     stop_replica_v1(cid, epoch, bep, topic, [0], delete=True))
        assert top_error(r) == expected, what
        assert part_dir.is_dir(), f"StopReplica with {what} deleted {part_dir}"
    # StopReplica v0 carries no broker epoch: not served, the connection is closed
    v0 = struct.pack(">iib", *controller(zk), 1) + karray([0], lambda _: kstr(topic) + struct.pack(">i", 0))
    assert connection_closed(broker.host, broker.port, STOP_REPLICA, 0, v0)
    assert part_dir.is_dir()
    assert consume_values(broker.bootstrap, topic) == ["a", "b", "c"]
    assert kcat_produce(broker.bootstrap, topic, ["d"], partition=0) is not None
    assert consume_values(broker.bootstrap, topic) == ["a", "b", "c", "d"]
    assert "refusing a control request" in broker.log_text()


def test_forged_leader_and_isr_changes_no_leadership(broker, zk):
    topic = unique_topic("lai")
    kcat_produce(broker.bootstrap, topic, ["a"], partition=0)
    before = state(zk, topic, 0)
    for what, cid, epoch, bep, expected in forged_claims(zk, broker.broker_id):
        # the broker would become a follower of broker 99 and stop taking produce
        body = leader_and_isr_v2(cid, epoch, bep, topic, 0, leader=99, leader_epoch=before["leader_epoch"] + 50,
                                 replicas=[99, broker.broker_id], host="10.255.255.1", port=1)
        r = raw_call(broker.host, broker.port, LEADER_AND_ISR, 2, body)
        assert top_error(r) == expected, what
    assert connection_closed(broker.host, broker.port, LEADER_AND_ISR, 1, b"\x00" * 16)
    # still the leader: produce is acknowledged, the state znode is untouched
    err, _ = raw_produce(broker.host, broker.port, topic, 0, ["b"], acks=-1)
    assert err == 0
    assert state(zk, topic, 0) == before
    assert consume_values(broker.bootstrap, topic) == ["a", "b"]


def test_forged_update_metadata_replaces_no_metadata(broker, zk):
    from helpers import ck_admin

    topic = unique_topic("um")
    kcat_produce(broker.bootstrap, topic, ["a"], partition=0)
    md = ck_admin(broker.bootstrap).list_topics(timeout=10)
    brokers_before = sorted((b.id, b.host, b.port) for b in md.brokers.values())
    for what, cid, epoch, bep, expected in forged_claims(zk, broker.broker_id):
        r = raw_call(broker.host, broker.port, UPDATE_METADATA, 5,
                     update_metadata_v5(cid, epoch, bep, topic, 0, leader=99))
        assert top_error(r) == expected, what
    assert connection_closed(broker.host, broker.port, UPDATE_METADATA, 4, b"\x00" * 16)
    md = ck_admin(broker.bootstrap).list_topics(timeout=10)
    assert sorted((b.id, b.host, b.port) for b in md.brokers.values()) == brokers_before
    assert md.topics[topic].partitions[0].leader == broker.broker_id
    assert consume_values(broker.bootstrap, topic) == ["a"]


def test_forged_controlled_shutdown_fences_no_broker(broker_factory, zk):
    brokers = start_cluster(broker_factory)
    topic = unique_topic("cs")
    create_topic(brokers, zk, topic, partitions=3, rf=3)
    before = {p: state(zk, topic, p) for p in range(3)}
    cid, _ = controller(zk)
    victim = next(i for i in brokers if i != cid)
    ctl = brokers[cid]
    for bep in (broker_epoch(zk, victim) - 1, broker_epoch(zk, victim) + 1000, -1):
        r = raw_call(ctl.host, ctl.port, CONTROLLED_SHUTDOWN, 2, struct.pack(">iq", victim, bep))
        assert top_error(r) == STALE_BROKER_EPOCH, f"broker epoch {bep}"
    # v1 has no broker epoch: not served
    assert connection_closed(ctl.host, ctl.port, CONTROLLED_SHUTDOWN, 1, struct.pack(">i", victim))
    time.sleep(2)  # a controlled shutdown would have moved leaders and shrunk ISRs by now
    after = {p: state(zk, topic, p) for p in range(3)}
    assert after == before
    assert all(victim in s["isr"] for s in after.values())


# --------------------------------------------------------------------------------------------
# a client posing as a follower
# --------------------------------------------------------------------------------------------


def fetch_v4(replica_id: int, topic: str, partition: int, offset: int) -> bytes:
    return (struct.pack(">iiiib", replica_id, 0, 1, 1 << 20, 0)
            + karray([topic], lambda t: kstr(t) + karray(
                [partition], lambda p: struct.pack(">iqi", p, offset, 1 << 20))))


def fetch_v4_errors(r: WireReader) -> list[int]:
    r.int32()  # throttle
    out = []
    for _ in range(r.int32()):
        r.string()
        for _ in range(r.int32()):
            r.int32()
            out.append(r.int16())
            r.int64()
            r.int64()
            n = r.int32()
            for _ in range(max(n, 0)):
                r.int64()
                r.int64()
            r.bytes_()
    return out


def uvarint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fetch_v15_frame(replica_id: int, replica_epoch: int, topic_id: bytes, partition: int, offset: int,
                    correlation_id: int = 9) -> bytes:
    """Fetch v15 (flexible): ReplicaState carries the replica id and broker epoch (tag 1)."""
    part = (struct.pack(">iiqiqi", partition, -1, offset, -1, -1, 1 << 20) + b"\x00")
    topic = topic_id + uvarint(2) + part + b"\x00"
    replica_state = struct.pack(">iq", replica_id, replica_epoch) + b"\x00"
    body = (struct.pack(">iiibii", 0, 1, 1 << 20, 0, 0, -1)
            + uvarint(2) + topic          # topics
            + uvarint(1)                   # forgotten topics: none
            + uvarint(1)                   # rack id: ""
            + uvarint(1) + uvarint(1) + uvarint(len(replica_state)) + replica_state)
    return request_frame(FETCH, 15, correlation_id, body=body, flexible=True)


def fetch_v15_first_error(resp: bytes) -> int:
    """The first partition's error code of a Fetch v15 response (after the v1 response header)."""
    pos = 4 + 1  # correlation id, header tags
    pos += 4 + 2 + 4  # throttle, error, session id
    pos += 1 + 16 + 1  # topics (one), topic id, partitions (one)
    (_, err) = struct.unpack_from(">ih", resp, pos)
    return err


def topic_id_bytes(zk, topic: str) -> bytes:
    import base64
    import uuid as uuidlib

    tid = json.loads(zk.get(f"/brokers/topics/{topic}")[0])["topic_id"]
    return uuidlib.UUID(bytes=base64.urlsafe_b64decode(tid + "==")).bytes


def test_client_posing_as_paused_followers_gets_no_acks_all_record_acknowledged(broker_factory, zk):
    # followers stay in the ISR while paused (lag time far above the test's length)
    brokers = start_cluster(broker_factory, **{"replica.lag.time.max.ms": 120000})
    topic = unique_topic("ff")
    # broker 3 is registered but holds no replica of the topic
    create_topic(brokers, zk, topic, replicas={0: [1, 2]})
    s = state(zk, topic, 0)
    assert s["leader"] == 1 and s["isr"] == [1, 2]
    leader = brokers[1]
    followers = [2]
    err, base = raw_produce(leader.host, leader.port, topic, 0, ["before"], acks=-1)
    assert err == 0
    for f in followers:
        brokers[f].sigstop()
    try:
        result = {}

        def produce():
            result["r"] = raw_produce(leader.host, leader.port, topic, 0, ["only-on-leader"], acks=-1,
                                      timeout_ms=4000, timeout=20)

        t = threading.Thread(target=produce)
        t.start()
        time.sleep(0.5)
        end = base + 2
        tid = topic_id_bytes(zk, topic)
        for f in followers:
            # Fetch v4 with the follower's id in the header field
            r = raw_call(leader.host, leader.port, FETCH, 4, fetch_v4(f, topic, 0, end))
            assert fetch_v4_errors(r) == [STALE_BROKER_EPOCH]
            # Fetch v15 with the follower's id and an epoch that is not its registration
            with socket.create_connection((leader.host, leader.port), timeout=10) as sock:
                sock.sendall(fetch_v15_frame(f, broker_epoch(zk, f) + 1, tid, 0, end))
                assert fetch_v15_first_error(recv_frame(sock)) == STALE_BROKER_EPOCH
        # a registered broker outside the replica set, with its real epoch: still not a follower
        with socket.create_connection((leader.host, leader.port), timeout=10) as sock:
            sock.sendall(fetch_v15_frame(3, broker_epoch(zk, 3), tid, 0, end))
            assert fetch_v15_first_error(recv_frame(sock)) == NOT_LEADER_OR_FOLLOWER
        # an id no broker has registered
        with socket.create_connection((leader.host, leader.port), timeout=10) as sock:
            sock.sendall(fetch_v15_frame(7, 1, tid, 0, end))
            assert fetch_v15_first_error(recv_frame(sock)) == STALE_BROKER_EPOCH
        t.join(30)
        assert result["r"][0] == REQUEST_TIMED_OUT, f"acks=all produce answered {result['r']}"
        assert state(zk, topic, 0)["isr"] == s["isr"]
    finally:
        for f in followers:
            brokers[f].sigcont()


# --------------------------------------------------------------------------------------------
# 2. names never escape
# --------------------------------------------------------------------------------------------

INVALID_TOPIC_EXCEPTION = 17


def escaping_names(outside) -> list[str]:
    """Names that would put a partition directory outside the log dir, or that Kafka forbids."""
    return [str(outside / "abs"), "../escaped", "../../escaped2", "a b", "x" * 250, "..", "."]


def lai_v2_errors(r: WireReader) -> tuple[int, list[tuple[str, int, int]]]:
    top = r.int16()
    return top, r.array(lambda q: (q.string(), q.int32(), q.int16()))


def test_illegal_topic_names_in_control_requests_touch_no_path(broker, zk, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = broker.log_dir.parent / "escaped-0"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    before_outside = sorted(p.name for p in outside.iterdir())
    before_parent = sorted(p.name for p in broker.log_dir.parent.iterdir())
    kcat_produce(broker.bootstrap, unique_topic("warm"), ["x"], partition=0)  # a controller is confirmed
    cid, epoch = controller(zk)
    bep = broker_epoch(zk, broker.broker_id)
    for name in escaping_names(outside):
        # the real controller's id and epochs: only the name is wrong
        body = leader_and_isr_v2(cid, epoch, bep, name, 0, leader=broker.broker_id, leader_epoch=1,
                                 replicas=[broker.broker_id], host=broker.host, port=broker.port)
        top, parts = lai_v2_errors(raw_call(broker.host, broker.port, LEADER_AND_ISR, 2, body))
        assert top == 0 and parts == [(name, 0, INVALID_TOPIC_EXCEPTION)], name
        r = raw_call(broker.host, broker.port, STOP_REPLICA, 1, stop_replica_v1(cid, epoch, bep, name, [0]))
        assert r.int16() == 0
        assert r.array(lambda q: (q.string(), q.int32(), q.int16())) == [(name, 0, INVALID_TOPIC_EXCEPTION)]
        r = raw_call(broker.host, broker.port, UPDATE_METADATA, 5,
                     update_metadata_v5(cid, epoch, bep, name, 0, leader=broker.broker_id,
                                        live=(broker.broker_id, broker.host, broker.port)))
        assert r.int16() == 0
    assert (victim / "keep").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == before_outside
    assert sorted(p.name for p in broker.log_dir.parent.iterdir()) == before_parent
    assert not any(" " in p.name or len(p.name) > 249 for p in broker.log_dir.iterdir())
    from helpers import ck_admin

    md = ck_admin(broker.bootstrap).list_topics(timeout=10)
    assert not set(md.topics) & set(escaping_names(outside))
    # a legal topic still works end to end
    topic = unique_topic("after")
    kcat_produce(broker.bootstrap, topic, ["ok"], partition=0)
    assert consume_values(broker.bootstrap, topic) == ["ok"]


def test_malformed_and_illegal_topic_znodes_are_skipped_without_controller_churn(broker_factory, zk):
    brokers = start_cluster(broker_factory)
    epoch_before = controller(zk)
    zk.create("/brokers/topics/broken", b"{")
    zk.create("/brokers/topics/wrong-version", json.dumps({"version": 99, "partitions": {"0": [1]}}).encode())
    zk.create("/brokers/topics/a b", json.dumps({"version": 2, "partitions": {"0": [1]}}).encode())
    zk.create("/brokers/topics/" + "y" * 250, json.dumps({"version": 2, "partitions": {"0": [1]}}).encode())
    topic = unique_topic("fine")
    create_topic(brokers, zk, topic, partitions=2, rf=3)
    time.sleep(3)
    # no resignation, no re-election loop: the same controller in the same epoch
    assert controller(zk) == epoch_before
    for b in brokers.values():
        assert not any(p.name.startswith(("broken", "wrong-version", "a b", "yyy")) for p in b.log_dir.iterdir())
    ctl = brokers[epoch_before[0]]
    log = ctl.log_text()
    # logged once, although the topic set changed several times since
    assert log.count("skipping a malformed znode") == 1
    assert log.count("skipping a topic znode of an unknown version") == 1
    assert "not legal topic names" in log
    kcat_produce(ctl.bootstrap, topic, ["a", "b"], partition=1)
    assert consume_values(ctl.bootstrap, topic, 1) == ["a", "b"]
    # a topic overwritten with garbage keeps being served as the controller last read it
    zk.set(f"/brokers/topics/{topic}", b"{")
    time.sleep(2)
    assert controller(zk) == epoch_before
    kcat_produce(ctl.bootstrap, topic, ["c"], partition=1)
    assert consume_values(ctl.bootstrap, topic, 1) == ["a", "b", "c"]
    # a malformed topic written again properly becomes a topic
    zk.set("/brokers/topics/broken", json.dumps({"version": 2, "partitions": {"0": [1, 2]}}).encode())
    wait_until(lambda: zk.exists("/brokers/topics/broken/partitions/0/state")
               and state(zk, "broken", 0)["leader"] in (1, 2), 20, what="the repaired topic's leader")
    kcat_produce(ctl.bootstrap, "broken", ["fixed"], partition=0)
    assert consume_values(ctl.bootstrap, "broken") == ["fixed"]
    assert controller(zk) == epoch_before


def test_illegal_names_in_checkpoint_files_are_skipped(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("cp")
    kcat_produce(b.bootstrap, topic, ["a", "b"], partition=0)
    b.sigterm()
    cp = b.log_dir / "recovery-point-offset-checkpoint"
    lines = cp.read_text().splitlines()
    entries = lines[2:] + ["../../etc 0 5", "/abs 0 3", "z" * 250 + " 0 1"]
    cp.write_text("\n".join(["0", str(len(entries)), *entries]) + "\n")
    b.start()
    assert consume_values(b.bootstrap, topic) == ["a", "b"]
    assert "skipping checkpoint entries with illegal topic names" in b.log_text()


# --------------------------------------------------------------------------------------------
# 3. bounded work per request
# --------------------------------------------------------------------------------------------

INIT_PRODUCER_ID = 22
PRODUCE = 0


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


CREATE_TOPICS = 19
CREATE_PARTITIONS = 37
OFFSET_COMMIT = 8
JOIN_GROUP = 11
INVALID_PARTITIONS = 37
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_REQUEST = 42
INVALID_GROUP_ID = 24
UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_MEMBER_ID = 25


def create_topics_v1(broker, topic: str, partitions: int, rf: int, assignment: dict | None = None,
                     validate_only: bool = False) -> tuple[int, str | None]:
    """CreateTopics v1 of one topic; (error code, error message)."""
    assigned = sorted((assignment or {}).items())
    t = (kstr(topic) + struct.pack(">ih", partitions, rf)
         + karray(assigned, lambda a: struct.pack(">i", a[0]) + i32s(a[1]))
         + karray([], lambda c: b""))
    body = karray([t], lambda b: b) + struct.pack(">i?", 10000, validate_only)
    r = raw_call(broker.host, broker.port, CREATE_TOPICS, 1, body, timeout=30)
    (res,) = r.array(lambda q: (q.string(), q.int16(), q.string()))
    return res[1], res[2]


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


def offset_commit_v2(broker, group: str, topic: str, partitions: list[int]) -> list[tuple[int, int]]:
    """OffsetCommit v2 (generation -1: a simple commit); [(partition, error)]."""
    body = (kstr(group) + struct.pack(">i", -1) + kstr("") + struct.pack(">q", -1)
            + karray([topic], lambda t: kstr(t) + karray(
                partitions, lambda p: struct.pack(">iq", p, 5) + kstr(None))))
    r = raw_call(broker.host, broker.port, OFFSET_COMMIT, 2, body)
    topics = r.array(lambda q: (q.string(), q.array(lambda x: (x.int32(), x.int16()))))
    assert {name for name, _ in topics} == {topic}
    return [p for _, parts in topics for p in parts]


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


# --------------------------------------------------------------------------------------------
# inter.broker.listener.name and control.plane.listener.name
# --------------------------------------------------------------------------------------------


def test_control_and_replication_traffic_only_on_their_listeners(broker_factory, zk):
    from helpers import ck_admin, free_port

    ports = {}
    brokers = {}
    for i in (1, 2, 3):
        p = {name: free_port() for name in ("INTERNAL", "CONTROL", "CLIENT")}
        ports[i] = p
        # CLIENT last: the fixtures take a broker's client port from the end of `listeners`
        listeners = ",".join(f"{n}://127.0.0.1:{port}" for n, port in p.items())
        brokers[i] = broker_factory(i, overrides={
            "listeners": listeners,
            "advertised.listeners": listeners,
            "listener.security.protocol.map": "INTERNAL:PLAINTEXT,CONTROL:PLAINTEXT,CLIENT:PLAINTEXT",
            "inter.broker.listener.name": "INTERNAL",
            "control.plane.listener.name": "CONTROL",
            "replica.lag.time.max.ms": 120000,
            "auto.leader.rebalance.enable": "false",
            "controlled.shutdown.retry.backoff.ms": 500,
        })
    topic = unique_topic("ln")
    # full ISRs: the controller reached every broker on CONTROL, followers fetch on INTERNAL
    create_topic(brokers, zk, topic, partitions=1, rf=3)
    md = ck_admin(brokers[1].bootstrap).list_topics(timeout=10)
    assert {b.id: b.port for b in md.brokers.values()} == {i: p["CLIENT"] for i, p in ports.items()}
    s = state(zk, topic, 0)
    leader = brokers[s["leader"]]
    err, _ = raw_produce(leader.host, leader.port, topic, 0, ["a"], acks=-1)
    assert err == 0
    assert consume_values(leader.bootstrap, topic) == ["a"]

    # the real controller's credentials, on the wrong listeners: the connection is closed
    cid, epoch = controller(zk)
    bep = broker_epoch(zk, leader.broker_id)
    delete = stop_replica_v1(cid, epoch, bep, topic, [0], delete=True)
    for name in ("CLIENT", "INTERNAL"):
        assert connection_closed("127.0.0.1", ports[leader.broker_id][name], STOP_REPLICA, 1, delete), name
    assert leader.partition_dir(topic, 0).is_dir()
    # the control listener answers (a partition this broker does not host: nothing to stop)
    r = raw_call("127.0.0.1", ports[leader.broker_id]["CONTROL"], STOP_REPLICA, 1,
                 stop_replica_v1(cid, epoch, bep, topic, [7], delete=False))
    assert r.int16() == 0
    # a follower's real id and epoch, on the client listener: not recorded
    follower = next(i for i in s["isr"] if i != s["leader"])
    with socket.create_connection((leader.host, leader.port), timeout=10) as sock:
        sock.sendall(fetch_v15_frame(follower, broker_epoch(zk, follower), topic_id_bytes(zk, topic), 0, 5))
        assert fetch_v15_first_error(recv_frame(sock)) == NOT_LEADER_OR_FOLLOWER
    assert "not on the control listener CONTROL" in leader.log_text()

    # ControlledShutdown to the controller on CONTROL: the leader's partition moves before it stops
    leader.sigterm(timeout=30)
    assert "controlled shutdown succeeded" in leader.log_text()
    wait_until(lambda: state(zk, topic, 0)["leader"] not in (leader.broker_id, -1), 20,
               what="a new leader after the controlled shutdown")
    new_leader = brokers[state(zk, topic, 0)["leader"]]
    assert consume_values(new_leader.bootstrap, topic) == ["a"]


def test_illegal_topic_names_from_clients_create_nothing(broker, zk, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    names = escaping_names(outside)
    before_parent = sorted(p.name for p in broker.log_dir.parent.iterdir())
    group = unique_topic("g")
    raw_call(broker.host, broker.port, 10, 0, kstr(group))  # FindCoordinator: creates __consumer_offsets
    wait_until(lambda: raw_call(broker.host, broker.port, 10, 0, kstr(group)).int16() == 0, 30,
               what="the group coordinator")
    before_dirs = sorted(p.name for p in broker.log_dir.iterdir())
    for name in names:
        err, _ = create_topics_v1(broker, name, 1, 1)
        assert err == INVALID_TOPIC_EXCEPTION, name
        # Metadata v4 with auto-creation allowed
        body = karray([name], kstr) + b"\x01"
        r = raw_call(broker.host, broker.port, 3, 4, body)
        r.int32()
        r.array(lambda q: (q.int32(), q.string(), q.int32(), q.string()))
        r.string()
        r.int32()
        assert r.int32() == 1
        assert (r.int16(), r.string()) == (INVALID_TOPIC_EXCEPTION, name)
        err, _ = raw_produce(broker.host, broker.port, name, 0, ["x"], acks=1)
        assert err == UNKNOWN_TOPIC_OR_PARTITION, name
        assert offset_commit_v2(broker, group, name, [0]) == [(0, UNKNOWN_TOPIC_OR_PARTITION)], name
    assert sorted(p.name for p in broker.log_dir.iterdir()) == before_dirs
    assert sorted(p.name for p in broker.log_dir.parent.iterdir()) == before_parent
    assert list(outside.iterdir()) == []
    assert not set(zk.get_children("/brokers/topics")) & set(names)
    assert not zk.exists(f"/consumers/{group}/offsets")


def test_malformed_partition_state_does_not_stop_a_new_controller(broker_factory, zk):
    b = broker_factory(1, overrides={"num.partitions": 2})
    topic = unique_topic("ps")
    kcat_produce(b.bootstrap, topic, ["a"], partition=0)
    wait_until(lambda: zk.exists(f"/brokers/topics/{topic}/partitions/1/state"), 10)
    zk.set(f"/brokers/topics/{topic}/partitions/1/state", b"{")
    _, epoch = controller(zk)
    # a restart makes the broker load every partition state as a new controller
    b.sigterm()
    b.start()
    wait_until(lambda: zk.exists("/controller"), 20, what="a controller")
    time.sleep(3)
    assert controller(zk) == (1, epoch + 1), "the controller resigned and was elected again"
    assert b.log_text().count("skipping a malformed znode") == 1
    kcat_produce(b.bootstrap, topic, ["b"], partition=0)
    assert consume_values(b.bootstrap, topic) == ["a", "b"]
    assert zk.get(f"/brokers/topics/{topic}/partitions/1/state")[0] == b"{"
