"""Old clients: message formats v0 and v1 (Produce v0-v2, Fetch v0-v3), converted to the stored v2
batches on write and back for fetch, as Kafka 3.9 does. Real old-protocol clients (kafka-python
pinned to api_version (0, 10) and (0, 8, 2), kcat with api.version.request=false and
broker.version.fallback 0.9.0 / 0.10.0), and raw frames for the error codes no client shows."""
import gzip
import struct
import time
import zlib

import pytest

from helpers import ck_produce, kcat, kcat_consume, kp_consumer, kp_producer, kp_read, unique_topic, wait_until
from wire import WireReader, karray, kbytes, kstr, raw_call

pytestmark = pytest.mark.clients

PRODUCE, FETCH = 0, 1
CORRUPT_MESSAGE, UNSUPPORTED_VERSION, UNSUPPORTED_COMPRESSION_TYPE, INVALID_RECORD = 2, 35, 76, 87

OLD_KCAT = {
    "0.9.0": ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.9.0"],
    "0.10.0": ["-X", "api.version.request=false", "-X", "broker.version.fallback=0.10.0"],
}


def old_kp_read(bootstrap, topic, api_version, n, timeout=20):
    """(offset, key, value, timestamp) of the first n records of partition 0, read by a kafka-python
    consumer pinned to api_version (None: the versions the broker advertises)."""
    from kafka import TopicPartition

    pinned = {"api_version": api_version} if api_version else {}
    c = kp_consumer(bootstrap, **pinned)
    try:
        tp = TopicPartition(topic, 0)
        c.assign([tp])
        c.seek(tp, 0)
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            assert time.monotonic() < deadline, f"read {len(out)} of {n}"
            for msgs in c.poll(timeout_ms=500).values():
                out += [(m.offset, m.key, m.value, m.timestamp) for m in msgs]
        return out
    finally:
        c.close()


@pytest.mark.parametrize("api_version", [(0, 10), (0, 8, 2)], ids=["0.10", "0.8.2"])
@pytest.mark.parametrize("compression", [None, "gzip"])
def test_kafka_python_old_formats_round_trip(broker, api_version, compression):
    topic = unique_topic("old")
    p = kp_producer(broker.bootstrap, api_version=api_version, compression_type=compression, acks=1)
    futures = [p.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=0,
                      timestamp_ms=1_600_000_000_000 + i) for i in range(20)]
    metas = [f.get(timeout=20) for f in futures]
    p.close(timeout=10)
    assert [m.offset for m in metas] == list(range(20))
    v1 = api_version == (0, 10)
    want_ts = [1_600_000_000_000 + i if v1 else -1 for i in range(20)]
    got = old_kp_read(broker.bootstrap, topic, api_version, 20)
    assert [(o, k, v) for o, k, v, _ in got] == [(i, f"k{i}".encode(), f"v{i}".encode()) for i in range(20)]
    if v1:  # a v0 message has no timestamp to show
        assert [t for *_, t in got] == want_ts
    # A current client reads what the old one wrote, timestamps as converted (magic 0: none).
    new = old_kp_read(broker.bootstrap, topic, None, 20)
    assert [(o, v, t) for o, _, v, t in new] == [(i, f"v{i}".encode(), want_ts[i]) for i in range(20)]


@pytest.mark.parametrize("fallback", ["0.9.0", "0.10.0"])
def test_kcat_old_protocol_produce_and_consume(broker, fallback):
    topic = unique_topic("oldkcat")
    values = [f"m{i}" for i in range(30)]
    args = ["-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-X", "acks=1", "-z", "snappy",
            *OLD_KCAT[fallback]]
    cp = kcat(*args, input="\n".join(values) + "\n")
    assert "fail" not in cp.stderr.lower(), cp.stderr
    got = kcat_consume_old(broker.bootstrap, topic, fallback)
    assert [(r[0], r[1]) for r in got] == list(enumerate(values))
    # and a current librdkafka reads it too
    assert [r.value for r in kcat_consume(broker.bootstrap, topic, partition=0)] == values


def kcat_consume_old(bootstrap, topic, fallback):
    cp = kcat("-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q",
              "-f", "%o\t%s\n", *OLD_KCAT[fallback])
    return [(int(o), v) for o, v in (line.split("\t", 1) for line in cp.stdout.splitlines())]


def test_records_of_new_clients_read_by_old_clients(broker):
    """v2 batches (compressed, with headers) down-converted for Fetch v0-v3 readers."""
    topic = unique_topic("down")
    values = [f"n{i}" for i in range(40)]
    ck_produce(broker.bootstrap, topic, [(f"k{i}", v) for i, v in enumerate(values)],
               **{"compression.type": "lz4", "linger.ms": 20})
    parts = sorted({r.partition for r in kp_read(broker.bootstrap, topic, range(3))})
    for fallback in OLD_KCAT:
        got = []
        for p in parts:
            cp = kcat("-C", "-b", broker.bootstrap, "-t", topic, "-p", str(p), "-o", "beginning",
                      "-e", "-q", "-f", "%s\n", *OLD_KCAT[fallback])
            got += cp.stdout.splitlines()
        assert sorted(got) == sorted(values), fallback


# --- raw frames: the error codes ------------------------------------------------------------


def message(offset, magic, value, key=None, attributes=0, timestamp=-1):
    body = struct.pack(">bb", magic, attributes)
    if magic == 1:
        body += struct.pack(">q", timestamp)
    body += kbytes(key) + kbytes(value)
    crc = zlib.crc32(body) & 0xFFFFFFFF
    body = struct.pack(">I", crc) + body
    return struct.pack(">qi", offset, len(body)) + body


def produce_v2(broker, topic, records):
    return produce_v2_to(broker.host, broker.port, topic, records)


def produce_v2_to(host, port, topic, records, version=2):
    """(error, base offset, log append time) of one Produce v2 (or v3) to partition 0."""
    body = kstr(None) if version >= 3 else b""  # v3+: transactional id
    body += struct.pack(">hi", 1, 10_000) + karray(
        [topic], lambda t: kstr(t) + karray([0], lambda p: struct.pack(">i", p) + kbytes(records)))
    r = raw_call(host, port, PRODUCE, version, body)
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int16(), r.int64(), r.int64()))))
    _, error, base, log_append_time = topics[0][1][0]
    return error, base, log_append_time


def fetch(broker, topic, version, offset=0, max_bytes=1 << 20):
    return fetch_from(broker.host, broker.port, topic, version, offset, max_bytes)


def fetch_from(host, port, topic, version, offset=0, max_bytes=1 << 20, partition=0):
    body = struct.pack(">iii", -1, 100, 0)
    if version >= 3:
        body += struct.pack(">i", max_bytes)
    body += karray([topic], lambda t: kstr(t) + karray(
        [partition], lambda p: struct.pack(">iqi", p, offset, max_bytes)))
    r = raw_call(host, port, FETCH, version, body)
    if version >= 1:
        r.int32()  # throttle
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int16(), r.int64(), r.bytes_()))))
    _, error, hw, records = topics[0][1][0]
    return error, hw, records


def create_topic(broker, topic, **config):
    from kafka.admin import KafkaAdminClient, NewTopic

    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        a.create_topics([NewTopic(topic, 1, 1, topic_configs={k.replace("_", "."): v for k, v in config.items()})])
    finally:
        a.close()
    wait_until(lambda: produce_v2(broker, topic, message(0, 1, b"x"))[0] == 0, 10, what="topic ready")


def test_raw_old_produce_errors_and_fetch_down_conversion(broker):
    topic = unique_topic("raw")
    create_topic(broker, topic)  # offset 0 holds "x"
    # CRC-32 checked: one flipped bit is CORRUPT_MESSAGE, nothing appended.
    bad = bytearray(message(0, 1, b"bad", timestamp=5))
    bad[-1] ^= 1
    assert produce_v2(broker, topic, bytes(bad))[0] == CORRUPT_MESSAGE
    # zstd (codec 4) has no legacy framing: INVALID_RECORD, as Kafka's DeepRecordsIterator.
    zstd_wrapper = message(0, 1, b"\x28\xb5\x2f\xfd", attributes=4, timestamp=5)
    assert produce_v2(broker, topic, zstd_wrapper)[0] == INVALID_RECORD
    # A gzip wrapper of two v1 messages with relative inner offsets.
    inner = message(0, 1, b"a", timestamp=7) + message(1, 1, b"b", timestamp=9)
    assert produce_v2(broker, topic, message(1, 1, gzip.compress(inner), attributes=1, timestamp=9)) == (0, 1, -1)
    # Fetch v0 answers magic 0 messages, v2 magic 1, at the absolute offsets.
    for version, magic in [(0, 0), (2, 1), (3, 1)]:
        error, hw, records = fetch(broker, topic, version, offset=1)
        assert (error, hw) == (0, 3)
        got = read_messages(records)
        ts = [None, None] if magic == 0 else [7, 9]
        assert got == [(magic, 1, b"a", ts[0]), (magic, 2, b"b", ts[1])], version


def read_messages(records):
    """(magic, offset, value, timestamp) of each message, as kafka-python's reader sees them."""
    from kafka.record import MemoryRecords

    got = []
    mr = MemoryRecords(records)
    while mr.has_next():
        batch = mr.next_batch()
        got += [(batch.magic, r.offset, r.value, r.timestamp) for r in batch]
    return got


def test_down_conversion_disabled_is_unsupported_version(broker):
    topic = unique_topic("nodown")
    create_topic(broker, topic, message_downconversion_enable="false")
    assert fetch(broker, topic, 2)[0] == UNSUPPORTED_VERSION
    assert fetch(broker, topic, 2, offset=1)[0] == 0, "an empty read needs no conversion"


def test_zstd_records_are_unsupported_compression_for_old_fetches(broker):
    topic = unique_topic("zstd")
    [(partition, *_)] = ck_produce(broker.bootstrap, topic, [("k", "z" * 1000)], **{"compression.type": "zstd"})
    error, hw, records = fetch_from(broker.host, broker.port, topic, 2, partition=partition)
    assert (error, hw, records) == (UNSUPPORTED_COMPRESSION_TYPE, 1, b"")


def test_api_versions_advertise_old_produce_and_fetch(broker):
    from wire import api_versions_v0

    _, error, apis = api_versions_v0(broker.host, broker.port)
    assert error == 0
    assert apis[PRODUCE][0] == 0 and apis[FETCH][0] == 0


@pytest.mark.reference
def test_old_format_produce_and_fetch_match_kafka(zkafka_cluster, kafka_cluster):
    """The same raw Produce v2 / Fetch v0 and v2 requests on Kafka 3.9 and zkafka: the same error
    codes, offsets, timestamps and converted messages, and the same advertised version ranges."""
    from confluent_kafka.admin import NewTopic

    from helpers import ck_admin
    from test_reference import leader_of
    from wire import api_versions_v0

    seen = {}
    for cluster in (zkafka_cluster, kafka_cluster):
        topic = unique_topic("oldref")
        admin = ck_admin(cluster.bootstrap)
        admin.create_topics([NewTopic(topic, 1, 1)], operation_timeout=10)[topic].result(timeout=30)
        host, port = wait_until(lambda: leader_of(cluster, topic, 0), timeout=20, what="a leader").split(":")
        port = int(port)
        _, _, apis = api_versions_v0(host, port)
        first = message(0, 1, b"v1", key=b"k", timestamp=7)
        wait_until(lambda: produce_v2_to(host, port, topic, first)[0] == 0, 20, what="the first produce")
        inner = message(0, 1, b"a", timestamp=8) + message(1, 1, b"b", timestamp=9)
        bad = bytearray(message(0, 1, b"bad", timestamp=5))
        bad[-1] ^= 1
        seen[cluster.kind] = {
            "versions": (apis[PRODUCE], apis[FETCH][0]),
            "gzip": produce_v2_to(host, port, topic, message(1, 1, gzip.compress(inner), attributes=1,
                                                               timestamp=9)),
            "v0": produce_v2_to(host, port, topic, message(0, 0, b"old")),
            "crc": produce_v2_to(host, port, topic, bytes(bad))[0],
            "zstd": produce_v2_to(host, port, topic, message(0, 1, b"junk", attributes=4, timestamp=5))[0],
            "v1 in Produce v3": produce_v2_to(host, port, topic, message(0, 1, b"new", timestamp=5), version=3)[0],
            "fetch v0": read_messages(fetch_from(host, port, topic, 0)[2]),
            "fetch v2": read_messages(fetch_from(host, port, topic, 2, offset=2)[2]),
        }
    assert seen["zkafka"] == seen["kafka"], seen
