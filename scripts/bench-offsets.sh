#!/usr/bin/env bash
# Consumer-group benchmark (issue "consumer groups", item 5) on one ZooKeeper + one broker that
# this script starts on free loopback ports (bench/cluster.sh) and stops by pid.
#
#   ZKAFKA=path/to/zkafka scripts/bench-offsets.sh [runs] [seconds]
#
# Per run, all in the same run so the ratios compare like with like:
#   - ZooKeeper's own rate with kazoo: sequential setData on one znode, and multi of 100 setData;
#   - OffsetCommit through the broker: confluent-kafka Consumer.commit(explicit offsets,
#     synchronous) of 1, 10 and 100 partitions in a loop for <seconds>;
#   - rebalance: 10 members (eager, range) on 100 partitions, one more joins; time to settle
#     (heartbeat.interval.ms 3000, librdkafka's default, and 500).
# Results: JSON lines in $OUT (default bench/results/offsets-<utc time>.jsonl), then Markdown
# tables (medians, min–max, ratios) on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
runs=${1:-3}
seconds=${2:-5}
(( runs >= 1 && runs <= 20 )) || { echo "runs must be 1..20" >&2; exit 2; }
mkdir -p bench/results
OUT=${OUT:-bench/results/offsets-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
source bench/cluster.sh
trap bench_stop EXIT
bench_start group.initial.rebalance.delay.ms=3000
"$ZKAFKA" topics --bootstrap-server "$BOOTSTRAP" --create --topic bench-offsets --partitions 100 --replication-factor 1 >&2
"$ZKAFKA" topics --bootstrap-server "$BOOTSTRAP" --create --topic bench-rebalance --partitions 100 --replication-factor 1 >&2
: >"$OUT"
for run in $(seq 1 "$runs"); do
    echo "bench-offsets: run $run of $runs" >&2
    timeout $((4 * seconds + 60)) python3 bench/zk_rate.py "127.0.0.1:$ZK_PORT" "$seconds" 100 \
        | python3 bench/tag.py bench=zk run="$run" >>"$OUT"
    for n in 1 10 100; do
        timeout $((seconds + 90)) python3 bench/offsets.py "$BOOTSTRAP" bench-offsets "commit-$n-$run" "$n" "$seconds" "127.0.0.1:$ZK_PORT" \
            | python3 bench/tag.py bench=commit run="$run" >>"$OUT"
    done
    # librdkafka's default heartbeat.interval.ms (3000), then 500 ms: old members only learn of the
    # rebalance from a heartbeat answer, so the second shows how much of the settle time is that.
    for hb in 3000 500; do
        HEARTBEAT_MS=$hb timeout 240 python3 bench/rebalance.py "$BOOTSTRAP" bench-rebalance "rebalance-$run-$hb" 10 100 60 \
            | python3 bench/tag.py bench=rebalance heartbeat_ms="$hb" run="$run" >>"$OUT" \
            || echo "bench-offsets: rebalance run $run (heartbeat $hb ms) did not settle" >&2
    done
done
echo "bench-offsets: broker $ZKAFKA, results in $OUT" >&2
python3 bench/summarize.py offsets "$OUT"
