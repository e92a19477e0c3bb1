"""Dynamic broker configs with Kafka 3.9's `kafka-configs --entity-type brokers` against zkafka and
Apache Kafka 3.9 side by side (issue #9): the /config/brokers znodes and /config/changes
notifications, `--describe` of a broker, of the cluster default and of a topic inheriting the
default, and the refusal of a bad value are the same; a dynamic default reaches every running
log. The session clusters are shared, so each test removes what it set.
"""
from __future__ import annotations

import pytest

from helpers import ck_admin, ck_produce, unique_topic, wait_until
from reference import kafka_tool
from test_operator_tools import configs, create_topic, newest_config_change, znode

pytestmark = pytest.mark.reference


def alter_broker(cluster, target: list[str], *args: str, check: bool = True):
    return configs(cluster, "--alter", "--entity-type", "brokers", *target, *args, check=check)


BROKER_1 = ["--entity-name", "1"]
DEFAULT = ["--entity-default"]


def line_of(output: str, key: str) -> str:
    return next((l.strip() for l in output.splitlines() if l.strip().startswith(key + "=")), "")


@pytest.mark.timeout(300)
def test_dynamic_broker_configs_as_kafka(zkafka_cluster, kafka_cluster, zk_root):
    """A per-broker log.retention.ms and a cluster-default log.segment.bytes: the same znodes and
    notifications, the same `--describe` of broker 1, of the default and of a topic; an invalid
    value is refused the same way; deleting both leaves empty znodes on both."""
    topic = unique_topic("dyn")
    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic, 1, 3)
        try:
            alter_broker(cluster, BROKER_1, "--add-config", "log.retention.ms=7200000")
            per_broker = (znode(zk_root, cluster, "/config/brokers/1"),
                          newest_config_change(zk_root, cluster))
            alter_broker(cluster, DEFAULT, "--add-config", "log.segment.bytes=2000000")
            default = (znode(zk_root, cluster, "/config/brokers/<default>"),
                       newest_config_change(zk_root, cluster))

            def described():
                one = configs(cluster, "--describe", "--entity-type", "brokers", *BROKER_1).stdout
                dflt = configs(cluster, "--describe", "--entity-type", "brokers", *DEFAULT).stdout
                every = configs(cluster, "--describe", "--all", "--entity-type", "brokers",
                                *BROKER_1).stdout
                t = configs(cluster, "--describe", "--all", "--entity-type", "topics",
                            "--entity-name", topic).stdout
                return (one, dflt, line_of(every, "log.retention.ms"),
                        line_of(every, "log.segment.bytes"), line_of(t, "segment.bytes"))

            # brokers apply a notification when their watch fires, after the tool returns
            shown = wait_until(lambda: (lambda d: d if "2000000" in d[4] and "7200000" in d[2]
                                        else None)(described()), 60, interval=1,
                               what=f"{cluster.kind}: the dynamic configs described")
            bad = alter_broker(cluster, BROKER_1, "--add-config", "log.retention.ms=soon",
                               check=False)
            refused = (bad.returncode, [l.strip() for l in (bad.stdout + bad.stderr).splitlines()
                                        if "soon" in l and "with args" not in l][:1])
        finally:
            alter_broker(cluster, BROKER_1, "--delete-config", "log.retention.ms", check=False)
            alter_broker(cluster, DEFAULT, "--delete-config", "log.segment.bytes", check=False)
        cleared = (znode(zk_root, cluster, "/config/brokers/1"),
                   znode(zk_root, cluster, "/config/brokers/<default>"))
        seen[cluster.kind] = dict(per_broker=per_broker, default=default,
                                  shown=[s.replace(topic, "<t>") for s in shown],
                                  refused=refused, cleared=cleared)
    k = seen["kafka"]
    print(seen)
    assert k["per_broker"] == ({"version": 1, "config": {"log.retention.ms": "7200000"}},
                               {"version": 2, "entity_path": "brokers/1"})
    assert k["default"] == ({"version": 1, "config": {"log.segment.bytes": "2000000"}},
                            {"version": 2, "entity_path": "brokers/<default>"})
    assert "DYNAMIC_BROKER_CONFIG:log.retention.ms=7200000" in k["shown"][2]
    assert "DYNAMIC_DEFAULT_BROKER_CONFIG:log.segment.bytes=2000000" in k["shown"][4]
    assert k["refused"][0] != 0 and k["refused"][1], k["refused"]
    assert k["cleared"] == ({"version": 1, "config": {}}, {"version": 1, "config": {}})
    assert seen["zkafka"] == k


@pytest.mark.timeout(120)
def test_dynamic_default_reaches_every_log(zkafka_cluster):
    """A cluster-default log.segment.bytes set while the brokers run makes every replica of an
    existing topic roll small segments, and a broker restarted meanwhile starts with it."""
    topic = unique_topic("dynroll")
    create_topic(zkafka_cluster, topic, 1, 3)
    try:
        alter_broker(zkafka_cluster, DEFAULT, "--add-config", "log.segment.bytes=1024")
        wait_until(lambda: all("log.segment.bytes" in b.log_text() and "applied broker config change"
                               in b.log_text() for b in zkafka_cluster.brokers), 30,
                   what="every broker applied the change")
        ck_produce(zkafka_cluster.bootstrap, topic, ["x" * 600] * 20, acks="all",
                   **{"batch.size": 700, "linger.ms": 0})
        wait_until(lambda: all(len(b.segment_files(topic, 0)) > 3 for b in zkafka_cluster.brokers),
                   30, what="segments rolled at 1024 bytes on every replica")
        # a broker starting while the default is set reads it before opening its logs
        restarted = zkafka_cluster.broker(2)
        restarted.sigterm(timeout=60)
        restarted.restart()
        last_start = restarted.log_text().split("===== start #")[-1]
        assert 'default={"log.segment.bytes": "1024"}' in last_start, last_start[-3000:]
    finally:
        alter_broker(zkafka_cluster, DEFAULT, "--delete-config", "log.segment.bytes", check=False)


def test_not_applied_broker_config_refused(zkafka_cluster, zk_root):
    """A broker key Kafka changes at run time but zkafka does not apply is refused with Kafka's
    message for a key that is not dynamic, and nothing is written (docs/differences.md)."""
    before = znode(zk_root, zkafka_cluster, "/config/brokers/1")
    cp = alter_broker(zkafka_cluster, BROKER_1, "--add-config", "background.threads=20", check=False)
    assert cp.returncode != 0
    assert "Cannot update these configs dynamically: Set(background.threads)" in cp.stdout + cp.stderr
    assert znode(zk_root, zkafka_cluster, "/config/brokers/1") == before


@pytest.mark.timeout(300)
def test_log_cleaner_reconfigured_as_kafka(zkafka_cluster, kafka_cluster):
    """Cluster-default log.cleaner.threads=2 and log.cleaner.backoff.ms are accepted and described
    the same on both; more than double the threads is refused with Kafka's INVALID_CONFIG message;
    every zkafka broker restarts its cleaner with two threads."""
    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        try:
            alter_broker(cluster, DEFAULT, "--add-config",
                         "log.cleaner.threads=2,log.cleaner.backoff.ms=5000")

            def described():
                every = configs(cluster, "--describe", "--all", "--entity-type", "brokers",
                                *BROKER_1).stdout
                return (line_of(every, "log.cleaner.threads"),
                        line_of(every, "log.cleaner.backoff.ms"))

            shown = wait_until(lambda: (lambda d: d if "=2 " in d[0] else None)(described()), 60,
                               interval=1, what=f"{cluster.kind}: the cleaner settings described")
            bad = alter_broker(cluster, BROKER_1, "--add-config", "log.cleaner.threads=5",
                               check=False)
            refused = (bad.returncode, [l.strip() for l in (bad.stdout + bad.stderr).splitlines()
                                        if "threads" in l and "with args" not in l][:1])
        finally:
            alter_broker(cluster, DEFAULT, "--delete-config",
                         "log.cleaner.threads,log.cleaner.backoff.ms", check=False)
        seen[cluster.kind] = (shown, refused)
        if cluster is zkafka_cluster:
            wait_until(lambda: all("log cleaner started threads=2" in b.log_text()
                                   for b in zkafka_cluster.brokers), 30,
                       what="every zkafka broker restarted its cleaner with two threads")
    print(seen)
    shown, refused = seen["kafka"]
    assert shown[0].startswith("log.cleaner.threads=2 ")
    assert "DYNAMIC_DEFAULT_BROKER_CONFIG:log.cleaner.backoff.ms=5000" in shown[1]
    assert refused[0] != 0 and "more than double" in refused[1][0], refused
    assert seen["zkafka"] == seen["kafka"]


def closed_at_once(broker) -> bool:
    """Whether broker closes a connection from 127.0.0.2 without a request (refused by a quota)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.2", 0))
        s.settimeout(1)
        s.connect((broker.host, broker.port))
        try:
            return s.recv(1) == b""
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False


def test_connection_quota_changes_at_run_time(zkafka_cluster):
    """max.connections.per.ip.overrides set on broker 1 while it runs refuses new connections from
    the named address at once; deleting it lets them in again (other brokers are not affected)."""
    one = zkafka_cluster.broker(1)
    assert not closed_at_once(one)
    try:
        alter_broker(zkafka_cluster, BROKER_1, "--add-config",
                     "max.connections.per.ip.overrides=[127.0.0.2:0]")
        wait_until(lambda: closed_at_once(one), 30, interval=0.5,
                   what="connections from 127.0.0.2 refused")
        assert not closed_at_once(zkafka_cluster.broker(2))
    finally:
        alter_broker(zkafka_cluster, BROKER_1, "--delete-config", "max.connections.per.ip.overrides",
                     check=False)
    wait_until(lambda: not closed_at_once(one), 30, interval=0.5,
               what="connections from 127.0.0.2 accepted again")


def test_replica_fetchers_resized_at_run_time(broker_factory):
    """num.replica.fetchers set on a follower while it runs resizes its fetcher pool (Kafka's
    resizeThreadPool): its partitions spread over the new fetchers and acks=all produces, which
    need the follower, still complete; more than double the current count is refused with
    Kafka's message."""
    from confluent_kafka.admin import NewTopic

    b1 = broker_factory(1)
    b2 = broker_factory(2)
    topic = unique_topic("fetchers")
    admin = ck_admin(b1.bootstrap)
    admin.create_topics([NewTopic(topic, 4, replica_assignment=[[1, 2]] * 4,
                                  config={"min.insync.replicas": "2"})])[topic].result(timeout=30)
    wait_until(lambda: "leader=1 fetcher=0" in b2.log_text(), 30, what="broker 2's first fetcher")
    assert "fetcher=1" not in b2.log_text()
    alter_broker(b1, ["--entity-name", "2"], "--add-config", "num.replica.fetchers=2")
    wait_until(lambda: "resizing the replica fetcher pool" in b2.log_text(), 30,
               what="broker 2 resizing its fetchers")
    wait_until(lambda: "leader=1 fetcher=1" in b2.log_text(), 30, what="a second fetcher")
    ck_produce(b1.bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(40)], acks="all")
    cp = alter_broker(b1, ["--entity-name", "2"], "--add-config", "num.replica.fetchers=5",
                      check=False)
    assert cp.returncode != 0
    assert ("Dynamic thread count update validation failed for num.replica.fetchers=5, value "
            "should not be greater than double the current value 2") in cp.stdout + cp.stderr
