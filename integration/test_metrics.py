"""The Prometheus endpoint (`metrics.port`) of a three-broker cluster, scraped and parsed with the
Prometheus client's own text parser (`prometheus_client.parser`) as Prometheus would read it, while
a broker holding single-replica partitions is killed with kill -9 and brought back.

What a user watching a dashboard must see: exactly one broker reports ActiveControllerCount 1;
the controller's OfflinePartitionsCount rises to the number of replication-factor-1 partitions the
lost broker held and returns to 0 once it is back; RequestsPerSec{request="Produce"} and
MessagesInPerSec count exactly the produce requests and records a client sent.
"""
from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import free_port, unique_topic, wait_until
from wire import raw_produce

pytestmark = [pytest.mark.metrics, pytest.mark.timeout(120)]

ACTIVE = "kafka_controller_kafkacontroller_activecontrollercount"
OFFLINE = "kafka_controller_kafkacontroller_offlinepartitionscount"
GLOBAL_PARTITIONS = "kafka_controller_kafkacontroller_globalpartitioncount"
PRODUCE_REQUESTS = "kafka_network_requestmetrics_requests_total"
MESSAGES_IN = "kafka_server_brokertopicmetrics_messagesin_total"
LEADERS = "kafka_server_replicamanager_leadercount"
PHASE_COUNT = "zkafka_controller_phase_ms_count"


def scrape(broker) -> dict:
    """{(sample name, sorted label pairs): value} of one broker's /metrics page."""
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.metrics_port}/metrics", timeout=5) as r:
        assert r.status == 200
        text = r.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def produce_requests(samples: dict) -> float:
    """Produce requests answered, over every version."""
    return sum(v for (name, labels), v in samples.items()
               if name == PRODUCE_REQUESTS and dict(labels).get("request") == "Produce")


def dashboard_names_are_served(samples: dict) -> None:
    """Every series the Grafana dashboard queries is on the controller's page and in
    docs/metrics.md, so the dashboard cannot drift from what brokers serve."""
    docs = Path(__file__).resolve().parent.parent / "docs"
    dashboard = json.loads((docs / "grafana" / "zkafka.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {n for e in exprs for n in re.findall(r"\b(?:zkafka|kafka)_[a-z_]+", e)}
    served = {name for name, _ in samples}
    listed = (docs / "metrics.md").read_text()
    assert used
    for name in sorted(used):
        assert name in served, f"the dashboard queries {name}, which /metrics does not serve"
        family = re.sub(r"_(bucket|count|sum|total)$", "", name)
        assert family in listed, f"{family} is not in docs/metrics.md"


def create_rf1_topic(brokers: dict, zk, topic: str, assignment: dict) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    bootstrap = ",".join(b.bootstrap for b in brokers.values())

    def created():
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
        try:
            admin.create_topics([NewTopic(topic, replica_assignments=assignment)])
        except TopicAlreadyExistsError:
            pass
        finally:
            admin.close()
        return True

    wait_until(created, timeout=40, interval=1, what=f"CreateTopics {topic}")

    def led():
        for p, replicas in assignment.items():
            state = json.loads(zk.get(f"/brokers/topics/{topic}/partitions/{p}/state")[0])
            if state["leader"] != replicas[0]:
                return False
        return True

    wait_until(led, timeout=30, interval=0.2, what=f"every partition of {topic} led")


def test_failover_seen_through_the_metrics_endpoint(broker_factory, zk):
    brokers = {}
    for i in (1, 2, 3):
        port = free_port()
        brokers[i] = broker_factory(i, overrides={"metrics.port": port, "metrics.host": "127.0.0.1",
                                                  "auto.leader.rebalance.enable": "false",
                                                  "controlled.shutdown.retry.backoff.ms": 500})
        brokers[i].metrics_port = port

    # Exactly one broker is the active controller, and it is the one /controller names.
    controller = json.loads(zk.get("/controller")[0])["brokerid"]
    wait_until(lambda: {i: value(scrape(b), ACTIVE) for i, b in brokers.items()}
               == {i: (1.0 if i == controller else 0.0) for i in brokers},
               timeout=20, what="ActiveControllerCount 1 on the controller only")

    # Single-replica partitions, two of them on a broker that is not the controller.
    victim = next(i for i in brokers if i != controller)
    others = [i for i in brokers if i != victim]
    topic = unique_topic("metrics")
    assignment = {0: [victim], 1: [others[0]], 2: [victim], 3: [others[1]], 4: [others[0]]}
    create_rf1_topic(brokers, zk, topic, assignment)
    wait_until(lambda: value(scrape(brokers[controller]), GLOBAL_PARTITIONS) >= len(assignment)
               and value(scrape(brokers[controller]), OFFLINE) == 0,
               timeout=20, what="the controller counting the new partitions, none offline")
    wait_until(lambda: value(scrape(brokers[victim]), LEADERS) == 2, timeout=20,
               what=f"broker {victim} leading its two partitions (LeaderCount)")

    # RequestsPerSec and MessagesInPerSec count exactly what was sent to the partition's leader.
    before = scrape(brokers[victim])
    for n in range(5):
        err, _ = raw_produce("127.0.0.1", brokers[victim].port, topic, 0, [f"v{n}a", f"v{n}b", f"v{n}c"])
        assert err == 0
    after = scrape(brokers[victim])
    assert produce_requests(after) - produce_requests(before) == 5
    assert value(after, PRODUCE_REQUESTS, request="Produce", version="3") \
        - (value(before, PRODUCE_REQUESTS, request="Produce", version="3") or 0) == 5
    assert value(after, MESSAGES_IN) - value(before, MESSAGES_IN) == 15

    # kill -9: once the session expires the controller counts the victim's partitions offline.
    brokers[victim].kill9()
    wait_until(lambda: value(scrape(brokers[controller]), OFFLINE) == 2, timeout=40, interval=0.3,
               what="OfflinePartitionsCount 2 on the controller")
    for i in others:
        expected = 1.0 if i == controller else 0.0
        assert value(scrape(brokers[i]), ACTIVE) == expected
    ctl = scrape(brokers[controller])
    assert value(ctl, PHASE_COUNT, event="BrokerChange", phase="broker_lost_seen") >= 1
    assert value(ctl, PHASE_COUNT, event="BrokerChange", phase="event_done") >= 1
    dashboard_names_are_served(ctl)

    # Back: its partitions get their leader again and the count returns to 0.
    brokers[victim].restart()
    wait_until(lambda: value(scrape(brokers[controller]), OFFLINE) == 0, timeout=40, interval=0.3,
               what="OfflinePartitionsCount back to 0")
    actives = {i: value(scrape(b), ACTIVE) for i, b in brokers.items()}
    assert sorted(actives.values()) == [0.0, 0.0, 1.0], actives

    # SIGTERM closes the endpoint with the rest of the broker, which still exits cleanly.
    assert brokers[victim].sigterm(timeout=30) == 0
    with pytest.raises(OSError):
        scrape(brokers[victim])
