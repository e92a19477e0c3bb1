"""Shared by the hostile-input tests (test_hostile_*.py, issue #11): what ZooKeeper says about the
controller and brokers, and hand-made request bodies (non-flexible versions unless named) that
forge what a client, a broker or the controller would send."""
from __future__ import annotations

import json
import socket
import struct

from helpers import ck_read
from wire import WireReader, closed_or_answered, karray, kstr, raw_call, request_frame

# API keys
FETCH = 1
LEADER_AND_ISR = 4
STOP_REPLICA = 5
UPDATE_METADATA = 6
CONTROLLED_SHUTDOWN = 7
INIT_PRODUCER_ID = 22
PRODUCE = 0
CREATE_TOPICS = 19
CREATE_PARTITIONS = 37
OFFSET_COMMIT = 8
JOIN_GROUP = 11

# error codes
STALE_CONTROLLER_EPOCH = 11
STALE_BROKER_EPOCH = 77
NOT_LEADER_OR_FOLLOWER = 6
REQUEST_TIMED_OUT = 7
INVALID_TOPIC_EXCEPTION = 17
INVALID_PARTITIONS = 37
INVALID_REPLICA_ASSIGNMENT = 39
INVALID_REQUEST = 42
INVALID_GROUP_ID = 24
UNKNOWN_TOPIC_OR_PARTITION = 3
UNKNOWN_MEMBER_ID = 25


def controller(zk) -> tuple[int, int]:
    """(brokerid in /controller, /controller_epoch)."""
    return json.loads(zk.get("/controller")[0])["brokerid"], int(zk.get("/controller_epoch")[0])


def broker_epoch(zk, broker_id: int) -> int:
    """Kafka's broker epoch: the czxid of /brokers/ids/<id>."""
    return zk.exists(f"/brokers/ids/{broker_id}").czxid


def i32s(values: list[int]) -> bytes:
    return karray(values, lambda v: struct.pack(">i", v))


def stop_replica_v1(controller_id: int, epoch: int, broker_ep: int, topic: str, partitions: list[int],
                    delete: bool = True) -> bytes:
    return (struct.pack(">iiq?", controller_id, epoch, broker_ep, delete)
            + karray([topic], lambda t: kstr(t) + i32s(partitions)))


def leader_and_isr_v2(controller_id: int, epoch: int, broker_ep: int, topic: str, partition: int,
                      leader: int, leader_epoch: int, replicas: list[int], host: str, port: int) -> bytes:
    ps = (struct.pack(">iiii", partition, epoch, leader, leader_epoch) + i32s(replicas)
          + struct.pack(">i", 0) + i32s(replicas) + b"\x00")
    return (struct.pack(">iiq", controller_id, epoch, broker_ep)
            + karray([topic], lambda t: kstr(t) + karray([ps], lambda b: b))
            + karray([leader], lambda b: struct.pack(">i", b) + kstr(host) + struct.pack(">i", port)))


def update_metadata_v5(controller_id: int, epoch: int, broker_ep: int, topic: str, partition: int,
                       leader: int, live: tuple[int, str, int] = (99, "10.255.255.1", 1)) -> bytes:
    """UpdateMetadata naming `live` (id, host, port) as the only live broker; by default broker 99
    at an address nothing answers on (leader -2 would delete the topic from the cache)."""
    bid, host, port = live
    ps = (struct.pack(">iiii", partition, epoch, leader, 0) + i32s([leader]) + struct.pack(">i", 0)
          + i32s([leader]) + i32s([]))
    broker = (struct.pack(">i", bid)
              + karray([0], lambda _: struct.pack(">i", port) + kstr(host) + kstr("PLAINTEXT")
                       + struct.pack(">h", 0))
              + kstr(None))
    return (struct.pack(">iiq", controller_id, epoch, broker_ep)
            + karray([topic], lambda t: kstr(t) + karray([ps], lambda b: b))
            + karray([broker], lambda b: b))


def top_error(r: WireReader) -> int:
    return r.int16()


def connection_closed(host: str, port: int, api_key: int, version: int, body: bytes) -> bool:
    """True when the broker closes the connection instead of answering."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request_frame(api_key, version, 5, body=body))
        return closed_or_answered(s, 5) == "closed"


def consume_values(bootstrap: str, topic: str, partition: int = 0) -> list[str]:
    return [r.value for r in ck_read(bootstrap, topic, [partition], timeout=20)]


def uvarint(n: int) -> bytes:
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def fetch_v15_frame(replica_id: int, replica_epoch: int, topic_id: bytes, partition: int, offset: int,
                    correlation_id: int = 9) -> bytes:
    """Fetch v15 (flexible): ReplicaState carries the replica id and broker epoch (tag 1)."""
    part = (struct.pack(">iiqiqi", partition, -1, offset, -1, -1, 1 << 20) + b"\x00")
    topic = topic_id + uvarint(2) + part + b"\x00"
    replica_state = struct.pack(">iq", replica_id, replica_epoch) + b"\x00"
    body = (struct.pack(">iiibii", 0, 1, 1 << 20, 0, 0, -1)
            + uvarint(2) + topic          # topics
            + uvarint(1)                   # forgotten topics: none
            + uvarint(1)                   # rack id: ""
            + uvarint(1) + uvarint(1) + uvarint(len(replica_state)) + replica_state)
    return request_frame(FETCH, 15, correlation_id, body=body, flexible=True)


def fetch_v15_first_error(resp: bytes) -> int:
    """The first partition's error code of a Fetch v15 response (after the v1 response header)."""
    pos = 4 + 1  # correlation id, header tags
    pos += 4 + 2 + 4  # throttle, error, session id
    pos += 1 + 16 + 1  # topics (one), topic id, partitions (one)
    (_, err) = struct.unpack_from(">ih", resp, pos)
    return err


def topic_id_bytes(zk, topic: str) -> bytes:
    import base64
    import uuid as uuidlib

    tid = json.loads(zk.get(f"/brokers/topics/{topic}")[0])["topic_id"]
    return uuidlib.UUID(bytes=base64.urlsafe_b64decode(tid + "==")).bytes


def escaping_names(outside) -> list[str]:
    """Names that would put a partition directory outside the log dir, or that Kafka forbids."""
    return [str(outside / "abs"), "../escaped", "../../escaped2", "a b", "x" * 250, "..", "."]


def create_topics_v1(broker, topic: str, partitions: int, rf: int, assignment: dict | None = None,
                     validate_only: bool = False) -> tuple[int, str | None]:
    """CreateTopics v1 of one topic; (error code, error message)."""
    assigned = sorted((assignment or {}).items())
    t = (kstr(topic) + struct.pack(">ih", partitions, rf)
         + karray(assigned, lambda a: struct.pack(">i", a[0]) + i32s(a[1]))
         + karray([], lambda c: b""))
    body = karray([t], lambda b: b) + struct.pack(">i?", 10000, validate_only)
    r = raw_call(broker.host, broker.port, CREATE_TOPICS, 1, body, timeout=30)
    (res,) = r.array(lambda q: (q.string(), q.int16(), q.string()))
    return res[1], res[2]


def offset_commit_v2(broker, group: str, topic: str, partitions: list[int]) -> list[tuple[int, int]]:
    """OffsetCommit v2 (generation -1: a simple commit); [(partition, error)]."""
    body = (kstr(group) + struct.pack(">i", -1) + kstr("") + struct.pack(">q", -1)
            + karray([topic], lambda t: kstr(t) + karray(
                partitions, lambda p: struct.pack(">iq", p, 5) + kstr(None))))
    r = raw_call(broker.host, broker.port, OFFSET_COMMIT, 2, body)
    topics = r.array(lambda q: (q.string(), q.array(lambda x: (x.int32(), x.int16()))))
    assert {name for name, _ in topics} == {topic}
    return [p for _, parts in topics for p in parts]
