"""Consumer groups against a real zkafka broker: membership and assignment as confluent-kafka,
kafka-python and kcat see them, and committed offsets as ZooKeeper shows them at
/consumers/<group>/offsets/<topic>/<partition> (bare decimal text, see docs/zk-layout.md).

Brokers run with group.initial.rebalance.delay.ms=0 and group.min.session.timeout.ms=1000 so that
joins and expiries take a second or two, not Kafka's defaults.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import (
    Rec,
    ck_admin,
    ck_consumer,
    kcat,
    kp_consumer,
    unique_topic,
    wait_until,
)

pytestmark = pytest.mark.clients

from groups_common import (  # noqa: F401  (gbroker is a fixture)
    N_PARTITIONS,
    NON_EMPTY_GROUP,
    wait_for_metadata,
    gbroker,
    unique_group,
    zk_offsets,
    create_topic,
    produce_per_partition,
)


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
        self.errors: list = []
        self.closed = False

    def poll(self, timeout: float = 0.05) -> None:
        for m in self.consumer.consume(num_messages=1000, timeout=timeout):
            if m.error():
                if m.error().fatal():
                    raise AssertionError(f"fatal consumer error: {m.error()}")
                self.errors.append(m.error())  # transient (a reconnect): librdkafka retries
                continue
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
            errors = [str(e) for m in members for e in m.errors][-5:]
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; assignments: {state}; last errors: {errors}")


def describe(bootstrap: str, group: str):
    admin = ck_admin(bootstrap)  # must outlive the future, or the future never completes
    return admin.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=15)


def described_assignment(desc) -> dict[str, list[int]]:
    return {m.member_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members}


# --- 1. two members split six partitions ------------------------------------------------------


@pytest.mark.timeout(60)
def test_two_members_split_six_partitions_and_consume_each_record_once(gbroker, members):
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


# --- 2. a seventh member on six partitions idles, then takes over ----------------------------


@pytest.mark.timeout(90)
def test_seventh_member_idles_in_the_group_and_takes_over_when_a_member_leaves(gbroker, members):
    from confluent_kafka import ConsumerGroupState

    topic, group = unique_topic("seven"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    members += [Member(gbroker.bootstrap, group, topic) for _ in range(7)]

    def settled(n_members: int, sizes: list[int]):
        open_members = [m for m in members if not m.closed]
        if sorted(len(m.assignment()) for m in open_members) != sizes:
            return None
        desc = describe(gbroker.bootstrap, group)
        if desc.state != ConsumerGroupState.STABLE or len(desc.members) != n_members:
            return None
        return desc

    desc = pump(members, lambda: settled(7, [0, 1, 1, 1, 1, 1, 1]), timeout=45,
                what="seven members, six with one partition each")
    idle = [m for m in members if not m.assignment()]
    assert len(idle) == 1
    idle = idle[0]
    described = described_assignment(desc)
    assert set(described) == {m.member_id() for m in members}, "DescribeGroups lists all seven members"
    assert described[idle.member_id()] == [], "the idle member stays in the group with no partitions"
    assert sorted(p for ps in described.values() for p in ps) == list(range(N_PARTITIONS))

    leaver = next(m for m in members if m.assignment())
    leaver_id, leaver_partitions = leaver.member_id(), leaver.assignment()
    leaver.close()
    desc = pump(members, lambda: settled(6, [1, 1, 1, 1, 1, 1]), timeout=45,
                what="the idle member to take over after a member left")
    assert len(idle.assignment()) == 1
    described = described_assignment(desc)
    assert leaver_id not in described
    assert described[idle.member_id()] == idle.assignment()
    assert sorted(p for ps in described.values() for p in ps) == list(range(N_PARTITIONS))
    assert leaver_partitions  # (the leaver held something, or the test proves nothing)


# --- 3. committed offsets in ZooKeeper, read back after member and broker restarts ------------


@pytest.mark.timeout(90)
def test_committed_offsets_land_in_zookeeper_and_survive_member_and_broker_restarts(gbroker, members, zk):
    from confluent_kafka import TopicPartition
    from kafka import TopicPartition as KpTopicPartition

    topic, group = unique_topic("commit"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    produce_per_partition(gbroker.bootstrap, topic, 10)
    first = Member(gbroker.bootstrap, group, topic)
    members.append(first)
    pump([first], lambda: len(first.records) >= 60, timeout=30, what="the first member to read all 60 records")

    committed = {p: p + 2 for p in range(N_PARTITIONS)}  # a distinct offset for each partition
    result = first.consumer.commit(offsets=[TopicPartition(topic, p, o) for p, o in committed.items()],
                                   asynchronous=False)
    assert all(tp.error is None for tp in result), result
    bare = {p: str(o).encode() for p, o in committed.items()}
    assert zk_offsets(zk, group, topic) == bare, "bare decimal znodes, one per partition"
    first.close()

    # a new member of the group starts where the old one committed
    second = Member(gbroker.bootstrap, group, topic)
    members.append(second)
    expected = {(p, o) for p in range(N_PARTITIONS) for o in range(committed[p], 10)}
    pump([second], lambda: len(second.records) >= len(expected), timeout=30,
         what=f"{len(expected)} uncommitted records")
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        second.poll()
    got = [(r.partition, r.offset) for r in second.records]
    assert sorted(got) == sorted(expected), "nothing already committed is consumed again"
    second.close()

    # the broker restarts (SIGTERM, start): the offsets are still there, for every client
    gbroker.restart()
    wait_for_metadata(gbroker)
    assert zk_offsets(zk, group, topic) == bare
    c = ck_consumer(gbroker.bootstrap, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(N_PARTITIONS)], timeout=20)
    finally:
        c.close()
    assert {tp.partition: tp.offset for tp in got} == committed
    kc = kp_consumer(gbroker.bootstrap, group_id=group)
    try:
        assert {p: kc.committed(KpTopicPartition(topic, p)) for p in range(N_PARTITIONS)} == committed
    finally:
        kc.close()



@pytest.mark.timeout(90)
def test_live_member_rejoins_after_a_broker_restart_and_resumes_from_its_commits(gbroker, members, zk):
    topic, group = unique_topic("rejoin"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    before = produce_per_partition(gbroker.bootstrap, topic, 10)
    m = Member(gbroker.bootstrap, group, topic, **{"reconnect.backoff.max.ms": 500})
    members.append(m)
    pump([m], lambda: len(m.records) >= len(before), timeout=30, what="the first 60 records")
    m.consumer.commit(asynchronous=False)
    assert zk_offsets(zk, group, topic) == {p: b"10" for p in range(N_PARTITIONS)}

    from confluent_kafka import ConsumerGroupState

    gbroker.restart()  # the coordinator's in-memory group is gone; the member must rejoin
    wait_for_metadata(gbroker)

    def rejoined():
        if len(m.assignment()) != N_PARTITIONS:
            return None
        try:
            desc = describe(gbroker.bootstrap, group)
        except Exception:  # noqa: BLE001 - the coordinator may still be loading
            return None
        return desc.state == ConsumerGroupState.STABLE and set(described_assignment(desc)) == {m.member_id()}

    pump([m], rejoined, timeout=45, what="the member to rejoin the restarted broker's coordinator")
    after = produce_per_partition(gbroker.bootstrap, topic, 10)
    assert after == {(p, o) for p in range(N_PARTITIONS) for o in range(10, 20)}
    pump([m], lambda: len(m.records) >= len(before) + len(after), timeout=30, what="the 60 new records")
    got = [(r.partition, r.offset) for r in m.records]
    assert len(got) == len(set(got)), "nothing read twice: the rejoined member resumed from its commits"
    assert set(got) == before | after
    m.consumer.commit(asynchronous=False)
    assert zk_offsets(zk, group, topic) == {p: b"20" for p in range(N_PARTITIONS)}


# --- 4. commit metadata round-trips; the znode stays bare decimal -----------------------------


def commit_with_metadata(bootstrap: str, topic: str, ck_group: str, kp_group: str) -> None:
    """confluent-kafka and kafka-python each commit offsets with a metadata string (as simple
    consumers: no subscription, generation -1)."""
    from confluent_kafka import TopicPartition
    from kafka import TopicPartition as KpTopicPartition
    from kafka.structs import OffsetAndMetadata

    c = ck_consumer(bootstrap, **{"group.id": ck_group})
    try:
        result = c.commit(offsets=[TopicPartition(topic, p, 3 + p, metadata=f"ck-meta-{p}") for p in (0, 1)],
                          asynchronous=False)
        assert all(tp.error is None for tp in result), result
    finally:
        c.close()
    kc = kp_consumer(bootstrap, group_id=kp_group)
    try:
        kc.commit({KpTopicPartition(topic, 2): OffsetAndMetadata(7, "kp-meta {\"json\": true}", -1)})
    finally:
        kc.close()


def assert_metadata_round_trips(bootstrap: str, zk, topic: str, ck_group: str, kp_group: str) -> None:
    from confluent_kafka import TopicPartition
    from kafka import TopicPartition as KpTopicPartition

    c = ck_consumer(bootstrap, **{"group.id": ck_group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in (0, 1)], timeout=20)
    finally:
        c.close()
    assert [(tp.partition, tp.offset, tp.metadata) for tp in got] == [(0, 3, "ck-meta-0"), (1, 4, "ck-meta-1")]
    kc = kp_consumer(bootstrap, group_id=kp_group)
    try:
        om = kc.committed(KpTopicPartition(topic, 2), metadata=True)
    finally:
        kc.close()
    assert (om.offset, om.metadata) == (7, "kp-meta {\"json\": true}")
    # and across clients: confluent reads what kafka-python wrote
    c = ck_consumer(bootstrap, **{"group.id": kp_group})
    try:
        (tp,) = c.committed([TopicPartition(topic, 2)], timeout=20)
    finally:
        c.close()
    assert (tp.offset, tp.metadata) == (7, "kp-meta {\"json\": true}")
    # ZooKeeper's offset znodes stay bare decimal: no metadata in them
    assert zk_offsets(zk, ck_group, topic) == {0: b"3", 1: b"4"}
    assert zk_offsets(zk, kp_group, topic) == {2: b"7"}


@pytest.mark.timeout(60)
def test_commit_metadata_round_trips_while_the_znode_stays_bare_decimal(gbroker, zk):
    topic, ck_group, kp_group = unique_topic("meta"), unique_group("ck"), unique_group("kp")
    create_topic(gbroker.bootstrap, topic)
    commit_with_metadata(gbroker.bootstrap, topic, ck_group, kp_group)
    assert_metadata_round_trips(gbroker.bootstrap, zk, topic, ck_group, kp_group)


@pytest.mark.timeout(60)
def test_commit_metadata_survives_a_broker_restart(gbroker, zk):
    topic, ck_group, kp_group = unique_topic("meta"), unique_group("ck"), unique_group("kp")
    create_topic(gbroker.bootstrap, topic)
    commit_with_metadata(gbroker.bootstrap, topic, ck_group, kp_group)
    gbroker.restart()
    wait_for_metadata(gbroker)
    assert_metadata_round_trips(gbroker.bootstrap, zk, topic, ck_group, kp_group)


# --- 5. a member that stops heartbeating is removed after its session timeout -----------------

MEMBER_SCRIPT = r"""
import json, sys
from confluent_kafka import Consumer
bootstrap, group, topic, out, session_ms = sys.argv[1:6]
c = Consumer({"bootstrap.servers": bootstrap, "broker.address.family": "v4", "group.id": group,
              "session.timeout.ms": int(session_ms), "heartbeat.interval.ms": 200,
              "partition.assignment.strategy": "range", "enable.auto.commit": False,
              "auto.offset.reset": "earliest", "topic.metadata.refresh.interval.ms": 1000})
c.subscribe([topic])
last = None
while True:
    c.poll(0.1)
    now = sorted(tp.partition for tp in c.assignment())
    if now != last:
        with open(out, "a") as f:
            f.write(json.dumps({"member": c.memberid(), "assignment": now}) + "\n")
        last = now
"""


def last_report(path) -> dict | None:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    return json.loads(lines[-1]) if lines else None


@pytest.mark.timeout(90)
def test_member_that_stops_heartbeating_is_removed_after_its_session_timeout(gbroker, members, zk, tmp_path):
    topic, group = unique_topic("stall"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    session_ms = 2000
    out = tmp_path / "member.jsonl"
    with open(tmp_path / "member.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-c", MEMBER_SCRIPT, gbroker.bootstrap, group, topic, str(out),
                                 str(session_ms)], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        other = Member(gbroker.bootstrap, group, topic)
        members.append(other)

        def split():
            rep = last_report(out)
            return rep and len(rep["assignment"]) == 3 and len(other.assignment()) == 3 and rep

        rep = pump([other], split, timeout=40, what="the subprocess and the local member to split 3 + 3")
        stalled_id = rep["member"]
        assert set(rep["assignment"]) | set(other.assignment()) == set(range(N_PARTITIONS))
        assert set(described_assignment(describe(gbroker.bootstrap, group))) == {stalled_id, other.member_id()}

        os.kill(proc.pid, signal.SIGSTOP)  # no more heartbeats, no LeaveGroup
        stopped_at = time.monotonic()
        pump([other], lambda: len(other.assignment()) == N_PARTITIONS, timeout=session_ms / 1000 + 20,
             what="the remaining member to get all six partitions")
        took = time.monotonic() - stopped_at
        assert took >= session_ms / 1000 / 2, f"partitions moved after {took:.1f}s, before the session timed out"
        described = described_assignment(describe(gbroker.bootstrap, group))
        assert described == {other.member_id(): list(range(N_PARTITIONS))}, "the stalled member is gone"
        wait_until(lambda: zk.get_children(f"/consumers/{group}/ids") == [other.member_id()], timeout=10,
                   what=f"/consumers/{group}/ids to list only the remaining member")
    finally:
        proc.kill()  # SIGKILL also ends a stopped process
        proc.wait(timeout=10)


# --- 6. kcat's balanced consumer -------------------------------------------------------------


@pytest.mark.timeout(60)
def test_kcat_balanced_consumer_reads_everything_and_commits_to_zookeeper(gbroker, zk):
    from helpers import KCAT_COMMON

    topic, group = unique_topic("kcatg"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    delivered = produce_per_partition(gbroker.bootstrap, topic, 20)
    cp = kcat("-b", gbroker.bootstrap, *KCAT_COMMON, "-q", "-e", "-o", "beginning",
              "-f", "%p\t%o\t%s\n", "-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500",
              "-X", "auto.commit.interval.ms=200", "-X", "fetch.wait.max.ms=100", "-X", "auto.offset.reset=earliest",
              "-G", group, topic, timeout=45)
    got = []
    for line in cp.stdout.splitlines():
        p, o, _v = line.split("\t", 2)
        got.append((int(p), int(o)))
    assert len(got) == len(set(got)) and set(got) == delivered, "every record read once"
    wait_until(lambda: zk_offsets(zk, group, topic) == {p: b"20" for p in range(N_PARTITIONS)},
               timeout=10, what="kcat's committed offsets (20 in each partition) in ZooKeeper")


# --- raw group requests (non-flexible versions) -----------------------------------------------



def committed_member(bootstrap: str, group: str, topic: str, members: list) -> Member:
    """A member that read 5 records per partition and committed them."""
    produce_per_partition(bootstrap, topic, 5)
    m = Member(bootstrap, group, topic)
    members.append(m)
    pump([m], lambda: len(m.records) >= 5 * N_PARTITIONS, timeout=30, what="30 records")
    m.consumer.commit(asynchronous=False)
    return m


@pytest.mark.timeout(60)
def test_delete_groups_removes_the_group_znode_after_members_leave(gbroker, members, zk):
    from confluent_kafka import TopicPartition

    topic, group = unique_topic("del"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    m = committed_member(gbroker.bootstrap, group, topic, members)
    assert zk_offsets(zk, group, topic) == {p: b"5" for p in range(N_PARTITIONS)}
    m.close()  # LeaveGroup: the group is empty now

    admin = ck_admin(gbroker.bootstrap)
    admin.delete_consumer_groups([group], request_timeout=10)[group].result(timeout=15)
    assert zk.exists(f"/consumers/{group}") is None, "DeleteGroups removes /consumers/<group>"
    c = ck_consumer(gbroker.bootstrap, **{"group.id": group})
    try:
        got = c.committed([TopicPartition(topic, p) for p in range(N_PARTITIONS)], timeout=20)
    finally:
        c.close()
    assert {tp.offset for tp in got} == {-1001}, "no committed offsets are left"


@pytest.mark.timeout(60)
def test_delete_groups_refuses_a_group_with_members(gbroker, members, zk):
    from confluent_kafka import KafkaException

    topic, group = unique_topic("del"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    committed_member(gbroker.bootstrap, group, topic, members)
    admin = ck_admin(gbroker.bootstrap)
    fut = admin.delete_consumer_groups([group], request_timeout=10)[group]
    with pytest.raises(KafkaException) as e:
        fut.result(timeout=15)
    assert e.value.args[0].code() == NON_EMPTY_GROUP
    assert zk_offsets(zk, group, topic) == {p: b"5" for p in range(N_PARTITIONS)}



# --- live members mirrored under /consumers/<group>/ids and owners ------------------------------


def zk_mirror(zk, group: str, topic: str):
    """({member id: (registration JSON, ephemeralOwner)}, {partition: owner member id})."""
    ids = {}
    if zk.exists(f"/consumers/{group}/ids"):
        for member in zk.get_children(f"/consumers/{group}/ids"):
            data, stat = zk.get(f"/consumers/{group}/ids/{member}")
            ids[member] = (json.loads(data.decode()), stat.ephemeralOwner)
    owners = {}
    base = f"/consumers/{group}/owners/{topic}"
    if zk.exists(base):
        for p in zk.get_children(base):
            owners[int(p)] = zk.get(f"{base}/{p}")[0].decode()
    return ids, owners


@pytest.mark.timeout(60)
def test_live_members_and_their_partitions_are_mirrored_in_zookeeper(gbroker, members, zk):
    topic, group = unique_topic("mirror"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    members += [Member(gbroker.bootstrap, group, topic) for _ in range(2)]
    a, b = members
    pump(members, lambda: len(a.assignment()) == 3 and len(b.assignment()) == 3, timeout=30,
         what="two members with three partitions each")
    expected_owners = {p: m.member_id() for m in members for p in m.assignment()}

    def mirrored():
        ids, owners = zk_mirror(zk, group, topic)
        return set(ids) == {a.member_id(), b.member_id()} and owners == expected_owners and (ids, owners)

    ids, owners = wait_until(mirrored, timeout=10, what=f"ids/ and owners/ of {group} to match the group")
    for registration, ephemeral_owner in ids.values():
        assert ephemeral_owner != 0, "member registrations are ephemeral"
        assert registration["version"] == 1
        assert registration["subscription"] == {topic: 1}
        assert registration["pattern"] == "static"
        assert isinstance(registration["timestamp"], str) and registration["timestamp"].isdigit()

    # a member leaves: its registration goes, the other member owns everything
    gone = a.member_id()
    a.close()
    pump([b], lambda: len(b.assignment()) == N_PARTITIONS, timeout=30, what="b to own all six partitions")
    def moved():
        ids, owners = zk_mirror(zk, group, topic)
        return set(ids) == {b.member_id()} and owners == {p: b.member_id() for p in range(N_PARTITIONS)}

    wait_until(moved, timeout=10, what=f"{gone} to leave ids/ and the other member to own every partition")
