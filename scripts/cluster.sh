#!/usr/bin/env bash
# Local zkafka cluster: one ZooKeeper plus brokers from config/server-<n>.properties.
#
#   scripts/cluster.sh start    install deps, cargo build --release, start ZooKeeper and brokers
#   scripts/cluster.sh stop     SIGTERM every process started here (brokers first), wait for them
#   scripts/cluster.sh status   what runs, by pid
#
# ZKAFKA_BROKERS=3 (default) starts brokers 1, 2 and 3; ZKAFKA_BROKERS=1 starts broker 1 alone.
# State, pids and logs live in ./.run/ (zookeeper.pid/.log, broker-<n>.pid/.log, kafka-logs-<n>/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
RUN="$ROOT/.run"
BROKERS="${ZKAFKA_BROKERS:-3}"
ZK_CONF="config/zookeeper.properties"
BIN="${ZKAFKA_BIN:-$ROOT/target/release/zkafka}"
START_TIMEOUT="${ZKAFKA_START_TIMEOUT:-60}"

WHO=cluster
# shellcheck source=scripts/local-processes.sh
. "$ROOT/scripts/local-processes.sh"

broker_ids() {
  case "$BROKERS" in
    1) echo 1 ;;
    3) echo 1 2 3 ;;
    *) die "ZKAFKA_BROKERS must be 1 or 3, not '$BROKERS'" ;;
  esac
}

start_broker() {
  local id="$1" conf="config/server-$1.properties" pidf="$RUN/broker-$1.pid" logf="$RUN/broker-$1.log"
  broker_running "$id" "$conf" "$pidf" && return
  local args=(server "$conf")
  if [ "$BROKERS" = 1 ]; then
    # a lone broker cannot hold three replicas: one replica per partition, acks=all needs only it
    args+=(--override default.replication.factor=1 --override min.insync.replicas=1
      --override offsets.topic.replication.factor=1)
  fi
  nohup "$BIN" "${args[@]}" >"$logf" 2>&1 &
  echo $! >"$pidf"
  local host port
  IFS='|' read -r _ host port <<<"$(listener_parts "$conf" listeners)"
  [ -n "$host" ] || host=localhost
  if ! python3 "$ROOT/scripts/wait-broker.py" "$(prop "$conf" zookeeper.connect)" "$id" \
      "$host" "$port" "$(cat "$pidf")" "$START_TIMEOUT"; then
    tail -n 30 "$logf" >&2 || true
    die "broker $id did not start (log: $logf); clean up with: scripts/cluster.sh stop"
  fi
  say "broker $id up on $host:$port (pid $(cat "$pidf"), log $logf)"
}

# advertised_address ID: host:port of the broker's first advertised listener
advertised_address() {
  local conf="config/server-$1.properties" adv
  adv="$(prop "$conf" advertised.listeners)"
  [ -n "$adv" ] || adv="$(prop "$conf" listeners)"
  adv="${adv%%,*}"
  echo "${adv#*://}"
}

cmd_start() {
  "$ROOT/scripts/install-deps.sh"
  local ids
  ids="$(broker_ids)"
  say "cargo build --release"
  cargo build --release --quiet
  [ -x "$BIN" ] || die "no broker binary at $BIN"
  mkdir -p "$RUN"
  start_zookeeper "$RUN" "$ZK_CONF"
  local id bootstrap=()
  for id in $ids; do
    start_broker "$id"
    bootstrap+=("$(advertised_address "$id")")
  done
  echo
  echo "bootstrap servers: $(IFS=,; echo "${bootstrap[*]}")"
  echo "stop with: scripts/cluster.sh stop"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) stop_all "$RUN" ;;
  status) status_of "$RUN" "scripts/cluster.sh start" ;;
  *) echo "usage: scripts/cluster.sh start|stop|status   (ZKAFKA_BROKERS=3|1)" >&2; exit 2 ;;
esac
