#!/usr/bin/env python3
"""Rebalance settle time: MEMBERS confluent-kafka consumers (eager range assignor) subscribe to
TOPIC (PARTITIONS partitions) in group GROUP and settle; then one more member subscribes. Measures
from that subscribe() to the moment every one of the MEMBERS+1 members has received its new
assignment (all partitions assigned exactly once, every old member revoked and re-assigned).

usage: rebalance.py BOOTSTRAP TOPIC GROUP MEMBERS PARTITIONS [TIMEOUT_S]
Prints {"initial_settle_s": ..., "join_settle_s": ..., ...}. Consumers use librdkafka's
defaults (heartbeat.interval.ms=3000, session.timeout.ms=45000) unless HEARTBEAT_MS is set.
"""
import os
import sys
import time

from confluent_kafka import Consumer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stats import emit  # noqa: E402


class Member:
    def __init__(self, idx, conf, topic):
        self.idx = idx
        self.assignment = set()
        self.last_assign = None
        self.c = Consumer(conf)
        self.c.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)

    def on_assign(self, c, parts):
        self.assignment = {p.partition for p in parts}
        self.last_assign = time.monotonic()

    def on_revoke(self, c, parts):
        self.assignment = set()


def settled(members, partitions, since):
    seen = []
    for m in members:
        if m.last_assign is None or m.last_assign < since or not m.assignment:
            return False
        seen.extend(m.assignment)
    return len(seen) == partitions and set(seen) == set(range(partitions))


def poll_until(members, partitions, since, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for m in members:
            m.c.poll(0.005)
        if settled(members, partitions, since):
            return max(m.last_assign for m in members) - since
    return None


def main():
    bootstrap, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
    n, partitions = int(sys.argv[4]), int(sys.argv[5])
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 60
    conf = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "partition.assignment.strategy": "range",
    }
    if os.environ.get("HEARTBEAT_MS"):
        conf["heartbeat.interval.ms"] = int(os.environ["HEARTBEAT_MS"])
    t0 = time.monotonic()
    members = [Member(i, conf, topic) for i in range(n)]
    initial = poll_until(members, partitions, t0, timeout)
    if initial is None:
        raise SystemExit("initial group did not settle")
    # keep polling a little so the group is stable (no late rejoin in flight)
    t_quiet = time.monotonic() + 1.0
    while time.monotonic() < t_quiet:
        for m in members:
            m.c.poll(0.005)
    t_join = time.monotonic()
    members.append(Member(n, conf, topic))
    joined = poll_until(members, partitions, t_join, timeout)
    sizes = sorted(len(m.assignment) for m in members)
    for m in members:
        m.c.close()
    emit({
        "members_before": n,
        "partitions": partitions,
        "initial_settle_s": initial,
        "join_settle_s": joined,
        "assignment_sizes": [sizes[0], sizes[-1]],
    })
    return 0 if joined is not None else 1


if __name__ == "__main__":
    sys.exit(main())
