"""What survives trouble: retries with an idempotent producer, kill -9 during acks=all produces,
and a damaged tail of the active segment found at restart."""
import os
import time

import pytest

from helpers import ck_producer, ck_read, kcat_consume, kcat_produce, unique_topic

pytestmark = pytest.mark.durability


def test_idempotent_producer_stores_each_record_once_despite_retries(broker_factory):
    """The broker is frozen (SIGSTOP) under an idempotent producer whose requests time out after
    1.5 s, so it retries requests the broker has already read; after SIGCONT each record must be
    stored exactly once, in order."""
    b = broker_factory(1)
    topic = unique_topic("idem")
    kcat_produce(b.bootstrap, topic, ["warm-up"])  # create the topic before the test proper
    p = ck_producer(
        b.bootstrap,
        **{
            "enable.idempotence": True,
            "acks": "all",
            "socket.timeout.ms": 1500,
            "request.timeout.ms": 1500,
            "message.timeout.ms": 60000,
            "retry.backoff.ms": 100,
            "linger.ms": 2,
        },
    )
    errors, acked = [], []
    cb = lambda err, msg: errors.append(err) if err else acked.append(msg.value().decode())  # noqa: E731
    n = 400
    for i in range(n):
        p.produce(topic, value=f"m{i:04d}", partition=0, on_delivery=cb)
        p.poll(0)
        if i == 150:
            p.flush(10)
            b.sigstop()
        if 150 < i < 300:
            time.sleep(0.02)  # 3 s of produce requests pile up against the frozen broker
        if i == 300:
            b.sigcont()
    assert p.flush(60) == 0, "every record must be delivered after the broker resumes"
    assert not errors, errors[:5]
    assert len(acked) == n
    got = [r.value for r in ck_read(b.bootstrap, topic, [0]) if r.value != "warm-up"]
    dups = sorted({v for v in got if got.count(v) > 1})
    assert not dups, f"{len(dups)} records stored more than once, e.g. {dups[:5]}"
    assert got == [f"m{i:04d}" for i in range(n)], "each record once, in produce order"


def test_kill9_during_acks_all_loses_no_acknowledged_record(broker_factory):
    b = broker_factory(1, overrides={"num.partitions": 2})
    topic = unique_topic("crash")
    kcat_produce(b.bootstrap, topic, ["warm-up"], partition=0)
    p = ck_producer(b.bootstrap, acks="all", **{"message.timeout.ms": 4000, "linger.ms": 1})
    acked = {}  # value -> (partition, offset)
    failed = []

    def cb(err, msg):
        if err:
            failed.append(msg.value().decode())
        else:
            acked[msg.value().decode()] = (msg.partition(), msg.offset())

    killed_at = None
    for i in range(3000):
        p.produce(topic, value=f"c{i}", partition=i % 2, on_delivery=cb)
        p.poll(0)
        time.sleep(0.0005)
        if killed_at is None and len(acked) >= 500:
            b.kill9()  # mid-stream: requests in flight, records buffered in the client
            killed_at = i
        if killed_at is not None and i > killed_at + 200:
            break
    assert killed_at is not None, "the broker never acknowledged 500 records"
    p.flush(15)
    assert failed, "records sent after the kill cannot have been acknowledged"
    b.restart()
    got = {r.value: (r.partition, r.offset) for r in ck_read(b.bootstrap, topic, [0, 1])}
    missing = [v for v in acked if v not in got]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    moved = [v for v, po in acked.items() if got[v] != po]
    assert not moved, f"acknowledged records at other offsets than acknowledged: {moved[:5]}"
    # the log is still writable after recovery and continues after the recovered end
    kcat_produce(b.bootstrap, topic, ["after-crash"], partition=0)
    tail = kcat_consume(b.bootstrap, topic, partition=0, offset=-1)
    assert [r.value for r in tail] == ["after-crash"]


def _produce_one_per_batch(b, topic, values):
    kcat_produce(b.bootstrap, topic, values, partition=0, one_per_request=True)


@pytest.mark.parametrize("damage", ["append-garbage", "truncate-mid-batch"])
def test_damaged_segment_tail_is_recovered_at_restart(broker_factory, damage):
    """The broker crashes; the tail of its active segment is then damaged (garbage appended, or
    the last batch cut short), as a torn write leaves it. At restart recovery keeps every whole
    batch before the damage and the log takes new records after them."""
    b = broker_factory(1)
    topic = unique_topic("tail")
    values = [f"record-{i:03d}-" + "x" * 40 for i in range(30)]
    _produce_one_per_batch(b, topic, values)
    # a crash, not a clean shutdown: Kafka skips log recovery after a clean shutdown
    b.kill9()
    seg = b.segment_files(topic, 0)
    assert seg, f"no .log segment under {b.partition_dir(topic, 0)}"
    active = seg[-1]
    size = active.stat().st_size
    if damage == "append-garbage":
        with open(active, "ab") as f:
            f.write(os.urandom(37) + b"\x00\x00\x00\x40garbage-batch-header" + os.urandom(64))
        survivors = values
    else:
        with open(active, "r+b") as f:
            f.truncate(size - 10)  # cuts into the last batch
        survivors = values[:-1]
    b.restart()
    got = kcat_consume(b.bootstrap, topic, partition=0)
    assert [r.value for r in got] == survivors, "everything before the damage is readable, nothing after"
    assert [r.offset for r in got] == list(range(len(survivors)))
    _produce_one_per_batch(b, topic, ["new-1", "new-2"])
    got = kcat_consume(b.bootstrap, topic, partition=0)
    assert [r.value for r in got] == survivors + ["new-1", "new-2"]
    assert [r.offset for r in got] == list(range(len(survivors) + 2)), "offsets continue without a gap"
