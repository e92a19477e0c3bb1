"""Record validation as Kafka's LogValidator (issue #10): records inside each batch are decoded
(decompressed when compressed) and a batch whose CRC is right but whose records do not decode is
refused and never stored; message.timestamp.type=LogAppendTime stamps batches with the broker's
time; message.timestamp.before.max.ms refuses old CreateTime records with INVALID_TIMESTAMP; a
topic's compression.type recompresses batches; every librdkafka codec round-trips; ListOffsets by
timestamp names the exact record inside a compressed batch."""
import struct
import time

import pytest
from confluent_kafka import TIMESTAMP_LOG_APPEND_TIME, KafkaError

from helpers import ck_admin, ck_consumer, ck_producer, ck_read, unique_topic, wait_until
from wire import produce_v8, raw_list_offsets, record_batch_v2, reseal

pytestmark = pytest.mark.validation

INVALID_TIMESTAMP = 32
INVALID_RECORD = 87
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


def create_topic(b, topic, config=None):
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(b.bootstrap)
    # Right after start-up the broker may not know the controller yet; librdkafka's admin
    # client then times out instead of retrying.
    wait_until(lambda: admin.list_topics(timeout=5).controller_id >= 0, timeout=20,
               what="a controller in the metadata")
    admin.create_topics([NewTopic(topic, 1, 1, config=config or {})],
                        request_timeout=15)[topic].result(timeout=20)


def stored_batches(b, topic):
    """(attributes, base_offset, records_count) of every batch in the partition's segment files."""
    out = []
    for seg in sorted((b.log_dir / f"{topic}-0").glob("*.log")):
        data = seg.read_bytes()
        pos = 0
        while pos + 61 <= len(data):
            base, length = struct.unpack_from(">qi", data, pos)
            (attributes,) = struct.unpack_from(">h", data, pos + 21)
            (count,) = struct.unpack_from(">i", data, pos + 57)
            out.append((attributes, base, count))
            pos += 12 + length
    return out


def deliver(b, topic, records, **conf):
    """Produces (key, value, timestamp or None) records to partition 0 with confluent-kafka;
    returns the delivery errors (None for a delivered record) in order."""
    p = ck_producer(b.bootstrap, **conf)
    outcome = []
    for k, v, ts in records:
        extra = {} if ts is None else {"timestamp": ts}
        p.produce(topic, key=k, value=v, partition=0,
                  on_delivery=lambda err, msg: outcome.append(err), **extra)
    assert p.flush(30) == 0
    return outcome


def test_a_poisoned_batch_is_refused_and_never_stored(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("poison")
    create_topic(b, topic)
    error, base, _, _, _ = produce_v8(b, topic, record_batch_v2(["a", "b"]))
    assert (error, base) == (0, 0)
    assert raw_list_offsets(b.host, b.port, topic, 0) == (0, 2)

    # The CRC is right, the record count says 2, but the records are garbage.
    poisoned = reseal(record_batch_v2(["c", "d"]), b"\xff" * 40)
    error, base, _, _, message = produce_v8(b, topic, poisoned)
    assert error == INVALID_RECORD, (error, message)
    assert base == -1
    # A record whose key length runs past its end is refused just the same.
    valid = record_batch_v2(["e"])
    cut = bytearray(valid[61:])
    cut[4] = 0x7E  # key length varint (null, 0x01) -> 63
    error, _, _, _, _ = produce_v8(b, topic, reseal(valid, bytes(cut)))
    assert error == INVALID_RECORD

    # Nothing was stored: the log end is unchanged and the next batch follows the first.
    assert raw_list_offsets(b.host, b.port, topic, 0) == (0, 2)
    error, base, _, _, _ = produce_v8(b, topic, record_batch_v2(["f"]))
    assert (error, base) == (0, 2)
    assert [r.value for r in ck_read(b.bootstrap, topic, [0])] == ["a", "b", "f"]


def test_log_append_time_is_what_a_consumer_sees(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("lat")
    create_topic(b, topic, {"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    # A producer timestamp from 1970: replaced by the broker's time.
    assert deliver(b, topic, [(None, f"v{i}", 1000 + i) for i in range(5)]) == [None] * 5
    error, _, log_append_time, _, _ = produce_v8(b, topic, record_batch_v2(["raw"], 1000))
    after = int(time.time() * 1000)
    assert error == 0
    assert before <= log_append_time <= after

    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    c = ck_consumer(b.bootstrap)
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        seen = []
        deadline = time.monotonic() + 30
        while len(seen) < 6 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            seen.append((m.value().decode(), m.timestamp()))
    finally:
        c.close()
    assert [v for v, _ in seen] == [f"v{i}" for i in range(5)] + ["raw"]
    for _, (ts_type, ts) in seen:
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME
        assert before <= ts <= after
    assert seen[-1][1][1] == log_append_time
    # Stored stamped: attribute bit 3 set on every batch.
    assert all(attributes & 0x08 for attributes, _, _ in stored_batches(b, topic))


def test_create_time_topics_answer_minus_one(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("ct")
    create_topic(b, topic)
    error, _, log_append_time, _, _ = produce_v8(b, topic, record_batch_v2(["x"]))
    assert (error, log_append_time) == (0, -1)


def test_records_older_than_before_max_ms_are_invalid_timestamp(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("old")
    create_topic(b, topic, {"message.timestamp.before.max.ms": "60000"})
    now = int(time.time() * 1000)
    old = now - 3_600_000

    error, base, _, record_errors, message = produce_v8(b, topic, record_batch_v2(["old"], old))
    assert error == INVALID_TIMESTAMP
    assert base == -1
    assert len(record_errors) == 1 and record_errors[0][0] == 0
    assert f"Timestamp {old} of message with offset 0 is out of range" in record_errors[0][1]
    assert message == "One or more records have been rejected due to invalid timestamp"

    # librdkafka reports the broker's INVALID_TIMESTAMP; a fresh record is accepted.
    (outcome,) = deliver(b, topic, [(None, "old", old)], **{"message.timeout.ms": 10000})
    assert outcome is not None and outcome.code() == KafkaError.INVALID_TIMESTAMP, outcome
    assert deliver(b, topic, [(None, "fresh", None)]) == [None]
    assert [r.value for r in ck_read(b.bootstrap, topic, [0])] == ["fresh"]


def test_a_zstd_topic_stores_an_uncompressed_producers_batches_compressed(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("zstd")
    create_topic(b, topic, {"compression.type": "zstd"})
    values = [f"value-{i}-" + "z" * 200 for i in range(50)]
    outcome = deliver(b, topic, [(f"k{i}", v, None) for i, v in enumerate(values)],
                      **{"compression.codec": "none", "linger.ms": 50})
    assert outcome == [None] * 50
    batches = stored_batches(b, topic)
    assert batches and all(attributes & 0x07 == CODECS["zstd"] for attributes, _, _ in batches)
    assert sum(count for _, _, count in batches) == 50
    # Stored smaller than sent, and still read back by librdkafka.
    segment = next((b.log_dir / f"{topic}-0").glob("*.log"))
    assert segment.stat().st_size < sum(len(v) for v in values)
    got = ck_read(b.bootstrap, topic, [0])
    assert [(r.key, r.value) for r in got] == [(f"k{i}", v) for i, v in enumerate(values)]
    assert [r.offset for r in got] == list(range(50))


def test_an_uncompressed_topic_decompresses_a_gzip_producer(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("plain")
    create_topic(b, topic, {"compression.type": "uncompressed"})
    assert deliver(b, topic, [(None, f"g{i}", None) for i in range(10)],
                   **{"compression.codec": "gzip", "linger.ms": 50}) == [None] * 10
    assert all(attributes & 0x07 == 0 for attributes, _, _ in stored_batches(b, topic))
    assert [r.value for r in ck_read(b.bootstrap, topic, [0])] == [f"g{i}" for i in range(10)]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_each_codec_round_trips_through_librdkafka(broker_factory, codec):
    b = broker_factory(1)
    topic = unique_topic(codec)
    create_topic(b, topic)
    base_ts = int(time.time() * 1000) - 10_000
    records = [(f"k{i}", f"{codec}-{i}-" + "x" * (i % 300), base_ts + i) for i in range(300)]
    assert deliver(b, topic, records, **{"compression.codec": codec, "linger.ms": 100}) == [None] * 300
    # Stored as the producer sent it (compression.type=producer).
    batches = stored_batches(b, topic)
    assert all(attributes & 0x07 == CODECS[codec] for attributes, _, _ in batches)
    got = ck_read(b.bootstrap, topic, [0])
    assert [(r.key, r.value) for r in got] == [(k, v) for k, v, _ in records]
    # ListOffsets by timestamp names the exact record, inside whichever batch holds it.
    assert raw_list_offsets(b.host, b.port, topic, 0, timestamp=base_ts + 123) == (0, 123)


def test_keyless_records_in_a_compressed_batch_are_refused_on_a_compacted_topic(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("ckeys")
    create_topic(b, topic, {"cleanup.policy": "compact"})
    conf = {"compression.codec": "zstd", "message.timeout.ms": 10000}
    (outcome,) = deliver(b, topic, [(None, "no key", None)], **conf)
    assert outcome is not None and outcome.code() == KafkaError.INVALID_RECORD, outcome
    assert deliver(b, topic, [("k", "keyed", None)], **conf) == [None]
    assert [(r.key, r.value) for r in ck_read(b.bootstrap, topic, [0])] == [("k", "keyed")]
