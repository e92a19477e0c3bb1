"""Controller failover and broker start-up beside Apache Kafka 3.9, measured from outside.

One ZooKeeper; three zkafka brokers and three Kafka 3.9.2 brokers from
config/server-<n>.properties (with `zookeeper.session.timeout.ms=6000`,
`auto.leader.rebalance.enable=false`), each cluster in its own chroot with PARTITIONS partitions
of replication factor 1 over TOPICS topics (the default assignment spreads them evenly, so each
broker hosts a third). Per run and system (alternated: zkafka first in even runs):

- **failover**: the controller's broker gets SIGKILL. The clock starts when ZooKeeper deletes its
  `/controller` znode (its session expiry, seen by a watch) and stops when every live broker
  answers a Metadata request (sent to that broker alone) naming the new controller: a broker
  learns the controller id only from an UpdateMetadata the new controller sends after loading
  every partition, so this is the new controller having loaded PARTITIONS partitions and updated
  all live brokers. Also recorded: when the new `/controller` znode appeared.
- **start-up**: the killed broker is started again (so this is a start-up after a crash: its logs
  were not closed cleanly). The clock starts at process spawn and stops (1) when its
  `/brokers/ids/<id>` znode appears and (2) when every partition it hosts has accepted an acks=1
  produce (a confluent-kafka producer re-sends to each until one succeeds): p50/p99/max.

One JSON line per measurement; a table of medians and medians of per-run ratios at the end.

    scripts/bench-vs-kafka.sh controller [--partitions 30000] [--topics 30] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

from conftest import Broker, BrokerFactory, kazoo_client  # noqa: E402
from failover import ProduceLoop  # noqa: E402
from reelect_vs_kafka import bootstrap, controller_id, create_topics_rf, metadata  # noqa: E402
from reference import Cluster, kafka_broker_class  # noqa: E402
from stats import pct  # noqa: E402
from zk_process import ZooKeeper  # noqa: E402

EXTRA = {"zookeeper.session.timeout.ms": "6000", "auto.leader.rebalance.enable": "false"}


def log(*a):
    print("controller:", *a, file=sys.stderr, flush=True)


def broker_controller_id(host: str, port: int, timeout: float = 2.0) -> int | None:
    """The controller id one broker's Metadata v1 answer names (no topics asked), or None."""
    client = b"bench-controller"
    body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(body)) + body)
            size = struct.unpack(">i", _read(s, 4))[0]
            data = _read(s, size)
    except OSError:
        return None
    pos = 4  # correlation id
    (n,) = struct.unpack_from(">i", data, pos)
    pos += 4
    for _ in range(n):
        pos += 4  # node id
        (hl,) = struct.unpack_from(">h", data, pos)
        pos += 2 + hl + 4
        (rl,) = struct.unpack_from(">h", data, pos)
        pos += 2 + max(rl, 0)
    return struct.unpack_from(">i", data, pos)[0]


def _read(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def one(zk, cluster, names) -> dict:
    old = controller_id(zk, cluster)
    victim = cluster.broker(old)
    md = metadata(cluster)
    hosted = [(n, p) for n in names for p, pm in md[n].partitions.items() if pm.leader == old]
    gone = threading.Event()
    gone_at = [0.0]
    path = f"{cluster.chroot}/controller"

    def watch(event):
        if event.type == "DELETED":
            gone_at[0] = time.time()
            gone.set()

    zk.exists(path, watch=watch)
    t_kill = time.time()
    victim.kill9()
    if not gone.wait(120):
        raise SystemExit(f"{cluster.kind}: /controller not deleted 120 s after the kill")
    new, elected_at = None, None
    live = [b for b in cluster.brokers if b.running()]
    updated: dict[int, float] = {}
    deadline = time.monotonic() + 600
    while len(updated) < len(live) and time.monotonic() < deadline:
        if new is None:
            stat = zk.exists(path)
            if stat is not None:
                new, elected_at = controller_id(zk, cluster), stat.ctime / 1000
        for b in live:
            if new is not None and b.broker_id not in updated \
                    and broker_controller_id(b.host, b.port) == new:
                updated[b.broker_id] = time.time()
        time.sleep(0.02)
    if len(updated) < len(live):
        raise SystemExit(f"{cluster.kind}: brokers {sorted(updated)} of {len(live)} updated in 600 s")
    row = {"system": cluster.kind, "old_controller": old, "new_controller": new,
           "session_expiry_after_kill_ms": (gone_at[0] - t_kill) * 1000,
           "new_controller_znode_ms": (elected_at - gone_at[0]) * 1000,
           "failover_ms": (max(updated.values()) - gone_at[0]) * 1000,
           "hosted_by_restarted": len(hosted)}
    row.update(start_up(zk, cluster, victim, hosted))
    return row


def start_up(zk, cluster, victim, hosted) -> dict:
    """Restarts the killed broker; spawn → registered, and → each hosted partition produced to."""
    loop = ProduceLoop(bootstrap(cluster), hosted)
    reg = f"{cluster.chroot}/brokers/ids/{victim.broker_id}"
    while zk.exists(reg) is not None:  # the killed session still holds it
        time.sleep(0.1)
    runner = threading.Thread(target=loop.run, args=(600,))
    runner.start()
    t0 = time.time()
    victim.start(wait=False)
    registered = None
    while registered is None and time.time() - t0 < 600:
        if zk.exists(reg) is not None:
            registered = time.time()
        else:
            time.sleep(0.02)
    runner.join()
    gaps = sorted((times[0] - t0) * 1000 for times in loop.ok.values() if times)
    return {"registered_after_start_ms": (registered - t0) * 1000 if registered else None,
            "serving_p50_ms": pct(gaps, 50), "serving_p99_ms": pct(gaps, 99),
            "serving_max_ms": gaps[-1] if gaps else None,
            "not_serving": sum(1 for times in loop.ok.values() if not times)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--partitions", type=int, default=30_000)
    ap.add_argument("--topics", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", type=Path,
                    default=ROOT / "bench" / "results" / time.strftime("controller-vs-kafka-%Y%m%d-%H%M.jsonl"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zkafka-controller-", dir=os.environ.get("BENCH_TMP")))
    zkp = ZooKeeper(work / "zookeeper")
    zkp.start()
    clusters, zk = {}, kazoo_client(zkp.hosts)
    try:
        for kind, broker_class in (("zkafka", Broker), ("kafka", kafka_broker_class())):
            (work / kind).mkdir()
            clusters[kind] = Cluster(kind, BrokerFactory(zkp, f"/controller-{kind}", work / kind, broker_class))
            clusters[kind].start(extra=EXTRA)
        names = {kind: create_topics_rf(c, args.partitions, args.topics, 1, "ctrl")
                 for kind, c in clusters.items()}
        commit = os.popen(f"git -C {ROOT} rev-parse --short HEAD").read().strip()
        rows = []
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("a") as out:
            for run in range(args.runs):
                for kind in (["zkafka", "kafka"] if run % 2 == 0 else ["kafka", "zkafka"]):
                    row = {"run": run, "commit": commit, "partitions": args.partitions,
                           "load": os.getloadavg()[0], **one(zk, clusters[kind], names[kind])}
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
    metrics = ["session_expiry_after_kill_ms", "new_controller_znode_ms", "failover_ms",
               "registered_after_start_ms", "serving_p50_ms", "serving_p99_ms", "serving_max_ms",
               "not_serving"]
    by = {(r["run"], r["system"]): r for r in rows}
    runs = sorted({r for r, _ in by})
    print(f"{'metric':28} {'zkafka':>10} {'kafka':>10} {'zkafka/kafka':>13}")
    for m in metrics:
        z = [by[(r, "zkafka")][m] for r in runs if by.get((r, "zkafka"), {}).get(m) is not None]
        k = [by[(r, "kafka")][m] for r in runs if by.get((r, "kafka"), {}).get(m) is not None]
        if not z or not k:
            continue
        ratios = [by[(r, "zkafka")][m] / by[(r, "kafka")][m] for r in runs
                  if by.get((r, "kafka"), {}).get(m) and by.get((r, "zkafka"), {}).get(m) is not None]
        ratio = f"{statistics.median(ratios):13.3f}" if ratios else f"{'-':>13}"
        print(f"{m:28} {statistics.median(z):10.1f} {statistics.median(k):10.1f} {ratio}")


if __name__ == "__main__":
    sys.exit(main())
