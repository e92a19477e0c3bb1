"""ACLs (issue #12 items 3 and 6): `authorizer.class.name=kafka.security.authorizer.AclAuthorizer`
deciding from ACLs in Kafka's ZooKeeper layout, written straight into ZooKeeper or by Kafka's own
`kafka-acls`, on a running broker.

Until the TLS/SASL listeners give connections other principals, every client here is
`User:ANONYMOUS`; the tests tell clients apart by ACLs that name the principal (allowed on one
topic, denied on another), by prefixed ACLs, and by host: the broker's own traffic and the clients
come from 127.0.0.1, a "foreign" client connects from 127.0.0.2 (loopback, so no network needed).
"""
from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from helpers import ck_admin, unique_topic, wait_until
from test_hostile_control import fetch_v4, fetch_v4_errors
from hostile import LEADER_AND_ISR, broker_epoch, controller, leader_and_isr_v2, top_error
from wire import raw_call, raw_list_offsets, raw_produce

pytestmark = [pytest.mark.security, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parent.parent
FETCH = 1
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31
AUTHORIZER = {"authorizer.class.name": "kafka.security.authorizer.AclAuthorizer"}


def acl(principal: str, op: str, permission: str = "Allow", host: str = "*") -> dict:
    return {"principal": principal, "permissionType": permission, "operation": op, "host": host}


def write_acls(zk, resource_type: str, name: str, acls: list[dict], prefixed: bool = False) -> None:
    """What Kafka's AclAuthorizer writes: the resource znode, then a change notification."""
    root = "/kafka-acl-extended/prefixed" if prefixed else "/kafka-acl"
    data = json.dumps({"version": 1, "acls": acls}).encode()
    path = f"{root}/{resource_type}/{name}"
    if zk.exists(path):
        zk.set(path, data)
    else:
        zk.create(path, data, makepath=True)
    if prefixed:
        change = json.dumps({"version": 1, "resourceType": resource_type.upper(), "name": name,
                             "patternType": "PREFIXED"}).encode()
        zk.create("/kafka-acl-extended-changes/acl_changes_", change, sequence=True, makepath=True)
    else:
        zk.create("/kafka-acl-changes/acl_changes_", f"{resource_type.upper()}:{name}".encode(),
                  sequence=True, makepath=True)


def broker_acls(zk) -> None:
    """The broker's own traffic (ANONYMOUS from 127.0.0.1 on PLAINTEXT) and topic creation."""
    write_acls(zk, "Cluster", "kafka-cluster", [
        acl("User:ANONYMOUS", "ClusterAction", host="127.0.0.1"),
        acl("User:ANONYMOUS", "Create", host="127.0.0.1"),
        acl("User:ANONYMOUS", "Alter", host="127.0.0.1"),
        acl("User:ANONYMOUS", "Describe", host="127.0.0.1"),
    ])


def from_address(source: str, host: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect((host, port))
    return s


def fetch_errors(broker, topic: str) -> list[int]:
    return fetch_v4_errors(raw_call(broker.host, broker.port, FETCH, 4, fetch_v4(-1, topic, 0, 0)))


def listed_topics(broker, topic: str | None = None) -> set[str]:
    """The topics Metadata lists (all of them, or only `topic`, which auto-creates it)."""
    md = ck_admin(broker.bootstrap).list_topics(topic=topic, timeout=10)
    return {name for name, t in md.topics.items() if t.error is None}


@pytest.fixture
def acl_zk(zk_root, chroot, zk):
    """The test's chroot, created so that ACLs can be written before the broker starts."""
    zk_root.ensure_path(chroot)
    return zk


def test_acls_decide_by_topic_prefix_and_host(broker_factory, acl_zk):
    zk = acl_zk
    allowed, denied, hidden = unique_topic("open"), unique_topic("closed"), unique_topic("hidden")
    prefixed = "pre-" + unique_topic("x")
    broker_acls(zk)
    write_acls(zk, "Topic", allowed, [acl("User:ANONYMOUS", "All")])
    # Describe is allowed (so the error is about Read/Write, not existence), Read and Write denied.
    write_acls(zk, "Topic", denied, [acl("User:ANONYMOUS", "Describe"), acl("User:*", "Read", "Deny"),
                                     acl("User:ANONYMOUS", "Write", "Deny")])
    write_acls(zk, "Topic", "pre-", [acl("User:ANONYMOUS", "Write"), acl("User:ANONYMOUS", "Read")],
               prefixed=True)
    b = broker_factory(1, overrides=AUTHORIZER)
    admin = ck_admin(b.bootstrap)
    from confluent_kafka.admin import NewTopic
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in (allowed, denied, hidden, prefixed)]).values():
        f.result(timeout=20)

    wait_until(lambda: raw_produce(b.host, b.port, allowed, 0, ["a"])[0] == 0, 20, what="produce allowed")
    assert raw_produce(b.host, b.port, denied, 0, ["b"])[0] == TOPIC_AUTHORIZATION_FAILED
    assert raw_produce(b.host, b.port, prefixed, 0, ["c"])[0] == 0, "prefixed ACL"
    assert raw_produce(b.host, b.port, hidden, 0, ["d"])[0] == TOPIC_AUTHORIZATION_FAILED, "no ACL: deny"
    assert fetch_errors(b, allowed) == [0]
    assert fetch_errors(b, denied) == [TOPIC_AUTHORIZATION_FAILED]
    assert fetch_errors(b, prefixed) == [0]
    # Describe is implied by Read/Write/All; the topic without any ACL is not even listed.
    assert raw_list_offsets(b.host, b.port, denied, 0)[0] == 0
    assert raw_list_offsets(b.host, b.port, hidden, 0)[0] == TOPIC_AUTHORIZATION_FAILED
    listed = listed_topics(b)
    assert {allowed, denied, prefixed} <= listed and hidden not in listed, listed

    # The controller's requests come from 127.0.0.1 (allowed ClusterAction); the same forged request
    # from 127.0.0.2 is refused before it is looked at.
    cid, epoch = controller(zk)
    body = leader_and_isr_v2(cid, epoch, broker_epoch(zk, 1), allowed, 0, leader=99, leader_epoch=1000,
                             replicas=[99, 1], host="10.255.255.1", port=1)
    with from_address("127.0.0.2", b.host, b.port) as s:
        assert top_error(raw_call(b.host, b.port, LEADER_AND_ISR, 2, body, sock=s)) == CLUSTER_AUTHORIZATION_FAILED
    assert raw_produce(b.host, b.port, allowed, 0, ["still leader"])[0] == 0


def kafka_acls(*args: str, timeout: float = 90) -> str:
    out = subprocess.run([str(ROOT / "scripts/kafka-tool.sh"), "kafka-acls", *args],
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.reference
def test_kafka_acls_tool_changes_take_effect_on_a_running_broker(broker_factory, acl_zk):
    zk = acl_zk
    topic = unique_topic("tool")
    broker_acls(zk)
    b = broker_factory(1, overrides=AUTHORIZER)
    from confluent_kafka.admin import NewTopic
    admin = ck_admin(b.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=20)
    wait_until(lambda: raw_produce(b.host, b.port, topic, 0, ["x"])[0] == TOPIC_AUTHORIZATION_FAILED, 20,
               what="produce refused before any topic ACL")
    # Kafka's tool writing straight into ZooKeeper (the broker learns from the notification) ...
    kafka_acls("--authorizer-properties", f"zookeeper.connect={b.zk_connect}", "--add",
               "--allow-principal", "User:ANONYMOUS", "--operation", "Write", "--topic", topic)
    wait_until(lambda: raw_produce(b.host, b.port, topic, 0, ["y"])[0] == 0, 20, what="ACL applied")
    # ... and through the broker (CreateAcls, DescribeAcls, DeleteAcls).
    kafka_acls("--bootstrap-server", b.bootstrap, "--add", "--deny-principal", "User:ANONYMOUS",
               "--operation", "Write", "--topic", topic)
    assert raw_produce(b.host, b.port, topic, 0, ["z"])[0] == TOPIC_AUTHORIZATION_FAILED, "DENY wins"
    listed = kafka_acls("--bootstrap-server", b.bootstrap, "--list", "--topic", topic)
    assert "operation=WRITE, permissionType=DENY" in listed and "permissionType=ALLOW" in listed, listed
    znode = json.loads(zk.get(f"/kafka-acl/Topic/{topic}")[0])
    assert sorted(a["permissionType"] for a in znode["acls"]) == ["Allow", "Deny"], znode
    kafka_acls("--bootstrap-server", b.bootstrap, "--remove", "--force", "--deny-principal", "User:ANONYMOUS",
               "--operation", "Write", "--topic", topic)
    assert raw_produce(b.host, b.port, topic, 0, ["w"])[0] == 0


def test_super_users_may_do_everything_without_acls(broker_factory, zk):
    # Kafka's rule for PLAINTEXT inter-broker traffic with an authorizer: the brokers are ANONYMOUS.
    b = broker_factory(1, overrides={**AUTHORIZER, "super.users": "User:ANONYMOUS"})
    topic = unique_topic("su")
    # No ACL at all: the super user creates (Metadata auto-creation), writes, reads and lists.
    wait_until(lambda: topic in listed_topics(b, topic) and raw_produce(b.host, b.port, topic, 0, ["a"])[0] == 0,
               20, what="auto-created and written")
    assert fetch_errors(b, topic) == [0]
