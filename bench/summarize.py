#!/usr/bin/env python3
"""Summarises a scripts/bench-*.sh results file (JSON lines) into medians (min-max) and ratios
against the baselines measured in the same run. Prints Markdown tables.

usage: summarize.py produce-consume|offsets RESULTS.jsonl
"""
import json
import statistics
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def fmt(m, lo, hi, digits=1):
    if m is None:
        return "n/a"
    f = f"{{:.{digits}f}}"
    return f"{f.format(m)} ({f.format(lo)}–{f.format(hi)})"


def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def add_cpu(rows):
    """broker_cpu_cores: the broker's CPU seconds over the run's wall time (records / rate)."""
    for r in rows:
        if r.get("broker_cpu_s") is not None and r.get("records_per_sec"):
            wall = r["records"] / r["records_per_sec"]
            r["broker_cpu_cores"] = r["broker_cpu_s"] / wall if wall > 0 else None
            r["broker_cpu_s_per_gib"] = r["broker_cpu_s"] / (r["records"] * 1024 / 2**30)


def run_ratio(rs, baselines):
    """Median over runs of (rate / the baseline measured in the same run), as a percentage."""
    base = {b.get("run"): b["mb_per_sec"] for b in baselines if b.get("mb_per_sec")}
    ratios = [r["mb_per_sec"] / base[r.get("run")] for r in rs if r.get("mb_per_sec") and r.get("run") in base]
    if not ratios:
        return "n/a"
    m, lo, hi = statistics.median(ratios), min(ratios), max(ratios)
    return f"{100 * m:.1f}% ({100 * lo:.0f}–{100 * hi:.0f}%)"


def produce_consume(rows):
    add_cpu(rows)
    dd_sync = med(pick(rows, bench="dd", mode="sync"), "mb_per_sec")
    dd_nosync = med(pick(rows, bench="dd", mode="nosync"), "mb_per_sec")
    loop = med(pick(rows, bench="loopback"), "mb_per_sec")
    tcp_file = med(pick(rows, bench="tcp_to_file"), "mb_per_sec")
    n = len(pick(rows, bench="loopback"))
    print(f"Baselines (median (min–max) of {n} runs):\n")
    print("| baseline | MB/s |\n|---|---|")
    print(f"| dd 512 MiB, conv=fdatasync: the disk's sequential write rate (produce goal's baseline) | {fmt(*dd_sync)} |")
    print(f"| dd 512 MiB, no fdatasync (page cache only) | {fmt(*dd_nosync)} |")
    print(f"| loopback TCP, 1 connection, 1 GiB (consume goal's baseline) | {fmt(*loop)} |")
    print(f"| TCP to file: the same connection, each chunk written to the log dir, 512 MiB | {fmt(*tcp_file)} |")
    print()
    print("Produce, 1 KiB records (median (min–max); ratios are medians of per-run ratios against the")
    print("baseline measured in the same run); goal: >= 70% of dd with fdatasync:\n")
    print("| client | config | acks | records/s | MB/s | % of dd (fdatasync) | % of dd (page cache) | % of TCP to file | avg ms | p50 ms | p95 ms | p99 ms | p99.9 ms | broker CPU (cores) | broker CPU s/GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    prod = pick(rows, bench="produce")
    keys = []
    for r in prod:
        k = (r["client_name"], r["config"], str(r["acks"]))
        if k not in keys:
            keys.append(k)
    for client, config, acks in keys:
        rs = [r for r in prod if (r["client_name"], r["config"], str(r["acks"])) == (client, config, acks)]
        mb = med(rs, "mb_per_sec")
        ratio_s = run_ratio(rs, pick(rows, bench="dd", mode="sync"))
        ratio = run_ratio(rs, pick(rows, bench="dd", mode="nosync"))
        ratio_t = run_ratio(rs, pick(rows, bench="tcp_to_file"))
        lat = [fmt(*med(rs, k)) for k in ("avg_latency_ms", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "p999_latency_ms")]
        cpu = [fmt(*med(rs, "broker_cpu_cores"), digits=2), fmt(*med(rs, "broker_cpu_s_per_gib"), digits=2)]
        print(f"| {client} | {config} | {acks} | {fmt(*med(rs, 'records_per_sec'), digits=0)} | {fmt(*mb)} | {ratio_s} | {ratio} | {ratio_t} | " + " | ".join(lat + cpu) + " |")
    print()
    print("Consume, 1 KiB records from offset 0 (median (min–max)); goal: >= 40% of loopback:\n")
    print("| client | records/s | MB/s | % of loopback | broker CPU (cores) | broker CPU s/GiB |\n|---|---|---|---|---|---|")
    cons = pick(rows, bench="consume")
    for client in dict.fromkeys(r["client_name"] for r in cons):
        rs = pick(cons, client_name=client)
        mb = med(rs, "mb_per_sec")
        ratio = f"{100 * mb[0] / loop[0]:.1f}%" if mb[0] and loop[0] else "n/a"
        print(f"| {client} | {fmt(*med(rs, 'records_per_sec'), digits=0)} | {fmt(*mb)} | {ratio} | "
              f"{fmt(*med(rs, 'broker_cpu_cores'), digits=2)} | {fmt(*med(rs, 'broker_cpu_s_per_gib'), digits=2)} |")
    rss = pick(rows, bench="rss")
    if rss:
        print()
        print("Broker memory during one large produce (zkafka perf produce, acks=1):\n")
        print("| log written | log bytes on disk | VmRSS MiB | VmHWM MiB |\n|---|---|---|---|")
        for r in rss:
            print(f"| {r['pct']}% | {r['log_bytes'] / 2**30:.2f} GiB | {r['vmrss_kb'] / 1024:.1f} | {r['vmhwm_kb'] / 1024:.1f} |")


def offsets(rows):
    single = med(pick(rows, bench="zk", mode="single"), "ops_per_sec")
    multi = med(pick(rows, bench="zk", mode="multi"), "ops_per_sec")
    n = len(pick(rows, bench="zk", mode="single"))
    print(f"ZooKeeper baselines with kazoo (sequential, synchronous; median (min–max) of {n} runs):\n")
    print("| baseline | ops/s | p50 ms |\n|---|---|---|")
    print(f"| setData, 1 znode | {fmt(*single)} | {fmt(*med(pick(rows, bench='zk', mode='single'), 'p50_ms'), digits=2)} |")
    print(f"| multi of 100 setData | {fmt(*multi)} | {fmt(*med(pick(rows, bench='zk', mode='multi'), 'p50_ms'), digits=2)} |")
    extra = {}
    for mode, label in (("multi2x", "multi of 200 setData (offset + extras znode per partition)"),):
        rs = pick(rows, bench="zk", mode=mode)
        if rs:
            extra[mode] = med(rs, "ops_per_sec")
            print(f"| {label} | {fmt(*extra[mode])} | {fmt(*med(rs, 'p50_ms'), digits=2)} |")
    print()
    print("OffsetCommit through the broker (confluent-kafka Consumer.commit, synchronous, explicit offsets):\n")
    print("| partitions per commit | commits/s | partition offsets/s | p50 ms | p99 ms | vs kazoo setData | vs kazoo multi(100) |")
    print("|---|---|---|---|---|---|---|")
    hundred = None
    for p in (1, 10, 100):
        rs = pick(rows, bench="commit", partitions=p)
        if not rs:
            continue
        c = med(rs, "commits_per_sec")
        print(f"| {p} | {fmt(*c)} | {fmt(*med(rs, 'partition_offsets_per_sec'), digits=0)} | "
              f"{fmt(*med(rs, 'p50_ms'), digits=2)} | {fmt(*med(rs, 'p99_ms'), digits=2)} | "
              f"{100 * c[0] / single[0]:.1f}% | {100 * c[0] / multi[0]:.1f}% |")
        if p == 100:
            hundred = c
    for mode, e in extra.items():
        print(f"\n100-partition commit rate / kazoo {mode} rate: {100 * hundred[0] / e[0]:.1f}%", end="")
    if extra:
        print()
    print()
    print("ZooKeeper requests per OffsetCommit (zk_packets_received delta from `mntr` over the commit loop / commits):\n")
    print("| partitions per commit | ZooKeeper packets received per commit |\n|---|---|")
    for p in (1, 10, 100):
        rs = [r for r in pick(rows, bench="commit", partitions=p) if r.get("zk_packets_per_commit") is not None]
        if rs:
            print(f"| {p} | {fmt(*med(rs, 'zk_packets_per_commit'))} |")
    rball = pick(rows, bench="rebalance")
    if rball:
        print()
        print("Rebalance: 10 members on 100 partitions, then an 11th joins (group.initial.rebalance.delay.ms=3000; goal: join settles within 4 s):\n")
        print("| consumers' heartbeat.interval.ms | initial group of 10 settles (from first subscribe), s | 11th member's join to every member re-assigned, s | runs settled |")
        print("|---|---|---|---|")
        for hb in dict.fromkeys(r.get("heartbeat_ms", 3000) for r in rball):
            rb = [r for r in rball if r.get("heartbeat_ms", 3000) == hb]
            ok = [r for r in rb if r.get("join_settle_s") is not None]
            print(f"| {hb} | {fmt(*med(rb, 'initial_settle_s'), digits=2)} | {fmt(*med(ok, 'join_settle_s'), digits=2)} | {len(ok)} of {len(rb)} |")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    rows = load(path)
    {"produce-consume": produce_consume, "offsets": offsets}[mode](rows)


if __name__ == "__main__":
    main()
