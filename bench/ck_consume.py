#!/usr/bin/env python3
"""librdkafka (confluent-kafka) consumer benchmark: read NUM_RECORDS from every partition of
TOPIC from offset 0 (assign, no group offsets committed).

usage: ck_consume.py BOOTSTRAP TOPIC NUM_RECORDS [TIMEOUT_S]
"""
import os
import sys
import time

from confluent_kafka import Consumer, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import emit  # noqa: E402


def main():
    bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 120
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "ck-consume-bench",
        "enable.auto.commit": False,
        "fetch.max.bytes": 52428800,
        "max.partition.fetch.bytes": 1048576,
        "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 262144,
    })
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    count = 0
    nbytes = 0
    start = None
    deadline = time.monotonic() + timeout
    while count < n and time.monotonic() < deadline:
        msgs = c.consume(10000, 1.0)
        if msgs and start is None:
            start = time.monotonic()
        for m in msgs:
            if m.error():
                continue
            count += 1
            nbytes += len(m.value() or b"")
    end = time.monotonic()
    c.close()
    elapsed = end - (start or end) or 1e-9
    emit({
        "client": "confluent-kafka",
        "records": count,
        "bytes": nbytes,
        "records_per_sec": count / elapsed,
        "mb_per_sec": nbytes / elapsed / (1024 * 1024),
    })
    return 0 if count >= n else 1


if __name__ == "__main__":
    sys.exit(main())
