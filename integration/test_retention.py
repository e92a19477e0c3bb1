"""Retention: small segments plus retention by size or by time; old segment files disappear and
the earliest offset (ListOffsets earliest) moves forward."""
import json
import time

import pytest
from confluent_kafka import TopicPartition

from helpers import ck_consumer, kcat_consume, kcat_produce, unique_topic, wait_until

pytestmark = pytest.mark.retention

SEGMENT_BYTES = 2048
RECORD = "r{:04d}-" + "y" * 90  # ~100-byte values, one batch each: ~170 bytes a batch


def earliest_latest(bootstrap, topic):
    c = ck_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)
    finally:
        c.close()


def base_offsets(b, topic):
    return [int(p.stem) for p in b.segment_files(topic, 0)]


def fill(b, topic, n=120):
    values = [RECORD.format(i) for i in range(n)]
    for i in range(0, n, 40):
        kcat_produce(b.bootstrap, topic, values[i:i + 40], partition=0, one_per_request=True)
    return values


def check_readable_from_earliest(b, topic, values):
    low, high = earliest_latest(b.bootstrap, topic)
    assert high == len(values)
    got = kcat_consume(b.bootstrap, topic, partition=0)
    assert got, "records after the earliest offset must remain"
    assert got[0].offset == low
    assert [r.value for r in got] == values[low:]


def test_retention_by_bytes_deletes_old_segments(broker_factory):
    b = broker_factory(1, overrides={
        "log.segment.bytes": SEGMENT_BYTES,
        "log.retention.bytes": 3 * SEGMENT_BYTES,
        "log.retention.ms": 3_600_000,
        "log.retention.check.interval.ms": 500,
    })
    topic = unique_topic("retb")
    values = fill(b, topic)  # ~20 KB: about ten segments
    wait_until(lambda: b.segment_files(topic, 0), timeout=10, what="the partition's segments")

    def trimmed():
        bases = base_offsets(b, topic)
        return len(bases) <= 5 and bases[0] > 0 and bases

    bases = wait_until(trimmed, timeout=30, what="segments beyond log.retention.bytes to be deleted")
    size = sum(p.stat().st_size for p in b.segment_files(topic, 0))
    # Kafka keeps at most log.retention.bytes plus the segment that crosses it, plus the active one
    assert size <= 5 * SEGMENT_BYTES, f"{size} bytes of .log kept"
    low, _ = wait_until(lambda: (lambda lh: lh[0] > 0 and lh)(earliest_latest(b.bootstrap, topic)),
                        timeout=10, what="the earliest offset to advance")
    assert low == base_offsets(b, topic)[0], "earliest offset is the base offset of the oldest segment"
    assert low >= bases[0]
    # every segment's index files go with it
    for suffix in (".index", ".timeindex"):
        assert sorted(int(p.stem) for p in b.segment_files(topic, 0, suffix)) == base_offsets(b, topic)
    check_readable_from_earliest(b, topic, values)


def test_retention_by_time_deletes_old_segments(broker_factory):
    b = broker_factory(1, overrides={
        "log.segment.bytes": SEGMENT_BYTES,
        "log.retention.ms": 4000,
        "log.retention.bytes": -1,
        "log.retention.check.interval.ms": 500,
    })
    topic = unique_topic("rett")
    t_start = time.monotonic()
    values = fill(b, topic)
    before = base_offsets(b, topic)
    assert len(before) >= 5, f"expected several segments of {SEGMENT_BYTES} bytes, got {before}"

    def expired():
        bases = base_offsets(b, topic)
        return bases and bases[0] >= before[-1] and bases

    wait_until(expired, timeout=30, what="all but the last segment to expire")
    assert time.monotonic() - t_start >= 3.5, "segments went before their records were 4 s old"
    low, high = earliest_latest(b.bootstrap, topic)
    assert low >= before[-1] and high == len(values)
    # still writable after everything old went away
    kcat_produce(b.bootstrap, topic, ["fresh"], partition=0)
    assert kcat_consume(b.bootstrap, topic, partition=0, offset=-1)[0].value == "fresh"


def test_a_topic_config_change_applies_while_the_broker_runs(broker_factory, zk):
    """kafka-configs --alter on a ZooKeeper cluster writes /config/topics/<t> and then a sequential
    /config/changes/config_change_ notification; the running broker applies the new retention.ms."""
    b = broker_factory(1, overrides={
        "log.segment.bytes": SEGMENT_BYTES,
        "log.retention.check.interval.ms": 500,
    })
    topic = unique_topic("retc")
    values = fill(b, topic)
    before = base_offsets(b, topic)
    assert len(before) >= 5, f"expected several segments of {SEGMENT_BYTES} bytes, got {before}"
    time.sleep(1.5)
    assert base_offsets(b, topic) == before, "nothing expires under the default 7-day retention"

    zk.set(f"/config/topics/{topic}", json.dumps(
        {"version": 1, "config": {"retention.ms": "1000"}}).encode())
    zk.create("/config/changes/config_change_", json.dumps(
        {"version": 2, "entity_path": f"topics/{topic}"}).encode(), sequence=True)

    def expired():
        bases = base_offsets(b, topic)
        return bases and bases[0] >= before[-1] and bases

    wait_until(expired, timeout=30, what="segments older than the new retention.ms to go")
    low, high = earliest_latest(b.bootstrap, topic)
    assert low >= before[-1] and high == len(values)
