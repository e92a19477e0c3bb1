#!/usr/bin/env python3
"""Leader re-election and controller failover benchmark (3 zkafka brokers, one ZooKeeper, loopback).

usage:
  failover.py reelect PARTITIONS TOPICS RUNS SIGNALS   # SIGNALS: kill,term (comma-separated)
  failover.py controller PARTITIONS TOPICS RUNS [PHANTOMS]   # e.g. 0,40000

reelect: topics with replication factor 2 spread over brokers 1..3. Per run and signal, the
non-controller broker leading the most partitions is sent SIGKILL or SIGTERM (controlled shutdown);
a confluent-kafka producer (acks=1) then loops a produce to every partition that broker led until
each succeeds once. The controller's log gives when it saw the loss and the phase durations. The
victim is restarted and preferred leaders re-elected (/admin/preferred_replica_election) before
the next run. Also per run: ZooKeeper's own batched write rate (kazoo multi of 1000 setData).

controller: topics whose replicas avoid the controller broker (so it leads nothing); per run the
controller is sent SIGKILL, and the time to a new /controller znode and the new controller's
"controller loaded the cluster" line (load_ms, total_ms) are recorded.

One JSON line per measurement on stdout; progress on stderr.
"""
import os
import signal
import sys
import threading
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from failover_cluster import CHROOT, Cluster  # noqa: E402
from stats import emit, pct  # noqa: E402

METADATA_REFRESH_MS = int(os.environ.get("METADATA_REFRESH_MS", "200"))
PROPS = [
    "zookeeper.session.timeout.ms=6000",
    "num.replica.fetchers=1",
    "auto.leader.rebalance.enable=false",
]


def log(*a):
    print("failover:", *a, file=sys.stderr, flush=True)


def admin(cluster):
    return AdminClient({"bootstrap.servers": cluster.bootstrap(), "socket.timeout.ms": 60000})


def create_topics(cluster, partitions, topics, rf=2, assign=None):
    """topics x (partitions/topics) partitions. assign: list of replica lists to cycle through."""
    per = partitions // topics
    a = admin(cluster)
    t0 = time.monotonic()
    names = [f"fo-{i:03d}" for i in range(topics)]
    for chunk in range(0, topics, 10):
        new = []
        for n in names[chunk:chunk + 10]:
            if assign:
                new.append(NewTopic(n, num_partitions=-1, replication_factor=-1, replica_assignment=[assign[p % len(assign)] for p in range(per)]))
            else:
                new.append(NewTopic(n, per, rf))
        for n, f in a.create_topics(new, request_timeout=120, operation_timeout=120).items():
            try:
                f.result(180)
            except Exception as e:
                # a loaded broker may answer late; the topic znode is written first, and
                # wait_settled() below checks every partition anyway
                log(f"create {n}: {e}; continuing")
    log(f"created {topics} topics x {per} partitions in {time.monotonic() - t0:.1f}s")
    return names


def metadata(cluster, exclude=()):
    a = AdminClient({"bootstrap.servers": cluster.bootstrap(exclude)})
    for attempt in range(30):
        try:
            return a.list_topics(timeout=60).topics
        except Exception as e:  # e.g. a partial answer while a broker restarts
            log(f"metadata: {e}; retrying")
            time.sleep(1)
    raise SystemExit("no metadata after 30 attempts")


def wait_settled(cluster, names, rf, leaders=None, timeout=600):
    """Until every partition has a leader, an ISR of rf replicas, and (if leaders) leader == leaders[tp]."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        md = metadata(cluster)
        bad = 0
        for n in names:
            t = md.get(n)
            if t is None or t.error is not None:
                bad += 1
                continue
            for p, pm in t.partitions.items():
                if pm.leader < 0 or len(pm.isrs) < rf or (leaders and leaders.get((n, p)) != pm.leader):
                    bad += 1
        if bad == 0:
            return time.monotonic()
        time.sleep(1)
    raise SystemExit(f"cluster not settled after {timeout}s ({bad} partitions)")


def leaders_of(cluster, names):
    md = metadata(cluster)
    return {(n, p): pm.leader for n in names for p, pm in md[n].partitions.items()}


def preferred_of(cluster, names):
    md = metadata(cluster)
    return {(n, p): pm.replicas[0] for n in names for p, pm in md[n].partitions.items()}


class ProduceLoop:
    """acks=1 produces to every partition in tps, one in flight per partition, each re-sent as soon
    as its delivery report arrives (success or failure). Records per partition the wall-clock times
    of successful deliveries (only the first one unless continuous)."""

    def __init__(self, bootstrap, tps, continuous=False):
        self.p = Producer({
            "bootstrap.servers": bootstrap,
            "acks": 1,
            "linger.ms": 0,
            "message.timeout.ms": 1000,
            "retry.backoff.ms": 50,
            "retry.backoff.max.ms": 200,
            "topic.metadata.refresh.interval.ms": METADATA_REFRESH_MS,
            "queue.buffering.max.messages": 1000000,
        })
        self.tps = list(tps)
        self.continuous = continuous
        self.ok = {tp: [] for tp in self.tps}
        self.attempts = 0
        self.failures = 0
        self.sending = True
        self.stop = threading.Event()

    def _cb(self, err, msg):
        tp = (msg.topic(), msg.partition())
        if err is None:
            self.ok[tp].append(time.time())
        else:
            self.failures += 1
        if self.sending and (self.continuous or not self.ok[tp]):
            self._send(tp)

    def _send(self, tp):
        self.attempts += 1
        self.p.produce(tp[0], b"x", partition=tp[1], on_delivery=self._cb)

    def warm(self):
        self.sending = False
        for tp in self.tps:
            self._send(tp)
        self.p.flush(60)
        self.ok = {tp: [] for tp in self.tps}
        self.attempts = self.failures = 0
        self.sending = True

    def run(self, timeout):
        for tp in self.tps:
            self._send(tp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            if not self.continuous and all(self.ok.values()):
                break
            self.p.poll(0.005)
        self.sending = False
        self.p.purge()
        self.p.flush(5)


def phase_lines(cluster, b, offset, wait_for, timeout=120):
    """Controller b's log lines after offset, waiting (bounded) until wait_for(lines) is true."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        lines = cluster.log_lines(b, offset)
        if wait_for(lines):
            return lines, True
        time.sleep(0.1)
    return lines, False


def first(lines, text, after=0.0, pred=None):
    for ln in lines:
        if ln[0] >= after and text in ln[3] and (pred is None or pred(ln[4])):
            return ln
    return None


def zk_rate(cluster, batch=1000, writes=10000, rounds=3):
    """kazoo: multi of `batch` setData on existing znodes, `writes` writes per round."""
    zk = cluster.zk
    root = "/zk-rate-failover"
    zk.ensure_path(root)
    paths = [f"{root}/n{i}" for i in range(batch)]
    for p in paths:
        if not zk.exists(p):
            zk.create(p, b"0")
    res = []
    for r in range(rounds):
        t0 = time.monotonic()
        lat = []
        for i in range(writes // batch):
            t1 = time.monotonic()
            tx = zk.transaction()
            for p in paths:
                tx.set_data(p, b'{"leader":2,"leader_epoch":%d,"isr":[2,3]}' % (r * 1000 + i))
            out = tx.commit()
            if any(isinstance(x, Exception) for x in out):
                raise SystemExit(f"multi failed: {out[:3]}")
            lat.append((time.monotonic() - t1) * 1000)
        el = time.monotonic() - t0
        res.append({"batch": batch, "writes": writes, "ms_per_10k": el * 1000 * 10000 / writes,
                    "ops_per_sec": writes / el, "multi_p50_ms": pct(sorted(lat), 50)})
    return res


def reelect(partitions, topics, runs, signals):
    c = Cluster(3, PROPS)
    try:
        c.start()
        log(f"cluster in {c.dir}, brokers {c.procs and {b: p.pid for b, p in c.procs.items()}}, zk pid {c.zk_proc.pid}")
        names = create_topics(c, partitions, topics, rf=2)
        wait_settled(c, names, 2)
        for b in c.ids:
            emit({"bench": "fds", "partitions": partitions, "broker": b, **c.descriptors(b)})
        preferred = preferred_of(c, names)
        for run in range(1, runs + 1):
            for z in zk_rate(c, rounds=1):
                emit({"bench": "zk_multi", "partitions": partitions, "run": run, **z})
            for sig in signals:
                wait_settled(c, names, 2, leaders=preferred)
                one(c, names, partitions, run, sig, preferred)
    finally:
        c.stop()


def one(c, names, partitions, run, sig, preferred):
    ctrl, _ = c.controller()
    leaders = leaders_of(c, names)
    counts = {b: sum(1 for v in leaders.values() if v == b) for b in c.ids}
    victim = max((b for b in c.ids if b != ctrl), key=lambda b: counts[b])
    tps = sorted(tp for tp, l in leaders.items() if l == victim)
    log(f"run {run} {sig}: controller {ctrl}, victim {victim} leads {len(tps)} of {len(leaders)}")
    loop = ProduceLoop(c.bootstrap(), tps, continuous=(sig == "term"))
    loop.warm()
    off = c.log_offset(ctrl)
    offs = {b: c.log_offset(b) for b in c.ids}
    signum = signal.SIGKILL if sig == "kill" else signal.SIGTERM
    th = threading.Thread(target=loop.run, args=(120,))
    if sig == "term":
        # already producing continuously when the shutdown starts: the gaps are the outage
        th.start()
        time.sleep(1.0)
    t_kill = c.signal(victim, signum)
    if sig == "kill":
        th.start()
    if sig == "kill":
        seen_text = "phase: broker change seen"
        def seen_pred(f): return f.get("dead") == f"[{victim}]"
    else:
        seen_text = "phase: controlled shutdown started"
        def seen_pred(f): return f.get("broker") == str(victim)

    def done(lines):
        s = first(lines, seen_text, pred=seen_pred)
        if s is None:
            return False
        w = first(lines, "phase: leaders chosen and ZooKeeper written" if sig == "kill"
                  else "phase: controlled shutdown LeaderAndIsr and UpdateMetadata sent", after=s[0])
        return w is not None and first(lines, "phase: UpdateMetadata acknowledged", after=s[0],
                                       pred=lambda f: f.get("partitions") == w[4]["partitions"]) is not None

    lines, ok = phase_lines(c, ctrl, off, done)
    c.wait_exit(victim)
    if sig == "term":
        time.sleep(3.0)  # keep producing a while after the victim exited
        loop.stop.set()
    th.join()
    s = first(lines, seen_text, pred=seen_pred)
    rec = {"bench": "reelect", "signal": sig, "run": run, "partitions": partitions, "controller": ctrl,
           "victim": victim, "affected": len(tps), "phases_complete": ok}
    if s:
        t_seen = s[0]
        rec["seen_after_kill_ms"] = (t_seen - t_kill) * 1000
        if sig == "kill":
            w = first(lines, "phase: leaders chosen and ZooKeeper written", after=t_seen)
            rec["zk_written_ms"] = int(w[4]["ms"]) if w else None
            rec["zk_written_partitions"] = int(w[4]["partitions"]) if w else None
        else:
            # New leaders and ISR shrinks are written in one pass (one phase line).
            w = first(lines, "phase: controlled shutdown leaders moved, ISRs shrunk and ZooKeeper written",
                      after=t_seen)
            rec["zk_written_ms"] = int(w[4]["ms"]) if w else None
            rec["zk_written_partitions"] = int(w[4]["partitions"]) if w else None
            a = first(lines, "phase: controlled shutdown answered", after=t_seen)
            rec["answered_ms"] = int(a[4]["ms"]) if a else None
        # report_acks lines of different events interleave: match on the partition count
        npart = str(rec.get("zk_written_partitions"))
        lai = first(lines, "phase: LeaderAndIsr acknowledged", after=t_seen, pred=lambda f: f.get("partitions") == npart)
        um = first(lines, "phase: UpdateMetadata acknowledged", after=t_seen, pred=lambda f: f.get("partitions") == npart)
        rec["lai_acked_ms"] = int(lai[4]["ms"]) if lai else None
        rec["um_acked_ms"] = int(um[4]["ms"]) if um else None
        rec["um_brokers"] = int(um[4]["brokers"]) if um else None
    rec["produce_attempts"] = loop.attempts
    rec["produce_failures"] = loop.failures
    if sig == "kill":
        ok_times = sorted(v[0] - t_kill for v in loop.ok.values() if v)
        rec["produced_ok"] = len(ok_times)
        for name, base in (("from_kill", 0.0), ("from_seen", (s[0] - t_kill) if s else None)):
            if base is None or not ok_times:
                continue
            v = [(x - base) * 1000 for x in ok_times]
            rec[f"produce_{name}_p50_ms"] = pct(v, 50)
            rec[f"produce_{name}_p99_ms"] = pct(v, 99)
            rec[f"produce_{name}_max_ms"] = v[-1]
    else:
        # per partition: the longest time between two successive successful produces around the
        # shutdown (each partition always has one produce in flight), and when that gap ended
        gaps, ends = [], []
        for v in loop.ok.values():
            best = (0.0, None)
            for x, y in zip(v, v[1:]):
                if y >= t_kill and y - x > best[0]:
                    best = (y - x, y)
            gaps.append(best[0] * 1000)
            if best[1] is not None and s:
                ends.append((best[1] - s[0]) * 1000)
        gaps.sort()
        ends.sort()
        rec["produced_ok"] = sum(1 for v in loop.ok.values() if v and v[-1] > t_kill)
        rec["produce_gap_p50_ms"] = pct(gaps, 50)
        rec["produce_gap_p99_ms"] = pct(gaps, 99)
        rec["produce_gap_max_ms"] = gaps[-1] if gaps else None
        rec["produce_gap_end_from_seen_p50_ms"] = pct(ends, 50)
        rec["produce_gap_end_from_seen_max_ms"] = ends[-1] if ends else None
    # a broker whose ZooKeeper session expired during the run makes the run suspect
    rec["session_expiries"] = c.count({b: o for b, o in offs.items() if b != victim}, "ZooKeeper session expired")
    emit(rec)
    # restore: restart the victim, wait for full ISRs, re-elect preferred leaders
    c.start_broker(victim)
    c.wait_registered(victim)
    wait_settled(c, names, 2)
    body = '{"version":1,"partitions":[%s]}' % ",".join(
        '{"topic":"%s","partition":%d}' % tp for tp, b in preferred.items() if b == victim)
    c.zk.create(f"{CHROOT}/admin/preferred_replica_election", body.encode(), makepath=True)


def wait_quiet(c, brokers, quiet=5.0, timeout=900):
    """Until brokers have logged no "partition role changed" / "log opened" line for `quiet`
    seconds (a LeaderAndIsr for thousands of partitions takes minutes on the debug build)."""
    offs = {b: c.log_offset(b) for b in brokers}

    def busy():
        new = False
        for b in brokers:
            with open(c.log_path(b), "rb") as f:
                f.seek(offs[b])
                chunk = f.read()
            offs[b] += len(chunk)
            new = new or b"partition role changed" in chunk or b"log opened" in chunk
        return new
    t0 = time.monotonic()
    since = time.monotonic()
    while time.monotonic() - t0 < timeout:
        time.sleep(1)
        if busy():
            since = time.monotonic()
        elif time.monotonic() - since >= quiet:
            log(f"brokers {brokers} quiet after {time.monotonic() - t0:.0f}s")
            return
    log(f"brokers {brokers} still busy after {timeout}s")


def phantom_topics(c, count, per, broker=9, prefix="ph"):
    """Topic znodes written directly. broker=9: replicas all on a broker id that never registers,
    so the controller loads them like any other but no broker opens a log for them (see the README
    for why); broker=None: partitions alternate between brokers 3 and 4."""
    names = [f"{prefix}-{i:03d}" for i in range(count)]
    for n in names:
        body = '{"version":2,"partitions":{%s},"adding_replicas":{},"removing_replicas":{}}' % ",".join(
            '"%d":[%d]' % (p, broker if broker else 3 + p % 2) for p in range(per))
        c.zk.create(f"{CHROOT}/brokers/topics/{n}", body.encode())
    return names


def controller(partitions, topics, runs, phantoms):
    """4 brokers: 3 and 4 hold the PARTITIONS real ones (rf 1), 1 and 2 hold nothing; before each
    run /controller is deleted (bounded) until 1 or 2 is controller, which is then killed."""
    c = Cluster(4, PROPS)
    idle = [1, 2]
    try:
        c.start()
        log(f"cluster in {c.dir}, pids {dict((b, p.pid) for b, p in c.procs.items())}, zk pid {c.zk_proc.pid}")
        # (confluent-kafka 2.16 rejects NewTopic(replica_assignment=...) client-side, so the topic
        # znodes are written directly, as kafka-topics.sh --zookeeper did)
        per = partitions // topics
        names = phantom_topics(c, topics, per, broker=None, prefix="fo")
        wait_settled(c, names, 1, timeout=1800)
        wait_quiet(c, [3, 4])
        added = 0
        for phantom in phantoms:
            if phantom > added:
                phantom_topics(c, (phantom - added) // per, per, prefix=f"ph{added}")
                added = phantom
                time.sleep(10)
            controller_runs(c, idle, partitions, runs, phantom)
    finally:
        c.stop()


def controller_runs(c, idle, partitions, runs, phantom):
        for run in range(1, runs + 1):
            for attempt in range(12):
                ctrl, _ = c.controller()
                if ctrl in idle:
                    break
                if ctrl is not None:
                    c.zk.delete(f"{CHROOT}/controller")
                    log(f"run {run}: controller {ctrl} holds replicas; deleted /controller")
                time.sleep(2)
                # wait (bounded) for whoever won to finish loading
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    n, _ = c.controller()
                    if n is not None and first(c.log_lines(n, 0), "controller loaded the cluster",
                                               after=time.time() - 300) is not None:
                        break
                    time.sleep(0.5)
            else:
                raise SystemExit("could not move the controller to an idle broker")
            wait_quiet(c, [3, 4])
            offs = {b: c.log_offset(b) for b in c.ids}
            t_kill = c.signal(ctrl, signal.SIGKILL)
            c.wait_exit(ctrl)
            new, t_new = None, None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                n, st = c.controller()
                if n is not None and n != ctrl:
                    new, t_new = n, time.time()
                    break
                time.sleep(0.005)
            if new is None:
                raise SystemExit("no new controller after 60s")

            def loaded(lines):
                return first(lines, "controller loaded the cluster") is not None
            lines, ok = phase_lines(c, new, offs[new], loaded, timeout=300)
            ln = first(lines, "controller loaded the cluster")
            rec = {"bench": "controller", "run": run, "partitions": partitions + phantom, "real_partitions": partitions,
                   "phantom_partitions": phantom, "old": ctrl, "new": new,
                   "new_controller_znode_after_kill_ms": (t_new - t_kill) * 1000}
            if ln:
                f = ln[4]
                rec.update({"load_ms": int(f["load_ms"]), "total_ms": int(f["total_ms"]),
                            "loaded_partitions": int(f["partitions"]), "elected": int(f["elected"]),
                            "loaded_line_after_kill_ms": (ln[0] - t_kill) * 1000,
                            "loaded_line_after_znode_ms": (ln[0] - t_new) * 1000,
                            "live_brokers_seen": int(f["brokers"])})
            rec["session_expiries"] = c.count({b: o for b, o in offs.items() if b != ctrl}, "ZooKeeper session expired")
            emit(rec)
            c.start_broker(ctrl)
            c.wait_registered(ctrl)
            time.sleep(2)


def main():
    # SIGTERM/SIGINT (timeout(1), ^C) still stop the cluster in the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    mode = sys.argv[1]
    if mode == "reelect":
        reelect(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].split(","))
    elif mode == "controller":
        controller(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
                   [int(x) for x in (sys.argv[5] if len(sys.argv) > 5 else "0").split(",")])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
