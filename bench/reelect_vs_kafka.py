"""Leader re-election beside Apache Kafka 3.9, measured the same way from outside for both.

One ZooKeeper; three zkafka brokers and three Kafka 3.9.2 brokers from config/server-<n>.properties
(with `zookeeper.session.timeout.ms=6000`, `auto.leader.rebalance.enable=false`), each cluster in
its own chroot with PARTITIONS partitions of replication factor 2 over TOPICS topics. Per run and
system (alternated), the non-controller broker leading the most partitions is lost:

- `kill`: SIGKILL. Measured: when ZooKeeper expired its session (its `/brokers/ids/<id>` znode
  deleted, seen by a watch), and for every partition it led, the first acks=1 produce that
  succeeded afterwards (a confluent-kafka producer re-sends to each until one succeeds):
  unavailability from the expiry, p50/p99/max.
- `term`: SIGTERM (controlled shutdown). Measured: signal to process exit, and the same per-partition
  first success after the signal.

Between runs the broker is restarted, the cluster waits for full ISRs and a preferred-replica
election (through `/admin/preferred_replica_election`, which both honour) gives the leaders back.
One JSON line per measurement; a table of medians and per-run ratios at the end.

    scripts/bench-vs-kafka.sh reelect [--partitions 10000] [--topics 10] [--runs 3] [--signals kill,term]
                                      [--systems zkafka,kafka]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

from conftest import Broker, BrokerFactory, kazoo_client  # noqa: E402
from failover import ProduceLoop  # noqa: E402
from reference import Cluster, kafka_broker_class  # noqa: E402
from stats import pct  # noqa: E402
from zk_process import ZooKeeper  # noqa: E402

EXTRA = {"zookeeper.session.timeout.ms": "6000", "auto.leader.rebalance.enable": "false",
         "num.replica.fetchers": "1"}


def log(*a):
    print("reelect:", *a, file=sys.stderr, flush=True)


def bootstrap(cluster, exclude=()) -> str:
    return ",".join(b.bootstrap for b in cluster.brokers if b.running() and b.broker_id not in exclude)


def metadata(cluster, exclude=()):
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster, exclude), "socket.timeout.ms": 60000})
    for _ in range(60):
        try:
            return admin.list_topics(timeout=60).topics
        except Exception as e:  # noqa: BLE001 - a broker restarting answers partially
            log(f"metadata: {e}; retrying")
            time.sleep(1)
    raise SystemExit("no metadata after 60 attempts")


def create_topics(cluster, partitions: int, topics: int) -> list[str]:
    return create_topics_rf(cluster, partitions, topics, 2, "reelect")


def create_topics_rf(cluster, partitions: int, topics: int, rf: int, prefix: str) -> list[str]:
    names = [f"{prefix}-{i:03d}" for i in range(topics)]
    admin = AdminClient({"bootstrap.servers": bootstrap(cluster), "socket.timeout.ms": 120000})
    t0 = time.monotonic()
    for n, f in admin.create_topics([NewTopic(n, partitions // topics, rf) for n in names],
                                    request_timeout=300, operation_timeout=300).items():
        try:
            f.result(600)
        except Exception as e:  # noqa: BLE001 - wait_settled checks every partition anyway
            log(f"{cluster.kind}: create {n}: {e}; continuing")
    wait_settled(cluster, names, isr=rf)
    log(f"{cluster.kind}: {partitions} partitions in {topics} topics settled in {time.monotonic() - t0:.0f} s")
    return names


def wait_settled(cluster, names, preferred: bool = False, timeout: float = 900, isr: int = 2) -> None:
    deadline = time.monotonic() + timeout
    bad = -1
    while time.monotonic() < deadline:
        md = metadata(cluster)
        bad = sum(1 for n in names for pm in (md[n].partitions.values() if n in md else [None])
                  if pm is None or pm.leader < 0 or len(pm.isrs) < isr
                  or (preferred and pm.leader != pm.replicas[0]))
        if bad == 0:
            return
        time.sleep(1)
    raise SystemExit(f"{cluster.kind}: not settled after {timeout} s ({bad} partitions)")


def controller_id(zk, cluster) -> int:
    data, _ = zk.get(f"{cluster.chroot}/controller")
    return json.loads(data)["brokerid"]


def preferred_election(zk, cluster, names) -> None:
    md = metadata(cluster)
    parts = [{"topic": n, "partition": p} for n in names for p in md[n].partitions]
    path = f"{cluster.chroot}/admin/preferred_replica_election"
    while zk.exists(path):
        time.sleep(0.5)
    zk.create(path, json.dumps({"version": 1, "partitions": parts}).encode())
    wait_settled(cluster, names, preferred=True)


def one(zk, cluster, names, signal: str) -> dict:
    ctrl = controller_id(zk, cluster)
    md = metadata(cluster)
    leaders = {(n, p): pm.leader for n in names for p, pm in md[n].partitions.items()}
    counts = {b.broker_id: sum(1 for v in leaders.values() if v == b.broker_id) for b in cluster.brokers}
    victim = cluster.broker(max((i for i in counts if i != ctrl), key=lambda i: counts[i]))
    affected = [tp for tp, leader in leaders.items() if leader == victim.broker_id]
    loop = ProduceLoop(bootstrap(cluster, exclude=(victim.broker_id,)), affected)
    loop.warm()
    expired = threading.Event()
    expired_at = [0.0]
    reg = f"{cluster.chroot}/brokers/ids/{victim.broker_id}"

    def watch(event):
        if event.type == "DELETED":
            expired_at[0] = time.time()
            expired.set()

    zk.exists(reg, watch=watch)
    runner = threading.Thread(target=loop.run, args=(180,))
    t_signal = time.time()
    if signal == "kill":
        victim.kill9()
    else:
        victim.proc.send_signal(15)
    runner.start()
    exit_s = None
    if signal == "term":
        victim.proc.wait(timeout=120)
        exit_s = time.time() - t_signal
    runner.join()
    expired.wait(60)
    start = expired_at[0] if signal == "kill" else t_signal
    gaps = sorted((times[0] - start) * 1000 for times in loop.ok.values() if times)
    missing = sum(1 for times in loop.ok.values() if not times)
    row = {"system": cluster.kind, "signal": signal, "partitions_lost": len(affected), "missing": missing,
           "session_expiry_after_kill_ms": (expired_at[0] - t_signal) * 1000 if signal == "kill" else None,
           "exit_after_sigterm_ms": exit_s * 1000 if exit_s is not None else None,
           "unavailable_p50_ms": pct(gaps, 50), "unavailable_p99_ms": pct(gaps, 99),
           "unavailable_max_ms": gaps[-1] if gaps else None}
    victim.restart(timeout=300)
    wait_settled(cluster, names)
    preferred_election(zk, cluster, names)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=10_000)
    ap.add_argument("--topics", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--signals", default="kill,term")
    ap.add_argument("--systems", default="zkafka,kafka",
                    help="zkafka alone measures a change's before and after without Kafka")
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "results" / time.strftime("reelect-vs-kafka-%Y%m%d-%H%M.jsonl"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zkafka-reelect-", dir=os.environ.get("BENCH_TMP")))
    zkp = ZooKeeper(work / "zookeeper")
    zkp.start()
    clusters, zk = {}, kazoo_client(zkp.hosts)
    try:
        systems = args.systems.split(",")
        for kind, broker_class in (("zkafka", Broker), ("kafka", kafka_broker_class())):
            if kind not in systems:
                continue
            (work / kind).mkdir()
            clusters[kind] = Cluster(kind, BrokerFactory(zkp, f"/reelect-{kind}", work / kind, broker_class))
            clusters[kind].start(extra=EXTRA)
        names = {kind: create_topics(c, args.partitions, args.topics) for kind, c in clusters.items()}
        commit = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()
        rows = []
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            for run in range(args.runs):
                for signal in args.signals.split(","):
                    for kind in (systems if run % 2 == 0 else systems[::-1]):
                        row = {"run": run, "commit": commit, "partitions": args.partitions,
                               "load": os.getloadavg()[0], **one(zk, clusters[kind], names[kind], signal)}
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        rows.append(row)
                        log(json.dumps(row))
        summarize(rows)
    finally:
        zk.stop()
        for c in clusters.values():
            c.close()
        zkp.stop()
    return 0


def summarize(rows: list[dict]) -> None:
    metrics = ["session_expiry_after_kill_ms", "exit_after_sigterm_ms", "unavailable_p50_ms",
               "unavailable_p99_ms", "unavailable_max_ms", "missing"]
    print(f"{'signal':6} {'metric':30} {'zkafka':>10} {'kafka':>10} {'zkafka/kafka':>13}")
    for signal in sorted({r["signal"] for r in rows}):
        by = {(r["run"], r["system"]): r for r in rows if r["signal"] == signal}
        runs = sorted({r for r, _ in by})
        for m in metrics:
            z = [by[(r, "zkafka")][m] for r in runs if by.get((r, "zkafka"), {}).get(m) is not None]
            k = [by[(r, "kafka")][m] for r in runs if by.get((r, "kafka"), {}).get(m) is not None]
            if not z:
                continue
            ratios = [by[(r, "zkafka")][m] / by[(r, "kafka")][m] for r in runs
                      if by.get((r, "kafka"), {}).get(m) and by.get((r, "zkafka"), {}).get(m) is not None]
            ratio = f"{statistics.median(ratios):13.3f}" if ratios else f"{'-':>13}"
            km = f"{statistics.median(k):10.1f}" if k else f"{'-':>10}"
            print(f"{signal:6} {m:30} {statistics.median(z):10.1f} {km} {ratio}")


if __name__ == "__main__":
    sys.exit(main())
