#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer) of the targets in fuzz/ (see docs/fuzzing.md):
#   request_decode    a request frame through the header and body decoders the connection uses
#   batch_validate    producer record batches through the leader's batch and record validation
#   segment_recovery  a segment file through Log::open's recovery
#
#   scripts/fuzz.sh [SECONDS]     each target for SECONDS (default 60; scripts/test.sh gives 20)
#   scripts/fuzz.sh 3600          by hand: an hour per target
# Environment: FUZZ_TARGETS="request_decode batch_validate" picks targets; FUZZ_JOBS=N forks N
# libFuzzer workers per target (default 1: CI has 2 cores); ZKAFKA_FUZZ_TARGET_DIR is the build
# cache (default ~/.cache/zkafka/fuzz-target).
#
# Installs what is missing (the nightly toolchain, cargo-fuzz), checks the fuzz crate with
# cargo fmt and (except when CI=true) clippy, builds every target once, then runs each from the committed corpus
# (fuzz/corpus/<target>, read-only here) into a scratch corpus. A crash, a leak, an allocation
# above the target's -malloc_limit_mb or an input slower than -timeout fails the run; cargo-fuzz
# saves the input in fuzz/artifacts/<target>/ and prints the command that replays it.
# Growing the committed corpus after a long run: see docs/fuzzing.md.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
seconds="${1:-60}"
targets="${FUZZ_TARGETS:-request_decode batch_validate segment_recovery}"
jobs="${FUZZ_JOBS:-1}"

say() { printf 'fuzz: %s\n' "$*" >&2; }

if [ -x "$HOME/.cargo/bin/cargo" ] && ! command -v cargo >/dev/null 2>&1; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
command -v rustup >/dev/null 2>&1 || { say "error: rustup not found (cargo-fuzz needs a nightly toolchain)"; exit 1; }
toolchains="$(rustup toolchain list)"
if ! grep -q '^nightly' <<<"$toolchains"; then
  say "installing the nightly toolchain (libFuzzer needs -Z sanitizer flags)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# The fuzz crate is its own workspace: the main crate's fmt/clippy phases never see it.
cargo fmt --manifest-path fuzz/Cargo.toml -- --check
# clippy re-checks the whole zkafka crate under the fuzz workspace's flags: minutes on CI's two
# cores for three short harnesses, so it runs by hand only.
if [ "${CI:-}" != true ]; then
  cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --quiet -- -D warnings
fi

# Per target: libFuzzer limits. -malloc_limit_mb bounds any single allocation, so a length or
# count read from the input that is trusted before the bytes behind it exist is a crash here.
# batch_validate may decompress up to compression::MAX_DECOMPRESSED_BYTES (256 MiB) by design.
limits() {
  case "$1" in
    request_decode) echo "-max_len=65536 -malloc_limit_mb=16 -rss_limit_mb=1024" ;;
    batch_validate) echo "-max_len=65536 -malloc_limit_mb=600 -rss_limit_mb=2048" ;;
    segment_recovery) echo "-max_len=65536 -malloc_limit_mb=64 -rss_limit_mb=1024" ;;
    *) say "unknown target $1"; exit 2 ;;
  esac
}

# The instrumented release build of every dependency takes minutes on two cores and is the same from
# run to run, so it lives in a cache outside the repository (as Maven's downloads do); only the
# crates of this checkout are rebuilt when it changes. ZKAFKA_FUZZ_TARGET_DIR picks another place.
target_dir="${ZKAFKA_FUZZ_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zkafka/fuzz-target}"
mkdir -p "$target_dir"
cargo +nightly fuzz build --target-dir "$target_dir"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in $targets; do
  mkdir -p "$scratch/$t"
  say "$t for ${seconds}s"
  parallel=()
  if [ "$jobs" -gt 1 ]; then
    parallel=(-fork="$jobs")
  fi
  # shellcheck disable=SC2046 # the limits are separate words
  if ! cargo +nightly fuzz run --target-dir "$target_dir" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 "${parallel[@]}" -print_final_stats=1 \
      $(limits "$t"); then
    say "$t FAILED; replay with: cargo +nightly fuzz run --target-dir $target_dir $t fuzz/artifacts/$t/<file>"
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  say "failing targets: ${failed[*]}"
  exit 1
fi
say "no crash in: $targets"
