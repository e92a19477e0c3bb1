"""offsets.storage: committed offsets in ZooKeeper (the default), in __consumer_offsets as Kafka 3.9
keeps them, or in both (Kafka 0.8.2's dual commit). Commits made with confluent-kafka are read back
after a kill -9 of the coordinator; Kafka's own formatter decodes the records zkafka wrote; Kafka 3.9
started on zkafka's log dir describes the same offsets; `zkafka offsets migrate` copies them both ways.
"""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import broker_binary
from helpers import ck_admin, offsets_partition, unique_topic, wait_until
from reference import kafka_broker_class, kafka_tool

pytestmark = [pytest.mark.reference, pytest.mark.timeout(180)]

OFFSETS_PARTITIONS = 5



def consumer(bootstrap: str, group: str):
    from confluent_kafka import Consumer
    return Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                     "broker.address.family": "v4"})


def commit(bootstrap: str, group: str, topic: str, offsets: dict) -> None:
    from confluent_kafka import TopicPartition
    c = consumer(bootstrap, group)
    c.commit(offsets=[TopicPartition(topic, p, o) for p, o in offsets.items()], asynchronous=False)
    c.close()


def committed(bootstrap: str, group: str, topic: str, partitions) -> dict:
    from confluent_kafka import TopicPartition
    c = consumer(bootstrap, group)
    got = c.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    c.close()
    return {tp.partition: tp.offset for tp in got if tp.offset >= 0}


def zk_offsets(zk, group: str, topic: str) -> dict:
    base = f"/consumers/{group}/offsets/{topic}"
    if not zk.exists(base):
        return {}
    return {int(p): int(zk.get(f"{base}/{p}")[0]) for p in zk.get_children(base)}


def props(storage: str) -> dict:
    return {"offsets.storage": storage, "offsets.topic.num.partitions": OFFSETS_PARTITIONS,
            "offsets.topic.replication.factor": 3, "default.replication.factor": 3,
            "group.initial.rebalance.delay.ms": 0}


@pytest.mark.parametrize("storage", ["zookeeper", "kafka", "dual"])
def test_commits_survive_a_kill9_of_the_coordinator(broker_factory, zk, storage):
    brokers = {i: broker_factory(i, overrides=props(storage)) for i in (1, 2, 3)}
    bootstrap = ",".join(b.bootstrap for b in brokers.values())
    topic, group = unique_topic("ostore"), unique_topic(f"ostore-{storage}")
    from confluent_kafka.admin import NewTopic
    admin = ck_admin(bootstrap)
    admin.create_topics([NewTopic(topic, 4, 3)])[topic].result(30)
    want = {0: 17, 1: 0, 2: 123456, 3: 5}
    commit(bootstrap, group, topic, want)
    # Where the offsets went is what the storage says.
    assert zk_offsets(zk, group, topic) == (want if storage != "kafka" else {})

    state_path = f"/brokers/topics/__consumer_offsets/partitions/{offsets_partition(group, OFFSETS_PARTITIONS)}/state"
    coordinator = json.loads(zk.get(state_path)[0])["leader"]
    brokers[coordinator].kill9()
    wait_until(lambda: json.loads(zk.get(state_path)[0])["leader"] not in (coordinator, -1),
               timeout=40, what="a new leader of the group's __consumer_offsets partition")
    alive = ",".join(b.bootstrap for i, b in brokers.items() if i != coordinator)
    assert committed(alive, group, topic, range(4)) == want
    # The new coordinator takes commits too, and serves them.
    commit(alive, group, topic, {1: 9})
    assert committed(alive, group, topic, range(4)) == {**want, 1: 9}


def migrate(broker, zk_connect: str, group: str, src: str, dst: str, dry_run: bool) -> str:
    args = [str(broker_binary()), "offsets", "migrate", "--group", group, "--from", src, "--to", dst,
            "--bootstrap-server", broker.bootstrap, "--zookeeper", zk_connect]
    cp = subprocess.run(args + (["--dry-run"] if dry_run else []), capture_output=True, text=True,
                        timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def test_kafkas_tools_read_the_offsets_and_migrate_moves_them(broker_factory, zk):
    overrides = {**props("kafka"), "offsets.topic.replication.factor": 1,
                 "default.replication.factor": 1}
    broker = broker_factory(1, overrides=overrides)
    topic, group = unique_topic("otools"), unique_topic("otools-group")
    from confluent_kafka.admin import NewTopic
    admin = ck_admin(broker.bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    want = {0: 11, 1: 22, 2: 33}
    commit(broker.bootstrap, group, topic, want)

    # Kafka's formatter decodes what zkafka appended to __consumer_offsets.
    out = kafka_tool(
        # by assignment: a console consumer in a group would add its own group's record to count
        "kafka-console-consumer", "--bootstrap-server", broker.bootstrap, "--topic", "__consumer_offsets",
        "--partition", str(offsets_partition(group, OFFSETS_PARTITIONS)), "--offset", "earliest",
        "--timeout-ms", "10000", "--max-messages", "3",
        "--formatter", "org.apache.kafka.tools.consumer.OffsetsMessageFormatter",
        "--consumer-property", "exclude.internal.topics=false", check=False).stdout
    # Kafka 3.9's formatter writes one JSON object per record with no separator between them.
    decoded, pos, decoder = {}, 0, json.JSONDecoder()
    text = out.strip()
    while pos < len(text):
        rec, pos = decoder.raw_decode(text, pos)
        key, value = rec["key"], rec["value"]
        assert key["version"] == 1 and value["version"] == 3, rec
        if key["data"]["group"] == group and key["data"]["topic"] == topic:
            decoded[key["data"]["partition"]] = value["data"]["offset"]
    assert decoded == want, out

    # Migrate both ways: the dry run copies nothing, the real run copies all, a rerun nothing.
    zk_connect = broker.zk_connect
    plan = migrate(broker, zk_connect, group, "kafka", "zookeeper", dry_run=True)
    assert "3 to copy, 0 already in place" in plan, plan
    assert zk_offsets(zk, group, topic) == {}
    assert "3 copied" in migrate(broker, zk_connect, group, "kafka", "zookeeper", dry_run=False)
    assert zk_offsets(zk, group, topic) == want
    assert "0 copied, 3 already in place" in migrate(broker, zk_connect, group, "kafka", "zookeeper",
                                                     dry_run=False)
    # Back: ZooKeeper moved ahead on one partition (an old consumer), Kafka storage follows it.
    zk.set(f"/consumers/{group}/offsets/{topic}/2", b"40")
    plan = migrate(broker, zk_connect, group, "zookeeper", "kafka", dry_run=True)
    assert f"would copy {group} {topic} 2 40 (target had 33)" in plan, plan
    assert committed(broker.bootstrap, group, topic, range(3)) == want
    migrate(broker, zk_connect, group, "zookeeper", "kafka", dry_run=False)
    want = {**want, 2: 40}
    assert committed(broker.bootstrap, group, topic, range(3)) == want

    # Kafka 3.9 on zkafka's log dir loads the same offsets from __consumer_offsets.
    broker.sigterm()
    kafka = kafka_broker_class()(broker_factory, 1, dict(broker.props), [], broker.workdir, broker.chroot)
    broker_factory.brokers.append(kafka)
    kafka.start(timeout=120)
    out = kafka_tool("kafka-consumer-groups", "--bootstrap-server", kafka.bootstrap, "--describe",
                     "--group", group).stdout
    described = {}
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 4 and cols[0] == group and cols[1] == topic:
            described[int(cols[2])] = int(cols[3])
    assert described == want, out
