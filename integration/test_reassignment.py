"""Partition reassignment with Kafka 3.9's own `kafka-reassign-partitions --bootstrap-server`
against zkafka and against Apache Kafka 3.9 side by side (issue #9): --generate, --execute,
--verify, --cancel print the same, and the ZooKeeper tree after the move is the same; a
reassignment written straight to /admin/reassign_partitions moves replicas on both too.
See test_reference.py for the clusters.
"""
from __future__ import annotations

import contextlib
import json
import socket
import time

import pytest

from helpers import ck_admin, ck_produce, unique_topic, wait_until
from reference import kafka_tool
from test_operator_tools import znode

pytestmark = pytest.mark.reference


def reassign(cluster, *args: str, bootstrap: str | None = None, check: bool = True):
    return kafka_tool("kafka-reassign-partitions", "--bootstrap-server",
                      bootstrap or cluster.bootstrap, *args, check=check)


def plan_json(topic: str, moves: dict[int, list[int]]) -> str:
    return json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": p, "replicas": r} for p, r in sorted(moves.items())]})


def assignment(zk, cluster, topic: str) -> dict:
    """The topic znode without its topic id (random per cluster)."""
    z = znode(zk, cluster, f"/brokers/topics/{topic}")
    z.pop("topic_id", None)
    return z


def settled(zk, cluster, topic: str, moves: dict[int, list[int]]) -> bool:
    z = assignment(zk, cluster, topic)
    return (not z.get("adding_replicas") and not z.get("removing_replicas")
            and all(z["partitions"][str(p)] == r for p, r in moves.items()))


def states(zk, cluster, topic: str, partitions) -> dict:
    """{partition: (leader, sorted isr)} from the partition state znodes."""
    out = {}
    for p in partitions:
        s = znode(zk, cluster, f"/brokers/topics/{topic}/partitions/{p}/state")
        out[p] = (s["leader"], sorted(s["isr"]))
    return out


def without_topic(text: str, topic: str) -> str:
    return text.replace(topic, "<t>")


@pytest.mark.timeout(300)
def test_generate_execute_verify_as_kafka(zkafka_cluster, kafka_cluster, zk_root, tmp_path):
    """--generate shows the same current assignment; --execute moves a replica of each partition
    (one of them the leader's) and prints the same; once the move is done --verify prints the
    same completion and clears the throttles on both; the topic znode, the partition states and
    the /config znodes end up the same; removed replicas' logs are deleted and every record
    is still there."""
    topic = unique_topic("reassign")
    moves = {0: [3, 1], 1: [1, 2]}
    topics_file = tmp_path / "topics.json"
    topics_file.write_text(json.dumps({"version": 1, "topics": [{"topic": topic}]}))
    plan = tmp_path / "plan.json"
    plan.write_text(plan_json(topic, moves))
    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        kafka_tool(
            "kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
            "--replica-assignment", "1:2,2:3")
        ck_produce(cluster.bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(30)], acks="all")
        generated = reassign(cluster, "--generate", "--topics-to-move-json-file", str(topics_file),
                             "--broker-list", "1,2,3").stdout
        current = generated.split("Proposed partition reassignment configuration")[0]
        executed = reassign(cluster, "--execute", "--reassignment-json-file", str(plan)).stdout
        wait_until(lambda: settled(zk_root, cluster, topic, moves), 60,
                   what=f"{cluster.kind}: replicas moved")
        verified = reassign(cluster, "--verify", "--reassignment-json-file", str(plan)).stdout
        gone = [(2, 0), (3, 1)]
        wait_until(lambda: not any(cluster.broker(b).partition_dir(topic, p).exists()
                                   for b, p in gone), 30,
                   what=f"{cluster.kind}: removed replicas deleted")
        ends = kafka_tool("kafka-get-offsets", "--bootstrap-server", cluster.bootstrap, "--topic",
                          topic, "--time", "-1").stdout.split()
        seen[cluster.kind] = dict(
            current=without_topic(current, topic),
            executed=without_topic(executed, topic),
            verified=without_topic(verified, topic),
            topic_znode=assignment(zk_root, cluster, topic),
            states=states(zk_root, cluster, topic, moves),
            pending=znode(zk_root, cluster, "/admin/reassign_partitions"),
            broker_config=[znode(zk_root, cluster, f"/config/brokers/{b}") for b in (1, 2, 3)],
            topic_config=znode(zk_root, cluster, f"/config/topics/{topic}"),
            records=sum(int(line.rsplit(":", 1)[1]) for line in ends),
        )
    k = seen["kafka"]
    print(json.dumps(seen, indent=1, default=str))
    assert "Successfully started partition reassignments for <t>-0,<t>-1" in k["executed"]
    assert "Reassignment of partition <t>-0 is completed." in k["verified"]
    assert "Clearing broker-level throttles on brokers 1,2,3" in k["verified"]
    assert k["topic_znode"]["partitions"] == {"0": [3, 1], "1": [1, 2]}
    assert k["pending"] is None and k["records"] == 30
    assert k["broker_config"] == [{"version": 1, "config": {}}] * 3
    assert seen["zkafka"] == k


@contextlib.contextmanager
def registered_broker(zk, cluster, broker_id: int):
    """/brokers/ids/<id> registered as a Kafka 3.9 broker registers itself, with nothing listening
    on its port: the controller counts it live, but a replica placed there never catches up."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = f"{cluster.chroot}/brokers/ids/{broker_id}"
    zk.create(path, json.dumps({
        "features": {}, "listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"},
        "endpoints": [f"PLAINTEXT://127.0.0.1:{port}"], "jmx_port": -1, "port": port,
        "host": "127.0.0.1", "version": 5, "timestamp": str(int(time.time() * 1000))}).encode(),
        ephemeral=True)
    try:
        yield
    finally:
        zk.delete(path)


@pytest.mark.timeout(300)
def test_cancel_as_kafka(zkafka_cluster, kafka_cluster, zk_root, tmp_path):
    """A reassignment that cannot finish (its new replica's broker never fetches) is listed by
    --verify as in progress, with the same adding/removing replicas in the topic znode; --cancel
    puts the original replicas back on both, and the topic znode is the same again. (Throttles
    are preserved: clearing them would wait for the silent broker.)"""
    topic = unique_topic("cancel")
    plan = tmp_path / "plan.json"
    plan.write_text(plan_json(topic, {0: [4, 1]}))
    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic",
                   topic, "--replica-assignment", "1:2")
        ck_produce(cluster.bootstrap, topic, [f"v{i}" for i in range(10)], acks="all")
        before = assignment(zk_root, cluster, topic)
        with registered_broker(zk_root, cluster, 4):
            # the tool checks the target brokers against the cluster's metadata
            wait_until(lambda: 4 in ck_admin(cluster.bootstrap).list_topics(timeout=10).brokers,
                       30, what=f"{cluster.kind}: broker 4 in the metadata")
            executed = reassign(cluster, "--execute", "--reassignment-json-file", str(plan))
            during = assignment(zk_root, cluster, topic)
            verify = reassign(cluster, "--verify", "--preserve-throttles",
                              "--reassignment-json-file", str(plan)).stdout
            cancelled = reassign(cluster, "--cancel", "--preserve-throttles",
                                 "--reassignment-json-file", str(plan)).stdout
            wait_until(lambda: assignment(zk_root, cluster, topic) == before, 30,
                       what=f"{cluster.kind}: original replicas back")
            again = reassign(cluster, "--cancel", "--preserve-throttles",
                             "--reassignment-json-file", str(plan)).stdout
        seen[cluster.kind] = dict(
            executed=without_topic(executed.stdout, topic),
            during=during,
            verify=without_topic(verify, topic),
            cancelled=without_topic(cancelled, topic),
            again=without_topic(again, topic),
            states=states(zk_root, cluster, topic, [0]),
        )
    k = seen["kafka"]
    print(json.dumps(seen, indent=1))
    assert k["during"]["partitions"] == {"0": [4, 1, 2]}
    assert k["during"]["adding_replicas"] == {"0": [4]}
    assert k["during"]["removing_replicas"] == {"0": [2]}
    assert "Reassignment of partition <t>-0 is still in progress." in k["verify"]
    assert "Successfully cancelled partition reassignment for: <t>-0" in k["cancelled"]
    assert "None of the specified partition reassignments are active." in k["again"]
    assert seen["zkafka"] == k


@pytest.mark.timeout(300)
def test_reassignment_written_to_zookeeper(zkafka_cluster, kafka_cluster, zk_root):
    """/admin/reassign_partitions written as the old --zookeeper tool wrote it: both clusters
    move the replicas, remove the znode, and leave the same topic znode."""
    topic = unique_topic("zkreassign")
    moves = {0: [2, 3]}
    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic",
                   topic, "--replica-assignment", "1:2")
        ck_produce(cluster.bootstrap, topic, [f"v{i}" for i in range(10)], acks="all")
        zk_root.create(cluster.chroot + "/admin/reassign_partitions",
                       json.dumps({"version": 1, "partitions": [
                           {"topic": topic, "partition": 0, "replicas": [2, 3]}]}).encode())
        wait_until(lambda: settled(zk_root, cluster, topic, moves)
                   and znode(zk_root, cluster, "/admin/reassign_partitions") is None, 60,
                   what=f"{cluster.kind}: replicas moved and the request removed")
        wait_until(lambda: not cluster.broker(1).partition_dir(topic, 0).exists(), 30,
                   what=f"{cluster.kind}: broker 1's replica deleted")
        seen[cluster.kind] = (assignment(zk_root, cluster, topic),
                              states(zk_root, cluster, topic, [0])[0][1])
    assert seen["kafka"] == ({"version": 3, "partitions": {"0": [2, 3]}, "adding_replicas": {},
                              "removing_replicas": {}}, [2, 3])
    assert seen["zkafka"] == seen["kafka"]


THROTTLE_RATE = 400_000  # bytes/s
THROTTLED_BYTES = 2_000_000  # S / R = 5 s


@pytest.mark.timeout(120)
def test_throttled_move_takes_size_over_rate(broker_factory, zk, tmp_path):
    """`--execute --throttle R` sets the broker rates and the topic's throttled replicas as Kafka
    does, and a partition of S bytes then moves to a new replica in about S / R (at least half of
    it: the lower bound is what proves the throttle); `--verify` afterwards removes every
    throttle config. The brokers sample the rate over 2 windows of 1 s (Kafka's default 11 lets
    10 s worth of bytes through at once) and fetch 64 KiB at a time, so the move's time is
    set by the rate; they back off and wait 100 ms instead of 1 s and 500 ms, so that a
    partition skipped while the quota is exceeded is looked at again soon."""
    props = {"replication.quota.window.num": 2, "replica.fetch.max.bytes": 65536,
             "replica.fetch.backoff.ms": 100, "replica.fetch.wait.max.ms": 100}
    b1 = broker_factory(1, overrides=props)
    b2 = broker_factory(2, overrides=props)
    topic = unique_topic("throttled")
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(b1.bootstrap)
    admin.create_topics([NewTopic(topic, 1, replica_assignment=[[1]])])[topic].result(timeout=30)
    value = "x" * 1000
    ck_produce(b1.bootstrap, topic, [value] * (THROTTLED_BYTES // 1000), acks="all")
    plan = tmp_path / "plan.json"
    plan.write_text(plan_json(topic, {0: [1, 2]}))

    def zread(path):
        data, _ = zk.get(path)
        return json.loads(data) if data else None

    started = time.monotonic()
    out = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", b1.bootstrap,
                     "--execute", "--throttle", str(THROTTLE_RATE),
                     "--reassignment-json-file", str(plan)).stdout
    assert f"The inter-broker throttle limit was set to {THROTTLE_RATE} B/s" in out, out
    rate = str(THROTTLE_RATE)
    for broker in (1, 2):
        assert zread(f"/config/brokers/{broker}")["config"] == {
            "leader.replication.throttled.rate": rate,
            "follower.replication.throttled.rate": rate}
    assert zread(f"/config/topics/{topic}")["config"] == {
        "leader.replication.throttled.replicas": "0:1",
        "follower.replication.throttled.replicas": "0:2"}
    wait_until(lambda: zread(f"/brokers/topics/{topic}/partitions/0/state")["isr"] == [1, 2],
               60, interval=0.1, what="the new replica in the ISR")
    took = time.monotonic() - started
    expected = THROTTLED_BYTES / THROTTLE_RATE
    print(f"throttled move of {THROTTLED_BYTES} B at {THROTTLE_RATE} B/s: {took:.1f} s "
          f"(S/R {expected:.1f} s)")
    assert took >= 0.5 * expected, took
    verified = kafka_tool("kafka-reassign-partitions", "--bootstrap-server", b1.bootstrap,
                          "--verify", "--reassignment-json-file", str(plan)).stdout
    assert "Clearing broker-level throttles on brokers 1,2" in verified, verified
    assert f"Clearing topic-level throttles on topic {topic}" in verified, verified
    for broker in (1, 2):
        assert zread(f"/config/brokers/{broker}")["config"] == {}
    assert zread(f"/config/topics/{topic}")["config"] == {}


def test_bad_requests_as_kafka(zkafka_cluster, kafka_cluster):
    """The Java Admin client's alterPartitionReassignments with an unknown topic or partition, a
    dead broker, duplicate or negative replicas (the client refuses an empty list itself), and a cancellation with nothing in
    progress: the same exception and message from both; nothing is then listed as reassigning."""
    from reference import java_client

    topic = unique_topic("badreassign")
    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic",
                   topic, "--replica-assignment", "1:2")
        out = java_client("ReassignErrors.java", cluster.bootstrap, topic).stdout
        seen[cluster.kind] = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    print(json.dumps(seen, indent=1))
    k = {c["case"]: c for c in seen["kafka"]}
    assert k["unknown topic"]["error"] == "UnknownTopicOrPartitionException"
    assert k["dead broker"]["error"] == "InvalidReplicaAssignmentException"
    assert k["cancel with none in progress"]["error"] == "NoReassignmentInProgressException"
    assert k["list"]["reassignments"] == 0
    assert seen["zkafka"] == seen["kafka"]


@pytest.mark.timeout(240)
def test_api_reassignment_survives_controller_failover(zkafka_cluster, zk_root, tmp_path):
    """A reassignment started through the API and still in progress when the controller stops is
    rebuilt by the next controller from the topic znode: --verify still lists it, and --cancel
    then restores the original replicas."""
    topic = unique_topic("failover")
    plan = tmp_path / "plan.json"
    plan.write_text(plan_json(topic, {0: [4, 1]}))
    kafka_tool("kafka-topics", "--bootstrap-server", zkafka_cluster.bootstrap, "--create", "--topic",
               topic, "--replica-assignment", "1:2")
    before = assignment(zk_root, zkafka_cluster, topic)
    with registered_broker(zk_root, zkafka_cluster, 4):
        wait_until(lambda: 4 in ck_admin(zkafka_cluster.bootstrap).list_topics(timeout=10).brokers,
                   30, what="broker 4 in the metadata")
        reassign(zkafka_cluster, "--execute", "--reassignment-json-file", str(plan))
        old = znode(zk_root, zkafka_cluster, "/controller")["brokerid"]
        stopped = zkafka_cluster.broker(old)
        stopped.sigterm(timeout=60)
        try:
            wait_until(lambda: (znode(zk_root, zkafka_cluster, "/controller") or {}).get(
                "brokerid", old) != old, 30, what="another controller")
            verify = reassign(zkafka_cluster, "--verify", "--preserve-throttles",
                              "--reassignment-json-file", str(plan)).stdout
            cancelled = reassign(zkafka_cluster, "--cancel", "--preserve-throttles",
                                 "--reassignment-json-file", str(plan)).stdout
        finally:
            stopped.restart()
        wait_until(lambda: assignment(zk_root, zkafka_cluster, topic) == before, 30,
                   what="original replicas back")
    assert f"Reassignment of partition {topic}-0 is still in progress." in verify
    assert f"Successfully cancelled partition reassignment for: {topic}-0" in cancelled
