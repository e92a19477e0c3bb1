"""Malformed input on the wire: the broker answers what Kafka answers (or drops only that
connection, where Kafka would), and stays up for the next client."""
import os
import socket
import struct

import pytest

from helpers import kcat_consume, kcat_metadata, kcat_produce, unique_topic
from wire import API_VERSIONS, api_versions_v0, closed_or_answered, recv_frame, request_frame

pytestmark = pytest.mark.protocol

UNSUPPORTED_VERSION = 35


def still_serving(b):
    """Another client, on a new connection, gets full service."""
    assert b.running(), f"broker died (exit {b.returncode})"
    corr, err, apis = api_versions_v0(b.host, b.port, correlation_id=4242)
    assert (corr, err) == (4242, 0)
    assert API_VERSIONS in apis and 0 in apis and 1 in apis, f"Produce/Fetch/ApiVersions advertised: {apis}"
    topic = unique_topic("after")
    kcat_produce(b.bootstrap, topic, ["still-here"])
    assert [r.value for r in kcat_consume(b.bootstrap, topic)] == ["still-here"]


def connect(b):
    s = socket.create_connection((b.host, b.port), timeout=5)
    return s


def test_api_versions_v0_lists_what_is_implemented(broker):
    corr, err, apis = api_versions_v0(broker.host, broker.port)
    assert (corr, err) == (7, 0)
    for key in (0, 1, 2, 3, 18):  # Produce, Fetch, ListOffsets, Metadata, ApiVersions
        assert key in apis, f"api key {key} missing from {apis}"
        lo, hi = apis[key]
        assert 0 <= lo <= hi
    assert apis[18][1] >= 3


def test_api_versions_with_unsupported_version_answers_35_in_a_v0_response(broker):
    corr, err, apis = api_versions_v0(broker.host, broker.port, api_version=99, correlation_id=99)
    assert corr == 99
    assert err == UNSUPPORTED_VERSION
    assert 18 in apis, "the v0 error response still lists the supported ApiVersions range"
    still_serving(broker)


def test_unknown_api_key_drops_only_that_connection(broker):
    with connect(broker) as s:
        s.sendall(request_frame(9999, 0, 1))
        outcome = closed_or_answered(s, 5)
    assert outcome == "closed", f"Kafka closes the connection on an unknown api key (got {outcome})"
    still_serving(broker)


def test_oversized_frame_is_refused(broker_factory):
    b = broker_factory(1, overrides={"socket.request.max.bytes": 1_048_576})
    with connect(b) as s:
        s.sendall(struct.pack(">i", 200 * 1024 * 1024) + b"\x00\x12\x00\x00")
        outcome = closed_or_answered(s, 5)
    assert outcome == "closed", f"a frame over socket.request.max.bytes closes the connection (got {outcome})"
    with connect(b) as s:
        s.sendall(struct.pack(">i", -5))
        assert closed_or_answered(s, 5) == "closed", "a negative frame size closes the connection"
    still_serving(b)


def test_garbage_frames(broker):
    # a well-framed request whose header and body are random bytes
    with connect(broker) as s:
        body = os.urandom(64)
        s.sendall(struct.pack(">i", len(body)) + body)
        assert closed_or_answered(s, 5) in ("closed", "answered")
    # a known api (Metadata v1) with a truncated body
    with connect(broker) as s:
        s.sendall(request_frame(3, 1, 5, body=b"\x00\x00\x00\x05\x00"))
        assert closed_or_answered(s, 5) in ("closed", "answered")
    # plain text, as a misdirected HTTP client sends
    with connect(broker) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert closed_or_answered(s, 5) == "closed"
    # half a frame, then the client goes away
    with connect(broker) as s:
        s.sendall(struct.pack(">i", 100) + b"\x00\x12")
    still_serving(broker)


def test_pipelined_requests_are_answered_in_order(broker):
    with connect(broker) as s:
        s.settimeout(5)
        s.sendall(b"".join(request_frame(18, 0, cid) for cid in range(1, 21)))
        corrs = [struct.unpack(">i", recv_frame(s)[:4])[0] for _ in range(20)]
    assert corrs == list(range(1, 21))


def test_many_connections_opened_and_dropped(broker):
    for _ in range(50):
        s = connect(broker)
        s.close()
    still_serving(broker)
    meta = kcat_metadata(broker.bootstrap)
    assert "1 brokers:" in meta
