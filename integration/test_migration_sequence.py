"""The "possibly persisted" question of docs/migration.md (issue #14): what a leader with no state
for an idempotent producer does with a batch whose sequence is not 0, on Kafka 3.9 and on zkafka.
One Kafka broker and one zkafka broker in one cluster, a topic led by each; the same raw Produce v8
batches go to both and must get the same answers.
"""
from __future__ import annotations

import pytest

from helpers import unique_topic, wait_until
from test_mixed_cluster import mixed_factory  # noqa: F401 - fixture
from wire import produce_v8

pytestmark = pytest.mark.reference

OUT_OF_ORDER_SEQUENCE_NUMBER = 45


def idempotent_batch(values: list[str], producer_id: int, epoch: int, base_sequence: int) -> bytes:
    from kafka.record.memory_records import MemoryRecordsBuilder

    b = MemoryRecordsBuilder(magic=2, compression_type=0, batch_size=1 << 20, producer_id=producer_id,
                             producer_epoch=epoch, base_sequence=base_sequence)
    for v in values:
        b.append(0, None, v.encode())
    b.close()
    return b.buffer()


def answers(broker, topic: str) -> list[tuple[int, int]]:
    """(error, base offset) of: a fresh producer starting at sequence 5, its next batch in
    sequence, one with a gap, and a retry of the first (a duplicate)."""
    pid = 4242
    out = []
    for seq, n in ((5, 3), (8, 2), (12, 1), (5, 3)):
        batch = idempotent_batch([f"s{seq}"] * n, pid, 0, seq)
        # UNKNOWN_TOPIC_OR_PARTITION / NOT_LEADER_OR_FOLLOWER until the leader knows the topic
        error, base, *_ = wait_until(lambda: (r := produce_v8(broker, topic, batch))[0] not in (3, 6) and r,
                                     timeout=30, what=f"{topic} led by broker {broker.broker_id}")
        out.append((error, base if error == 0 else -1))
    return out


@pytest.mark.timeout(180)
def test_fresh_leader_accepts_any_first_sequence_like_kafka(mixed_factory):
    cluster = mixed_factory("kz")
    from kafka.admin import KafkaAdminClient, NewTopic

    topics = {1: unique_topic("seqk"), 2: unique_topic("seqz")}
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=15000)
    try:
        admin.create_topics([NewTopic(t, replica_assignments={0: [i]},
                                      topic_configs={"min.insync.replicas": "1"}) for i, t in topics.items()])
    finally:
        admin.close()
    for i, t in topics.items():
        wait_until(lambda: cluster.partition_state(t, 0)["leader"] == i, timeout=30, what=f"{t} led by {i}")
    kafka = answers(cluster.brokers[1], topics[1])
    zkafka = answers(cluster.brokers[2], topics[2])
    print(f"\nKafka 3.9: {kafka}\nzkafka:    {zkafka}")
    # Kafka 3.9 appends a first batch at sequence 5 (no state for the producer: any sequence is
    # accepted), the next in sequence, refuses the gap and answers the retry as a duplicate.
    assert kafka[0] == (0, 0) and kafka[1] == (0, 3), kafka
    assert kafka[2][0] == OUT_OF_ORDER_SEQUENCE_NUMBER, kafka
    assert zkafka == kafka
