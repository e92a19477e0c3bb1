"""No silent config: a setting zkafka accepts does what Kafka's does, or is refused loudly.

Refused settings stop start-up with one line naming key and value (exit 1) or, as topic configs,
are answered INVALID_CONFIG; the connection settings zkafka implements (connections.max.idle.ms,
max.connections, max.connections.per.ip) act as in Kafka."""
import socket
import time

import pytest

from helpers import ck_admin, free_port, unique_topic
from wire import API_VERSIONS, closed_or_answered, recv_frame, request_frame

pytestmark = pytest.mark.config

EXIT_BOUND_S = 10
INVALID_CONFIG = 40


def assert_refused(b, key: str, value: str):
    rc = b.wait_exit(EXIT_BOUND_S)
    line = b.last_stderr_line()
    assert rc == 1, f"exit code {rc}; last line: {line!r}"
    assert line.startswith(f"zkafka: error: {key}={value} is not supported by zkafka ("), line
    assert line.endswith(")"), line


def test_authorizer_other_than_kafkas_acl_authorizer_is_refused_at_start_up(broker_factory):
    value = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    b = broker_factory(1, overrides={"authorizer.class.name": value}, wait=False)
    assert b.wait_exit(EXIT_BOUND_S) == 1
    assert b.last_stderr_line() == (
        f'zkafka: error: invalid value "{value}" for authorizer.class.name: '
        "zkafka implements only kafka.security.authorizer.AclAuthorizer"
    ), b.last_stderr_line()


def connect(b, port=None, source="127.0.0.1") -> socket.socket:
    s = socket.create_connection((b.host, port or b.port), timeout=5, source_address=(source, 0))
    s.settimeout(5)
    return s


def answers_api_versions(s: socket.socket, correlation_id: int = 1) -> bool:
    """Whether ApiVersions v0 on this open connection is answered (False if it was closed)."""
    try:
        s.sendall(request_frame(API_VERSIONS, 0, correlation_id))
        resp = recv_frame(s)
    except (ConnectionError, OSError):
        return False
    return int.from_bytes(resp[:4], "big", signed=True) == correlation_id


def test_idle_connection_is_closed_after_connections_max_idle_ms(broker_factory):
    b = broker_factory(1, overrides={"connections.max.idle.ms": 2000})
    idle, busy = connect(b), connect(b)
    assert answers_api_versions(idle) and answers_api_versions(busy)
    t0 = time.monotonic()
    # The busy connection asks every 0.5 s and outlives the idle time; the idle one does not.
    for i in range(8):
        time.sleep(0.5)
        assert answers_api_versions(busy, correlation_id=10 + i), f"busy connection closed after {i} requests"
    assert closed_or_answered(idle, timeout=5) == "closed"
    waited = time.monotonic() - t0
    assert waited >= 1.9, f"closed after {waited:.1f}s, before connections.max.idle.ms"
    busy.close()


def test_connections_over_max_connections_per_ip_are_closed(broker_factory):
    # Clients come from 127.0.0.2, so the broker's own connections (its controller, from 127.0.0.1)
    # do not count against the same address.
    b = broker_factory(1, overrides={"max.connections.per.ip": 3, "num.network.threads": 16})
    first = [connect(b, source="127.0.0.2") for _ in range(3)]
    assert all(answers_api_versions(s) for s in first)
    fourth = connect(b, source="127.0.0.2")
    assert closed_or_answered(fourth, timeout=5) == "closed"
    assert all(answers_api_versions(s, correlation_id=2) for s in first), "the first three still answer"
    # Another address has its own allowance.
    other = connect(b, source="127.0.0.3")
    assert answers_api_versions(other)
    # The harmless setting was warned about once, at start-up.
    assert b.log_text().count("num.network.threads=16 has no effect in zkafka") == 1


def test_connections_over_max_connections_are_closed_but_not_inter_broker_ones(broker_factory):
    internal, client = free_port(), free_port()
    listeners = f"INTERNAL://127.0.0.1:{internal},PLAINTEXT://127.0.0.1:{client}"
    b = broker_factory(1, overrides={
        "listeners": listeners,
        "advertised.listeners": listeners,
        "listener.security.protocol.map": "INTERNAL:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name": "INTERNAL",
        "max.connections": 3,
    })
    assert b.port == client
    time.sleep(0.5)  # the readiness probe's connection is given back
    first = [connect(b) for _ in range(3)]
    assert all(answers_api_versions(s) for s in first)
    fourth = connect(b)
    assert closed_or_answered(fourth, timeout=5) == "closed"
    assert all(answers_api_versions(s, correlation_id=2) for s in first), "the first three still answer"
    # The inter-broker listener is not held to max.connections, as in Kafka.
    assert answers_api_versions(connect(b, port=internal))


def test_topic_with_a_bad_throttle_list_is_invalid_config(broker_factory):
    """A throttled-replicas list that is neither `*` nor partition:broker pairs is INVALID_CONFIG
    with Kafka's validator message; a valid one is accepted."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import NewTopic

    b = broker_factory(1)
    admin = ck_admin(b.bootstrap)
    topic = unique_topic("throttled")
    futures = admin.create_topics(
        [NewTopic(topic, 1, 1, config={"leader.replication.throttled.replicas": "0-1"})])
    with pytest.raises(KafkaException) as exc:
        futures[topic].result(timeout=30)
    err = exc.value.args[0]
    assert err.code() == INVALID_CONFIG, err
    assert ("leader.replication.throttled.replicas must be the literal '*' or a list of replicas"
            in err.str()), err.str()
    ok = unique_topic("unthrottled")
    admin.create_topics(
        [NewTopic(ok, 1, 1, config={"leader.replication.throttled.replicas": "0:1"})])[ok].result(timeout=30)
