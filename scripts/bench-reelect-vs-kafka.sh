#!/usr/bin/env bash
# Leader re-election on zkafka and Apache Kafka 3.9, measured the same way (bench/reelect_vs_kafka.py
# says how). Builds the release broker first; results go to bench/results/reelect-vs-kafka-*.jsonl.
#
#   scripts/bench-reelect-vs-kafka.sh [--partitions 10000] [--topics 10] [--runs 3] [--signals kill,term]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh --kafka
scripts/kafka-java.sh broker >/dev/null
cargo build --release --quiet
export ZKAFKA_BIN="${ZKAFKA_BIN:-$ROOT/target/release/zkafka}"
exec python3 bench/reelect_vs_kafka.py "$@"
