"""Log cleaner throughput: how fast one cleaner thread compacts a 1 GiB log, beside the disk's own
sequential write rate measured in the same run.

One ZooKeeper and one broker (ZKAFKA_BIN, default target/release/zkafka) in a temporary
directory (BENCH_TMP). The broker first runs with `log.cleaner.enable=false` while a
confluent-kafka producer (acks=1, 1 MiB batches, no compression) writes RECORDS records of
VALUE_BYTES bytes to one partition of a `cleanup.policy=compact` topic (`segment.bytes`
SEGMENT_BYTES), each keyed by one of KEYS distinct keys drawn at random (seed 42): with the
defaults, 1,000,000 records of 1 KiB over 100,000 keys, 10% unique. It is stopped (SIGTERM) and
its log dir kept as the starting point.

Per run: `bench/dd.sh DIR sync` (dd of 512 MiB with conv=fdatasync into the same directory), then
a copy of the starting log dir, the broker started on it with the cleaner on, and the broker's own
`log cleaning finished` lines read until a cleaning reaches the active segment: their
`elapsed_ms`, `bytes_read` (the offset-map pass and the rewrite both read the dirty log),
`bytes_written` and `records_read`/`records_kept`. Throughput is the log's size over the cleaning
time, and read+written bytes over it. The copy leaves the log in the page cache (the machine has
far more memory than 1 GiB), so the cleaner's reads come from memory; its writes are fsynced
before each swap. One JSON line per run to OUT; medians at the end.

    python3 bench/cleaner_throughput.py [--records 1000000] [--keys 100000] [--value-bytes 1024] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "integration"))

from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import BrokerFactory  # noqa: E402
from helpers import produce_waiting, wait_until  # noqa: E402
from zk_process import ZooKeeper  # noqa: E402

TOPIC = "cleaner-bench"
MIB = 1 << 20
FINISHED = re.compile(r"^(\S+) .*log cleaning finished topic=(\S+) partition=0 end_offset=(\d+) "
                      r"bytes_read=(\d+) bytes_written=(\d+) records_read=(\d+) records_kept=(\d+) "
                      r".*elapsed_ms=(\d+)")


def log(msg: str) -> None:
    print(time.strftime("%H:%M:%S"), msg, file=sys.stderr, flush=True)


def produce(bootstrap: str, records: int, keys: int, value_bytes: int) -> float:
    """Writes the records; returns the seconds it took."""
    p = Producer({"bootstrap.servers": bootstrap, "broker.address.family": "v4", "acks": 1,
                  "linger.ms": 20, "batch.size": MIB, "compression.type": "none",
                  "queue.buffering.max.kbytes": 256 * 1024, "message.timeout.ms": 120000})
    rng = random.Random(42)
    value = rng.randbytes(value_bytes)
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(err)

    started = time.monotonic()
    for _ in range(records):
        key = f"key{rng.randrange(keys):08d}"
        produce_waiting(p, TOPIC, backoff=0.05, key=key, value=value, partition=0, on_delivery=cb)
    if p.flush(300) != 0 or errors:
        raise RuntimeError(f"produce failed: {errors[:3]}")
    return time.monotonic() - started


def segments(part: Path) -> list[Path]:
    return sorted(part.glob("*.log"))


def dd(directory: Path) -> dict:
    out = subprocess.run([str(ROOT / "bench" / "dd.sh"), str(directory), "sync"],
                         capture_output=True, text=True, check=True, timeout=600).stdout
    return json.loads(out)


def finished_lines(text: str) -> list[dict]:
    rows = []
    for line in text.splitlines():
        m = FINISHED.match(line)
        if m and m.group(2) == TOPIC:
            rows.append({"ts": m.group(1), "end_offset": int(m.group(3)),
                         "bytes_read": int(m.group(4)), "bytes_written": int(m.group(5)),
                         "records_read": int(m.group(6)), "records_kept": int(m.group(7)),
                         "elapsed_ms": int(m.group(8))})
    return rows


def one_run(b, base: Path, work: Path, run: int, active_base: int, dirty_bytes: int,
            timeout: float) -> dict:
    disk = dd(work)
    run_dir = work / f"run-{run}"
    shutil.copytree(base, run_dir)
    b.props["log.dirs"] = str(run_dir)
    b.props["log.cleaner.enable"] = "true"
    mark = len(b.log_text())
    b.start()
    try:
        def done():
            rows = finished_lines(b.log_text()[mark:])
            return rows if rows and rows[-1]["end_offset"] >= active_base else None

        rows = wait_until(done, timeout=timeout, interval=0.5, what="the cleaning to reach the active segment")
    finally:
        b.sigterm(timeout=120)
    part = run_dir / f"{TOPIC}-0"
    cleaned_bytes = sum(p.stat().st_size for p in segments(part))
    shutil.rmtree(run_dir)
    secs = sum(r["elapsed_ms"] for r in rows) / 1000
    read = sum(r["bytes_read"] for r in rows)
    written = sum(r["bytes_written"] for r in rows)
    return {
        "run": run,
        "cleanings": len(rows),
        "dirty_bytes": dirty_bytes,
        "cleaned_log_bytes": cleaned_bytes,
        "bytes_read": read,
        "bytes_written": written,
        "records_read": sum(r["records_read"] for r in rows),
        "records_kept": sum(r["records_kept"] for r in rows),
        "clean_seconds": secs,
        "log_mb_per_sec": dirty_bytes / MIB / secs,
        "io_mb_per_sec": (read + written) / MIB / secs,
        "dd_sync_mb_per_sec": disk["mb_per_sec"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--value-bytes", type=int, default=1024)
    ap.add_argument("--segment-bytes", type=int, default=64 * MIB)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=1800, help="seconds one cleaning may take")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "results" / time.strftime("cleaner-%Y%m%d.jsonl"))
    args = ap.parse_args()
    binary = os.environ.setdefault("ZKAFKA_BIN", str(ROOT / "target" / "release" / "zkafka"))
    work = Path(tempfile.mkdtemp(prefix="zkafka-cleaner-", dir=os.environ.get("BENCH_TMP")))
    zk = ZooKeeper(work / "zookeeper")
    zk.start()
    (work / "brokers").mkdir()
    factory = BrokerFactory(zk, "/cleaner-bench", work / "brokers")
    try:
        b = factory(1, overrides={"log.cleaner.enable": "false", "log.cleaner.backoff.ms": 100,
                                  "auto.create.topics.enable": "false"})
        admin = AdminClient({"bootstrap.servers": b.bootstrap, "broker.address.family": "v4"})
        wait_until(lambda: admin.list_topics(timeout=5).controller_id >= 0, timeout=30,
                   what="a controller")
        config = {"cleanup.policy": "compact", "segment.bytes": str(args.segment_bytes)}
        admin.create_topics([NewTopic(TOPIC, 1, 1, config=config)])[TOPIC].result(timeout=30)
        del admin  # it would keep reconnecting to the stopped broker
        log(f"producing {args.records} records of {args.value_bytes} B over {args.keys} keys")
        produce_secs = produce(b.bootstrap, args.records, args.keys, args.value_bytes)
        b.sigterm(timeout=60)
        base = work / "base"
        shutil.move(str(b.log_dir), base)
        segs = segments(base / f"{TOPIC}-0")
        active_base = int(segs[-1].stem)
        dirty_bytes = sum(p.stat().st_size for p in segs[:-1])
        total = sum(p.stat().st_size for p in segs)
        log(f"log: {total / MIB:.0f} MiB in {len(segs)} segments, {dirty_bytes / MIB:.0f} MiB "
            f"below the active segment (offset {active_base}); produced in {produce_secs:.1f} s")
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        common = {"commit": commit, "binary": Path(binary).name, "records": args.records,
                  "keys": args.keys, "value_bytes": args.value_bytes,
                  "segment_bytes": args.segment_bytes, "log_bytes": total,
                  "produce_mb_per_sec": total / MIB / produce_secs,
                  "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        rows = []
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for run in range(args.runs):
            row = {**common, **one_run(b, base, work, run, active_base, dirty_bytes, args.timeout)}
            rows.append(row)
            with args.out.open("a") as out:
                out.write(json.dumps(row) + "\n")
            log(json.dumps(row))
        for m in ("clean_seconds", "log_mb_per_sec", "io_mb_per_sec", "dd_sync_mb_per_sec"):
            values = [r[m] for r in rows]
            print(f"{m:20} median {statistics.median(values):9.1f}  "
                  f"(min {min(values):.1f}, max {max(values):.1f})")
    finally:
        factory.close()
        zk.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
