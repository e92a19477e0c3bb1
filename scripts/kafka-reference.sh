#!/usr/bin/env bash
# The reference: Apache Kafka 3.9 in ZooKeeper mode, three brokers beside a ZooKeeper of its own,
# started from the same config/server-<n>.properties that start zkafka.
#
#   scripts/kafka-reference.sh start    fetch Kafka from Maven Central if missing, start ZooKeeper and brokers
#   scripts/kafka-reference.sh stop     SIGTERM every process started here (brokers first), wait for them
#   scripts/kafka-reference.sh status   what runs, by pid
#
# Only these keys differ from zkafka's local cluster (scripts/cluster.sh), so both can run at once:
#   listeners / advertised.listeners   port + 10000 (19092, 19093, 19094)
#   log.dirs                           .run/reference/kafka-logs-<n>
#   zookeeper.connect                  127.0.0.1:2182/kafka-reference (ZooKeeper data in .run/reference/)
# KAFKA_VERSION (default 3.9.2) picks the release; KAFKA_HEAP (default "-Xms512m -Xmx512m") each
# broker's heap. Logs: .run/reference/broker-<n>.log; pids: .run/reference/*.pid.
set -euo pipefail
# shellcheck source=scripts/kafka-java.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka-java.sh"

ROOT="$KAFKA_JAVA_ROOT"
cd "$ROOT"
RUN="$ROOT/.run/reference"
ZK_PORT="${KAFKA_REFERENCE_ZK_PORT:-2182}"
CHROOT=/kafka-reference
PORT_SHIFT=10000
HEAP="${KAFKA_HEAP:--Xms512m -Xmx512m}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"

WHO=kafka-reference
# shellcheck source=scripts/local-processes.sh
. "$ROOT/scripts/local-processes.sh"

# config/zookeeper.properties with this cluster's port and data dir
write_zookeeper_conf() {
  mkdir -p "$RUN"
  sed -e "s|^clientPort=.*|clientPort=$ZK_PORT|" -e "s|^dataDir=.*|dataDir=$RUN/zookeeper|" \
    config/zookeeper.properties >"$RUN/zookeeper.properties"
}

# the first listener's host and port, shifted
shifted_listener() {
  local proto host port
  IFS='|' read -r proto host port <<<"$(listener_parts "$1" "$2")"
  echo "$proto://$host:$((port + PORT_SHIFT))"
}

start_broker() {
  local id="$1" conf="config/server-$1.properties" pidf="$RUN/broker-$1.pid" logf="$RUN/broker-$1.log"
  broker_running "$id" "$conf" "$pidf" && return
  local listener advertised cp
  listener="$(shifted_listener "$conf" listeners)"
  advertised="$(shifted_listener "$conf" advertised.listeners)"
  cp="$(kafka_classpath broker "$KAFKA_VERSION")"
  mkdir -p "$RUN/kafka-logs-$id"
  # Kafka's own kafka-server-start.sh settings, with a fixed heap
  # shellcheck disable=SC2086 # HEAP holds several options
  nohup java $HEAP -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
    -Djava.awt.headless=true -Dkafka.logs.dir="$RUN" \
    -Dlog4j.configuration="file:$ROOT/reference/log4j.properties" \
    -cp "$cp" kafka.Kafka "$conf" \
    --override "listeners=$listener" --override "advertised.listeners=$advertised" \
    --override "log.dirs=$RUN/kafka-logs-$id" \
    --override "zookeeper.connect=127.0.0.1:$ZK_PORT$CHROOT" \
    >"$logf" 2>&1 &
  echo $! >"$pidf"
  local hostport="${advertised#*://}"
  if ! python3 "$ROOT/scripts/wait-broker.py" "127.0.0.1:$ZK_PORT$CHROOT" "$id" \
      "${hostport%:*}" "${hostport##*:}" "$(cat "$pidf")" "$START_TIMEOUT"; then
    tail -n 30 "$logf" >&2 || true
    die "Kafka broker $id did not start (log: $logf); clean up with: scripts/kafka-reference.sh stop"
  fi
  say "Kafka $KAFKA_VERSION broker $id up on $hostport (pid $(cat "$pidf"), log $logf)"
}

cmd_start() {
  "$ROOT/scripts/install-deps.sh" --kafka
  kafka_libs broker "$KAFKA_VERSION" >/dev/null
  write_zookeeper_conf
  start_zookeeper "$RUN" "$RUN/zookeeper.properties"
  local id bootstrap=()
  for id in 1 2 3; do
    start_broker "$id"
    bootstrap+=("$(shifted_listener "config/server-$id.properties" advertised.listeners | sed 's|.*://||')")
  done
  echo
  echo "bootstrap servers: $(IFS=,; echo "${bootstrap[*]}")"
  echo "ZooKeeper: 127.0.0.1:$ZK_PORT$CHROOT"
  echo "stop with: scripts/kafka-reference.sh stop"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) stop_all "$RUN" 60 ;;
  status) status_of "$RUN" "scripts/kafka-reference.sh start" ;;
  *) echo "usage: scripts/kafka-reference.sh start|stop|status" >&2; exit 2 ;;
esac
