"""Names never escape (issue #11 item 2): topic names that are absolute paths, `../x`, `a b` or 250
characters, through every request, znode and checkpoint file they can come from, create and delete
nothing outside a log dir; malformed znodes are skipped with one log line and never make the
controller resign in a loop.
"""
from __future__ import annotations

import json
import time

import pytest

from helpers import kcat_produce, unique_topic, wait_until
from hostile import (
    LEADER_AND_ISR,
    STOP_REPLICA,
    UPDATE_METADATA,
    INVALID_TOPIC_EXCEPTION,
    UNKNOWN_TOPIC_OR_PARTITION,
    controller,
    broker_epoch,
    stop_replica_v1,
    leader_and_isr_v2,
    update_metadata_v5,
    consume_values,
    escaping_names,
    create_topics_v1,
    offset_commit_v2,
)
from test_cluster import create_topic, start_cluster, state
from wire import WireReader, karray, kstr, raw_call, raw_produce

pytestmark = [pytest.mark.hostile, pytest.mark.timeout(240)]


def lai_v2_errors(r: WireReader) -> tuple[int, list[tuple[str, int, int]]]:
    top = r.int16()
    return top, r.array(lambda q: (q.string(), q.int32(), q.int16()))


def test_illegal_topic_names_in_control_requests_touch_no_path(broker, zk, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = broker.log_dir.parent / "escaped-0"
    victim.mkdir()
    (victim / "keep").write_text("precious")
    before_outside = sorted(p.name for p in outside.iterdir())
    before_parent = sorted(p.name for p in broker.log_dir.parent.iterdir())
    kcat_produce(broker.bootstrap, unique_topic("warm"), ["x"], partition=0)  # a controller is confirmed
    cid, epoch = controller(zk)
    bep = broker_epoch(zk, broker.broker_id)
    for name in escaping_names(outside):
        # the real controller's id and epochs: only the name is wrong
        body = leader_and_isr_v2(cid, epoch, bep, name, 0, leader=broker.broker_id, leader_epoch=1,
                                 replicas=[broker.broker_id], host=broker.host, port=broker.port)
        top, parts = lai_v2_errors(raw_call(broker.host, broker.port, LEADER_AND_ISR, 2, body))
        assert top == 0 and parts == [(name, 0, INVALID_TOPIC_EXCEPTION)], name
        r = raw_call(broker.host, broker.port, STOP_REPLICA, 1, stop_replica_v1(cid, epoch, bep, name, [0]))
        assert r.int16() == 0
        assert r.array(lambda q: (q.string(), q.int32(), q.int16())) == [(name, 0, INVALID_TOPIC_EXCEPTION)]
        r = raw_call(broker.host, broker.port, UPDATE_METADATA, 5,
                     update_metadata_v5(cid, epoch, bep, name, 0, leader=broker.broker_id,
                                        live=(broker.broker_id, broker.host, broker.port)))
        assert r.int16() == 0
    assert (victim / "keep").read_text() == "precious"
    assert sorted(p.name for p in outside.iterdir()) == before_outside
    assert sorted(p.name for p in broker.log_dir.parent.iterdir()) == before_parent
    assert not any(" " in p.name or len(p.name) > 249 for p in broker.log_dir.iterdir())
    from helpers import ck_admin

    md = ck_admin(broker.bootstrap).list_topics(timeout=10)
    assert not set(md.topics) & set(escaping_names(outside))
    # a legal topic still works end to end
    topic = unique_topic("after")
    kcat_produce(broker.bootstrap, topic, ["ok"], partition=0)
    assert consume_values(broker.bootstrap, topic) == ["ok"]


def test_illegal_topic_names_from_clients_create_nothing(broker, zk, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    names = escaping_names(outside)
    before_parent = sorted(p.name for p in broker.log_dir.parent.iterdir())
    group = unique_topic("g")
    raw_call(broker.host, broker.port, 10, 0, kstr(group))  # FindCoordinator: creates __consumer_offsets
    wait_until(lambda: raw_call(broker.host, broker.port, 10, 0, kstr(group)).int16() == 0, 30,
               what="the group coordinator")
    before_dirs = sorted(p.name for p in broker.log_dir.iterdir())
    for name in names:
        err, _ = create_topics_v1(broker, name, 1, 1)
        assert err == INVALID_TOPIC_EXCEPTION, name
        # Metadata v4 with auto-creation allowed
        body = karray([name], kstr) + b"\x01"
        r = raw_call(broker.host, broker.port, 3, 4, body)
        r.int32()
        r.array(lambda q: (q.int32(), q.string(), q.int32(), q.string()))
        r.string()
        r.int32()
        assert r.int32() == 1
        assert (r.int16(), r.string()) == (INVALID_TOPIC_EXCEPTION, name)
        err, _ = raw_produce(broker.host, broker.port, name, 0, ["x"], acks=1)
        assert err == UNKNOWN_TOPIC_OR_PARTITION, name
        assert offset_commit_v2(broker, group, name, [0]) == [(0, UNKNOWN_TOPIC_OR_PARTITION)], name
    assert sorted(p.name for p in broker.log_dir.iterdir()) == before_dirs
    assert sorted(p.name for p in broker.log_dir.parent.iterdir()) == before_parent
    assert list(outside.iterdir()) == []
    assert not set(zk.get_children("/brokers/topics")) & set(names)
    assert not zk.exists(f"/consumers/{group}/offsets")


def test_malformed_and_illegal_topic_znodes_are_skipped_without_controller_churn(broker_factory, zk):
    brokers = start_cluster(broker_factory)
    epoch_before = controller(zk)
    zk.create("/brokers/topics/broken", b"{")
    zk.create("/brokers/topics/wrong-version", json.dumps({"version": 99, "partitions": {"0": [1]}}).encode())
    zk.create("/brokers/topics/a b", json.dumps({"version": 2, "partitions": {"0": [1]}}).encode())
    zk.create("/brokers/topics/" + "y" * 250, json.dumps({"version": 2, "partitions": {"0": [1]}}).encode())
    topic = unique_topic("fine")
    create_topic(brokers, zk, topic, partitions=2, rf=3)
    time.sleep(3)
    # no resignation, no re-election loop: the same controller in the same epoch
    assert controller(zk) == epoch_before
    for b in brokers.values():
        assert not any(p.name.startswith(("broken", "wrong-version", "a b", "yyy")) for p in b.log_dir.iterdir())
    ctl = brokers[epoch_before[0]]
    log = ctl.log_text()
    # logged once, although the topic set changed several times since
    assert log.count("skipping a malformed znode") == 1
    assert log.count("skipping a topic znode of an unknown version") == 1
    assert "not legal topic names" in log
    kcat_produce(ctl.bootstrap, topic, ["a", "b"], partition=1)
    assert consume_values(ctl.bootstrap, topic, 1) == ["a", "b"]
    # a topic overwritten with garbage keeps being served as the controller last read it
    zk.set(f"/brokers/topics/{topic}", b"{")
    time.sleep(2)
    assert controller(zk) == epoch_before
    kcat_produce(ctl.bootstrap, topic, ["c"], partition=1)
    assert consume_values(ctl.bootstrap, topic, 1) == ["a", "b", "c"]
    # a malformed topic written again properly becomes a topic
    zk.set("/brokers/topics/broken", json.dumps({"version": 2, "partitions": {"0": [1, 2]}}).encode())
    wait_until(lambda: zk.exists("/brokers/topics/broken/partitions/0/state")
               and state(zk, "broken", 0)["leader"] in (1, 2), 20, what="the repaired topic's leader")
    kcat_produce(ctl.bootstrap, "broken", ["fixed"], partition=0)
    assert consume_values(ctl.bootstrap, "broken") == ["fixed"]
    assert controller(zk) == epoch_before


def test_malformed_partition_state_does_not_stop_a_new_controller(broker_factory, zk):
    b = broker_factory(1, overrides={"num.partitions": 2})
    topic = unique_topic("ps")
    kcat_produce(b.bootstrap, topic, ["a"], partition=0)
    wait_until(lambda: zk.exists(f"/brokers/topics/{topic}/partitions/1/state"), 10)
    zk.set(f"/brokers/topics/{topic}/partitions/1/state", b"{")
    _, epoch = controller(zk)
    # a restart makes the broker load every partition state as a new controller
    b.sigterm()
    b.start()
    wait_until(lambda: zk.exists("/controller"), 20, what="a controller")
    time.sleep(3)
    assert controller(zk) == (1, epoch + 1), "the controller resigned and was elected again"
    assert b.log_text().count("skipping a malformed znode") == 1
    kcat_produce(b.bootstrap, topic, ["b"], partition=0)
    assert consume_values(b.bootstrap, topic) == ["a", "b"]
    assert zk.get(f"/brokers/topics/{topic}/partitions/1/state")[0] == b"{"


def test_illegal_names_in_checkpoint_files_are_skipped(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("cp")
    kcat_produce(b.bootstrap, topic, ["a", "b"], partition=0)
    b.sigterm()
    cp = b.log_dir / "recovery-point-offset-checkpoint"
    lines = cp.read_text().splitlines()
    entries = lines[2:] + ["../../etc 0 5", "/abs 0 3", "z" * 250 + " 0 1"]
    cp.write_text("\n".join(["0", str(len(entries)), *entries]) + "\n")
    b.start()
    assert consume_values(b.bootstrap, topic) == ["a", "b"]
    assert "skipping checkpoint entries with illegal topic names" in b.log_text()
