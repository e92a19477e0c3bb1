"""Client helpers for the integration tests: kcat (librdkafka 2.0.2 from Debian), confluent-kafka
(a recent bundled librdkafka), kafka-python, and a background producer; raw Kafka frames are in
wire.py.

Every helper has a timeout; nothing here waits forever on a broker that hangs.
"""
from __future__ import annotations

import os
import random
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# Listening ports come from below Linux's ephemeral range (32768-60999), so a client's outgoing
# connection can never take a port a broker is about to listen on, and each pytest-xdist worker
# (PYTEST_XDIST_WORKER=gw0, gw1, ...) draws from its own slice, so two workers never pick the same one.
_PORT_LOW, _PORT_HIGH = 10000, 32000
_WORKER_SLICES = 4
_next_port: list[int] = []


def free_port() -> int:
    """A port nothing listens on, not handed out before in this process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    width = (_PORT_HIGH - _PORT_LOW) // _WORKER_SLICES
    low = _PORT_LOW + (index % _WORKER_SLICES) * width
    if not _next_port:
        # A random start, so reruns soon after a run do not meet its lingering sockets.
        _next_port.append(low + random.randrange(width))
    for _ in range(width):
        port = _next_port[0]
        _next_port[0] = low + (port + 1 - low) % width
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}..{low + width}")


def port_accepts(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(predicate, timeout: float, interval: float = 0.1, what: str = "condition"):
    """Polls predicate() until it returns a truthy value (returned) or fails after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - report the last error if we time out
            last_exc = e
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{detail}")
        time.sleep(interval)


def unique_topic(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Rec:
    partition: int
    offset: int
    key: str | None
    value: str | None


# --------------------------------------------------------------------------------------------
# kcat
# --------------------------------------------------------------------------------------------

KCAT_COMMON = [
    "-X", "broker.address.family=v4",
    "-X", "topic.metadata.refresh.interval.ms=1000",
]


def kcat(*args: str, input: str | bytes | None = None, timeout: float = 30, check: bool = True):
    """Runs kcat with a hard timeout. Returns CompletedProcess (text)."""
    if isinstance(input, bytes):
        input = input.decode()
    try:
        cp = subprocess.run(
            ["kcat", *args], input=input, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"kcat {' '.join(args)} timed out after {timeout}s; stderr: {e.stderr!r}") from None
    if check and cp.returncode != 0:
        raise AssertionError(f"kcat {' '.join(args)} exited {cp.returncode}; stderr:\n{cp.stderr}")
    return cp


def kcat_produce(
    bootstrap: str,
    topic: str,
    records: list,
    acks: str = "all",
    partition: int | None = None,
    one_per_request: bool = False,
    extra: tuple = (),
    timeout: float = 30,
):
    """Produces records (str values, or (key, value) tuples) with kcat -P; fails on any error.

    Keyless records use librdkafka's partitioner per message (sticky partitioning off), so they
    spread over partitions."""
    keyed = any(isinstance(r, tuple) for r in records)
    lines = []
    for r in records:
        if isinstance(r, tuple):
            k, v = r
            assert "\t" not in k and "\n" not in k and "\n" not in v
            lines.append(f"{k}\t{v}")
        else:
            assert "\n" not in r
            lines.append(r)
    args = ["-P", "-b", bootstrap, "-t", topic, *KCAT_COMMON,
            "-X", f"acks={acks}", "-X", "sticky.partitioning.linger.ms=0", "-X", "linger.ms=5",
            "-X", "message.timeout.ms=20000"]
    if one_per_request:
        args += ["-X", "batch.num.messages=1", "-X", "linger.ms=0", "-X", "max.in.flight=1"]
    if keyed:
        args += ["-K", "\t"]
    if partition is not None:
        args += ["-p", str(partition)]
    args += list(extra)
    cp = kcat(*args, input="\n".join(lines) + "\n", timeout=timeout)
    # kcat -P may exit 0 even when deliveries failed, but says so on stderr
    err = cp.stderr.lower()
    assert "delivery failed" not in err and "failed to produce" not in err, cp.stderr
    return cp


def kcat_consume(
    bootstrap: str,
    topic: str,
    partition: int | None = None,
    offset: str | int = "beginning",
    count: int | None = None,
    timeout: float = 30,
) -> list[Rec]:
    """Reads with kcat -C until the end of every partition (-e). Keys/values must be tab-free."""
    args = ["-C", "-b", bootstrap, "-t", topic, *KCAT_COMMON, "-e", "-q",
            "-o", str(offset), "-f", "%p\t%o\t%k\t%s\n", "-X", "fetch.wait.max.ms=100"]
    if partition is not None:
        args += ["-p", str(partition)]
    if count is not None:
        args += ["-c", str(count)]
    cp = kcat(*args, timeout=timeout)
    out = []
    for line in cp.stdout.splitlines():
        p, o, k, v = line.split("\t", 3)
        out.append(Rec(int(p), int(o), k or None, v))
    return out


def kcat_metadata(bootstrap: str, topic: str | None = None, timeout: float = 20) -> str:
    args = ["-L", "-b", bootstrap, *KCAT_COMMON, "-m", "10"]
    if topic:
        args += ["-t", topic]
    return kcat(*args, timeout=timeout).stdout


# --------------------------------------------------------------------------------------------
# confluent-kafka
# --------------------------------------------------------------------------------------------


def ck_producer(bootstrap: str, **conf):
    from confluent_kafka import Producer

    base = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        "linger.ms": 5,
        "sticky.partitioning.linger.ms": 0,
        "message.timeout.ms": 20000,
    }
    base.update({k.replace("_", "."): v for k, v in conf.items()})
    return Producer(base)


def produce_waiting(p, topic: str, backoff: float = 0.1, **kw) -> None:
    """confluent-kafka's `Producer.produce`, serving delivery callbacks while its local queue is
    full (BufferError) instead of failing."""
    while True:
        try:
            p.produce(topic, **kw)
            break
        except BufferError:
            p.poll(backoff)
    p.poll(0)


def ck_produce(bootstrap: str, topic: str, records: list, timeout: float = 30, **conf) -> list:
    """Produces (key, value) or value records; waits for every delivery report; fails on any error.
    Returns [(partition, offset, key, value)] in delivery order."""
    p = ck_producer(bootstrap, **conf)
    delivered, errors = [], []

    def cb(err, msg):
        if err is not None:
            errors.append(err)
        else:
            k = msg.key().decode() if msg.key() is not None else None
            delivered.append((msg.partition(), msg.offset(), k, msg.value().decode()))

    for r in records:
        k, v = r if isinstance(r, tuple) else (None, r)
        produce_waiting(p, topic, key=k, value=v, on_delivery=cb)
    remaining = p.flush(timeout)
    assert remaining == 0, f"{remaining} records not delivered within {timeout}s"
    assert not errors, f"delivery errors: {errors[:5]}"
    return delivered


def ck_consumer(bootstrap: str, **conf):
    from confluent_kafka import Consumer

    base = {
        "bootstrap.servers": bootstrap,
        "broker.address.family": "v4",
        # confluent-kafka insists on a group id; these tests only assign(), never commit
        "group.id": f"it-{uuid.uuid4().hex[:8]}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 100,
    }
    base.update(conf)
    return Consumer(base)


def ck_read(bootstrap: str, topic: str, partitions, start_offset=None, timeout: float = 30) -> list[Rec]:
    """Reads the given partitions from start_offset (default: beginning) to their current end."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    c = ck_consumer(bootstrap)
    try:
        start = OFFSET_BEGINNING if start_offset is None else start_offset
        c.assign([TopicPartition(topic, p, start) for p in partitions])
        pending = set(partitions)
        out = []
        deadline = time.monotonic() + timeout
        while pending:
            assert time.monotonic() < deadline, f"partitions {sorted(pending)} not read to the end in {timeout}s"
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                    continue
                raise AssertionError(f"consume error: {m.error()}")
            k = m.key().decode() if m.key() is not None else None
            v = m.value().decode() if m.value() is not None else None
            out.append(Rec(m.partition(), m.offset(), k, v))
        return out
    finally:
        c.close()


def ck_admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "broker.address.family": "v4"})


# --------------------------------------------------------------------------------------------
# kafka-python
# --------------------------------------------------------------------------------------------


def kp_producer(bootstrap: str, **conf):
    from kafka import KafkaProducer

    base = dict(bootstrap_servers=bootstrap, request_timeout_ms=15000, max_block_ms=20000, linger_ms=5)
    base.update(conf)
    return KafkaProducer(**base)


def kp_consumer(bootstrap: str, **conf):
    from kafka import KafkaConsumer

    base = dict(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                consumer_timeout_ms=3000, request_timeout_ms=15000, fetch_max_wait_ms=100)
    base.update(conf)
    return KafkaConsumer(**base)


def kp_read(bootstrap: str, topic: str, partitions, start_offset=None, timeout: float = 30) -> list[Rec]:
    """Reads with kafka-python by assign/seek from start_offset (default beginning) up to the end offsets."""
    from kafka import TopicPartition

    c = kp_consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in partitions]
        c.assign(tps)
        if start_offset is None:
            c.seek_to_beginning(*tps)
        else:
            for tp in tps:
                c.seek(tp, start_offset)
        end = c.end_offsets(tps)
        out = []
        deadline = time.monotonic() + timeout
        while any(c.position(tp) < end[tp] for tp in tps):
            assert time.monotonic() < deadline, f"kafka-python did not reach {end} in {timeout}s"
            for tp, msgs in c.poll(timeout_ms=500).items():
                for m in msgs:
                    out.append(Rec(m.partition, m.offset,
                                   m.key.decode() if m.key is not None else None,
                                   m.value.decode() if m.value is not None else None))
        return out
    finally:
        c.close()


# --------------------------------------------------------------------------------------------
# a background producer
# --------------------------------------------------------------------------------------------


class BackgroundProducer:
    """A confluent-kafka producer in a thread, producing unique values ("<prefix>-<n>") to a topic
    until stop(); the delivery callback records every acknowledged value with its partition and
    offset, and every failed one with its error."""

    def __init__(self, bootstrap: str, topic: str, prefix: str = "v", rate: float = 200.0,
                 partitions: int | None = None, **conf):
        import threading

        base = {"enable.idempotence": True, "acks": "all", "message.timeout.ms": 60000,
                "retry.backoff.ms": 100, "linger.ms": 5, "request.timeout.ms": 5000,
                "topic.metadata.refresh.interval.ms": 1000}
        base.update(conf)
        self.producer = ck_producer(bootstrap, **base)
        self.topic, self.prefix, self.rate, self.partitions = topic, prefix, rate, partitions
        self.acked: dict[str, tuple[int, int]] = {}
        self.failed: dict[str, str] = {}
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"producer-{topic}", daemon=True)
        self.error: BaseException | None = None

    def _cb(self, err, msg):
        v = msg.value().decode()
        if err is not None:
            self.failed[v] = str(err)
        else:
            self.acked[v] = (msg.partition(), msg.offset())

    def _run(self):
        try:
            interval = 1.0 / self.rate
            while not self._stop.is_set():
                v = f"{self.prefix}-{self.sent:06d}"
                kw = {} if self.partitions is None else {"partition": self.sent % self.partitions}
                try:
                    self.producer.produce(self.topic, value=v, on_delivery=self._cb, **kw)
                    self.sent += 1
                except BufferError:
                    pass
                self.producer.poll(interval)
        except BaseException as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def start(self) -> "BackgroundProducer":
        self._thread.start()
        return self

    def acked_count(self) -> int:
        return len(self.acked)

    def wait_acked(self, n: int, timeout: float, what: str = "") -> None:
        """Waits until n more records than now are acknowledged."""
        target = len(self.acked) + n
        wait_until(lambda: len(self.acked) >= target, timeout=timeout,
                   what=f"{n} more acknowledged records {what}(acked {len(self.acked)}, failed {len(self.failed)})")

    def stop(self, flush_timeout: float = 60) -> int:
        """Stops producing and flushes; returns how many records were still undelivered."""
        self._stop.set()
        self._thread.join(timeout=10)
        remaining = self.producer.flush(flush_timeout)
        if self.error is not None:
            raise self.error
        return remaining


def java_hash(s: str) -> int:
    """Java's String.hashCode, as Kafka hashes a group id."""
    h = 0
    for unit in s.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group: str, partitions: int) -> int:
    """The `__consumer_offsets` partition whose leader coordinates `group` (Kafka's partitionFor)."""
    return (java_hash(group) & 0x7FFFFFFF) % partitions
