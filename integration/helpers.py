"""Client helpers for the integration tests: kcat (librdkafka 2.0.2 from Debian), confluent-kafka
(a recent bundled librdkafka), kafka-python, and raw Kafka frames over a socket.

Every helper has a timeout; nothing here waits forever on a broker that hangs.
"""
from __future__ import annotations

import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
        while True:
            try:
                p.produce(topic, key=k, value=v, on_delivery=cb)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
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
# raw Kafka protocol
# --------------------------------------------------------------------------------------------

API_VERSIONS = 18


def request_frame(api_key: int, api_version: int, correlation_id: int, client_id: str = "it",
                  body: bytes = b"", flexible: bool = False) -> bytes:
    """A request frame with a v1 header (api key, version, correlation id, client id), or with
    flexible=True a v2 header (the same plus an empty tagged-field section)."""
    cid = client_id.encode()
    payload = struct.pack(">hhih", api_key, api_version, correlation_id, len(cid)) + cid
    if flexible:
        payload += b"\x00"
    payload += body
    return struct.pack(">i", len(payload)) + payload


# ApiVersions v3+ body: client_software_name, client_software_version (compact strings), no tags
API_VERSIONS_V3_BODY = b"\x03it" + b"\x041.0" + b"\x00"


def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(sock: socket.socket) -> bytes:
    (size,) = struct.unpack(">i", recv_exact(sock, 4))
    assert 0 <= size < 64 * 1024 * 1024, f"absurd response size {size}"
    return recv_exact(sock, size)


def api_versions_v0(host: str, port: int, api_version: int = 0, correlation_id: int = 7, timeout: float = 5):
    """Sends ApiVersions at api_version and parses the answer as a v0 response (right for v0-v2 and
    for the error response to an unsupported version).
    Returns (correlation_id, error_code, {api_key: (min, max)})."""
    # from v3 on, ApiVersions requests are flexible: a v2 header and a v3-style body, as a client
    # newer than the broker sends them (the response stays v0 when the version is unsupported)
    if api_version >= 3:
        frame = request_frame(API_VERSIONS, api_version, correlation_id, body=API_VERSIONS_V3_BODY, flexible=True)
    else:
        frame = request_frame(API_VERSIONS, api_version, correlation_id)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(frame)
        resp = recv_frame(s)
    corr, err, n = struct.unpack(">ihi", resp[:10])
    apis, pos = {}, 10
    for _ in range(max(n, 0)):
        k, lo, hi = struct.unpack(">hhh", resp[pos:pos + 6])
        apis[k] = (lo, hi)
        pos += 6
    return corr, err, apis


def closed_or_answered(sock: socket.socket, timeout: float) -> str:
    """'closed' if the peer closes (or resets) within timeout, 'answered' if bytes arrive,
    'open' if neither happened."""
    sock.settimeout(timeout)
    try:
        data = sock.recv(4096)
    except socket.timeout:
        return "open"
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    return "answered" if data else "closed"


# --- raw request/response bodies (non-flexible versions only: v1 request header, v0 response header)


def kstr(s: str | None) -> bytes:
    """A Kafka STRING / NULLABLE_STRING (None is -1)."""
    if s is None:
        return struct.pack(">h", -1)
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def kbytes(b: bytes | None) -> bytes:
    """A Kafka BYTES / NULLABLE_BYTES (None is -1)."""
    if b is None:
        return struct.pack(">i", -1)
    return struct.pack(">i", len(b)) + b


def karray(items: list, encode) -> bytes:
    """A Kafka ARRAY: int32 count, then encode(item) for each."""
    return struct.pack(">i", len(items)) + b"".join(encode(i) for i in items)


class WireReader:
    """Reads big-endian Kafka primitives from a response body."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def _take(self, fmt: str):
        size = struct.calcsize(fmt)
        assert self.pos + size <= len(self.data), f"response too short: need {size} bytes at {self.pos} of {len(self.data)}"
        (v,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return v

    def int16(self) -> int:
        return self._take(">h")

    def int32(self) -> int:
        return self._take(">i")

    def int64(self) -> int:
        return self._take(">q")

    def string(self) -> str | None:
        n = self.int16()
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v.decode()

    def bytes_(self) -> bytes | None:
        n = self.int32()
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def array(self, read_item) -> list:
        n = self.int32()
        return [read_item(self) for _ in range(max(n, 0))]

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def raw_call(host: str, port: int, api_key: int, api_version: int, body: bytes,
             correlation_id: int = 42, timeout: float = 10, sock: socket.socket | None = None) -> WireReader:
    """Sends one request (v1 header) and returns a reader positioned after the response's correlation id
    (v0 response header). Pass `sock` to reuse a connection."""
    own = sock is None
    s = sock or socket.create_connection((host, port), timeout=timeout)
    try:
        s.settimeout(timeout)
        s.sendall(request_frame(api_key, api_version, correlation_id, body=body))
        resp = recv_frame(s)
    finally:
        if own:
            s.close()
    r = WireReader(resp)
    corr = r.int32()
    assert corr == correlation_id, f"correlation id {corr}, expected {correlation_id}"
    return r


# --------------------------------------------------------------------------------------------
# cluster tests: raw produce to one chosen broker, a background producer
# --------------------------------------------------------------------------------------------

PRODUCE = 0
LIST_OFFSETS = 2
NOT_LEADER_OR_FOLLOWER = 6


def record_batch_v2(values: list[str], timestamp_ms: int | None = None) -> bytes:
    """A magic-2 record batch (CRC-32C) built by kafka-python's record builder."""
    from kafka.record.memory_records import MemoryRecordsBuilder

    ts = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20)
    for v in values:
        b.append(ts, None, v.encode())
    b.close()
    return b.buffer()


def produce_frame(topic: str, partition: int, values: list[str], acks: int = -1, timeout_ms: int = 5000,
                  correlation_id: int = 42) -> bytes:
    """A whole Produce v3 request frame with one batch for one partition."""
    body = (kstr(None) + struct.pack(">hi", acks, timeout_ms)
            + karray([topic], lambda t: kstr(t) + karray(
                [partition], lambda p: struct.pack(">i", p) + kbytes(record_batch_v2(values)))))
    return request_frame(PRODUCE, 3, correlation_id, body=body)


def parse_produce_response(r: "WireReader") -> tuple[int, int]:
    """(error_code, base_offset) of the first partition of a Produce v3 response body."""
    (name_parts,) = r.array(lambda rr: (rr.string(), rr.array(
        lambda q: (q.int32(), q.int16(), q.int64(), q.int64()))))
    _, parts = name_parts
    _, err, base, _ = parts[0]
    return err, base


def raw_produce(host: str, port: int, topic: str, partition: int, values: list[str], acks: int = -1,
                timeout_ms: int = 5000, timeout: float = 15) -> tuple[int, int]:
    """Produce v3 of one batch to exactly this broker (no metadata, no redirect).
    Returns (error_code, base_offset)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(produce_frame(topic, partition, values, acks, timeout_ms))
        if acks == 0:
            return 0, -1
        r = WireReader(recv_frame(s))
    assert r.int32() == 42, "correlation id"
    return parse_produce_response(r)


def raw_list_offsets(host: str, port: int, topic: str, partition: int, timestamp: int = -1,
                     replica_id: int = -1, timeout: float = 10) -> tuple[int, int]:
    """ListOffsets v1 (latest = -1, earliest = -2) asked of exactly this broker.
    Returns (error_code, offset)."""
    body = struct.pack(">i", replica_id) + karray([topic], lambda t: kstr(t) + karray(
        [partition], lambda p: struct.pack(">iq", p, timestamp)))
    r = raw_call(host, port, LIST_OFFSETS, 1, body, timeout=timeout)
    (name_parts,) = r.array(lambda rr: (rr.string(), rr.array(
        lambda q: (q.int32(), q.int16(), q.int64(), q.int64()))))
    _, parts = name_parts
    _, err, _, offset = parts[0]
    return err, offset


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
