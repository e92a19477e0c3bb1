#!/usr/bin/env bash
# zkafka's whole test suite, as CI runs it (.ci/run calls this):
#   install deps (with Maven and Apache Kafka's jars for the reference tests), cargo fmt --check,
#   cargo clippy -D warnings, cargo build, cargo test, the fuzz targets for FUZZ_SECONDS (20) each
#   (scripts/fuzz.sh; longer runs by hand), then the integration tests
#   (python3 -m pytest integration) against target/debug/zkafka and Apache Kafka 3.9.
# Prints the time each phase took. Extra arguments go to pytest, e.g.
#   scripts/test.sh -k produce        scripts/test.sh integration/test_harness.py
# Environment: ZKAFKA_SKIP_INTEGRATION=1 stops after cargo test (says so loudly);
#              PYTEST_ADDOPTS is honoured by pytest (e.g. -m "not retention");
#              PYTEST_WORKERS=N integration tests at a time (default 2; 1 = no pytest-xdist).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# no terminal in CI: keep cargo's and pytest's output plain
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_TERM_PROGRESS_WHEN=never
export PYTHONDONTWRITEBYTECODE=1

timings=()
phase() {
  local name="$1" start end rc
  shift
  printf '\n==> %s: %s\n' "$name" "$*"
  start=$(date +%s)
  set +e
  "$@"
  rc=$?
  set -e
  end=$(date +%s)
  timings+=("$(printf '%-12s %4ss  %s' "$name" "$((end - start))" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED (exit $rc)")")")
  return "$rc"
}

summary() {
  local rc=$?
  printf '\n==> timings\n'
  local t
  for t in "${timings[@]}"; do printf '  %s\n' "$t"; done
  exit "$rc"
}
trap summary EXIT

# Two pytest-xdist workers by default (PYTEST_WORKERS=1 runs them one at a time): most integration
# tests wait on brokers, sessions and rebalances rather than compute, so two at a time nearly halve
# the phase on CI's two cores. Each file runs whole on one worker (--dist loadfile), in its order.
pytest_phase() {
  local rc=0 workers=(-n "${PYTEST_WORKERS:-2}" --dist loadfile)
  if [ "${PYTEST_WORKERS:-2}" = 1 ]; then
    workers=()
  fi
  python3 -m pytest integration -q "${workers[@]}" "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "test.sh: pytest collected no integration tests (exit 5): nothing was tested" >&2
  fi
  return "$rc"
}

phase deps scripts/install-deps.sh --kafka
# Apache Kafka 3.9 (broker and tools) and the Java clients the reference tests run, from Maven
# Central into ~/.cache/zkafka once; a later run finds them there
kafka_jars() {
  local v
  scripts/kafka-java.sh broker >/dev/null
  for v in $(python3 -c 'import sys; sys.path.insert(0, "integration"); import reference; print(" ".join(reference.JAVA_CLIENT_VERSIONS))'); do
    scripts/kafka-java.sh client "$v" >/dev/null
  done
}
phase kafka-jars kafka_jars
if command -v shellcheck >/dev/null 2>&1; then
  phase shellcheck shellcheck -x -S warning scripts/*.sh bench/*.sh .ci/run
fi
phase fmt cargo fmt --all -- --check
phase clippy cargo clippy --all-targets --quiet -- -D warnings
phase build cargo build --quiet
phase cargo-test cargo test --quiet
# cargo-fuzz targets (fuzz/, its own workspace): from the committed corpus, 20 s each by default
phase fuzz scripts/fuzz.sh "${FUZZ_SECONDS:-20}"
if [ "${ZKAFKA_SKIP_INTEGRATION:-0}" = 1 ]; then
  printf '\n==> integration: SKIPPED because ZKAFKA_SKIP_INTEGRATION=1\n'
  exit 0
fi
phase integration pytest_phase "$@"
