"""A log dir that fills up goes offline the way Kafka handles it (LogDirFailureChannel).

Broker 1 of a three-broker cluster has two log dirs; one is on a small tmpfs that the test fills
to ENOSPC while an acks=all idempotent producer writes to a topic whose partitions all have
broker 1 as leader, half of them in each dir. Afterwards: broker 1 still runs and still leads and
serves the partitions of its healthy dir; the partitions of the full dir are led by another broker
and broker 1 has left their ISRs; the `/log_dir_event_notification` znode it wrote was handled
(deleted) by the controller; DescribeLogDirs answers KAFKA_STORAGE_ERROR for the full dir; and
every acknowledged record is readable, once, at its acknowledged offset. A broker whose only log
dir fills up halts, as Kafka's does. And rolled segments reach the disk in the background: the
recovery point Kafka's checkpoint file records moves to the active segment, which is all a
restart after kill -9 re-reads.
"""
from __future__ import annotations

import errno
import subprocess

import pytest

from helpers import BackgroundProducer, ck_produce, ck_producer, ck_read, unique_topic, wait_until
from test_cluster import CLUSTER_PROPS, FAILOVER_TIMEOUT, bootstrap, create_topic, state, verify_no_loss

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

KAFKA_STORAGE_ERROR = 56
PARTITIONS = 4


@pytest.fixture
def small_fs(tmp_path):
    """A 4 MiB tmpfs, unmounted (lazily, so a broker still holding files cannot block it) at
    teardown whatever the test's outcome."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(mnt) -> int:
    """Writes a filler file until the file system answers ENOSPC; returns the bytes written."""
    written = 0
    with open(mnt / "filler", "wb", buffering=0) as f:
        for size in (1 << 16, 1 << 10, 1):
            chunk = b"\xaa" * size
            while True:
                try:
                    f.write(chunk)
                    written += size
                except OSError as e:
                    assert e.errno == errno.ENOSPC, e
                    break
    return written


def partitions_in(log_dir, topic: str) -> set[int]:
    return {int(d.name.rsplit("-", 1)[1]) for d in log_dir.iterdir()
            if d.is_dir() and d.name.rsplit("-", 1)[0] == topic}


def describe_log_dirs(bs: str, broker: int) -> dict:
    """{log dir: error code} as broker `broker` answers DescribeLogDirs (kafka-python)."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bs, request_timeout_ms=15000)
    try:
        [answer] = admin.describe_log_dirs(brokers=[broker])
    finally:
        admin.close()
    return {d["log_dir"]: d["error_code"] for d in answer["log_dirs"]}


def test_full_log_dir_goes_offline_leadership_moves_and_the_other_dir_is_served(
        broker_factory, zk, small_fs):
    healthy, full = small_fs.parent / "broker-1-a", small_fs / "broker-1-b"
    brokers = {1: broker_factory(1, overrides={**CLUSTER_PROPS, "log.dirs": f"{healthy},{full}"})}
    brokers.update({i: broker_factory(i, overrides=CLUSTER_PROPS) for i in (2, 3)})
    bs = bootstrap(brokers)
    topic = unique_topic("disk")
    create_topic(brokers, zk, topic, replicas={p: [1, 2, 3] for p in range(PARTITIONS)})
    on_full, on_healthy = partitions_in(full, topic), partitions_in(healthy, topic)
    # New logs go to the dir with the fewest partitions, so each dir holds half.
    assert on_full and on_healthy and on_full | on_healthy == set(range(PARTITIONS)), (on_full, on_healthy)
    assert describe_log_dirs(bs, 1) == {str(healthy): 0, str(full): 0}

    producer = BackgroundProducer(bs, topic, prefix="r" * 300, rate=300, partitions=PARTITIONS).start()
    try:
        producer.wait_acked(300, timeout=60, what="before the fill ")
        fill(small_fs)
        # Leadership of the full dir's partitions moves, and broker 1 leaves their ISRs.
        wait_until(lambda: all(state(zk, topic, p)["leader"] in (2, 3) and 1 not in state(zk, topic, p)["isr"]
                               for p in on_full),
                   timeout=FAILOVER_TIMEOUT, what="leaders of the full dir's partitions moved off broker 1")
        producer.wait_acked(300, timeout=60, what="after the failure ")
    finally:
        undelivered = producer.stop()
    assert undelivered == 0, "every record delivered in the end"
    assert not producer.failed, list(producer.failed.items())[:5]
    assert brokers[1].running(), "a broker with a healthy log dir left keeps running"
    log = brokers[1].log_text()
    assert "log dir failed; taking it offline" in log
    assert "told the controller that a log dir failed" in log
    # The controller deleted the notification once handled.
    wait_until(lambda: zk.get_children("/log_dir_event_notification") == [], timeout=30,
               what="log dir event notifications handled")
    # Broker 1 still leads the healthy dir's partitions and takes writes for them.
    for p in on_healthy:
        assert state(zk, topic, p)["leader"] == 1, (p, state(zk, topic, p))
    healthy_p = min(on_healthy)
    p = ck_producer(brokers[1].bootstrap, acks="all")
    delivered = []
    p.produce(topic, value="after-the-failure", partition=healthy_p,
              on_delivery=lambda err, msg: delivered.append((err, msg.partition(), msg.offset())))
    assert p.flush(30) == 0
    [(err, partition, offset)] = delivered
    assert err is None and partition == healthy_p and offset >= 0, delivered
    # Every acknowledged record is there, reading the healthy partitions from broker 1.
    got = verify_no_loss(producer, bs, topic, range(PARTITIONS))
    assert any(r.partition == healthy_p for r in got)
    assert any(r.value == "after-the-failure" for r in got)

    codes = describe_log_dirs(bs, 1)
    assert codes.get(str(full)) == KAFKA_STORAGE_ERROR, codes
    assert codes.get(str(healthy)) == 0, codes


def test_a_broker_whose_every_log_dir_failed_halts(broker_factory, small_fs):
    """Kafka's LogManager halts the broker (exit code 1) when its last log dir goes offline."""
    b = broker_factory(1, overrides={"log.dirs": str(small_fs / "only")})
    topic = unique_topic("halt")
    p = ck_producer(b.bootstrap, acks="all", **{"message.timeout.ms": 10000})
    p.produce(topic, value="before")
    assert p.flush(30) == 0
    fill(small_fs)
    for _ in range(2000):
        if not b.running():
            break
        p.produce(topic, value="x" * 1000)
        p.poll(0.005)
    assert b.wait_exit(timeout=30) == 1
    assert "Shutdown broker because all log dirs have failed" in b.log_text()


def recovery_points(log_dir) -> dict:
    """Kafka's recovery-point-offset-checkpoint: {(topic, partition): offset}."""
    path = log_dir / "recovery-point-offset-checkpoint"
    if not path.exists():
        return {}
    lines = path.read_text().splitlines()
    return {(t, int(p)): int(o) for t, p, o in (line.split() for line in lines[2:])}


def test_rolled_segments_are_flushed_and_a_restart_reads_only_the_active_segment(broker_factory):
    b = broker_factory(1, overrides={"log.segment.bytes": 65536,
                                     "log.flush.offset.checkpoint.interval.ms": 500})
    topic = unique_topic("roll")
    ck_produce(b.bootstrap, topic, [f"{i:06d}-" + "x" * 200 for i in range(2000)], acks="all",
               **{"batch.size": 16384})
    segments = sorted(int(f.stem) for f in b.partition_dir(topic, 0).glob("*.log"))
    assert len(segments) > 3, segments
    # flush.messages and flush.ms are off (Kafka's defaults): only the roll flush moves it.
    wait_until(lambda: recovery_points(b.log_dir).get((topic, 0)) == segments[-1], timeout=20,
               what=f"recovery point at the active segment's base {segments[-1]}")
    b.kill9()
    b.restart()
    assert f"recovery_point={segments[-1]}" in b.log_text().split("===== start #2")[-1]
    got = [r.value for r in ck_read(b.bootstrap, topic, [0])]
    assert got == [f"{i:06d}-" + "x" * 200 for i in range(2000)]
