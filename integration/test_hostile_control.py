"""Forged control and replication requests over a real socket (issue #11 item 1): LeaderAndIsr,
UpdateMetadata, StopReplica and ControlledShutdown that do not come from the controller ZooKeeper
names, a client posing as a follower, AlterPartition from a broker that does not lead, and control
traffic on a listener that is not the control plane's. Each test then looks at what a user would
see: the error code in the answer, the data still readable, the partition states unchanged.
"""
from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from helpers import kcat_produce, unique_topic, wait_until
from hostile import (
    uvarint,
    FETCH,
    LEADER_AND_ISR,
    STOP_REPLICA,
    UPDATE_METADATA,
    CONTROLLED_SHUTDOWN,
    STALE_CONTROLLER_EPOCH,
    STALE_BROKER_EPOCH,
    NOT_LEADER_OR_FOLLOWER,
    REQUEST_TIMED_OUT,
    controller,
    broker_epoch,
    stop_replica_v1,
    leader_and_isr_v2,
    update_metadata_v5,
    top_error,
    connection_closed,
    consume_values,
    fetch_v15_frame,
    fetch_v15_first_error,
    topic_id_bytes,
)
from test_cluster import create_topic, start_cluster, state
from wire import WireReader, karray, kstr, raw_call, raw_produce, recv_frame, request_frame

pytestmark = [pytest.mark.hostile, pytest.mark.timeout(240)]


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


# --------------------------------------------------------------------------------------------
# AlterPartition from a broker that does not lead, or with stale epochs
# --------------------------------------------------------------------------------------------

ALTER_PARTITION = 56
FENCED_LEADER_EPOCH = 74
INVALID_UPDATE_VERSION = 95


def cstr(s: str) -> bytes:
    return uvarint(len(s.encode()) + 1) + s.encode()


def alter_partition_v1(broker_id: int, broker_ep: int, topic: str, partition: int, leader_epoch: int,
                       new_isr: list[int], partition_epoch: int) -> bytes:
    """AlterPartition v1 (flexible), one partition: (partition, leader epoch, new ISR, leader
    recovery state, partition epoch)."""
    part = (struct.pack(">ii", partition, leader_epoch)
            + uvarint(len(new_isr) + 1) + b"".join(struct.pack(">i", b) for b in new_isr)
            + struct.pack(">bi", 0, partition_epoch) + b"\x00")
    topic_data = cstr(topic) + uvarint(2) + part + b"\x00"
    body = struct.pack(">iq", broker_id, broker_ep) + uvarint(2) + topic_data + b"\x00"
    return request_frame(ALTER_PARTITION, 1, 11, body=body, flexible=True)


def alter_partition_errors(resp: bytes) -> tuple[int, list[int]]:
    """(top-level error, each partition's error) of an AlterPartition v1 response."""
    r = WireReader(resp)
    r.int32()  # correlation id
    assert r._take(">B") == 0  # response header tags

    def uv() -> int:
        n, shift = 0, 0
        while True:
            b = r._take(">B")
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return n

    r.int32()  # throttle
    top = r.int16()
    errors = []
    for _ in range(uv() - 1):
        r._raw(uv() - 1)  # topic name
        for _ in range(uv() - 1):
            r.int32()
            errors.append(r.int16())
            r.int32()
            r.int32()
            for _ in range(uv() - 1):
                r.int32()
            r._take(">b")
            r.int32()
            assert uv() == 0
        assert uv() == 0
    return top, errors


def test_alter_partition_from_a_broker_that_does_not_lead_or_with_stale_epochs_changes_nothing(
        broker_factory, zk):
    brokers = start_cluster(broker_factory)
    topic = unique_topic("ap")
    create_topic(brokers, zk, topic, replicas={0: [2, 3, 1]})
    path = f"/brokers/topics/{topic}/partitions/0/state"
    before = state(zk, topic, 0)
    version = zk.exists(path).version
    assert before["leader"] == 2 and sorted(before["isr"]) == [1, 2, 3]
    ctl = brokers[controller(zk)[0]]
    epoch = before["leader_epoch"]

    def send(sender: int, broker_ep: int, leader_epoch: int, isr: list[int], partition_epoch: int):
        with socket.create_connection((ctl.host, ctl.port), timeout=10) as s:
            s.sendall(alter_partition_v1(sender, broker_ep, topic, 0, leader_epoch, isr, partition_epoch))
            return alter_partition_errors(recv_frame(s))

    # a follower, with its real broker epoch, shrinking the ISR to itself
    assert send(3, broker_epoch(zk, 3), epoch, [3], version) == (0, [NOT_LEADER_OR_FOLLOWER])
    # the leader, with a leader epoch older than the partition's
    assert send(2, broker_epoch(zk, 2), epoch - 1, [2], version) == (0, [FENCED_LEADER_EPOCH])
    # the leader, with an older partition epoch (the state znode's version)
    assert send(2, broker_epoch(zk, 2), epoch, [2], version - 1) == (0, [INVALID_UPDATE_VERSION])
    # the leader's id with a broker epoch that is not its registration, and an unregistered id
    assert send(2, broker_epoch(zk, 2) + 1000, epoch, [2], version)[0] == STALE_BROKER_EPOCH
    assert send(7, 1, epoch, [7], version)[0] == STALE_BROKER_EPOCH
    time.sleep(1)
    assert state(zk, topic, 0) == before
    assert zk.exists(path).version == version
    leader = brokers[2]
    err, _ = raw_produce(leader.host, leader.port, topic, 0, ["still-replicated"], acks=-1)
    assert err == 0
    assert sorted(state(zk, topic, 0)["isr"]) == [1, 2, 3]
