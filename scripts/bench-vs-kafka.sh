#!/usr/bin/env bash
# zkafka beside Apache Kafka 3.9 in one run, the two systems alternated (bench/vs_kafka.py says
# what is measured). Builds the release broker first; results go to bench/results/vs-kafka-*.jsonl
# and docs/benchmarks.md quotes them with this command and the commit.
#
#   scripts/bench-vs-kafka.sh [--runs 3] [--records 300000] [--e2e-records 3000]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/install-deps.sh --kafka
scripts/kafka-java.sh broker >/dev/null
cargo build --release --quiet
export ZKAFKA_BIN="${ZKAFKA_BIN:-$ROOT/target/release/zkafka}"
exec python3 bench/vs_kafka.py "$@"
