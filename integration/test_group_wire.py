"""Consumer-group commit rules on the wire (raw requests, so the exact versions and fields are ours):
stale generations and unknown members refused, a simple consumer's commit to an empty group accepted,
and Kafka's ZooKeeper rules for OffsetCommit/OffsetFetch version 0 (served by any broker)."""
from __future__ import annotations

import struct

import pytest

from helpers import ck_consumer, kp_consumer, unique_topic, wait_until
from wire import karray, kbytes, kstr, raw_call

from groups_common import (  # noqa: F401  (gbroker is a fixture)
    N_PARTITIONS,
    OFFSET_COMMIT,
    OFFSET_FETCH,
    FIND_COORDINATOR,
    JOIN_GROUP,
    SYNC_GROUP,
    NONE,
    UNKNOWN_TOPIC_OR_PARTITION,
    ILLEGAL_GENERATION,
    UNKNOWN_MEMBER_ID,
    gbroker,
    unique_group,
    offset_path,
    zk_offsets,
    create_topic,
)

pytestmark = pytest.mark.clients


def subscription_v0(topic: str) -> bytes:
    """ConsumerProtocolSubscription v0: version, topics, user data."""
    return struct.pack(">h", 0) + karray([topic], kstr) + kbytes(b"")


def assignment_v0(topic: str, partitions: list[int]) -> bytes:
    """ConsumerProtocolAssignment v0: version, [(topic, [partition])], user data."""
    return (struct.pack(">h", 0)
            + karray([topic], lambda t: kstr(t) + karray(partitions, lambda p: struct.pack(">i", p)))
            + kbytes(b""))


def raw_find_coordinator(broker, group: str, timeout: float = 20) -> None:
    """FindCoordinator v0 until it names this broker: the first lookup creates __consumer_offsets,
    and until its partition has a leader the answer is COORDINATOR_NOT_AVAILABLE (15)."""

    def found():
        r = raw_call(broker.host, broker.port, FIND_COORDINATOR, 0, kstr(group))
        err, node, host, port = r.int16(), r.int32(), r.string(), r.int32()
        return err == NONE and (node, port) == (broker.broker_id, broker.port)

    wait_until(found, timeout=timeout, interval=0.2, what=f"FindCoordinator({group}) to name broker {broker.broker_id}")


def raw_join_and_sync(broker, group: str, topic: str, member_id: str = "",
                      session_ms: int = 10000) -> tuple[int, str]:
    """JoinGroup v0 + SyncGroup v0 as the only member (so the leader, assigning itself every
    partition); a known member_id rejoins, which starts a new generation. Returns (generation id,
    member id)."""
    body = (kstr(group) + struct.pack(">i", session_ms) + kstr(member_id) + kstr("consumer")
            + karray([("range", subscription_v0(topic))], lambda pm: kstr(pm[0]) + kbytes(pm[1])))
    r = raw_call(broker.host, broker.port, JOIN_GROUP, 0, body, timeout=20)
    err, generation, protocol, leader, member_id = r.int16(), r.int32(), r.string(), r.string(), r.string()
    r.array(lambda r: (r.string(), r.bytes_()))
    assert err == NONE, f"JoinGroup v0 error {err}"
    assert protocol == "range" and leader == member_id and member_id, (protocol, leader, member_id)
    body = (kstr(group) + struct.pack(">i", generation) + kstr(member_id)
            + karray([(member_id, assignment_v0(topic, list(range(N_PARTITIONS))))],
                     lambda ma: kstr(ma[0]) + kbytes(ma[1])))
    r = raw_call(broker.host, broker.port, SYNC_GROUP, 0, body, timeout=20)
    err, assignment = r.int16(), r.bytes_()
    assert err == NONE, f"SyncGroup v0 error {err}"
    assert assignment == assignment_v0(topic, list(range(N_PARTITIONS)))
    return generation, member_id


def raw_offset_commit(broker, version: int, group: str, topic: str, offsets: dict[int, int],
                      generation: int = -1, member_id: str = "", metadata: str = "") -> dict[int, int]:
    """OffsetCommit v0, v1 or v2 of {partition: offset}; returns {partition: error code}."""
    assert version in (0, 1, 2)

    def partition(po):
        p, o = po
        ts = struct.pack(">q", -1) if version == 1 else b""
        return struct.pack(">iq", p, o) + ts + kstr(metadata)

    body = kstr(group)
    if version >= 1:
        body += struct.pack(">i", generation) + kstr(member_id)
    if version == 2:
        body += struct.pack(">q", -1)  # retention time: the broker's default
    body += karray([topic], lambda t: kstr(t) + karray(sorted(offsets.items()), partition))
    r = raw_call(broker.host, broker.port, OFFSET_COMMIT, version, body)
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int16()))))
    assert r.at_end(), "trailing bytes in OffsetCommit response"
    assert [t for t, _ in topics] == [topic]
    return dict(topics[0][1])


def raw_offset_fetch(broker, version: int, group: str, topic: str, partitions: list[int]) -> dict:
    """OffsetFetch v0 or v1; returns {partition: (offset, metadata, error code)}."""
    assert version in (0, 1)
    body = kstr(group) + karray([topic], lambda t: kstr(t) + karray(partitions, lambda p: struct.pack(">i", p)))
    r = raw_call(broker.host, broker.port, OFFSET_FETCH, version, body)
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int64(), r.string(), r.int16()))))
    assert r.at_end(), "trailing bytes in OffsetFetch response"
    assert [t for t, _ in topics] == [topic]
    return {p: (o, m, e) for p, o, m, e in topics[0][1]}


# --- 7. generation checks on OffsetCommit ------------------------------------------------------


@pytest.mark.timeout(60)
def test_commit_with_stale_generation_or_unknown_member_is_refused(gbroker, zk):
    topic, group = unique_topic("gen"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    raw_find_coordinator(gbroker, group)
    first_generation, member_id = raw_join_and_sync(gbroker, group, topic)
    # the leader rejoins: a rebalance, a new generation, the same member
    generation, same_member = raw_join_and_sync(gbroker, group, topic, member_id=member_id)
    assert same_member == member_id
    assert generation == first_generation + 1

    stale = raw_offset_commit(gbroker, 2, group, topic, {0: 5, 1: 6}, generation=generation - 1,
                              member_id=member_id)
    assert stale == {0: ILLEGAL_GENERATION, 1: ILLEGAL_GENERATION}
    stranger = raw_offset_commit(gbroker, 2, group, topic, {0: 5}, generation=generation,
                                 member_id="made-up-member-0000")
    assert stranger == {0: UNKNOWN_MEMBER_ID}
    # a simple consumer's commit (no member id, generation -1) is only for groups without members
    outsider = raw_offset_commit(gbroker, 2, group, topic, {0: 5}, generation=-1, member_id="")
    assert outsider == {0: UNKNOWN_MEMBER_ID}
    assert zk_offsets(zk, group, topic) == {}, "refused commits write nothing"

    # the member itself, with its generation, may commit
    assert raw_offset_commit(gbroker, 2, group, topic, {0: 5, 1: 6}, generation=generation,
                             member_id=member_id) == {0: NONE, 1: NONE}
    assert zk_offsets(zk, group, topic) == {0: b"5", 1: b"6"}


@pytest.mark.timeout(60)
def test_simple_consumer_commit_to_a_group_without_members_is_accepted(gbroker, zk):
    topic, group = unique_topic("simple"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    raw_find_coordinator(gbroker, group)
    assert raw_offset_commit(gbroker, 2, group, topic, {0: 11, 4: 44}, generation=-1, member_id="") == \
        {0: NONE, 4: NONE}
    assert zk_offsets(zk, group, topic) == {0: b"11", 4: b"44"}
    fetched = raw_offset_fetch(gbroker, 1, group, topic, [0, 4])
    assert {p: (o, e) for p, (o, _m, e) in fetched.items()} == {0: (11, NONE), 4: (44, NONE)}


# --- 8. OffsetCommit / OffsetFetch v0: the ZooKeeper path of Kafka 0.8.1 ----------------------


@pytest.mark.timeout(60)
def test_offset_commit_v0_writes_the_znode_and_fetch_v0_of_a_missing_partition_answers_minus_one(gbroker, zk):
    topic, group = unique_topic("v0"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    raw_find_coordinator(gbroker, group)  # as a 0.8.2 client does (ConsumerMetadataRequest)
    assert raw_offset_commit(gbroker, 0, group, topic, {0: 17}) == {0: NONE}
    assert zk.get(offset_path(group, topic, 0))[0] == b"17"
    for intermediate in (f"/consumers/{group}", f"/consumers/{group}/offsets", f"/consumers/{group}/offsets/{topic}"):
        assert zk.get(intermediate)[0] == b"", f"{intermediate} is an empty container"
    # a second commit sets the same znode
    assert raw_offset_commit(gbroker, 0, group, topic, {0: 23}) == {0: NONE}
    assert zk_offsets(zk, group, topic) == {0: b"23"}

    fetched = raw_offset_fetch(gbroker, 0, group, topic, [0, 1])
    assert fetched[0][0] == 23 and fetched[0][2] == NONE
    assert fetched[1] == (-1, "", UNKNOWN_TOPIC_OR_PARTITION), "a missing znode: offset -1, error 3"

    # and a v0 commit is what newer clients read back
    from confluent_kafka import TopicPartition

    c = ck_consumer(gbroker.bootstrap, **{"group.id": group})
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=20)
    finally:
        c.close()
    assert tp.offset == 23



@pytest.mark.timeout(30)
def test_offset_commit_v0_needs_no_coordinator_lookup(gbroker, zk):
    topic, group = unique_topic("v0nc"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    assert raw_offset_commit(gbroker, 0, group, topic, {1: 8}) == {1: NONE}
    assert zk_offsets(zk, group, topic) == {1: b"8"}
    assert raw_offset_fetch(gbroker, 0, group, topic, [1]) == {1: (8, "", NONE)}


@pytest.mark.timeout(60)
def test_kafka_python_0_8_1_commits_and_fetches_through_version_0(gbroker, zk):
    """kafka-python with api_version=(0, 8, 1) is a ZooKeeper-storage client: OffsetCommit and
    OffsetFetch v0 to any broker, no coordinator lookup."""
    from kafka import TopicPartition
    from kafka.structs import OffsetAndMetadata

    topic, group = unique_topic("kp081"), unique_group()
    create_topic(gbroker.bootstrap, topic)
    kc = kp_consumer(gbroker.bootstrap, group_id=group, api_version=(0, 8, 1))
    try:
        kc.commit({TopicPartition(topic, 2): OffsetAndMetadata(31, "", -1)}, timeout_ms=8000)
        assert zk_offsets(zk, group, topic) == {2: b"31"}
        assert kc.committed(TopicPartition(topic, 2)) == 31
    finally:
        kc.close()


# --- 9. DeleteGroups ---------------------------------------------------------------------------

