"""The Java client (kafka-clients: Kafka 3.9's own and a 4.x) against zkafka and against Apache
Kafka 3.9, through integration/java/JavaClient.java: an idempotent acks=all producer, consumer groups
with the eager and the cooperative-sticky assignors and with static membership, and the Admin
client's describe calls. Each scenario runs on both clusters and a user sees the same outcome.
"""
from __future__ import annotations

import json

import pytest

from helpers import unique_topic
from reference import JAVA_CLIENT_VERSIONS, java_client, kafka_tool

pytestmark = pytest.mark.reference

RECORDS = 1200
PARTITIONS = 6


def lines(cp) -> list[dict]:
    return [json.loads(line) for line in cp.stdout.splitlines() if line.startswith("{")]


def create_topic(cluster, topic: str) -> None:
    kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
               "--partitions", str(PARTITIONS), "--replication-factor", "3")


def scenario(cluster, version: str, assignor: str, static: bool) -> dict:
    """Produce RECORDS with the Java client, consume them with a group of three, describe it all."""
    topic, group = unique_topic("java"), unique_topic("java-group")
    create_topic(cluster, topic)
    (produced,) = lines(java_client("JavaClient.java", "produce", cluster.bootstrap, topic, str(RECORDS),
                                    version=version))
    args = ["group", cluster.bootstrap, topic, group, assignor, "3", str(RECORDS), "60"]
    if static:
        args.append("static")
    members = lines(java_client("JavaClient.java", *args, version=version, timeout=150))
    admin = lines(java_client("JavaClient.java", "admin", cluster.bootstrap, topic, group, version=version))
    return {"produced": produced, "members": members[:-1], "total_read": members[-1]["total_read"],
            "admin": admin}


# every assignor on Kafka 3.9's own client; the newest 4.x with the cooperative one and static members
CASES = [(v, a, s) for v in JAVA_CLIENT_VERSIONS[:1]
         for a, s in [("range", False), ("cooperative-sticky", False), ("range", True)]]
CASES += [(v, a, s) for v in JAVA_CLIENT_VERSIONS[1:] for a, s in [("cooperative-sticky", True)]]


@pytest.mark.parametrize("version,assignor,static", CASES,
                         ids=[f"{v}-{a}{'-static' if s else ''}" for v, a, s in CASES])
def test_java_client_sees_the_same_cluster(zkafka_cluster, kafka_cluster, version, assignor, static):
    seen = {c.kind: scenario(c, version, assignor, static) for c in (zkafka_cluster, kafka_cluster)}
    for kind, s in seen.items():
        # every record acknowledged once, spread over the partitions
        assert s["produced"]["acked"] == RECORDS, (kind, s["produced"])
        spans = s["produced"]["offsets"]
        assert sum(last - first + 1 for first, last in spans.values()) == RECORDS, (kind, spans)
        # three members, two partitions each, every record read (a rebalance may re-read a few)
        owned = sorted(p for m in s["members"] for p in m["partitions"])
        assert owned == list(range(PARTITIONS)), (kind, s["members"])
        assert sorted(len(m["partitions"]) for m in s["members"]) == [2, 2, 2], (kind, s["members"])
        assert s["total_read"] >= RECORDS, (kind, s["total_read"])
        cluster_info, topic_info, configs, listed, group, offsets = s["admin"]
        assert cluster_info["brokers"] == [1, 2, 3], kind
        assert len(topic_info["partitions"]) == PARTITIONS
        assert all(len(p["replicas"]) == 3 and len(p["isr"]) == 3 for p in topic_info["partitions"]), topic_info
        # static members do not leave on close: they stay until their session times out
        expected = ("Stable", 3) if static else ("Empty", 0)
        assert (group["state"], group["members"]) == expected, (kind, group)
        assert offsets["committed"] == offsets["end_offsets"] == RECORDS, (kind, offsets)
    z, k = seen["zkafka"]["admin"], seen["kafka"]["admin"]
    assert z[2] == k[2], f"DescribeConfigs: zkafka {z[2]} vs Kafka {k[2]}"
    same_group = lambda g: {k: v for k, v in g.items() if k != "group"}  # noqa: E731
    assert same_group(z[4]) == same_group(k[4]), f"DescribeGroups: zkafka {z[4]} vs Kafka {k[4]}"
    # the eager assignor rebalances each member the same number of times on both
    if assignor == "range":
        z_rebalances = sorted(m["rebalances"] for m in seen["zkafka"]["members"])
        k_rebalances = sorted(m["rebalances"] for m in seen["kafka"]["members"])
        assert max(z_rebalances) <= max(k_rebalances) + 1, (z_rebalances, k_rebalances)
