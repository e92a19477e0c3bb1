#!/usr/bin/env python3
"""librdkafka (confluent-kafka) producer benchmark: N records of SIZE bytes to TOPIC.

usage: ck_produce.py BOOTSTRAP TOPIC NUM_RECORDS SIZE ACKS

linger.ms=5, batch.size=1 MiB; latency of each record is from produce() to its delivery
callback. Prints one JSON line like `zkafka perf produce --json`.
"""
import os
import sys
import time

from confluent_kafka import Producer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import emit, pct  # noqa: E402


def main():
    bootstrap, topic, n, size, acks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "linger.ms": 5,
        "batch.size": 1048576,
        "batch.num.messages": 1000000,
        "message.max.bytes": 1048588,
        "queue.buffering.max.kbytes": 1048576,
        "queue.buffering.max.messages": 1000000,
        "compression.type": "none",
        "enable.idempotence": False,
    })
    value = os.urandom(size)
    lat = []
    errors = [0]

    def make_cb(t0):
        def cb(err, _msg):
            if err is not None:
                errors[0] += 1
            else:
                lat.append((time.monotonic() - t0) * 1000.0)
        return cb

    start = time.monotonic()
    deadline = start + 600
    for _ in range(n):
        while True:
            try:
                p.produce(topic, value, on_delivery=make_cb(time.monotonic()))
                break
            except BufferError:
                p.poll(0.01)
        p.poll(0)
        if time.monotonic() > deadline:
            break
    remaining = p.flush(120)
    elapsed = time.monotonic() - start
    lat.sort()
    emit({
        "client": "confluent-kafka " + __import__("confluent_kafka").libversion()[0],
        "acks": acks,
        "records": len(lat),
        "errors": errors[0] + remaining,
        "records_per_sec": len(lat) / elapsed,
        "mb_per_sec": len(lat) * size / elapsed / (1024 * 1024),
        "avg_latency_ms": sum(lat) / len(lat) if lat else None,
        "p50_latency_ms": pct(lat, 50),
        "p95_latency_ms": pct(lat, 95),
        "p99_latency_ms": pct(lat, 99),
        "p999_latency_ms": pct(lat, 99.9),
        "max_latency_ms": lat[-1] if lat else None,
    })
    return 0 if not errors[0] and not remaining else 1


if __name__ == "__main__":
    sys.exit(main())
