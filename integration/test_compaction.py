"""Log compaction (cleanup.policy=compact): the log cleaner leaves exactly the latest value of each
key at its original offset, removes tombstones delete.retention.ms after they were first cleaned,
never deletes a compact-only topic's data by retention.ms, and keyless records are refused."""
import struct
import time

import pytest
from confluent_kafka import KafkaError

from helpers import ck_admin, ck_producer, ck_read, unique_topic, wait_until
from wire import karray, kbytes, kstr, raw_call, record_batch_v2

pytestmark = pytest.mark.compaction

DELETE_RETENTION_MS = 8000
TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "2048",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": str(DELETE_RETENTION_MS),
    # Retention by time must not apply to a compact-only topic: every key outlives this.
    "retention.ms": "1000",
}
INVALID_RECORD = 87


def create_compacted(b, topic):
    from confluent_kafka.admin import NewTopic

    admin = ck_admin(b.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1, config=TOPIC_CONFIG)],
                        request_timeout=15)[topic].result(timeout=20)


def produce(b, topic, records):
    """Produces (key, value) records, value None for a tombstone, in order; returns
    {(key, value): offset} of what was acknowledged."""
    # Small batches (segment.bytes is 2048) and one in flight, so offsets follow the list.
    p = ck_producer(b.bootstrap, **{"batch.size": 600, "linger.ms": 0,
                                    "max.in.flight.requests.per.connection": 1})
    acked, errors = {}, []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            v = None if msg.value() is None else msg.value().decode()
            acked[(msg.key().decode(), v)] = msg.offset()

    for k, v in records:
        p.produce(topic, key=k, value=v, partition=0, on_delivery=cb)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors[:5]
    return acked


def test_cleaner_keeps_the_latest_value_per_key_and_drops_tombstones_after_retention(broker_factory):
    b = broker_factory(1, overrides={
        "log.cleaner.backoff.ms": 200,
        "log.retention.check.interval.ms": 500,
    })
    topic = unique_topic("compact")
    create_compacted(b, topic)
    keys = [f"k{i:02d}" for i in range(20)]
    records = [(k, f"{k}-round{r}-" + "x" * 20) for r in range(15) for k in keys]
    # The last round deletes k00..k04.
    records += [(k, None) for k in keys[:5]]
    # Other keys after them (several segments' worth) push the last round out of the active
    # segment, which is never cleaned.
    filler = [(f"f{i:03d}", "filler") for i in range(300)]
    acked = produce(b, topic, records + filler)
    latest = {}
    for k, v in records + filler:
        latest[k] = (v, acked[(k, v)])

    def cleaned():
        got = ck_read(b.bootstrap, topic, [0])
        keys_read = [r.key for r in got]
        return len(keys_read) == len(set(keys_read)) and got

    got = wait_until(cleaned, timeout=40, interval=0.5, what="one record per key after cleaning")
    # Exactly the latest value of each key, at the offset it was written at; tombstones are
    # still there (they were cleaned less than delete.retention.ms ago).
    assert {r.key: (r.value, r.offset) for r in got} == latest
    assert [r.offset for r in got] == sorted(r.offset for r in got)
    part = b.partition_dir(topic, 0)
    leftovers = [p.name for p in part.iterdir() if p.suffix in (".cleaned", ".swap", ".deleted")]
    assert not leftovers
    checkpoint = (b.log_dir / "cleaner-offset-checkpoint").read_text().splitlines()
    assert checkpoint[0] == "0"
    assert any(line.startswith(f"{topic} 0 ") for line in checkpoint[2:]), checkpoint

    # After delete.retention.ms, the next cleaning (new dirty data) removes the tombstones.
    time.sleep(DELETE_RETENTION_MS / 1000 + 1)
    more = [(f"g{i:03d}", "more") for i in range(300)]
    acked_more = produce(b, topic, more)
    for k, v in more:
        latest[k] = (v, acked_more[(k, v)])
    for k in keys[:5]:
        del latest[k]

    def tombstones_gone():
        got = ck_read(b.bootstrap, topic, [0])
        return all(r.value is not None for r in got) and got

    got = wait_until(tombstones_gone, timeout=40, interval=0.5, what="tombstones to be removed")
    assert {r.key: (r.value, r.offset) for r in got} == latest


def produce_v8(b, topic, batch):
    """Produce v8 of one batch to partition 0: (error_code, record_errors, error_message)."""
    body = (kstr(None) + struct.pack(">hi", -1, 5000)
            + karray([topic], lambda t: kstr(t) + karray(
                [0], lambda p: struct.pack(">i", p) + kbytes(batch))))
    r = raw_call(b.host, b.port, 0, 8, body)
    (topic_resp,) = r.array(lambda rr: (rr.string(), rr.array(lambda q: (
        q.int32(), q.int16(), q.int64(), q.int64(), q.int64(),
        q.array(lambda e: (e.int32(), e.string())), q.string()))))
    _, (part,) = topic_resp
    _, error, _, _, _, record_errors, message = part
    return error, record_errors, message


def test_keyless_records_are_refused_with_invalid_record(broker_factory):
    b = broker_factory(1)
    topic = unique_topic("compact")
    create_compacted(b, topic)
    tp = f"{topic}-0"

    # On the wire: one record error per keyless record, Kafka's message (Produce v8+).
    error, record_errors, message = produce_v8(b, topic, record_batch_v2(["a", "b"]))
    assert error == INVALID_RECORD
    reason = f"Compacted topic cannot accept message without key in topic partition {tp}."
    assert record_errors == [(0, reason), (1, reason)]
    assert message.startswith("One or more records have been rejected due to 2 record errors")

    # A client sees INVALID_RECORD; a keyed record is accepted.
    p = ck_producer(b.bootstrap, **{"message.timeout.ms": 10000})
    outcome = []
    p.produce(topic, value="no key", partition=0, on_delivery=lambda err, msg: outcome.append(err))
    assert p.flush(20) == 0
    p.produce(topic, key="k", value="keyed", partition=0,
              on_delivery=lambda err, msg: outcome.append(err))
    assert p.flush(20) == 0
    assert outcome[0] is not None and outcome[0].code() == KafkaError.INVALID_RECORD, outcome
    assert outcome[1] is None
    got = ck_read(b.bootstrap, topic, [0])
    assert [(r.key, r.value) for r in got] == [("k", "keyed")]
