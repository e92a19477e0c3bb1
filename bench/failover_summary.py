#!/usr/bin/env python3
"""Markdown tables (median, min-max, n) from the JSON lines of scripts/bench-failover.sh.

usage: failover_summary.py RESULTS.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def cell(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    m = statistics.median(vals)
    if len(vals) == 1:
        return f"{m:.0f}"
    return f"{m:.0f} ({min(vals):.0f}–{max(vals):.0f})"


def table(title, head, rows):
    print(f"\n{title}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")


def main():
    recs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    by = defaultdict(list)
    for r in recs:
        if r["bench"] == "reelect":
            by[(r["partitions"], r["signal"])].append(r)
    kill = [("partitions", "affected", "n", "loss seen after kill", "ZK written", "LeaderAndIsr acked",
             "UpdateMetadata acked", "produce p50 from seen", "p99", "max", "produce p50 from kill", "max from kill")]
    term = [("partitions", "affected", "n", "shutdown seen after SIGTERM", "leaders moved + ISRs shrunk + ZK",
             "answered", "LeaderAndIsr acked", "UpdateMetadata acked", "produce gap p50", "p99", "max")]
    for (n, sig), rs in sorted(by.items()):
        g = lambda k: cell([r.get(k) for r in rs])  # noqa: E731
        aff = cell([r["affected"] for r in rs])
        if sig == "kill":
            kill.append((n, aff, len(rs), g("seen_after_kill_ms"), g("zk_written_ms"), g("lai_acked_ms"),
                         g("um_acked_ms"), g("produce_from_seen_p50_ms"), g("produce_from_seen_p99_ms"),
                         g("produce_from_seen_max_ms"), g("produce_from_kill_p50_ms"), g("produce_from_kill_max_ms")))
        else:
            term.append((n, aff, len(rs), g("seen_after_kill_ms"), g("zk_written_ms"),
                         g("answered_ms"), g("lai_acked_ms"), g("um_acked_ms"), g("produce_gap_p50_ms"),
                         g("produce_gap_p99_ms"), g("produce_gap_max_ms")))
    if len(kill) > 1:
        table("kill -9 of a broker leading ~1/3 (ms; median (min–max) of n runs)", kill[0], kill[1:])
    if len(term) > 1:
        table("SIGTERM (controlled shutdown) of a broker leading ~1/3 (ms)", term[0], term[1:])
    zk = defaultdict(list)
    for r in recs:
        if r["bench"] == "zk_multi":
            zk[r["partitions"]].append(r)
    if zk:
        table("ZooKeeper alone (kazoo, multi of 1000 setData on existing znodes, 10 multis)",
              ("during run with partitions", "n", "ms per 10,000 writes", "writes/s", "multi p50 ms"),
              [(n, len(rs), cell([r["ms_per_10k"] for r in rs]), cell([r["ops_per_sec"] for r in rs]),
                cell([r["multi_p50_ms"] for r in rs])) for n, rs in sorted(zk.items())])
    ct = defaultdict(list)
    for r in recs:
        if r["bench"] == "controller":
            ct[(r["partitions"], r["real_partitions"])].append(r)
    if ct:
        table("Controller failover, kill -9 of a controller that leads nothing (ms)",
              ("partitions loaded", "of which real", "n", "kill → new /controller", "load_ms", "total_ms",
               "/controller → loaded line", "kill → loaded line"),
              [(n, real, len(rs), cell([r["new_controller_znode_after_kill_ms"] for r in rs]),
                cell([r.get("load_ms") for r in rs]), cell([r.get("total_ms") for r in rs]),
                cell([r.get("loaded_line_after_znode_ms") for r in rs]),
                cell([r.get("loaded_line_after_kill_ms") for r in rs])) for (n, real), rs in sorted(ct.items())])


if __name__ == "__main__":
    main()
