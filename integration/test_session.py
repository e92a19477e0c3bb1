"""ZooKeeper session expiry and generated broker ids, seen from ZooKeeper and from clients."""

import json

import pytest

from helpers import kcat_consume, kcat_produce, unique_topic, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.timeout(90)]


def test_session_expiry_re_registers_and_re_elects(broker_factory, zk):
    """A broker paused past its session timeout loses its ephemerals; when it wakes up it builds a
    new session, registers again with a larger broker epoch, wins the election again, and serves."""
    b = broker_factory(1, overrides={"zookeeper.session.timeout.ms": 3000})
    topic = unique_topic("exp")
    kcat_produce(b.bootstrap, topic, ["before"])
    epoch_before = zk.exists("/brokers/ids/1").czxid
    controller_epoch_before = int(zk.get("/controller_epoch")[0])

    b.sigstop()
    try:
        wait_until(lambda: zk.exists("/brokers/ids/1") is None, timeout=20,
                   what="the paused broker's registration to expire")
        assert zk.exists("/controller") is None, "the controller znode went with the session"
    finally:
        b.sigcont()

    wait_until(lambda: zk.exists("/brokers/ids/1") is not None, timeout=30,
               what="the broker to register again after its session expired")
    stat = zk.exists("/brokers/ids/1")
    assert stat.czxid > epoch_before, "a new registration means a new broker epoch"
    assert stat.ephemeralOwner != 0 and stat.version == 1
    wait_until(lambda: zk.exists("/controller") is not None, timeout=30, what="a controller again")
    assert json.loads(zk.get("/controller")[0])["brokerid"] == 1
    assert int(zk.get("/controller_epoch")[0]) > controller_epoch_before

    kcat_produce(b.bootstrap, topic, ["after"])
    records = kcat_consume(b.bootstrap, topic, count=2)
    assert [r.value for r in records] == ["before", "after"]


def test_generated_broker_id_starts_at_1001_and_is_kept(broker_factory, zk):
    """broker.id unset: the id comes from /brokers/seqid (+ reserved.broker.max.id) and is stored in
    meta.properties, so a restart keeps it."""
    b = broker_factory(1, overrides={"broker.id": None}, wait=False)
    wait_until(lambda: zk.exists("/brokers/ids/1001") is not None, timeout=30,
               what="a broker registered under a generated id")
    meta = (b.log_dir / "meta.properties").read_text()
    assert "broker.id=1001" in meta
    b.sigterm()
    wait_until(lambda: zk.exists("/brokers/ids/1001") is None, timeout=15, what="deregistration")
    b.start(wait=False)
    wait_until(lambda: zk.exists("/brokers/ids/1001") is not None, timeout=30,
               what="the same generated id after a restart")
    assert zk.get_children("/brokers/ids") == ["1001"]
