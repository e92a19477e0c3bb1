"""Clients that arrive too early or leave too soon, and a broker told to stop without ZooKeeper
(issue #11 items 4 and 5).

- A CreateTopics sent the moment a fresh broker's port opens gets its topic, with a leader, at
  once: the broker holds requests until it is registered and has the controller's metadata.
- 5,000 long-poll Fetches, an acks=all Produce waiting for a paused follower, a CreateTopics
  waiting for a paused controller: when the client goes, the broker closes its side at once (open descriptors back to the baseline), not when the wait ends.
- SIGTERM while ZooKeeper is down, for a running broker and for one still connecting: it exits.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import time

import pytest

from helpers import ck_admin, port_accepts, unique_topic, wait_until
from wire import WireReader, karray, kstr, produce_frame, raw_produce, recv_frame, request_frame

pytestmark = pytest.mark.hostile

CREATE_TOPICS = 19
FETCH = 1


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_fds_at_most(pid: int, limit: int, timeout: float) -> float:
    """Seconds until the process has at most `limit` open descriptors (fails after `timeout`)."""
    start = time.monotonic()
    wait_until(lambda: open_fds(pid) <= limit, timeout=timeout, interval=0.02,
               what=f"broker descriptors back to {limit} (now {open_fds(pid)})")
    return time.monotonic() - start


def connect_as_soon_as_possible(host: str, port: int, timeout: float = 30) -> socket.socket:
    """A connection made the moment the port accepts one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return socket.create_connection((host, port), timeout=10)
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)


def partition_state(zk, topic: str, partition: int = 0) -> dict:
    return json.loads(zk.get(f"/brokers/topics/{topic}/partitions/{partition}/state")[0])


def create_topic(bootstrap: str, topic: str, rf: int = 1) -> None:
    """One partition, created through confluent-kafka's admin client (answered once led)."""
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(bootstrap)
    admin.create_topics([NewTopic(topic, 1, rf)], request_timeout=20)[topic].result(timeout=30)


def create_topics_v2(topic: str, partitions: int = 1, rf: int = 1, timeout_ms: int = 10000) -> bytes:
    """CreateTopics v2 body: one topic, no assignment, no configs, not validate-only."""
    topic_entry = kstr(topic) + struct.pack(">ih", partitions, rf) + struct.pack(">i", 0) + struct.pack(">i", 0)
    return karray([topic_entry], lambda t: t) + struct.pack(">ib", timeout_ms, 0)


def parse_create_topics_v2(frame: bytes) -> tuple[int, list]:
    r = WireReader(frame)
    corr = r.int32()
    r.int32()  # throttle_time_ms
    results = r.array(lambda q: (q.string(), q.int16(), q.string()))
    return corr, results


# --------------------------------------------------------------------------------------------
# item 5: start-up in Kafka's order
# --------------------------------------------------------------------------------------------


def test_admin_client_create_topics_the_moment_the_port_opens(broker_factory, chroot):
    from confluent_kafka.admin import NewTopic

    took = []
    for attempt in range(10):
        b = broker_factory(1, chroot=f"{chroot}-ck{attempt}", wait=False)
        try:
            while not port_accepts(b.host, b.port, timeout=0.05):
                assert b.running(), b.log_tail(30)
                time.sleep(0.002)
            opened = time.monotonic()
            admin = ck_admin(b.bootstrap)
            topic = unique_topic("early")
            admin.create_topics([NewTopic(topic, 1, 1)], request_timeout=15)[topic].result(timeout=20)
            md = admin.list_topics(topic, timeout=10)
            assert md.topics[topic].error is None, md.topics[topic].error
            assert md.topics[topic].partitions[0].leader == 1
            took.append(time.monotonic() - opened)
        finally:
            b.stop()
    assert max(took) < 5, f"seconds from the port opening to a topic with a leader: {took}"


def test_raw_create_topics_sent_the_moment_the_port_opens(broker_factory, chroot, zk_root):
    took = []
    for attempt in range(10):
        root = f"{chroot}-raw{attempt}"
        b = broker_factory(1, chroot=root, wait=False)
        try:
            topic = unique_topic("early")
            with connect_as_soon_as_possible(b.host, b.port) as s:
                opened = time.monotonic()
                s.settimeout(15)
                s.sendall(request_frame(CREATE_TOPICS, 2, 5, body=create_topics_v2(topic)))
                corr, results = parse_create_topics_v2(recv_frame(s))
            took.append(time.monotonic() - opened)
            assert corr == 5
            assert [(name, code) for name, code, _ in results] == [(topic, 0)], results
            # answered only once the leader is elected: ZooKeeper already holds it
            state = json.loads(zk_root.get(f"{root}/brokers/topics/{topic}/partitions/0/state")[0])
            assert state["leader"] == 1, state
        finally:
            b.stop()
    assert max(took) < 5, f"seconds from connecting to the CreateTopics answer: {took}"


# --------------------------------------------------------------------------------------------
# item 4: connections end cleanly
# --------------------------------------------------------------------------------------------


def fetch_v4(topic: str, partition: int, offset: int, max_wait_ms: int) -> bytes:
    """Fetch v4 body of a consumer: min_bytes 1, so it waits at the log end."""
    parts = karray([partition], lambda p: struct.pack(">iqi", p, offset, 1 << 20))
    return struct.pack(">iiiib", -1, max_wait_ms, 1, 1 << 20, 0) + karray([topic], lambda t: kstr(t) + parts)


def test_long_poll_fetches_of_clients_that_left_release_their_sockets(broker):
    # issue #11's number: 5,000 long polls parked at once; this process and the broker (which
    # inherited its limit) each need that many descriptors
    CLIENTS = 5000
    import resource

    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= CLIENTS + 1000, "raise ulimit -n"
    topic = unique_topic("poll")
    create_topic(broker.bootstrap, topic)
    assert raw_produce(broker.host, broker.port, topic, 0, ["a"], acks=1)[0] == 0
    pid = broker.proc.pid
    time.sleep(0.5)
    baseline = open_fds(pid)
    frame = request_frame(FETCH, 4, 1, body=fetch_v4(topic, 0, offset=1, max_wait_ms=30000))
    socks = []
    try:
        for _ in range(CLIENTS):
            s = socket.create_connection((broker.host, broker.port), timeout=10)
            s.sendall(frame)
            socks.append(s)
        wait_until(lambda: open_fds(pid) >= baseline + CLIENTS, timeout=30,
                   what=f"the broker holding {CLIENTS} connections")
        # the fetches are parked: no answer yet
        for s in socks[::500]:
            s.setblocking(False)
            with pytest.raises(BlockingIOError):
                s.recv(1)
    finally:
        for s in socks:
            s.close()
    took = wait_fds_at_most(pid, baseline, timeout=5)
    assert took < 2, f"descriptors released {took:.2f}s after the clients left"
    # and the broker still serves
    assert raw_produce(broker.host, broker.port, topic, 0, ["b"], acks=1)[0] == 0


def test_acks_all_produce_of_a_client_that_left_releases_its_socket(broker_factory, zk):
    brokers = {i: broker_factory(i) for i in (1, 2)}
    topic = unique_topic("acks")
    create_topic(brokers[1].bootstrap, topic, rf=2)
    wait_until(lambda: len(partition_state(zk, topic)["isr"]) == 2, timeout=20,
               what="both replicas in the ISR")
    lead = brokers[partition_state(zk, topic)["leader"]]
    follower = next(b for b in brokers.values() if b is not lead)
    follower.sigstop()
    try:
        pid = lead.proc.pid
        time.sleep(0.5)
        baseline = open_fds(pid)
        with socket.create_connection((lead.host, lead.port), timeout=10) as s:
            s.sendall(produce_frame(topic, 0, ["waits"], acks=-1, timeout_ms=25000))
            s.settimeout(1.0)
            with pytest.raises(socket.timeout):
                s.recv(1)  # waiting for the paused follower
            assert open_fds(pid) >= baseline + 1
        took = wait_fds_at_most(pid, baseline, timeout=5)
        assert took < 2, f"descriptor released {took:.2f}s after the client left"
    finally:
        follower.sigcont()


def test_create_topics_of_a_client_that_left_releases_its_socket(broker_factory, zk):
    brokers = {i: broker_factory(i) for i in (1, 2)}
    wait_until(lambda: zk.exists("/controller"), timeout=20, what="a controller")
    ctl_id = json.loads(zk.get("/controller")[0])["brokerid"]
    ctl = brokers[ctl_id]
    other = next(b for b in brokers.values() if b is not ctl)
    topic = unique_topic("admin")
    # with the controller paused, CreateTopics writes the topic znode and then waits for leaders
    ctl.sigstop()
    try:
        pid = other.proc.pid
        time.sleep(0.5)
        baseline = open_fds(pid)
        with socket.create_connection((other.host, other.port), timeout=10) as s:
            s.sendall(request_frame(CREATE_TOPICS, 2, 5, body=create_topics_v2(topic, timeout_ms=25000)))
            wait_until(lambda: zk.exists(f"/brokers/topics/{topic}"), timeout=10,
                       what="the topic znode")
            s.settimeout(1.0)
            with pytest.raises(socket.timeout):
                s.recv(1)  # waiting for the paused controller to elect leaders
            assert open_fds(pid) >= baseline + 1
        took = wait_fds_at_most(pid, baseline, timeout=5)
        assert took < 2, f"descriptor released {took:.2f}s after the client left"
    finally:
        ctl.sigcont()
    # the topic still gets its leader once the controller runs again
    wait_until(lambda: zk.exists(f"/brokers/topics/{topic}/partitions/0/state"), timeout=20,
               what="the topic's partition state")


def test_sigterm_while_zookeeper_is_down_exits(broker_factory, zookeeper):
    running = broker_factory(1)
    topic = unique_topic("down")
    create_topic(running.bootstrap, topic)
    assert raw_produce(running.host, running.port, topic, 0, ["a"], acks=-1)[0] == 0
    zookeeper.stop()
    try:
        # the running broker gives its session up after the session timeout and keeps trying to
        # resume it or build a new one
        wait_until(lambda: "ZooKeeper session lost" in running.log_text(), timeout=30,
                   what="the running broker to notice its session is lost")
        # a broker that is still connecting (it would give up after zookeeper.connection.timeout.ms)
        connecting = broker_factory(2, wait=False)
        time.sleep(1.0)
        assert connecting.running(), connecting.log_tail(20)
        started = time.monotonic()
        running.sigterm(wait=False)
        connecting.sigterm(wait=False)
        connecting.wait_exit(timeout=30)
        running.wait_exit(timeout=30)
        took = time.monotonic() - started
    finally:
        zookeeper.start()
    assert took < 30, f"exits took {took:.1f}s"
    assert "shutting down" in running.log_text()
