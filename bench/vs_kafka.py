"""zkafka beside Apache Kafka 3.9 in one run (scripts/bench-vs-kafka.sh runs this).

One ZooKeeper; a three-broker zkafka cluster and a three-broker Kafka cluster, both from
config/server-<n>.properties (ports, log dirs and chroot overridden; each Kafka broker with a fixed
heap), each in its own chroot. Per run, the two systems alternate (zkafka then Kafka, then the next
run starts with Kafka), each measured on a fresh topic of 6 partitions, replication factor 3:

- kafka-producer-perf-test, 1 KiB records, acks=all, the Java client's defaults, then with
  batch.size=1048576 linger.ms=5: records/s, MB/s, p50/p99/p99.9 latency;
- kafka-consumer-perf-test reading the second topic from the start;
- kafka-e2e-latency (Kafka's EndToEndLatency: one record at a time, produce then consume, so the
  rate is fixed by the round trip, below saturation): p50/p99/p99.9;
- the brokers' resident memory (sum of VmRSS after the produce runs) and CPU seconds (utime +
  stime of the three broker processes) per GiB produced.

Before the first run each system gets one unrecorded produce and consume (the JVM's JIT warms up).
Every raw figure goes to a JSON line; the summary prints per metric the median of each system
and the median of per-run ratios zkafka/Kafka.

    python3 bench/vs_kafka.py [--runs 3] [--records 300000] [--e2e-records 3000]
                              [--warmup-records 100000] [--out bench/results/vs-kafka-....jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "integration"))

from conftest import Broker, BrokerFactory  # noqa: E402
from helpers import unique_topic  # noqa: E402
from reference import Cluster, kafka_broker_class, kafka_tool  # noqa: E402
from zk_process import ZooKeeper  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cluster_cpu(cluster) -> float:
    return sum(cpu_seconds(b.proc.pid) for b in cluster.brokers)


def cluster_rss(cluster) -> float:
    return sum(rss_mib(b.proc.pid) for b in cluster.brokers)


PERF_LINE = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, "
    r"([\d.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99.9th")


def create_topic(cluster, topic: str) -> None:
    kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
               "--partitions", "6", "--replication-factor", "3")
    time.sleep(1)


def produce(cluster, topic: str, records: int, props: list[str]) -> dict:
    create_topic(cluster, topic)
    cpu0 = cluster_cpu(cluster)
    out = kafka_tool("kafka-producer-perf-test", "--topic", topic, "--num-records", str(records),
                     "--record-size", "1024", "--throughput", "-1", "--producer-props",
                     f"bootstrap.servers={cluster.bootstrap}", "acks=all", *props, timeout=900).stdout
    cpu = cluster_cpu(cluster) - cpu0
    m = PERF_LINE.search(out.strip().splitlines()[-1])
    if m is None:
        raise RuntimeError(f"unexpected kafka-producer-perf-test output:\n{out[-2000:]}")
    gib = records * 1024 / 2**30
    return {"records_per_s": float(m[2]), "mb_per_s": float(m[3]), "p50_ms": int(m[6]),
            "p99_ms": int(m[8]), "p999_ms": int(m[9]), "broker_cpu_s_per_gib": cpu / gib}


def consume(cluster, topic: str, records: int) -> dict:
    out = kafka_tool("kafka-consumer-perf-test", "--bootstrap-server", cluster.bootstrap, "--topic", topic,
                     "--messages", str(records), "--timeout", "60000", timeout=900).stdout
    last = out.strip().splitlines()[-1].split(",")
    # start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...,
    # fetch.MB.sec (the rate without the group join), fetch.nMsg.sec
    return {"mb_per_s": float(last[3]), "fetch_mb_per_s": float(last[8]), "records": int(last[4])}


def e2e(cluster, topic: str, count: int) -> dict:
    create_topic(cluster, topic)
    out = kafka_tool("kafka-e2e-latency", cluster.bootstrap, topic, str(count), "all", "1024", timeout=600).stdout
    m = re.search(r"Percentiles: 50th = ([\d.]+), 99th = ([\d.]+), 99.9th = ([\d.]+)", out)
    avg = re.search(r"Avg latency: ([\d.]+) ms", out)
    if m is None or avg is None:
        raise RuntimeError(f"unexpected kafka-e2e-latency output:\n{out[-2000:]}")
    return {"avg_ms": float(avg[1]), "p50_ms": float(m[1]), "p99_ms": float(m[2]), "p999_ms": float(m[3])}


def delete_topic(cluster, topic: str) -> None:
    kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--delete", "--topic", topic, check=False)


def one_run(cluster, records: int, e2e_count: int) -> dict:
    os.sync()
    defaults = produce(cluster, t1 := unique_topic("java-defaults"), records, [])
    delete_topic(cluster, t1)
    os.sync()
    large = produce(cluster, t2 := unique_topic("large-batches"), records,
                    ["batch.size=1048576", "linger.ms=5"])
    os.sync()
    consumed = consume(cluster, t2, records)
    delete_topic(cluster, t2)
    latency = e2e(cluster, t3 := unique_topic("e2e"), e2e_count)
    delete_topic(cluster, t3)
    return {"produce_java_defaults": defaults, "produce_1mib_linger5": large, "consume": consumed,
            "e2e": latency, "broker_rss_mib": cluster_rss(cluster)}


def flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--records", type=int, default=300_000)
    ap.add_argument("--e2e-records", type=int, default=3000)
    ap.add_argument("--warmup-records", type=int, default=100_000)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "results" / time.strftime("vs-kafka-%Y%m%d-%H%M.jsonl"))
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zkafka-vs-kafka-", dir=os.environ.get("BENCH_TMP")))
    zk = ZooKeeper(work / "zookeeper")
    zk.start()
    clusters = {}
    try:
        for kind, broker_class in (("zkafka", Broker), ("kafka", kafka_broker_class())):
            factory = BrokerFactory(zk, f"/bench-{kind}", work / kind, broker_class)
            (work / kind).mkdir()
            clusters[kind] = Cluster(kind, factory).start()
        # one unrecorded produce and consume per system first: the JVM's JIT and both page caches warm
        for cluster in clusters.values():
            if args.warmup_records > 0:
                produce(cluster, t := unique_topic("warmup"), args.warmup_records, [])
                consume(cluster, t, args.warmup_records)
                delete_topic(cluster, t)
        commit = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        rows = []
        with args.out.open("a") as out:
            for run in range(args.runs):
                order = ["zkafka", "kafka"] if run % 2 == 0 else ["kafka", "zkafka"]
                for kind in order:
                    figures = flatten(one_run(clusters[kind], args.records, args.e2e_records))
                    row = {"run": run, "system": kind, "commit": commit, "records": args.records,
                           "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **figures}
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    rows.append(row)
                    print(f"run {run} {kind}: " + ", ".join(f"{k}={v:.4g}" for k, v in figures.items()), flush=True)
        summarize(rows)
        print(f"raw lines: {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    finally:
        for c in clusters.values():
            c.close()
        zk.stop()
    return 0


def summarize(rows: list[dict]) -> None:
    metrics = [k for k in rows[0] if k not in {"run", "system", "commit", "records", "time"}]
    runs = sorted({r["run"] for r in rows})
    by = {(r["run"], r["system"]): r for r in rows}
    print(f"\n{'metric':40} {'zkafka':>10} {'kafka':>10} {'zkafka/kafka':>13}   (medians; ratio = median of per-run ratios)")
    for m in metrics:
        z = [by[(r, "zkafka")][m] for r in runs if (r, "zkafka") in by]
        k = [by[(r, "kafka")][m] for r in runs if (r, "kafka") in by]
        ratios = [by[(r, "zkafka")][m] / by[(r, "kafka")][m] for r in runs
                  if (r, "zkafka") in by and (r, "kafka") in by and by[(r, "kafka")][m]]
        ratio = f"{statistics.median(ratios):13.2f}" if ratios else f"{'-':>13}"
        print(f"{m:40} {statistics.median(z):10.4g} {statistics.median(k):10.4g} {ratio}")


if __name__ == "__main__":
    sys.exit(main())
