#!/usr/bin/env bash
# Two broker builds side by side (a refactoring's before and after): for each of RUNS rounds, one
# fresh ZooKeeper and broker per build (bench/cluster.sh, free loopback ports, stopped by pid),
# 6 partitions, replication factor 1, `zkafka perf produce` (1 KiB records, acks=all, 1 MiB
# batches, linger 5 ms) then `zkafka perf consume` of the same records. The order of the two
# builds alternates from round to round, so a machine getting busier does not favour one.
#
#   scripts/bench-ab.sh A_BINARY B_BINARY [runs] [records]
#
# Prints one JSON object per measurement: {"label": "a"|"b", "run", "produce", "consume"}.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
a=${1:?a broker binary}
b=${2:?another broker binary}
runs=${3:-3}
records=${4:-600000}

# one_run LABEL BINARY RUN: one cluster, one produce and one consume
one_run() {
  (
    export ZKAFKA="$2"
    # shellcheck source=bench/cluster.sh
    source bench/cluster.sh
    trap bench_stop EXIT
    bench_start >&2
    local topic="ab-$1-$3" p c
    "$ZKAFKA" topics --bootstrap-server "$BOOTSTRAP" --create --topic "$topic" --partitions 6 \
      --replication-factor 1 >&2
    sync
    p=$(timeout 600 "$ZKAFKA" perf produce --bootstrap-server "$BOOTSTRAP" --topic "$topic" \
      --num-records "$records" --record-size 1024 --throughput -1 --acks all \
      --batch-size 1048576 --linger-ms 5 --json)
    sync
    c=$(timeout 600 "$ZKAFKA" perf consume --bootstrap-server "$BOOTSTRAP" --topic "$topic" \
      --messages "$records" --json)
    printf '{"label":"%s","run":%s,"produce":%s,"consume":%s}\n' "$1" "$3" "$p" "$c"
  )
}

for run in $(seq 1 "$runs"); do
  if (( run % 2 )); then
    one_run a "$a" "$run"; one_run b "$b" "$run"
  else
    one_run b "$b" "$run"; one_run a "$a" "$run"
  fi
done
