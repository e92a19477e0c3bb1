"""Checks of the harness itself: these need ZooKeeper, kcat and the Python clients, not a broker."""
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from kazoo.exceptions import NoNodeError

from conftest import Broker, BrokerFactory, broker_binary, kazoo_client
from helpers import free_port, port_accepts, wait_until
from wire import request_frame
from zk_process import ZooKeeper

pytestmark = pytest.mark.harness


def test_zookeeper_starts_answers_restarts_and_stops(tmp_path):
    zk = ZooKeeper(tmp_path / "zk")
    zk.start()
    try:
        assert zk.ruok()
        assert "Mode: standalone" in zk.four_letter("srvr")
        client = kazoo_client(zk.hosts)
        client.create("/kept", b"data", makepath=True)
        client.stop()
        client.close()

        pid = zk.pid
        zk.restart()
        assert zk.pid != pid
        assert zk.ruok()
        client = kazoo_client(zk.hosts)
        assert client.get("/kept")[0] == b"data", "data must survive a restart"
        client.stop()
        client.close()
    finally:
        zk.stop()
    assert not zk.running()
    assert zk.proc.returncode is not None
    assert not port_accepts("127.0.0.1", zk.port)


def test_shared_zookeeper_and_chroot_clients(zookeeper, zk, zk_root, chroot):
    assert zookeeper.ruok()
    assert chroot.startswith("/it/")
    assert zk_root.exists(chroot) is None, "a test's chroot must not exist before its brokers create it"
    with pytest.raises(NoNodeError):
        zk.get("/brokers/ids")
    zk_root.create(chroot + "/x", b"1", makepath=True)
    assert zk.get("/x")[0] == b"1"
    zk_root.delete(chroot, recursive=True)


def test_broker_factory_writes_properties(zookeeper, chroot, tmp_path):
    factory = BrokerFactory(zookeeper, chroot, tmp_path)
    try:
        b = factory(
            2,
            overrides={"num.partitions": 3, "auto.create.topics.enable": None},
            cli_overrides={"log.retention.ms": "1000"},
            start=False,
        )
        assert isinstance(b, Broker)
        b.write_props()
        text = b.props_path.read_text()
        assert "broker.id=2\n" in text
        assert "num.partitions=3\n" in text
        assert "auto.create.topics.enable" not in text
        assert f"zookeeper.connect=127.0.0.1:{zookeeper.port}{chroot}\n" in text
        assert f"listeners=PLAINTEXT://127.0.0.1:{b.port}\n" in text
        assert b.bootstrap == f"127.0.0.1:{b.port}"
        assert b.registration_path == f"{chroot}/brokers/ids/2"
        assert b.cli_overrides == [("log.retention.ms", "1000")]
        b2 = factory(3, start=False, chroot="/other")
        assert b2.registration_path == "/other/brokers/ids/3" and b2.zk_connect.endswith(":" + str(zookeeper.port) + "/other")
        assert b2.port != b.port and b2.log_dir != b.log_dir
    finally:
        factory.close()


def test_broker_factory_reports_a_broker_that_exits(zookeeper, chroot, tmp_path, monkeypatch):
    """A binary that exits at once must fail start-up fast with its output, not hang."""
    fake = tmp_path / "fake-zkafka"
    fake.write_text("#!/bin/sh\necho 'zkafka: error: fake broker' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ZKAFKA_BIN", str(fake))
    factory = BrokerFactory(zookeeper, chroot, tmp_path / "f")
    (tmp_path / "f").mkdir()
    try:
        with pytest.raises(AssertionError, match="exited with 3"):
            factory(1, timeout=10)
        b = factory.brokers[0]
        assert b.returncode == 3
        assert b.last_stderr_line() == "zkafka: error: fake broker"
    finally:
        factory.close()


def test_clients_are_installed():
    assert shutil.which("kcat"), "kcat missing: scripts/install-deps.sh installs it"
    v = subprocess.run(["kcat", "-V"], capture_output=True, text=True, timeout=10)
    assert "librdkafka" in v.stdout + v.stderr
    import confluent_kafka
    import jsonschema  # noqa: F401
    import kafka  # noqa: F401

    assert confluent_kafka.libversion()[1] >= 0x02000000


def test_request_frame_layout():
    f = request_frame(18, 0, 7, "it")
    assert f == b"\x00\x00\x00\x0c" + b"\x00\x12\x00\x00\x00\x00\x00\x07\x00\x02it"


def test_free_port_is_free():
    p = free_port()
    assert not port_accepts("127.0.0.1", p)


def test_broker_binary_path(monkeypatch):
    monkeypatch.delenv("ZKAFKA_BIN", raising=False)
    assert broker_binary().name == "zkafka"
    monkeypatch.setenv("ZKAFKA_BIN", "/some/where/zkafka-build")
    assert str(broker_binary()) == "/some/where/zkafka-build"


# --- the broker fixture, driven with a stand-in broker (integration/fake_broker.py) -----------

FAKE = Path(__file__).resolve().parent / "fake_broker.py"


@pytest.fixture
def fake_factory(broker_factory, monkeypatch):
    monkeypatch.setenv("ZKAFKA_BIN", str(FAKE))
    return broker_factory


def test_fixture_starts_waits_and_sigterms(fake_factory, zk):
    b = fake_factory(1, overrides={"num.partitions": 3})
    assert b.running()
    assert zk.exists("/brokers/ids/1").ephemeralOwner != 0
    assert port_accepts(b.host, b.port)
    assert "fake broker 1 up" in b.log_text()
    assert b.sigterm(timeout=10) == 0
    assert b.returncode == 0
    assert zk.exists("/brokers/ids/1") is None


def test_fixture_kill9_then_restart_waits_for_session_expiry(fake_factory, zk):
    b = fake_factory(1)
    czxid = zk.exists("/brokers/ids/1").czxid
    b.kill9()
    assert b.returncode == -9
    assert zk.exists("/brokers/ids/1") is not None, "a killed broker's registration outlives it"
    b.restart()
    assert zk.exists("/brokers/ids/1").czxid > czxid
    assert b.starts == 2
    assert b.log_text().count("===== start #") == 2


def test_fixture_sigstop_sigcont_and_restart_of_a_running_broker(fake_factory):
    b = fake_factory(1)
    b.sigstop()
    time.sleep(0.3)
    assert b.running()
    b.sigcont()
    b.restart()
    assert b.running() and b.starts == 2


def test_fixture_start_up_error_and_last_line(fake_factory):
    b = fake_factory(1, overrides={"num.partitions": "abc"}, wait=False)
    assert b.wait_exit(10) == 1
    assert b.last_stderr_line() == "zkafka: error: invalid value 'abc' for num.partitions: not an integer"
    b2 = fake_factory(2, overrides={"zookeeper.connect": None}, wait=False)
    assert b2.wait_exit(10) == 1
    assert "zookeeper.connect" in b2.last_stderr_line()


def test_fixture_duplicate_id_and_stopped_broker_teardown(fake_factory):
    first = fake_factory(1)
    second = fake_factory(1, wait=False)
    assert second.wait_exit(15) == 1
    assert "/brokers/ids/1" in second.last_stderr_line()
    first.sigstop()  # teardown must still stop a frozen broker


def test_zookeeper_restart_under_a_running_broker(fake_factory, zookeeper, zk):
    """ZooKeeper.restart() on the shared server: sessions survive a short outage."""
    b = fake_factory(1)
    zookeeper.restart()
    assert zookeeper.serving()
    wait_until(lambda: zk.exists("/brokers/ids/1") is not None, timeout=15, what="registration after restart")
    assert b.running()


# --- the zk-schema checker -------------------------------------------------------------------

SYNTHETIC_README = """# zk-schema
| path pattern | kind | encoding | schema |
| --- | --- | --- | --- |
| `/brokers` | persistent | text | `empty.json` |
| `/brokers/ids` | persistent | text | `empty.json` |
| `/brokers/ids/<id>` | ephemeral | json | `reg.json` |
| `/config/changes/config_change_<seq>` | persistent-sequential | json | `reg.json` |
| `/controller_epoch` | persistent | text | `epoch.json` |

- `/brokers/ids/1`: `{"version":5,"port":9092}`
"""


def _synthetic_schemas(tmp_path):
    import json as _json

    d = tmp_path / "zk-schema"
    d.mkdir()
    (d / "README.md").write_text(SYNTHETIC_README)
    s = "https://json-schema.org/draft/2020-12/schema"
    (d / "empty.json").write_text(_json.dumps({"$schema": s, "type": "string", "maxLength": 0}))
    (d / "epoch.json").write_text(_json.dumps({"$schema": s, "type": "string", "pattern": "^[0-9]+$"}))
    (d / "reg.json").write_text(_json.dumps({
        "$schema": s, "type": "object", "required": ["version", "port"],
        "properties": {"version": {"const": 5}, "port": {"type": "integer"}}}))
    return d


def test_zk_schema_checker_on_a_synthetic_schema_dir(tmp_path, zk_root, chroot):
    from zkschema import ZkSchemas

    schemas = ZkSchemas(_synthetic_schemas(tmp_path))
    assert [r.pattern for r in schemas.rows][:3] == ["/brokers", "/brokers/ids", "/brokers/ids/<id>"]
    assert schemas.row_for("/brokers/ids/12").schema_file == "reg.json"
    assert schemas.row_for("/config/changes/config_change_0000000012").schema_file == "reg.json"
    assert schemas.row_for("/config/changes/other_0000000012") is None
    assert schemas.row_for("/brokers/ids/1/x") is None
    ok = schemas.check("/brokers/ids/1", b'{"version":5,"port":9092}', ephemeral=True)
    assert ok == []
    assert schemas.check("/brokers/ids", b"", ephemeral=False) == []
    assert schemas.check("/controller_epoch", b"3", ephemeral=False) == []
    assert schemas.check("/zkafka/anything", b"??", ephemeral=False) == []
    problems = (
        schemas.check("/brokers/ids/1", b'{"version": 5, "port": 9092}', ephemeral=True)
        + schemas.check("/brokers/ids/2", b'{"version":4,"port":9092}', ephemeral=False)
        + schemas.check("/brokers/ids", b"{}", ephemeral=False)
        + schemas.check("/controller_epoch", b"-1", ephemeral=False)
        + schemas.check("/nobody/knows", b"x", ephemeral=False)
        + schemas.check("/brokers/ids/3", b"not json", ephemeral=True)
    )
    text = "\n".join(problems)
    for expect in ("not compact", "is persistent, /brokers/ids/<id> is ephemeral", "5 was expected",
                   "/brokers/ids vs empty.json", "/controller_epoch vs epoch.json", "matches no row",
                   "/brokers/ids/3: not JSON"):
        assert expect in text, f"{expect!r} not reported in:\n{text}"
    assert schemas.examples() == [("/brokers/ids/1", b'{"version":5,"port":9092}')]

    # the walk over a live tree, as test_zk_layout does it
    from test_zk_layout import walk

    zk_root.create(chroot + "/brokers/ids/1", b'{"version":5,"port":1}', makepath=True, ephemeral=True)
    zk_root.create(chroot + "/controller_epoch", b"1")
    paths = [p[len(chroot):] for p in walk(zk_root, chroot)]
    assert paths == ["/brokers", "/brokers/ids", "/brokers/ids/1", "/controller_epoch"]
    problems = []
    for p in paths:
        data, stat = zk_root.get(chroot + p)
        problems += schemas.check(p, data, stat.ephemeralOwner != 0)
    assert problems == []
    zk_root.delete(chroot, recursive=True)


def test_zk_schema_examples_validate_against_the_real_schemas():
    """zk-schema/README.md's examples ("exactly what zkafka writes") match their own schemas."""
    from zkschema import SCHEMA_DIR, ZkSchemas

    if not (SCHEMA_DIR / "README.md").is_file():
        pytest.skip(f"{SCHEMA_DIR} is not in this tree yet (another engineer's part)")
    schemas = ZkSchemas()
    examples = schemas.examples()
    assert examples, "zk-schema/README.md has no examples to check"
    problems = []
    for path, data in examples:
        row = schemas.row_for(path)
        assert row is not None, f"example {path} matches no row"
        problems += schemas.check(path, data, ephemeral=row.kind == "ephemeral")
    assert not problems, "\n".join(problems)
