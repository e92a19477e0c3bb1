"""Kafka 3.9's operator tools (`kafka-configs`, `kafka-leader-election`) against zkafka and against
Apache Kafka 3.9 side by side (issue #9): the same command gives the same output, the same exit
status and the same znodes on both clusters. See test_reference.py for the clusters.
"""
from __future__ import annotations

import json

import pytest

from helpers import ck_admin, unique_topic, wait_until
from reference import kafka_tool

pytestmark = pytest.mark.reference


def both(zkafka_cluster, kafka_cluster):
    return [zkafka_cluster, kafka_cluster]


def create_topic(cluster, topic: str, partitions: int = 1, replication: int = 1, *extra: str) -> None:
    kafka_tool("kafka-topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", topic,
               "--partitions", str(partitions), "--replication-factor", str(replication), *extra)


def configs(cluster, *args: str, check: bool = True):
    return kafka_tool("kafka-configs", "--bootstrap-server", cluster.bootstrap, *args, check=check)


def znode(zk, cluster, path: str):
    """The parsed JSON of a znode under the cluster's chroot, None if absent."""
    if zk.exists(cluster.chroot + path) is None:
        return None
    data, _ = zk.get(cluster.chroot + path)
    return json.loads(data.decode())


def newest_config_change(zk, cluster):
    children = sorted(zk.get_children(cluster.chroot + "/config/changes"))
    return znode(zk, cluster, f"/config/changes/{children[-1]}") if children else None


def refusal_of(cp) -> tuple[int, str]:
    """(exit status, the line naming the refused keys) of a failed kafka-configs run."""
    lines = [l.strip() for l in (cp.stdout + cp.stderr).splitlines() if "Cannot update" in l]
    return cp.returncode, lines[0] if lines else ""


# --------------------------------------------------------------------------------------------
# kafka-configs: topics
# --------------------------------------------------------------------------------------------


def test_alter_topic_add_then_delete_config(zkafka_cluster, kafka_cluster, zk_root):
    """--add-config (a list value in brackets included) then --delete-config write the same
    /config/topics znode and config_change notification on both."""
    topic = unique_topic("alter")
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic)
        configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", topic, "--add-config",
                "retention.ms=7200000,segment.ms=600000,cleanup.policy=[compact,delete]")
        added = znode(zk_root, cluster, f"/config/topics/{topic}")
        change = newest_config_change(zk_root, cluster)
        configs(cluster, "--alter", "--entity-type", "topics", "--entity-name", topic,
                "--delete-config", "segment.ms,cleanup.policy")
        deleted = znode(zk_root, cluster, f"/config/topics/{topic}")
        seen[cluster.kind] = (added, change, deleted)
    added, change, deleted = seen["kafka"]
    assert added == {"version": 1, "config": {"retention.ms": "7200000", "segment.ms": "600000",
                                              "cleanup.policy": "compact,delete"}}
    assert change == {"version": 2, "entity_path": f"topics/{topic}"}
    assert deleted == {"version": 1, "config": {"retention.ms": "7200000"}}
    assert seen["zkafka"] == seen["kafka"]


def test_alter_topic_config_reaches_every_replica(zkafka_cluster, zk_root):
    """The notification is applied by every broker hosting a replica: a topic whose segments are
    tiny after the change rolls on all three brokers."""
    from helpers import ck_produce

    topic = unique_topic("applied")
    create_topic(zkafka_cluster, topic, 1, 3)
    configs(zkafka_cluster, "--alter", "--entity-type", "topics", "--entity-name", topic,
            "--add-config", "segment.bytes=1024")
    # one record per batch, so that every batch after the first rolls a segment
    ck_produce(zkafka_cluster.bootstrap, topic, ["x" * 600] * 20, acks="all",
               **{"batch.size": 700, "linger.ms": 0})

    def rolled():
        return all(len(b.segment_files(topic, 0)) > 3 for b in zkafka_cluster.brokers)

    wait_until(rolled, 30, what="segments rolled at 1024 bytes on every replica")


def alter_error(admin, resource) -> tuple[int, str] | None:
    """(error code, message) of one resource of an (Incremental)AlterConfigs request, None if OK."""
    from confluent_kafka import KafkaException

    legacy = not resource.incremental_configs
    call = admin.alter_configs if legacy else admin.incremental_alter_configs
    try:
        call([resource])[resource].result(timeout=20)
        return None
    except KafkaException as e:
        return e.args[0].code(), e.args[0].str()


def test_alter_topic_errors_as_kafka(zkafka_cluster, kafka_cluster, zk_root):
    """Refused alterations get the same error codes on both, and write nothing."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    def op(key, value, kind=AlterConfigOpType.SET):
        return ConfigEntry(key, value, incremental_operation=kind)

    topic = unique_topic("refused")
    cases = {
        "bad value": [op("retention.ms", "soon")],
        "unknown key": [op("no.such.config", "1")],
        "append to a non-list key": [op("retention.ms", "1", AlterConfigOpType.APPEND)],
        "subtract from an unknown key": [op("no.such.config", "1", AlterConfigOpType.SUBTRACT)],
    }
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic)
        admin = ck_admin(cluster.bootstrap)
        codes = {what: alter_error(admin, ConfigResource("TOPIC", topic, incremental_configs=ops))
                 for what, ops in cases.items()}
        codes["legacy bad value"] = alter_error(
            admin, ConfigResource("TOPIC", topic, set_config={"retention.ms": "soon"}))
        codes["legacy unknown key"] = alter_error(
            admin, ConfigResource("TOPIC", topic, set_config={"no.such.config": "1"}))
        seen[cluster.kind] = ({k: v and v[0] for k, v in codes.items()},
                              znode(zk_root, cluster, f"/config/topics/{topic}"))
        print(cluster.kind, codes)
    assert all(seen["kafka"][0].values()), seen["kafka"]
    assert seen["kafka"][1] == {"version": 1, "config": {}}
    assert seen["zkafka"] == seen["kafka"]


def test_alter_configs_apis_as_kafka(zkafka_cluster, kafka_cluster, zk_root):
    """Through librdkafka's admin client: validate_only writes nothing, legacy AlterConfigs replaces
    every override, an unknown topic gets UNKNOWN_TOPIC_OR_PARTITION."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    topic = unique_topic("apis")
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic, 1, 1, "--config", "segment.ms=600000")
        admin = ck_admin(cluster.bootstrap)
        set_op = ConfigEntry("retention.ms", "3600000",
                             incremental_operation=AlterConfigOpType.SET)
        res = ConfigResource("TOPIC", topic, incremental_configs=[set_op])
        admin.incremental_alter_configs([res], validate_only=True)[res].result(timeout=20)
        after_validate = znode(zk_root, cluster, f"/config/topics/{topic}")
        legacy = ConfigResource("TOPIC", topic, set_config={"retention.ms": "3600000"})
        admin.alter_configs([legacy])[legacy].result(timeout=20)
        after_legacy = znode(zk_root, cluster, f"/config/topics/{topic}")
        missing = ConfigResource("TOPIC", topic + "-missing", incremental_configs=[set_op])
        try:
            admin.incremental_alter_configs([missing])[missing].result(timeout=20)
            missing_error = None
        except KafkaException as e:
            missing_error = e.args[0].code()
        seen[cluster.kind] = (after_validate, after_legacy, missing_error)
    assert seen["kafka"][0] == {"version": 1, "config": {"segment.ms": "600000"}}
    assert seen["kafka"][1] == {"version": 1, "config": {"retention.ms": "3600000"}}
    assert seen["kafka"][2] == 3  # UNKNOWN_TOPIC_OR_PARTITION
    assert seen["zkafka"] == seen["kafka"]


def test_describe_topic_configs_as_kafka(zkafka_cluster, kafka_cluster):
    """`kafka-configs --describe` of a topic prints the same overrides with the same synonyms
    (the topic override, then the broker's static setting, then Kafka's default)."""
    topic = unique_topic("describe")
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic, 1, 1, "--config", "retention.ms=7200000", "--config",
                     "segment.ms=600000", "--config", "max.message.bytes=2000000")
        seen[cluster.kind] = configs(cluster, "--describe", "--entity-type", "topics", "--entity-name",
                                     topic).stdout
    assert "STATIC_BROKER_CONFIG:log.retention.ms=604800000" in seen["kafka"]
    assert seen["zkafka"] == seen["kafka"]


# keys both brokers implement, whose --describe --all lines must be the same
BROKER_KEYS = ["log.retention.ms", "log.retention.hours", "log.retention.bytes", "num.partitions",
               "min.insync.replicas", "message.max.bytes", "log.segment.bytes", "log.roll.ms",
               "default.replication.factor", "auto.create.topics.enable", "delete.topic.enable"]


def test_describe_broker_configs_as_kafka(zkafka_cluster, kafka_cluster):
    """DescribeConfigs of a BROKER: no dynamic configs for broker 1 nor the cluster default, and
    --all prints the same value, source and synonyms for the keys both implement."""
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        dynamic = configs(cluster, "--describe", "--entity-type", "brokers", "--entity-name", "1").stdout
        default = configs(cluster, "--describe", "--entity-type", "brokers", "--entity-default").stdout
        every = configs(cluster, "--describe", "--all", "--entity-type", "brokers", "--entity-name",
                        "1").stdout
        lines = {}
        for line in every.splitlines():
            key = line.strip().split("=", 1)[0]
            if key in BROKER_KEYS:
                lines[key] = line.strip()
        seen[cluster.kind] = (dynamic, default, lines)
    assert seen["kafka"][0].strip() == "Dynamic configs for broker 1 are:"
    assert set(seen["kafka"][2]) == set(BROKER_KEYS)
    assert seen["zkafka"] == seen["kafka"]


def test_alter_broker_config_refused_as_kafka(zkafka_cluster, kafka_cluster, zk_root):
    """A key no broker can change at run time is refused by both with the same error, and nothing
    is written; a dynamic key Kafka applies and zkafka does not is refused by zkafka the same way
    (docs/differences.md)."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    def resource(name, key, value):
        return ConfigResource("BROKER", name, incremental_configs=[
            ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)])

    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        admin = ck_admin(cluster.bootstrap)
        seen[cluster.kind] = (
            alter_error(admin, resource("1", "num.partitions", "5")),
            # the cluster default, through the tool (librdkafka refuses an empty broker name)
            refusal_of(configs(cluster, "--alter", "--entity-type", "brokers", "--entity-default",
                               "--add-config", "num.partitions=5", check=False)),
            znode(zk_root, cluster, "/config/brokers/1"),
        )
    code, message = seen["kafka"][0]
    assert code == 42 and "Cannot update these configs dynamically: Set(num.partitions)" in message
    assert seen["kafka"][1][0] != 0 and "Set(num.partitions)" in seen["kafka"][1][1]
    assert seen["zkafka"] == seen["kafka"]
    zk_refusal = alter_error(ck_admin(zkafka_cluster.bootstrap),
                             resource("1", "background.threads", "20"))
    assert zk_refusal[0] == 42 and "Set(background.threads)" in zk_refusal[1]


# --------------------------------------------------------------------------------------------
# kafka-leader-election
# --------------------------------------------------------------------------------------------


def state_of(zk, cluster, topic: str, partition: int) -> dict:
    return znode(zk, cluster, f"/brokers/topics/{topic}/partitions/{partition}/state")


def election(cluster, *args: str):
    return kafka_tool("kafka-leader-election", "--bootstrap-server", cluster.bootstrap, *args,
                      check=False)


def elected(output: str, topic: str) -> dict:
    """{partition: what the tool said} for `topic`'s partitions in kafka-leader-election's output."""
    said = {}
    for line in output.splitlines():
        for prefix, what in (("Successfully completed leader election", "elected"),
                             ("Valid replica already elected", "not needed")):
            if line.startswith(prefix):
                for tp in line.split(" for partitions ", 1)[1].split(", "):
                    name, _, partition = tp.strip().rpartition("-")
                    if name == topic:
                        said[int(partition)] = what
        if line.startswith("Error completing leader election") and f": {topic}-" in line:
            tp, _, error = line.split(" for partition: ", 1)[1].partition(": ")
            said[int(tp.rpartition("-")[2])] = error.split(":")[0].rsplit(".", 1)[-1]
    return said


def bounce(broker) -> None:
    """Stops a broker with SIGTERM and starts it again; a Kafka broker's controlled shutdown may
    retry for up to 3 x controlled.shutdown.retry.backoff.ms when other tests' single-replica
    partitions live on it."""
    broker.sigterm(timeout=60)
    broker.restart()


@pytest.mark.timeout(400)
def test_leader_election_as_kafka(zkafka_cluster, kafka_cluster, zk_root):
    """After a broker restarts, the partition it prefers is led elsewhere: kafka-leader-election
    --election-type preferred moves it back, for one partition and for all partitions; a partition
    already led by its preferred replica, and one that does not exist, are answered as Kafka
    answers them; an unclean election of a healthy partition is not needed."""
    topic = unique_topic("elect")
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic, 3, 3)
        controller = znode(zk_root, cluster, "/controller")["brokerid"]
        # a broker other than the controller, and the partition it prefers
        assignment = znode(zk_root, cluster, f"/brokers/topics/{topic}")["partitions"]
        partition, replicas = next((int(p), r) for p, r in sorted(assignment.items())
                                   if r[0] != controller)
        preferred = replicas[0]
        bounce(cluster.broker(preferred))
        wait_until(lambda: preferred in state_of(zk_root, cluster, topic, partition)["isr"], 60,
                   what=f"broker {preferred} back in the ISR of {topic}-{partition}")
        led_elsewhere = state_of(zk_root, cluster, topic, partition)["leader"] != preferred
        other = (partition + 1) % 3
        one = election(cluster, "--election-type", "preferred", "--topic", topic, "--partition",
                       str(partition))
        leader_after = state_of(zk_root, cluster, topic, partition)["leader"]
        not_needed = election(cluster, "--election-type", "preferred", "--topic", topic,
                              "--partition", str(other))
        missing = election(cluster, "--election-type", "preferred", "--topic", topic, "--partition", "7")
        unclean = election(cluster, "--election-type", "unclean", "--topic", topic, "--partition", "0")
        # bounce it again, then elect across every partition of the cluster
        bounce(cluster.broker(preferred))
        wait_until(lambda: preferred in state_of(zk_root, cluster, topic, partition)["isr"], 60,
                   what=f"broker {preferred} back in the ISR again")
        every = election(cluster, "--election-type", "preferred", "--all-topic-partitions")
        seen[cluster.kind] = dict(
            led_elsewhere=led_elsewhere,
            one=(one.returncode, elected(one.stdout, topic)),
            leader_after=leader_after == preferred,
            not_needed=(not_needed.returncode, elected(not_needed.stdout, topic)),
            missing=(missing.returncode != 0, elected(missing.stdout + missing.stderr, topic)),
            unclean=(unclean.returncode, elected(unclean.stdout, topic)),
            # the session clusters hold every other test's topics too, and their partitions'
            # leaders are not the same on both (brokers bounced at different moments): only this
            # topic's result is compared, not the exit code of the whole command
            every=(0, elected(every.stdout, topic)),
            leader_at_end=state_of(zk_root, cluster, topic, partition)["leader"] == preferred,
        )
        seen[cluster.kind + " partition"] = partition
    k = seen["kafka"]
    assert k["led_elsewhere"] and k["leader_after"] and k["leader_at_end"], k
    assert k["one"] == (0, {seen["kafka partition"]: "elected"}), k
    assert k["missing"][0] and k["missing"][1] == {7: "UnknownTopicOrPartitionException"}, k
    z = dict(seen["zkafka"])
    # partition numbers may differ between the clusters; compare what was said about them
    for key in ("one", "not_needed", "every"):
        z[key] = (z[key][0], sorted(z[key][1].values()))
        k[key] = (k[key][0], sorted(k[key][1].values()))
    assert z == k


# --------------------------------------------------------------------------------------------
# kafka-delete-records
# --------------------------------------------------------------------------------------------


def test_delete_records_as_kafka(zkafka_cluster, kafka_cluster, tmp_path):
    """kafka-delete-records moves the log start to the given offset: the tool prints the same
    low watermarks, the earliest offset is then that offset on every replica's leader, and an
    offset beyond the high watermark is refused as Kafka refuses it."""
    from helpers import ck_produce

    topic = unique_topic("delrec")
    plan = tmp_path / "delete.json"
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic, 2, 3)
        # keyed: the same partitions on both clusters
        ck_produce(cluster.bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(14)], acks="all")
        offsets = kafka_tool("kafka-get-offsets", "--bootstrap-server", cluster.bootstrap, "--topic",
                             topic, "--time", "-1").stdout
        ends = {int(l.split(":")[1]): int(l.split(":")[2]) for l in offsets.split()}
        plan.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "offset": 2},
            {"topic": topic, "partition": 1, "offset": -1},
        ]}))
        deleted = kafka_tool("kafka-delete-records", "--bootstrap-server", cluster.bootstrap,
                             "--offset-json-file", str(plan)).stdout
        earliest = kafka_tool("kafka-get-offsets", "--bootstrap-server", cluster.bootstrap, "--topic",
                              topic, "--time", "-2").stdout
        plan.write_text(json.dumps({"version": 1, "partitions": [
            {"topic": topic, "partition": 0, "offset": ends[0] + 5}]}))
        beyond = kafka_tool("kafka-delete-records", "--bootstrap-server", cluster.bootstrap,
                            "--offset-json-file", str(plan), check=False)
        said = [l.strip() for l in (beyond.stdout + beyond.stderr).splitlines() if "error" in l.lower()]
        seen[cluster.kind] = (ends, sorted(deleted.splitlines()), earliest.split(),
                              said[:1])
    ends, deleted, earliest, beyond = seen["kafka"]
    assert f"partition: {topic}-1\tlow_watermark: {ends[1]}" in deleted
    assert earliest == [f"{topic}:0:2", f"{topic}:1:{ends[1]}"]
    assert beyond and "OffsetOutOfRange" in beyond[0]
    assert seen["zkafka"] == seen["kafka"]


def log_start_checkpoint(broker, topic: str, partition: int) -> int | None:
    """The partition's entry in a broker's log-start-offset-checkpoint, if any."""
    path = broker.log_dir / "log-start-offset-checkpoint"
    if not path.exists():
        return None
    for line in path.read_text().splitlines()[2:]:
        t, p, offset = line.split()
        if (t, int(p)) == (topic, partition):
            return int(offset)
    return None


def test_delete_records_waits_for_the_followers(broker_factory, tmp_path):
    """DeleteRecords answers once every ISR member's log start moved: with the follower paused
    (still in the ISR) it times out (REQUEST_TIMED_OUT, as Kafka's DelayedDeleteRecords); with both
    fetching again, kafka-delete-records prints the requested offset as the low watermark, and
    the follower checkpoints that log start as the leader does."""
    from confluent_kafka import KafkaError, KafkaException, TopicPartition
    from confluent_kafka.admin import NewTopic
    from helpers import ck_produce

    props = {"log.flush.offset.checkpoint.interval.ms": 200}
    brokers = [broker_factory(i, overrides=props) for i in (1, 2)]
    topic = unique_topic("delfollow")
    admin = ck_admin(brokers[0].bootstrap)
    admin.create_topics([NewTopic(topic, 1, replica_assignment=[[1, 2]])])[topic].result(timeout=30)
    ck_produce(brokers[0].bootstrap, topic, [f"v{i}" for i in range(20)], acks="all")
    brokers[1].sigstop()
    try:
        future = admin.delete_records([TopicPartition(topic, 0, 5)], operation_timeout=1,
                                      request_timeout=20)
        with pytest.raises(KafkaException) as timed_out:
            next(iter(future.values())).result(timeout=30)
    finally:
        brokers[1].sigcont()
    assert timed_out.value.args[0].code() == KafkaError.REQUEST_TIMED_OUT, timed_out.value
    plan = tmp_path / "delete.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "offset": 12}]}))
    deleted = kafka_tool("kafka-delete-records", "--bootstrap-server", brokers[0].bootstrap,
                         "--offset-json-file", str(plan)).stdout
    assert f"partition: {topic}-0\tlow_watermark: 12" in deleted, deleted
    for b in brokers:
        wait_until(lambda b=b: log_start_checkpoint(b, topic, 0) == 12, 20,
                   what=f"broker {b.broker_id}'s log-start-offset-checkpoint at 12")


# --------------------------------------------------------------------------------------------
# kafka-log-dirs
# --------------------------------------------------------------------------------------------


def test_log_dirs_as_kafka(zkafka_cluster, kafka_cluster):
    """kafka-log-dirs --describe lists the same partitions in each broker's log dir, with their
    sizes (the bytes of their segment files), no lag and no future replicas."""
    from helpers import ck_produce

    topic = unique_topic("logdirs")
    seen = {}
    for cluster in both(zkafka_cluster, kafka_cluster):
        create_topic(cluster, topic, 2, 2)
        ck_produce(cluster.bootstrap, topic, [(f"k{i}", "v" * 100) for i in range(20)], acks="all")
        out = kafka_tool("kafka-log-dirs", "--bootstrap-server", cluster.bootstrap, "--describe",
                         "--topic-list", topic).stdout
        report = json.loads(out.strip().splitlines()[-1])
        described = {}
        for b in report["brokers"]:
            broker = cluster.broker(b["broker"])
            (log_dir,) = b["logDirs"]
            assert log_dir["logDir"] == str(broker.log_dir.resolve()), log_dir["logDir"]
            for p in log_dir["partitions"]:
                name, _, partition = p["partition"].rpartition("-")
                on_disk = sum(f.stat().st_size for f in broker.segment_files(name, int(partition)))
                # which brokers hold which partition depends on the random placement
                described.setdefault(p["partition"].replace(topic, "<t>"), []).append((
                    p["size"] == on_disk and p["size"] > 0, p["offsetLag"], p["isFuture"],
                    log_dir["error"]))
        seen[cluster.kind] = described
    assert seen["kafka"] == {f"<t>-{p}": [(True, 0, False, None)] * 2 for p in (0, 1)}
    assert seen["zkafka"] == seen["kafka"]
