#!/usr/bin/env bash
# Apache Kafka's jars from Maven Central, cached outside the repository. Sourced by
# kafka-reference.sh and kafka-tool.sh; run directly it prints a classpath:
#
#   scripts/kafka-java.sh broker [VERSION]   Kafka's broker and tools (default 3.9.2)
#   scripts/kafka-java.sh client VERSION     the Java client alone (kafka-clients VERSION)
#
# The jars are copied by `mvn dependency:copy-dependencies` (reference/pom.xml) into
# ${ZKAFKA_CACHE:-~/.cache/zkafka}/kafka-<VERSION>/libs or kafka-clients-<VERSION>/libs, once;
# Maven's own downloads stay in its local repository (~/.m2). Nothing else is downloaded.

KAFKA_VERSION="${KAFKA_VERSION:-3.9.2}"
ZKAFKA_CACHE="${ZKAFKA_CACHE:-$HOME/.cache/zkafka}"
KAFKA_JAVA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# kafka_libs broker|client VERSION: the directory of jars, downloading them first when missing.
kafka_libs() {
  local kind="$1" version="$2" dir profile
  case "$kind" in
    broker) dir="$ZKAFKA_CACHE/kafka-$version/libs"; profile=broker ;;
    client) dir="$ZKAFKA_CACHE/kafka-clients-$version/libs"; profile=client ;;
    *) echo "kafka-java: unknown kind '$kind' (broker or client)" >&2; return 2 ;;
  esac
  if [ ! -f "$dir/.complete" ]; then
    command -v mvn >/dev/null 2>&1 || "$KAFKA_JAVA_ROOT/scripts/install-deps.sh" --kafka >&2
    echo "kafka-java: fetching Apache Kafka $version ($kind) from Maven Central into $dir" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_JAVA_ROOT/reference/pom.xml" -P "$profile" \
        -Dkafka.version="$version" dependency:copy-dependencies \
        -DoutputDirectory="$dir" -DincludeScope=runtime >&2; then
      echo "kafka-java: Maven could not bring Kafka $version ($kind); see the error above" >&2
      return 1
    fi
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# kafka_classpath broker|client VERSION: "DIR/*", the form java's -cp expands.
kafka_classpath() {
  local dir
  dir="$(kafka_libs "$1" "$2")" || return 1
  echo "$dir/*"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    broker) kafka_classpath broker "${2:-$KAFKA_VERSION}" ;;
    client) [ -n "${2:-}" ] || { echo "usage: $0 client VERSION" >&2; exit 2; }
            kafka_classpath client "$2" ;;
    *) echo "usage: $0 broker [VERSION] | client VERSION" >&2; exit 2 ;;
  esac
fi
