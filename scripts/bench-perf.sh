#!/usr/bin/env bash
# Producer and consumer benchmark against a running cluster, with zkafka's own perf tools.
# Prints one JSON object per run (acks=1, acks=all, consume) on stdout, for scripts and the README.
#
#   BOOTSTRAP=localhost:9092 scripts/bench-perf.sh [num-records] [record-size]
#
# Env: BOOTSTRAP (default localhost:9092), ZKAFKA (binary; default target/release/zkafka, else
# target/debug/zkafka), TOPIC (default zkafka-bench), PARTITIONS (6), RF (3), INFLIGHT (5).
set -euo pipefail

records=${1:-1000000}
size=${2:-100}
bootstrap=${BOOTSTRAP:-localhost:9092}
topic=${TOPIC:-zkafka-bench}
zkafka=${ZKAFKA:-}
if [[ -z $zkafka ]]; then
    root=$(cd "$(dirname "$0")/.." && pwd)
    target=${CARGO_TARGET_DIR:-$root/target}
    for candidate in "$target/release/zkafka" "$target/debug/zkafka"; do
        if [[ -x $candidate ]]; then zkafka=$candidate; break; fi
    done
fi
[[ -n $zkafka ]] || { echo "bench-perf: no zkafka binary; build it or set ZKAFKA" >&2; exit 1; }

"$zkafka" topics --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$topic" \
    --partitions "${PARTITIONS:-6}" --replication-factor "${RF:-3}" >&2

for acks in 1 all; do
    "$zkafka" perf produce --bootstrap-server "$bootstrap" --topic "$topic" \
        --num-records "$records" --record-size "$size" --throughput -1 --acks "$acks" \
        --inflight "${INFLIGHT:-5}" --json
done
# Both produce runs wrote to the topic; read them all back.
"$zkafka" perf consume --bootstrap-server "$bootstrap" --topic "$topic" \
    --messages $((2 * records)) --json
