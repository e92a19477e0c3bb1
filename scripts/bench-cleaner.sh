#!/usr/bin/env bash
# Log cleaner throughput on a 1 GiB compacted log beside dd's fdatasync rate of the same disk
# (bench/cleaner_throughput.py says how). Builds the release broker first; results go to
# bench/results/cleaner-<date>.jsonl.
#
#   scripts/bench-cleaner.sh [--records 1000000] [--keys 100000] [--value-bytes 1024] [--runs 3]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
cargo build --release --quiet
export ZKAFKA_BIN="${ZKAFKA_BIN:-$ROOT/target/release/zkafka}"
exec python3 bench/cleaner_throughput.py "$@"
