"""A secured ZooKeeper (issue #12 items 4 and 6): zkafka authenticates with SASL DIGEST-MD5 from the
JAAS `Client` section that `KAFKA_OPTS=-Djava.security.auth.login.config=...` names (as Kafka's
scripts take it) and, with `zookeeper.set.acl=true`, creates its znodes with Kafka's secure ACLs:
the creator may do everything, the world may read (not under the sensitive /config/users).
"""
from __future__ import annotations

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import ACL, Id, Permissions

from conftest import BrokerFactory
from helpers import kcat_produce, unique_topic
from zk_process import ZooKeeper

pytestmark = [pytest.mark.security, pytest.mark.timeout(120)]

USER, PASSWORD = "kafka", "kafka-secret"
CREATOR_ALL = ACL(Permissions.ALL, Id("sasl", USER))
WORLD_READ = ACL(Permissions.READ, Id("world", "anyone"))


@pytest.fixture
def secure_zk(tmp_path):
    zk = ZooKeeper(tmp_path / "zk", sasl_users={USER: PASSWORD})
    zk.start()
    yield zk
    zk.stop()


def client_jaas(path, user: str = USER, password: str = PASSWORD) -> str:
    path.write_text("Client {\n    org.apache.zookeeper.server.auth.DigestLoginModule required\n"
                    f'    username="{user}"\n    password="{password}";\n}};\n')
    return f"-Djava.security.auth.login.config={path}"


def test_znodes_on_a_secured_zookeeper_are_read_only_to_others(secure_zk, tmp_path, monkeypatch):
    monkeypatch.setenv("KAFKA_OPTS", client_jaas(tmp_path / "jaas.conf"))
    factory = BrokerFactory(secure_zk, "/kafka", tmp_path)
    try:
        b = factory(1, overrides={"zookeeper.set.acl": "true"})
        topic = unique_topic("secure")
        kcat_produce(b.bootstrap, topic, ["a", "b"], partition=0)
        anonymous = KazooClient(hosts=secure_zk.hosts + "/kafka", timeout=10)
        anonymous.start(timeout=15)
        try:
            for path in ("/brokers/ids/1", f"/brokers/topics/{topic}", "/controller_epoch", "/config/changes"):
                acls, _ = anonymous.get_acls(path)
                assert sorted(acls, key=str) == sorted([CREATOR_ALL, WORLD_READ], key=str), (path, acls)
                anonymous.get(path)  # the world may read ...
            with pytest.raises(NoAuthError):  # ... but not change, add or delete
                anonymous.set(f"/brokers/topics/{topic}", b"{}")
            with pytest.raises(NoAuthError):
                anonymous.create("/brokers/topics/forged", b"{}")
            with pytest.raises(NoAuthError):
                anonymous.delete("/controller_epoch")
            with pytest.raises(NoAuthError):  # Kafka's sensitive path: not even world-readable
                anonymous.get_children("/config/users")
        finally:
            anonymous.stop()
            anonymous.close()
        kcat_produce(b.bootstrap, topic, ["c"], partition=0)
    finally:
        factory.close()


def test_set_acl_without_credentials_or_with_wrong_ones_stops_start_up(secure_zk, tmp_path, monkeypatch):
    factory = BrokerFactory(secure_zk, "/kafka-x", tmp_path)
    try:
        monkeypatch.delenv("KAFKA_OPTS", raising=False)
        b = factory(1, overrides={"zookeeper.set.acl": "true"}, wait=False)
        assert b.wait_exit(15) == 1
        assert "zookeeper.set.acl is true, but no JAAS Client section" in b.last_stderr_line()
        monkeypatch.setenv("KAFKA_OPTS", client_jaas(tmp_path / "bad.conf", password="wrong"))
        b = factory(2, overrides={"zookeeper.set.acl": "true", "zookeeper.connection.timeout.ms": "5000"},
                    wait=False)
        assert b.wait_exit(30) == 1
        assert "cannot connect to ZooKeeper" in b.last_stderr_line()
        assert "authentication failed" in b.last_stderr_line()
    finally:
        factory.close()
