"""Raw Kafka frames over a socket, for the tests that need bytes no client library sends:
request and response framing, a minimal reader for non-flexible response bodies, and Produce /
ListOffsets sent to exactly one chosen broker.

Every call has a timeout; nothing here waits forever on a broker that hangs.
"""
from __future__ import annotations

import socket
import struct
import time

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

    def _raw(self, n: int) -> bytes | None:
        """The next n bytes; None for a negative (null) length."""
        if n < 0:
            return None
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def string(self) -> str | None:
        v = self._raw(self.int16())
        return None if v is None else v.decode()

    def bytes_(self) -> bytes | None:
        return self._raw(self.int32())

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
# raw produce and list offsets to one chosen broker
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


def produce_v8(b, topic: str, batch: bytes):
    """Produce v8 of one batch to partition 0 of broker `b` (anything with .host and .port):
    (error_code, base_offset, log_append_time_ms, record_errors, error_message)."""
    body = (kstr(None) + struct.pack(">hi", -1, 5000)
            + karray([topic], lambda t: kstr(t) + karray(
                [0], lambda p: struct.pack(">i", p) + kbytes(batch))))
    r = raw_call(b.host, b.port, 0, 8, body)
    (topic_resp,) = r.array(lambda rr: (rr.string(), rr.array(lambda q: (
        q.int32(), q.int16(), q.int64(), q.int64(), q.int64(),
        q.array(lambda e: (e.int32(), e.string())), q.string()))))
    _, (part,) = topic_resp
    _, error, base_offset, log_append_time, _, record_errors, message = part
    return error, base_offset, log_append_time, record_errors, message


def reseal(batch: bytes, payload: bytes) -> bytes:
    """`batch` with its records replaced by `payload`, length and CRC-32C made right again."""
    from kafka.record.util import calc_crc32c

    header = bytearray(batch[:61])
    struct.pack_into(">i", header, 8, 61 - 12 + len(payload))
    body = bytes(header[21:]) + payload
    struct.pack_into(">I", header, 17, calc_crc32c(body))
    return bytes(header[:21]) + body
