#!/usr/bin/env python3
"""OffsetCommit rate: a confluent-kafka Consumer (group GROUP, not subscribed) commits explicit
offsets for the first N partitions of TOPIC synchronously, in a loop for SECONDS.
Each commit is one OffsetCommit request; the broker stores it in ZooKeeper.

usage: offsets.py BOOTSTRAP TOPIC GROUP N SECONDS [ZK_HOST:PORT]
With ZK_HOST:PORT, also reports ZooKeeper's zk_packets_received (4lw `mntr`) per commit over the
loop: how many ZooKeeper requests one OffsetCommit costs (nothing else uses that ZooKeeper then
but the broker's own session pings).
Prints {"partitions": N, "commits": k, "commits_per_sec": ..., "avg_ms", "p50_ms", "p99_ms"}.
"""
import os
import socket
import sys
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import emit, pct  # noqa: E402


def zk_packets(hostport):
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(b"mntr")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    for line in data.decode().splitlines():
        k, _, v = line.partition("\t")
        if k == "zk_packets_received":
            return int(v)
    return None


def main():
    bootstrap, topic, group, n, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    # warm-up: coordinator lookup and the znodes' first creation
    for attempt in range(60):
        try:
            c.commit(offsets=[TopicPartition(topic, p, 1) for p in range(n)], asynchronous=False)
            break
        except KafkaException as e:  # _WAIT_COORD until FindCoordinator answered
            if attempt == 59:
                raise
            c.poll(0.5)
    zk = sys.argv[6] if len(sys.argv) > 6 else None
    pk0 = zk_packets(zk) if zk else None
    lat = []
    off = 2
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and len(lat) < 10_000_000:
        t0 = time.monotonic()
        res = c.commit(offsets=[TopicPartition(topic, p, off) for p in range(n)], asynchronous=False)
        lat.append((time.monotonic() - t0) * 1000.0)
        bad = [tp for tp in res if tp.error is not None]
        if bad:
            raise SystemExit(f"commit failed: {bad[0].error}")
        off += 1
    elapsed = time.monotonic() - start
    pk1 = zk_packets(zk) if zk else None
    c.close()
    lat.sort()
    emit({
        "partitions": n,
        "commits": len(lat),
        "seconds": elapsed,
        "commits_per_sec": len(lat) / elapsed,
        "partition_offsets_per_sec": len(lat) * n / elapsed,
        "avg_ms": sum(lat) / len(lat),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "zk_packets_per_commit": (pk1 - pk0) / len(lat) if pk0 is not None and pk1 is not None else None,
    })


if __name__ == "__main__":
    main()
