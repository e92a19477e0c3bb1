"""The ZooKeeper layout, read with kazoo as Kafka tools would read it (see docs/zk-layout.md).
Every znode the broker writes must match the JSON Schema that zk-schema/README.md maps its path to."""
import json
import re
import time

import pytest
from kazoo.exceptions import NoNodeError

from conftest import read_json
from zkschema import ZkSchemas
from helpers import ck_admin, ck_consumer, ck_produce, kcat_consume, kcat_metadata, kcat_produce, unique_topic, wait_until

pytestmark = pytest.mark.zk

PERSISTENT_PATHS = [
    "/consumers", "/brokers/ids", "/brokers/topics", "/brokers/seqid", "/config/changes",
    "/config/topics", "/config/clients", "/config/users", "/config/brokers", "/config/ips",
    "/admin/delete_topics", "/isr_change_notification", "/latest_producer_id_block",
    "/log_dir_event_notification",
]
B64URL_UUID = re.compile(r"^[A-Za-z0-9_-]{22}$")


def compact(data: bytes) -> bool:
    """Kafka's JSON is compact: re-serialising without spaces gives the same bytes."""
    return json.dumps(json.loads(data), separators=(",", ":"), ensure_ascii=False).encode() == data


def read_meta_properties(log_dir):
    props = {}
    for line in (log_dir / "meta.properties").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            props[k.strip()] = v.strip()
    return props


def walk(client, path="/"):
    try:
        children = client.get_children(path)
    except NoNodeError:
        return
    for c in sorted(children):
        child = ("" if path == "/" else path) + "/" + c
        yield child
        yield from walk(client, child)


# --- the layout ------------------------------------------------------------------------------


def test_persistent_paths_broker_registration_controller_and_cluster_id(broker, zk):
    for p in PERSISTENT_PATHS:
        stat = zk.exists(p)
        assert stat is not None, f"{p} missing"
        assert stat.ephemeralOwner == 0, f"{p} must be persistent"
        assert zk.get(p)[0] == b"", f"{p} must hold no data"

    data, stat = zk.get("/brokers/ids/1")
    assert stat.ephemeralOwner != 0, "/brokers/ids/1 must be ephemeral"
    assert stat.version == 1, "registered as multi{create empty, setData}: dataVersion 1"
    assert compact(data)
    reg = json.loads(data)
    assert reg["version"] == 5
    assert reg["endpoints"] == [f"PLAINTEXT://127.0.0.1:{broker.port}"]
    assert reg["host"] == "127.0.0.1" and reg["port"] == broker.port
    assert reg["listener_security_protocol_map"] == {"PLAINTEXT": "PLAINTEXT"}
    assert reg["jmx_port"] == -1 and reg["features"] == {}
    assert "rack" not in reg
    assert isinstance(reg["timestamp"], str) and abs(int(reg["timestamp"]) / 1000 - time.time()) < 600

    ctrl, cstat = read_json(zk, "/controller")
    assert ctrl["brokerid"] == 1 and ctrl["version"] in (1, 2)
    assert isinstance(ctrl["timestamp"], str)
    assert cstat.ephemeralOwner != 0, "/controller must be ephemeral"
    epoch, estat = zk.get("/controller_epoch")
    assert re.fullmatch(rb"\d+", epoch), epoch
    assert estat.ephemeralOwner == 0
    assert int(epoch) == 1 and estat.version == 1, "fresh cluster: first election makes epoch 1"

    cid, _ = read_json(zk, "/cluster/id")
    assert cid["version"] == "1"
    assert B64URL_UUID.match(cid["id"]), cid
    meta = read_meta_properties(broker.log_dir)
    assert meta.get("cluster.id") == cid["id"], "meta.properties names the cluster in ZooKeeper"
    assert meta.get("broker.id") == "1"


def test_topic_znodes_after_auto_create(broker, zk):
    topic = unique_topic("layout")
    kcat_produce(broker.bootstrap, topic, ["a", "b", "c"])
    data, stat = zk.get(f"/brokers/topics/{topic}")
    assert stat.ephemeralOwner == 0 and compact(data)
    t = json.loads(data)
    assert t["version"] == 3
    assert B64URL_UUID.match(t["topic_id"])
    assert t["partitions"] == {"0": [1], "1": [1], "2": [1]}
    assert t["adding_replicas"] == {} and t["removing_replicas"] == {}
    assert zk.get(f"/brokers/topics/{topic}/partitions")[0] == b""
    epoch = int(zk.get("/controller_epoch")[0])
    for p in range(3):
        assert zk.get(f"/brokers/topics/{topic}/partitions/{p}")[0] == b""
        sdata, sstat = zk.get(f"/brokers/topics/{topic}/partitions/{p}/state")
        assert compact(sdata)
        state = json.loads(sdata)
        assert state == {"controller_epoch": epoch, "leader": 1, "version": 1, "leader_epoch": 0, "isr": [1]}
        assert sstat.ephemeralOwner == 0
    cdata, _ = zk.get(f"/config/topics/{topic}")
    assert json.loads(cdata) == {"version": 1, "config": {}} and compact(cdata)


def test_every_znode_matches_zk_schema(broker, zk):
    schemas = ZkSchemas()
    topic = unique_topic("schema")
    kcat_produce(broker.bootstrap, topic, ["x", "y"])
    wait_until(lambda: zk.exists(f"/brokers/topics/{topic}/partitions/2/state"), timeout=15,
               what="partition state znodes")
    # An idempotent producer reserves a producer id block; a group commit with metadata writes the
    # offset znode and its /zkafka/ extras.
    ck_produce(broker.bootstrap, topic, ["z"], **{"enable.idempotence": True})
    group = unique_topic("schema-group")
    from confluent_kafka import TopicPartition
    c = ck_consumer(broker.bootstrap, **{"group.id": group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 1, metadata="m")], asynchronous=False)
    finally:
        c.close()
    checked, problems = [], []
    for path in walk(zk):
        try:
            data, stat = zk.get(path)
        except NoNodeError:
            continue  # vanished while walking (an ephemeral node)
        problems += schemas.check(path, data, stat.ephemeralOwner != 0)
        checked.append(path)
    assert not problems, "\n".join(problems)
    for must in ["/brokers/ids/1", "/controller", "/controller_epoch", "/cluster/id",
                 f"/brokers/topics/{topic}", f"/brokers/topics/{topic}/partitions/0/state",
                 f"/config/topics/{topic}", *PERSISTENT_PATHS,
                 f"/consumers/{group}/offsets/{topic}/0",
                 f"/zkafka/consumers/{group}/offsets/{topic}/0"]:
        assert must in checked, f"{must} was not checked"


def test_topic_created_directly_in_zookeeper_is_picked_up(broker, zk):
    topic = unique_topic("direct")
    zk.create(f"/brokers/topics/{topic}", b'{"version":1,"partitions":{"0":[1]}}')
    state = wait_until(lambda: zk.exists(f"/brokers/topics/{topic}/partitions/0/state"), timeout=20,
                       what="the controller to elect a leader for a topic written to ZooKeeper")
    assert state
    s, _ = read_json(zk, f"/brokers/topics/{topic}/partitions/0/state")
    assert s["leader"] == 1 and s["isr"] == [1]
    t = wait_until(lambda: (lambda d: "topic_id" in d and d)(read_json(zk, f"/brokers/topics/{topic}")[0]),
                   timeout=10, what="the controller to add a topic_id")
    assert B64URL_UUID.match(t["topic_id"]) and t["partitions"] == {"0": [1]}
    wait_until(lambda: f'topic "{topic}" with 1 partitions' in kcat_metadata(broker.bootstrap, topic),
               timeout=15, what="the topic in Metadata")
    kcat_produce(broker.bootstrap, topic, ["one", "two"])
    assert [r.value for r in kcat_consume(broker.bootstrap, topic)] == ["one", "two"]


def test_delete_topics_removes_znodes_and_data(broker_factory, zk):
    b = broker_factory(1, overrides={"num.partitions": 2, "file.delete.delay.ms": 500})
    topic = unique_topic("del")
    kcat_produce(b.bootstrap, topic, ["a", "b", "c", "d"])
    assert b.partition_dir(topic, 0).is_dir() and b.partition_dir(topic, 1).is_dir()
    admin = ck_admin(b.bootstrap)  # keep the handle alive until the result is in
    futures = admin.delete_topics([topic], operation_timeout=15)
    futures[topic].result(timeout=20)
    for p in (f"/brokers/topics/{topic}", f"/config/topics/{topic}", f"/admin/delete_topics/{topic}"):
        wait_until(lambda p=p: zk.exists(p) is None, timeout=20, what=f"{p} to be deleted")
    wait_until(lambda: not [d for d in b.log_dir.iterdir() if d.name.startswith(topic + "-")],
               timeout=30, what=f"{topic}'s partition directories (and any *-delete ones) to go")
    meta = kcat_metadata(b.bootstrap)
    assert f'topic "{topic}"' not in meta


def test_missing_chroot_is_created_and_holds_everything(broker_factory, zk_root, chroot):
    deep = chroot + "/nested/kafka"
    root_before = set(zk_root.get_children("/"))
    assert zk_root.exists(chroot) is None
    broker_factory(1, chroot=deep)
    for p in ("", "/nested"):
        stat = zk_root.exists(chroot + p)
        assert stat is not None and stat.ephemeralOwner == 0
        assert zk_root.get(chroot + p)[0] == b"", "a created chroot is empty"
    assert zk_root.exists(deep + "/brokers/ids/1") is not None
    assert zk_root.exists(deep + "/controller") is not None
    assert zk_root.exists(deep + "/cluster/id") is not None
    for p in ("/brokers", "/controller", "/cluster", "/config"):
        assert zk_root.exists(p) is None or p[1:] in root_before, f"{p} written outside the chroot"
    assert set(zk_root.get_children("/")) <= root_before | {"it"}
