#!/usr/bin/env python3
"""ZooKeeper write-rate baseline with kazoo, sequential synchronous requests for SECONDS each:
  single:       one setData per round trip;
  multi:        one multi (transaction) of BATCH setData on BATCH znodes per round trip;
  multi2x:      one multi of 2*BATCH setData (a BATCH-partition commit that also writes the
                /zkafka/consumers extras znode of every partition);

usage: zk_rate.py ZK_HOSTPORT SECONDS [BATCH]
Prints one JSON line per mode.
"""
import logging
import os
import sys
import time

from kazoo.client import KazooClient

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import emit, pct  # noqa: E402

logging.basicConfig(level=logging.ERROR)


def run(zk, mode, seconds, batch):
    root = "/zk-rate-bench"
    zk.ensure_path(root)
    n = batch if mode == "multi" else 2 * batch
    paths = [f"{root}/n{i}" for i in range(1 if mode == "single" else n)]
    for p in paths:
        if not zk.exists(p):
            zk.create(p, b"0")
    # Offsets znodes hold a decimal number; so do these.
    lat = []
    i = 0
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end and i < 10_000_000:
        i += 1
        data = str(i).encode()
        t0 = time.monotonic()
        if mode == "single":
            zk.set(paths[0], data)
        else:
            tx = zk.transaction()
            for p in paths:
                tx.set_data(p, data)
            res = tx.commit()
            if any(isinstance(r, Exception) for r in res):
                raise SystemExit(f"multi failed: {res}")
        lat.append((time.monotonic() - t0) * 1000.0)
    elapsed = time.monotonic() - start
    lat.sort()
    emit({
        "mode": mode,
        "batch": len(paths),
        "ops": len(lat),
        "seconds": elapsed,
        "ops_per_sec": len(lat) / elapsed,
        "avg_ms": sum(lat) / len(lat),
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
    })


def main():
    hosts, seconds = sys.argv[1], float(sys.argv[2])
    batch = int(sys.argv[3]) if len(sys.argv) > 3 else 100
    zk = KazooClient(hosts=hosts, timeout=10)
    zk.start(timeout=15)
    try:
        run(zk, "single", seconds, batch)
        run(zk, "multi", seconds, batch)
        run(zk, "multi2x", seconds, batch)
    finally:
        zk.stop()
        zk.close()


if __name__ == "__main__":
    main()
