"""Differential tests: the same scenario against zkafka's cluster and Apache Kafka 3.9's (ZooKeeper
mode), both of three brokers started from config/server-<n>.properties in one ZooKeeper, each in its
own chroot. Each test asserts that a user sees the same thing from both: the same error codes, the
same `kafka-topics --describe`, the same znodes. Where zkafka differs on purpose,
docs/differences.md says so and the test names the difference.
"""
from __future__ import annotations

import re
import time

import pytest

from helpers import ck_admin, unique_topic, wait_until
from reference import kafka_tool
from wire import raw_produce

pytestmark = pytest.mark.reference


def both(zkafka_cluster, kafka_cluster):
    return [zkafka_cluster, kafka_cluster]


# --------------------------------------------------------------------------------------------
# Error codes for the same bad requests
# --------------------------------------------------------------------------------------------


def create_topic_error(bootstrap: str, name: str, partitions: int = 1, replication: int = 1,
                       config: dict | None = None, assignment=None) -> tuple[int, str]:
    """(error code, message) of one CreateTopics request, sent by kafka-python's Admin client."""
    from kafka.admin import KafkaAdminClient

    spec = {"configs": config or {}}
    if assignment is not None:
        spec["assignments"] = dict(enumerate(assignment))
    else:
        spec.update(num_partitions=partitions, replication_factor=replication)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=20000)
    try:
        response = admin.create_topics({name: spec}, timeout_ms=10000, raise_errors=False)
    finally:
        admin.close()
    (topic,) = response["topics"]
    return topic["error_code"], topic["error_message"] or ""


CREATE_TOPICS = [
    # (what, name, partitions, replication, config, assignment, Kafka 3.9's error code)
    ("invalid name", "a b", 1, 1, None, None, 17),
    ("name of dots", "..", 1, 1, None, None, 17),
    ("name too long", "x" * 250, 1, 1, None, None, 17),
    ("zero partitions", "zero-partitions", 0, 1, None, None, 37),
    ("more replicas than brokers", "too-many-replicas", 1, 4, None, None, 38),
    ("unknown config key", "bad-config-key", 1, 1, {"no.such.config": "1"}, None, 40),
    ("invalid config value", "bad-config-value", 1, 1, {"retention.ms": "soon"}, None, 40),
    ("duplicate replica in assignment", "dup-replica", None, None, None, [[1, 1]], 39),
    # Kafka in ZooKeeper mode accepts replicas on brokers that are not registered (yet)
    ("unknown broker in assignment", "unknown-broker", None, None, None, [[1, 99]], 0),
]


@pytest.mark.parametrize("what,name,partitions,replication,config,assignment,kafka_code", CREATE_TOPICS,
                         ids=[t[0] for t in CREATE_TOPICS])
def test_create_topics_answers_as_kafka(zkafka_cluster, kafka_cluster, what, name, partitions,
                                        replication, config, assignment, kafka_code):
    """CreateTopics gets the same error code from zkafka as from Kafka (0 where Kafka accepts)."""
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        seen[cluster.kind] = create_topic_error(
            cluster.bootstrap, name, 1 if partitions is None else partitions,
            1 if replication is None else replication, config, assignment)
    assert seen["kafka"][0] == kafka_code, f"{what}: Kafka answered {seen['kafka']}"
    assert seen["zkafka"][0] == seen["kafka"][0], f"{what}: zkafka {seen['zkafka']} vs Kafka {seen['kafka']}"


def test_produce_errors_match(zkafka_cluster, kafka_cluster):
    """The same raw Produce requests get the same error codes from zkafka and Kafka: a partition
    the topic lacks, and a batch larger than message.max.bytes."""
    from confluent_kafka.admin import NewTopic

    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        topic = unique_topic("produce-errors")
        admin = ck_admin(cluster.bootstrap)
        admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10)[topic].result(timeout=30)
        leader = wait_until(lambda: leader_of(cluster, topic, 0), timeout=20, what="a leader")
        host, port = leader.split(":")
        port = int(port)
        # Kafka's leader answers UNKNOWN_TOPIC_OR_PARTITION until its LeaderAndIsr arrives
        ok = wait_until(lambda: raw_produce(host, port, topic, 0, ["small"], acks=1)[0] == 0, timeout=20,
                        what="the first produce to succeed") and 0
        missing_partition = raw_produce(host, port, topic, 7, ["x"], acks=1)[0]
        too_large = raw_produce(host, port, topic, 0, ["y" * 1_100_000], acks=1)[0]
        seen[cluster.kind] = {"ok": ok, "missing partition": missing_partition, "too large": too_large}
    assert seen["kafka"] == {"ok": 0, "missing partition": 3, "too large": 10}, seen
    assert seen["zkafka"] == seen["kafka"]


def leader_of(cluster, topic: str, partition: int) -> str | None:
    """host:port of the partition's leader, from Metadata."""
    md = ck_admin(cluster.bootstrap).list_topics(topic, timeout=10)
    t = md.topics.get(topic)
    if t is None or t.error is not None or partition not in t.partitions:
        return None
    leader = t.partitions[partition].leader
    if leader < 0:
        return None
    b = md.brokers[leader]
    return f"{b.host}:{b.port}"


# --------------------------------------------------------------------------------------------
# Kafka's own tools see the same cluster
# --------------------------------------------------------------------------------------------

IDS = re.compile(r"TopicId: \S+")
CONFIGS = re.compile(r"Configs: (\S*)")


def describe(cluster, topic: str) -> str:
    """`kafka-topics --describe`, topic id masked and the Configs list sorted (DescribeConfigs
    order is Java's HashMap order in Kafka; docs/differences.md)."""
    out = kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--describe", "--topic", topic).stdout
    out = IDS.sub("TopicId: <id>", out)
    out = CONFIGS.sub(lambda m: "Configs: " + ",".join(sorted(m.group(1).split(","))), out)
    return out.strip()


def test_kafka_topics_create_and_describe(zkafka_cluster, kafka_cluster):
    """`kafka-topics --create` then `--describe` print the same on both (topic ids aside): the
    partition count, replication factor, the replicas chosen, leaders, ISR and the configs."""
    outputs = {}
    topic = unique_topic("described")
    for cluster in both(zkafka_cluster, kafka_cluster):
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                   "--replica-assignment",
                   "1:2:3,2:3:1,3:1:2,1:3:2,2:1:3,3:2:1", "--config", "retention.ms=3600000")
        deadline = time.monotonic() + 30
        while True:
            outputs[cluster.kind] = describe(cluster, topic)
            if outputs[cluster.kind].count("Leader: ") == 6 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert "Leader: none" not in outputs["kafka"]
    assert outputs["zkafka"] == outputs["kafka"]


# --------------------------------------------------------------------------------------------
# The ZooKeeper tree after each admin operation
# --------------------------------------------------------------------------------------------

VOLATILE = {"topic_id", "controller_epoch", "timestamp"}


def normalised(data: bytes):
    """A znode's JSON with ids and times masked ('<…>'), or its raw text when it is not JSON."""
    import json

    try:
        value = json.loads(data.decode())
    except ValueError:
        return data.decode(errors="replace")

    def mask(v):
        if isinstance(v, dict):
            return {k: ("<masked>" if k in VOLATILE else mask(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [mask(x) for x in v]
        return v

    return mask(value)


def topic_tree(zk, chroot: str, topic: str) -> dict:
    """Every znode about `topic` under the cluster's chroot: path -> normalised JSON."""
    out = {}

    def walk(path: str):
        if zk.exists(chroot + path) is None:
            return
        data, _ = zk.get(chroot + path)
        out[path] = normalised(data) if data else None
        for child in sorted(zk.get_children(chroot + path)):
            walk(f"{path}/{child}")

    walk(f"/brokers/topics/{topic}")
    walk(f"/config/topics/{topic}")
    walk(f"/admin/delete_topics/{topic}")
    walk("/admin/reassign_partitions")
    walk("/admin/preferred_replica_election")
    return out


def state_of(zk, cluster, topic: str, partition: int) -> dict:
    import json

    data, _ = zk.get(f"{cluster.chroot}/brokers/topics/{topic}/partitions/{partition}/state")
    return json.loads(data.decode())


def test_zookeeper_tree_after_admin_operations(zkafka_cluster, kafka_cluster, zk_root):
    """Topic create, partition add, reassignment and preferred election through their znodes, and
    delete: after each step the topic's znodes hold the same JSON on both clusters (ids, controller
    epochs and times masked)."""
    import json

    zk = zk_root
    topic = unique_topic("tree")
    trees = {"zkafka": [], "kafka": []}
    for cluster in both(zkafka_cluster, kafka_cluster):
        chroot, boot = cluster.chroot, cluster.bootstrap
        snap = lambda: trees[cluster.kind].append(topic_tree(zk, chroot, topic))  # noqa: E731

        kafka_tool("kafka-topics", "--bootstrap-server", boot, "--create", "--topic", topic,
                   "--replica-assignment", "1:2:3,2:3:1,3:1:2", "--config", "retention.ms=3600000")
        wait_until(lambda: all(state_of(zk, cluster, topic, p)["isr"] for p in range(3)), timeout=30,
                   what="partition states")
        snap()

        kafka_tool("kafka-topics", "--bootstrap-server", boot, "--alter", "--topic", topic, "--partitions", "5",
                   "--replica-assignment", "1:2:3,2:3:1,3:1:2,1:3:2,2:1:3")
        wait_until(lambda: zk.exists(f"{chroot}/brokers/topics/{topic}/partitions/4/state"), timeout=30,
                   what="the new partitions' states")
        snap()

        zk.create(f"{chroot}/admin/reassign_partitions", json.dumps(
            {"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [2, 3, 1]}]}).encode())
        wait_until(lambda: zk.exists(f"{chroot}/admin/reassign_partitions") is None, timeout=60,
                   what="the reassignment to complete")
        snap()

        zk.create(f"{chroot}/admin/preferred_replica_election", json.dumps(
            {"version": 1, "partitions": [{"topic": topic, "partition": 0}]}).encode())
        wait_until(lambda: zk.exists(f"{chroot}/admin/preferred_replica_election") is None
                   and state_of(zk, cluster, topic, 0)["leader"] == 2, timeout=60,
                   what="the preferred election to complete")
        snap()

        kafka_tool("kafka-topics", "--bootstrap-server", boot, "--delete", "--topic", topic)
        wait_until(lambda: not topic_tree(zk, chroot, topic), timeout=60, what="the topic's znodes to go")
        snap()

    steps = ["create", "add partitions", "reassign", "preferred election", "delete"]
    for step, z, k in zip(steps, trees["zkafka"], trees["kafka"]):
        assert z == k, f"after {step}: zkafka {z} vs Kafka {k}"


# --------------------------------------------------------------------------------------------
# kafka-consumer-groups and kafka-configs
# --------------------------------------------------------------------------------------------


def commit_offsets(bootstrap: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commits the given offsets for `group` as a consumer that only assign()s (confluent-kafka)."""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                  "broker.address.family": "v4"})
    try:
        c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    finally:
        c.close()


def groups_describe(cluster, group: str, topic: str) -> list[list[str]]:
    """`kafka-consumer-groups --describe` rows: group, topic, partition, offsets, lag (member
    columns dropped), group and topic names replaced, sorted."""
    out = kafka_tool("kafka-consumer-groups", "--bootstrap-server", cluster.bootstrap, "--describe",
                     "--group", group).stdout
    rows = []
    for line in out.splitlines():
        cols = line.split()
        if not cols:
            continue
        if cols[0] == group:
            cols = ["<group>", "<topic>" if cols[1] == topic else cols[1], *cols[2:6]]
        rows.append(cols)
    # the tool prints partitions in the order of a hash map of the response
    return sorted(rows, key=lambda r: (r[0] != "GROUP", r))


def test_kafka_consumer_groups_describe(zkafka_cluster, kafka_cluster):
    """Offsets committed for a group read back the same through `kafka-consumer-groups --describe`
    and `--list`: current offset, log-end offset and lag per partition, 'no active members'."""
    from helpers import ck_produce

    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        topic, group = unique_topic("cg"), unique_topic("cg-group")
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                   "--partitions", "3", "--replication-factor", "3")
        ck_produce(cluster.bootstrap, topic, [(f"k{i % 7}", f"v{i}") for i in range(60)], acks="all")
        commit_offsets(cluster.bootstrap, group, topic, {0: 1, 1: 2, 2: 0})
        listed = kafka_tool("kafka-consumer-groups", "--bootstrap-server", cluster.bootstrap, "--list").stdout
        assert group in listed.split(), (cluster.kind, listed)
        seen[cluster.kind] = groups_describe(cluster, group, topic)
    committed = sorted((r[2], r[3]) for r in seen["kafka"] if r[0] == "<group>")
    assert committed == [("0", "1"), ("1", "2"), ("2", "0")], seen["kafka"]
    assert seen["zkafka"] == seen["kafka"]


def test_kafka_configs_alter_topic(zkafka_cluster, kafka_cluster, zk_root):
    """`kafka-configs --alter --add-config` on a topic (Kafka 3.9's tool sends IncrementalAlterConfigs;
    its --zookeeper form no longer takes topics) writes the same /config/topics znode on both."""
    seen = {}
    topic = unique_topic("configs")
    for cluster in both(zkafka_cluster, kafka_cluster):
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                   "--partitions", "1", "--replication-factor", "1")
        kafka_tool("kafka-configs", "--bootstrap-server", cluster.bootstrap, "--alter", "--entity-type",
                   "topics", "--entity-name", topic, "--add-config", "retention.ms=7200000,segment.ms=600000")
        seen[cluster.kind] = topic_tree(zk_root, cluster.chroot, topic).get(f"/config/topics/{topic}")
    assert seen["kafka"] == {"version": 1, "config": {"retention.ms": "7200000", "segment.ms": "600000"}}
    assert seen["zkafka"] == seen["kafka"]


# --------------------------------------------------------------------------------------------
# Stale leader epochs and the wrong coordinator
# --------------------------------------------------------------------------------------------


def list_offsets_with_epoch(host: str, port: int, topic: str, current_leader_epoch: int) -> int:
    """The error code of ListOffsets v4 (latest offset of partition 0) naming a leader epoch."""
    import struct

    from wire import karray, kstr, raw_call

    body = struct.pack(">ib", -1, 0) + karray([topic], lambda t: kstr(t) + karray(
        [0], lambda p: struct.pack(">iiq", p, current_leader_epoch, -1)))
    r = raw_call(host, port, 2, 4, body)
    r.int32()  # throttle time
    (parts,) = r.array(lambda t: (t.string(), t.array(lambda q: (q.int32(), q.int16(), q.int64(), q.int64(),
                                                                 q.int32()))))[0][1:]
    return parts[0][1]


def test_stale_and_future_leader_epochs_answer_as_kafka(zkafka_cluster, kafka_cluster, zk_root):
    """ListOffsets naming a leader epoch older than the leader's gets FENCED_LEADER_EPOCH (74), a
    newer one UNKNOWN_LEADER_EPOCH (75), the current one no error, on both."""
    import json

    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        topic = unique_topic("epochs")
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                   "--replica-assignment", "1:2:3")
        wait_until(lambda: state_of(zk_root, cluster, topic, 0)["isr"], timeout=30, what="a leader")
        # a reordering reassignment bumps the leader epoch to 1 on both (see the tree test)
        zk_root.create(f"{cluster.chroot}/admin/reassign_partitions", json.dumps(
            {"version": 1, "partitions": [{"topic": topic, "partition": 0, "replicas": [1, 3, 2]}]}).encode())
        wait_until(lambda: zk_root.exists(f"{cluster.chroot}/admin/reassign_partitions") is None, timeout=60,
                   what="the reassignment")
        epoch = state_of(zk_root, cluster, topic, 0)["leader_epoch"]
        leader = cluster.broker(1)
        # the leader answers NOT_LEADER_OR_FOLLOWER (6) until its LeaderAndIsr arrives
        wait_until(lambda: list_offsets_with_epoch(leader.host, leader.port, topic, -1) == 0, timeout=20,
                   what="the leader to answer ListOffsets")
        codes = {name: list_offsets_with_epoch(leader.host, leader.port, topic, e)
                 for name, e in (("current", epoch), ("older", epoch - 1), ("newer", epoch + 1))}
        seen[cluster.kind] = (epoch, codes)
    assert seen["kafka"] == (1, {"current": 0, "older": 74, "newer": 75}), seen
    assert seen["zkafka"] == seen["kafka"]


def offset_commit_v2_error(host: str, port: int, group: str, topic: str) -> int:
    """The error code of an OffsetCommit v2 (simple consumer: generation -1, no member id)."""
    import struct

    from wire import karray, kstr, raw_call

    body = (kstr(group) + struct.pack(">i", -1) + kstr("") + struct.pack(">q", -1)
            + karray([topic], lambda t: kstr(t) + karray([0], lambda p: struct.pack(">iq", p, 5) + kstr(""))))
    r = raw_call(host, port, 8, 2, body)
    (parts,) = [t[1] for t in r.array(lambda t: (t.string(), t.array(lambda q: (q.int32(), q.int16()))))]
    return parts[0][1]


def coordinator_of(cluster, group: str) -> int:
    from wire import kstr, raw_call

    b = cluster.brokers[0]
    r = raw_call(b.host, b.port, 10, 0, kstr(group))
    error, node = r.int16(), r.int32()
    assert error == 0, error
    return node


def test_offset_commit_to_the_wrong_broker_answers_not_coordinator(zkafka_cluster, kafka_cluster):
    """OffsetCommit v2 sent to a broker that is not the group's coordinator gets NOT_COORDINATOR
    (16) on both; sent to the coordinator it is accepted."""
    from helpers import ck_produce

    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        topic, group = unique_topic("coord"), unique_topic("coord-group")
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                   "--partitions", "1", "--replication-factor", "3")
        ck_produce(cluster.bootstrap, topic, ["a", "b", "c", "d", "e", "f"], acks="all")
        coordinator = wait_until(lambda: coordinator_of(cluster, group), timeout=30, what="a coordinator")
        other = next(b for b in cluster.brokers if b.broker_id != coordinator)
        right = cluster.broker(coordinator)
        seen[cluster.kind] = (offset_commit_v2_error(other.host, other.port, group, topic),
                              offset_commit_v2_error(right.host, right.port, group, topic))
    assert seen["kafka"] == (16, 0), seen
    assert seen["zkafka"] == seen["kafka"]


def test_a_poisoned_batch_is_refused_by_both(zkafka_cluster, kafka_cluster):
    """A batch whose CRC is right but whose records are garbage is refused by both and stored by
    neither (the log end does not move). The code differs on purpose (docs/differences.md): Kafka
    3.9 answers UNKNOWN_SERVER_ERROR (-1) when the garbage breaks its varint decoding (an
    IllegalArgumentException), zkafka INVALID_RECORD (87) for every record that does not decode."""
    from wire import produce_v8, raw_list_offsets, record_batch_v2, reseal

    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        topic = unique_topic("poison")
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
                   "--replica-assignment", "1:2:3")  # min.insync.replicas is 2 in the config files
        leader = cluster.broker(1)
        wait_until(lambda: produce_v8(leader, topic, record_batch_v2(["a", "b"]))[0] == 0, timeout=20,
                   what="the first produce")
        poisoned = reseal(record_batch_v2(["c", "d"]), b"\xff" * 40)
        error = produce_v8(leader, topic, poisoned)[0]
        seen[cluster.kind] = (error, raw_list_offsets(leader.host, leader.port, topic, 0))
    assert seen["kafka"] == (-1, (0, 2)), seen
    assert seen["zkafka"] == (87, (0, 2)), seen
