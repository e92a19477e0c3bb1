#!/usr/bin/env bash
# zkafka beside Apache Kafka 3.9 in one run, the two systems alternated. Builds the release broker
# first; results go to bench/results/ and docs/benchmarks.md quotes them with this command and the
# commit.
#
#   scripts/bench-vs-kafka.sh [--runs 3] [--records 300000] [--e2e-records 3000]
#       Kafka's perf tools against both (bench/vs_kafka.py says what is measured)
#   scripts/bench-vs-kafka.sh reelect [--partitions 10000] [--topics 10] [--runs 3] [--signals kill,term]
#       leader re-election after kill -9 / SIGTERM, measured the same way on both
#       (bench/reelect_vs_kafka.py); --systems zkafka measures zkafka alone
#   scripts/bench-vs-kafka.sh controller [--partitions 30000] [--topics 30] [--runs 3]
#       controller failover (kill -9 of the controller) and the killed broker's start-up with a
#       third of the partitions (bench/controller_vs_kafka.py); KAFKA_HEAP="-Xms2g -Xmx2g" gives
#       Kafka more heap
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bench=bench/vs_kafka.py
case "${1:-}" in
  reelect) bench=bench/reelect_vs_kafka.py; shift ;;
  controller) bench=bench/controller_vs_kafka.py; shift ;;
esac
scripts/install-deps.sh --kafka
scripts/kafka-java.sh broker >/dev/null
cargo build --release --quiet
export ZKAFKA_BIN="${ZKAFKA_BIN:-$ROOT/target/release/zkafka}"
exec python3 "$bench" "$@"
