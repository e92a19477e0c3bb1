"""Start-up errors a user makes, and clean shutdown.

A bad start-up must end the process with a non-zero exit within a bound, and stderr's last line
must be `zkafka: error: ...` naming the key, value or path at fault."""
import time

import pytest

from conftest import kazoo_client
from helpers import free_port, kcat_consume, kcat_produce, unique_topic

pytestmark = pytest.mark.startup

EXIT_BOUND_S = 10


def assert_fails_naming(b, *names, bound=EXIT_BOUND_S):
    t0 = time.monotonic()
    rc = b.wait_exit(bound)
    took = time.monotonic() - t0
    line = b.last_stderr_line()
    assert rc != 0, f"exit code {rc}; last line: {line!r}"
    assert line.startswith("zkafka: error:"), f"last stderr line should be 'zkafka: error: ...', got {line!r}"
    for n in names:
        assert n in line, f"{n!r} not named in {line!r}"
    return took


@pytest.mark.parametrize(
    "key,value",
    [
        ("num.partitions", "abc"),
        ("listeners", "garbage"),
        ("broker.id", "one"),
        ("log.segment.bytes", "12abc"),
        ("zookeeper.session.timeout.ms", "soon"),
        ("auto.create.topics.enable", "maybe"),
        ("message.max.bytes", "-1x"),
    ],
)
def test_bad_config_value_in_properties_file(broker_factory, key, value):
    b = broker_factory(1, overrides={key: value}, wait=False)
    assert_fails_naming(b, key, value)


def test_bad_config_value_given_with_override(broker_factory):
    b = broker_factory(1, cli_overrides={"num.partitions": "zero"}, wait=False)
    assert_fails_naming(b, "num.partitions", "zero")


def test_good_override_wins_over_the_file(broker_factory, zk):
    b = broker_factory(1, overrides={"num.partitions": "abc"}, cli_overrides={"num.partitions": "2"})
    topic = unique_topic("ovr")
    kcat_produce(b.bootstrap, topic, ["x"])
    assert sorted(zk.get_children(f"/brokers/topics/{topic}/partitions")) == ["0", "1"]


def test_override_without_equals_sign(broker_factory):
    b = broker_factory(1, start=False)
    b.extra_args = ["--override", "num.partitions"]
    b.start(wait=False)
    assert_fails_naming(b, "num.partitions")


def test_missing_zookeeper_connect(broker_factory):
    b = broker_factory(1, overrides={"zookeeper.connect": None}, wait=False)
    assert_fails_naming(b, "zookeeper.connect")


def test_missing_properties_file(broker_factory):
    b = broker_factory(1, start=False)
    b.write_props()
    b.props_path.unlink()
    b.write_props = lambda: None  # start() must not recreate it
    b.start(wait=False)
    assert_fails_naming(b, str(b.props_path))


def test_broker_id_already_registered(broker_factory):
    first = broker_factory(1)
    second = broker_factory(1, wait=False)
    assert_fails_naming(second, "/brokers/ids/1")
    assert first.running(), "the registered broker is not disturbed"


def test_unreachable_zookeeper(broker_factory):
    closed = free_port()
    b = broker_factory(
        1,
        overrides={"zookeeper.connect": f"127.0.0.1:{closed}/x", "zookeeper.connection.timeout.ms": 2000},
        wait=False,
    )
    took = assert_fails_naming(b, f"127.0.0.1:{closed}", bound=15)
    assert took >= 1.5, "gave up before zookeeper.connection.timeout.ms"


def test_log_dir_of_another_cluster(broker_factory, zookeeper):
    b = broker_factory(1)
    assert b.sigterm() == 0
    meta = b.log_dir / "meta.properties"
    assert meta.is_file(), "the broker writes meta.properties in its log dir"
    lines = [line for line in meta.read_text().splitlines() if not line.startswith("cluster.id=")]
    meta.write_text("\n".join(lines + ["cluster.id=AAAAAAAAAAAAAAAAAAAAAA"]) + "\n")
    b.start(wait=False)
    assert_fails_naming(b, "AAAAAAAAAAAAAAAAAAAAAA")
    line = b.last_stderr_line()
    assert str(b.log_dir) in line or "cluster.id" in line, line


def test_unwritable_log_dir(broker_factory, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    b = broker_factory(1, overrides={"log.dirs": str(blocker / "logs")}, wait=False)
    assert_fails_naming(b, str(blocker))


# --- shutdown --------------------------------------------------------------------------------


def test_sigterm_exits_zero_and_deregisters(broker_factory, zk):
    b = broker_factory(1)
    topic = unique_topic("term")
    kcat_produce(b.bootstrap, topic, ["before-term"])
    assert zk.exists("/brokers/ids/1") is not None
    t0 = time.monotonic()
    rc = b.sigterm(timeout=10)
    took = time.monotonic() - t0
    assert rc == 0, f"exit {rc} after SIGTERM"
    assert took < 8, f"shutdown took {took:.1f}s"
    assert zk.exists("/brokers/ids/1") is None, "registration must go with the closed session"
    assert zk.exists("/controller") is None
    # the data was flushed: it is all there after a restart
    b.restart()
    assert [r.value for r in kcat_consume(b.bootstrap, topic)] == ["before-term"]


def test_sigterm_while_clients_are_connected(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("busy")
    kcat_produce(b.bootstrap, topic, [f"v{i}" for i in range(100)])
    from helpers import ck_consumer
    from confluent_kafka import TopicPartition

    c = ck_consumer(b.bootstrap)
    c.assign([TopicPartition(topic, 0, 0)])
    c.poll(1.0)  # an open connection, a long-poll fetch in flight
    try:
        assert b.sigterm(timeout=10) == 0
    finally:
        c.close()


def test_restart_keeps_registration_and_controller(broker_factory, zookeeper):
    b = broker_factory(1)
    zk = kazoo_client(zookeeper.hosts + b.chroot)
    try:
        czxid_1 = zk.exists("/brokers/ids/1").czxid
        b.restart()
        czxid_2 = zk.exists("/brokers/ids/1").czxid
        assert czxid_2 > czxid_1, "a new registration (broker epoch) after a restart"
        assert int(zk.get("/controller_epoch")[0]) == 2
    finally:
        zk.stop()
        zk.close()
