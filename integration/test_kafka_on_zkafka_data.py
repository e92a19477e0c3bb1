"""zkafka's log dirs are Kafka's: Kafka 3.9's `kafka-dump-log` reads zkafka's segment, offset-index
and time-index files with no error, and Apache Kafka 3.9 started on a log dir zkafka wrote (same
broker id, same ZooKeeper) serves every record zkafka had acknowledged.
"""
from __future__ import annotations

import pytest

from helpers import ck_produce, ck_read, unique_topic
from reference import kafka_broker_class, kafka_tool

pytestmark = pytest.mark.reference


def test_kafka_dump_log_reads_zkafka_segments(broker_factory):
    broker = broker_factory(1, overrides={"num.partitions": 1, "log.segment.bytes": 20000})
    topic = unique_topic("dump")
    records = [(f"k{i % 13}", f"value-{i}-" + "x" * 100) for i in range(600)]
    ck_produce(broker.bootstrap, topic, records, acks="all", **{"linger.ms": 2, "batch.size": 4096})
    broker.sigterm()  # flushed and closed: indexes trimmed to their entries, as Kafka leaves them
    logs = broker.segment_files(topic, 0, ".log")
    assert len(logs) > 3, f"expected several rolled segments, got {logs}"
    files = [str(p) for suffix in (".log", ".index", ".timeindex") for p in broker.segment_files(topic, 0, suffix)]
    out = kafka_tool("kafka-dump-log", "--deep-iteration", "--index-sanity-check", "--files", ",".join(files)).stdout
    assert "passed sanity check" in out, out[-2000:]
    for bad in ("failed sanity check", "Exception", "mismatch", "Found out of order", "corrupt"):
        assert bad not in out, f"kafka-dump-log reports {bad!r}:\n{out[-3000:]}"
    out = kafka_tool("kafka-dump-log", "--deep-iteration", "--files",
                     ",".join(str(p) for p in logs)).stdout
    offsets = [int(line.split("offset: ")[1].split()[0]) for line in out.splitlines()
               if line.startswith("| offset: ")]
    assert offsets == list(range(len(records))), f"{len(offsets)} records dumped, offsets {offsets[:5]}..."


def test_kafka_serves_what_zkafka_acknowledged(broker_factory):
    """zkafka broker 1 takes acks=all writes, stops; Kafka 3.9 starts as broker 1 on the same log
    dir and ZooKeeper chroot and serves every acknowledged record at the same offset."""
    zkafka = broker_factory(1, overrides={"num.partitions": 3, "log.segment.bytes": 50000})
    topic = unique_topic("handover")
    acked = ck_produce(zkafka.bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(2000)], acks="all")
    zkafka.sigterm()
    kafka = kafka_broker_class()(broker_factory, 1, dict(zkafka.props), [], zkafka.workdir, zkafka.chroot)
    broker_factory.brokers.append(kafka)
    kafka.start(timeout=120)
    got = ck_read(kafka.bootstrap, topic, [0, 1, 2], timeout=60)
    served = {(r.partition, r.offset): (r.key, r.value) for r in got}
    missing = [(p, o, k, v) for p, o, k, v in acked if served.get((p, o)) != (k, v)]
    assert not missing, f"{len(missing)} acknowledged records not served by Kafka: {missing[:5]}"
    assert len(got) == len(acked)
