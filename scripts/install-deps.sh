#!/usr/bin/env bash
# Installs what zkafka's scripts and integration tests need, only where it is missing.
# Idempotent and quiet: prints nothing unless it installs something or fails.
#   Debian: zookeeper, kcat, chromium (headless, for the lab report test), a headless JRE (apt-get update first, only when something is missing)
#   PyPI:   confluent-kafka, kafka-python, kazoo, pytest, pytest-timeout, pytest-xdist, jsonschema
#   Rust:   cargo must already be on PATH (rustup); this script does not install a toolchain.
#   --kafka: also Maven and a JDK (Debian's maven, default-jdk-headless), for the reference Apache
#            Kafka, its tools and the Java client tests (scripts/kafka-java.sh fetches the jars)
set -euo pipefail

want_kafka=0
for arg in "$@"; do
  case "$arg" in
    --kafka) want_kafka=1 ;;
    *) printf 'install-deps: unknown option %s (only --kafka)\n' "$arg" >&2; exit 2 ;;
  esac
done

say() { printf 'install-deps: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

if [ -x "$HOME/.cargo/bin/cargo" ] && ! command -v cargo >/dev/null 2>&1; then
  PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null 2>&1 || die "cargo not found on PATH; install Rust with rustup (https://rustup.rs) and retry"

# --- Debian packages -------------------------------------------------------------------------
missing_debs=()
command -v java >/dev/null 2>&1 || missing_debs+=(default-jre-headless)
{ [ -f /usr/share/java/zookeeper.jar ] && [ -d /etc/zookeeper/conf_example ]; } || missing_debs+=(zookeeper)
command -v kcat >/dev/null 2>&1 || missing_debs+=(kcat)
# headless browser for the downtime lab's report test (integration/test_lab.py)
command -v chromium >/dev/null 2>&1 || missing_debs+=(chromium)
if [ "$want_kafka" = 1 ]; then
  command -v mvn >/dev/null 2>&1 || missing_debs+=(maven)
  command -v javac >/dev/null 2>&1 || missing_debs+=(default-jdk-headless)
fi
if [ "${#missing_debs[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null 2>&1 || die "missing ${missing_debs[*]} and no apt-get to install them"
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "missing ${missing_debs[*]}; run as root or install sudo"
    sudo=(sudo)
  fi
  say "installing Debian packages: ${missing_debs[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing_debs[@]}" >/dev/null
fi

# --- Python packages -------------------------------------------------------------------------
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found"
missing_py=()
# module:distribution
for pair in confluent_kafka:confluent-kafka kafka:kafka-python kazoo:kazoo pytest:pytest \
            pytest_timeout:pytest-timeout xdist:pytest-xdist jsonschema:jsonschema prometheus_client:prometheus-client; do
  mod="${pair%%:*}"
  dist="${pair#*:}"
  "$PYTHON" -c "import $mod" >/dev/null 2>&1 || missing_py+=("$dist")
done
if [ "${#missing_py[@]}" -gt 0 ]; then
  say "installing Python packages: ${missing_py[*]}"
  PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install -q --disable-pip-version-check "${missing_py[@]}" >&2
fi
