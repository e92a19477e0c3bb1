#!/usr/bin/env bash
# Leader re-election and controller failover benchmark: one ZooKeeper and 3 (controller test: 4)
# zkafka brokers on free loopback ports, started by bench/failover.py and stopped by pid.
#
#   scripts/bench-failover.sh [runs] [small] [large] [ctrl] [phantoms]
#   (ZKAFKA=path/to/zkafka to use a given binary; default: cargo build --release, target/release/zkafka)
#
#   runs      runs per measurement (default 3)
#   small     partitions for the small re-election test (default 1000, 10 topics)
#   large     partitions for the large one (default 10000, 100 topics: ~6,700 replicas per broker,
#             one open file each (the .log; indexes are memory-mapped), so ~6,700 descriptors)
#   ctrl      real partitions for controller failover (default 10000, 100 topics, on brokers 3, 4)
#   phantoms  extra partitions loaded on top, one stage each (default 0,40000 -> 10,000 and 50,000)
#
# Broker settings: zookeeper.session.timeout.ms=6000, num.replica.fetchers=1,
# auto.leader.rebalance.enable=false. Results: JSON lines in $OUT (default
# bench/results/failover-<utc time>.jsonl), then Markdown tables on stdout. BUILD names the
# broker build in the results (default release). The soft open-files limit is raised to the hard
# one (the brokers inherit it), and each broker's descriptor count is recorded once its
# partitions are settled ("bench": "fds").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
runs=${1:-3}
small=${2:-1000}
large=${3:-10000}
ctrl=${4:-10000}
phantoms=${5:-0,40000}
(( runs >= 1 && runs <= 10 )) || { echo "runs must be 1..10" >&2; exit 2; }
if [ -z "${ZKAFKA:-}" ]; then
  cargo build --release --quiet
  ZKAFKA="$ROOT/target/release/zkafka"
fi
export ZKAFKA
build=${BUILD:-release}
ulimit -n "$(ulimit -Hn)"
echo "bench-failover: open files limit $(ulimit -n) per broker" >&2
mkdir -p bench/results
OUT=${OUT:-bench/results/failover-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
: >"$OUT"
for n in "$small" "$large"; do
    [ "$n" -gt 0 ] || continue
    echo "bench-failover: re-election, $n partitions, $runs runs" >&2
    timeout 2400 python3 bench/failover.py reelect "$n" $((n / 100)) "$runs" kill,term \
        2> >(grep --line-buffered -v 'rdkafka#' >&2) | python3 bench/tag.py "build=$build" >>"$OUT" \
        || echo "bench-failover: re-election with $n partitions failed (see above)" >&2
done
if [ "$ctrl" -gt 0 ]; then
    echo "bench-failover: controller failover, $ctrl partitions (+ $phantoms), $runs runs" >&2
    timeout 2400 python3 bench/failover.py controller "$ctrl" $((ctrl / 100)) "$runs" "$phantoms" \
        2> >(grep --line-buffered -v 'rdkafka#' >&2) | python3 bench/tag.py "build=$build" >>"$OUT" \
        || echo "bench-failover: controller failover failed (see above)" >&2
fi
echo "bench-failover: broker $ZKAFKA, results in $OUT" >&2
python3 bench/failover_summary.py "$OUT"
