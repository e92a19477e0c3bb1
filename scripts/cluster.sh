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
ZK_CP="/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar"
BIN="${ZKAFKA_BIN:-$ROOT/target/release/zkafka}"
START_TIMEOUT="${ZKAFKA_START_TIMEOUT:-60}"

say() { printf 'cluster: %s\n' "$*"; }
die() { printf 'cluster: error: %s\n' "$*" >&2; exit 1; }

# prop FILE KEY: the last value of KEY in a .properties file (empty if absent)
prop() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tail -n 1 | tr -d '\r'; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

zk_port() { prop "$ZK_CONF" clientPort; }

zk_ruok() {
  local port reply
  port="$(zk_port)"
  reply="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port && printf ruok >&3 && cat <&3" 2>/dev/null || true)"
  [ "$reply" = "imok" ]
}

broker_ids() {
  case "$BROKERS" in
    1) echo 1 ;;
    3) echo 1 2 3 ;;
    *) die "ZKAFKA_BROKERS must be 1 or 3, not '$BROKERS'" ;;
  esac
}

start_zookeeper() {
  if pid_alive "$RUN/zookeeper.pid"; then
    say "ZooKeeper already running (pid $(cat "$RUN/zookeeper.pid"))"
    return
  fi
  if zk_ruok; then
    die "something else already answers on ZooKeeper's port $(zk_port); stop it or change $ZK_CONF"
  fi
  mkdir -p "$RUN/zookeeper"
  nohup java -Dzookeeper.log.dir="$RUN" -cp "$ZK_CP" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$ZK_CONF" >"$RUN/zookeeper.log" 2>&1 &
  echo $! >"$RUN/zookeeper.pid"
  local i
  for i in $(seq 1 150); do
    if zk_ruok; then
      say "ZooKeeper up on 127.0.0.1:$(zk_port) (pid $(cat "$RUN/zookeeper.pid"))"
      return
    fi
    pid_alive "$RUN/zookeeper.pid" || break
    sleep 0.2
    : "$i"
  done
  tail -n 30 "$RUN/zookeeper.log" >&2 || true
  die "ZooKeeper did not answer ruok (log: $RUN/zookeeper.log)"
}

start_broker() {
  local id="$1" conf="config/server-$1.properties" pidf="$RUN/broker-$1.pid" logf="$RUN/broker-$1.log"
  [ -f "$conf" ] || die "missing $conf"
  if pid_alive "$pidf"; then
    say "broker $id already running (pid $(cat "$pidf"))"
    return
  fi
  local args=(server "$conf")
  if [ "$BROKERS" = 1 ]; then
    # a lone broker cannot hold three replicas: one replica per partition, acks=all needs only it
    args+=(--override default.replication.factor=1 --override min.insync.replicas=1
      --override offsets.topic.replication.factor=1)
  fi
  nohup "$BIN" "${args[@]}" >"$logf" 2>&1 &
  echo $! >"$pidf"
  local listener host port
  listener="$(prop "$conf" listeners)"
  listener="${listener%%,*}"
  host="${listener#*://}"
  port="${host##*:}"
  host="${host%:*}"
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

stop_pidfile() {
  local name="$1" pidf="$2" pid i
  [ -f "$pidf" ] || return 0
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for i in $(seq 1 150); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
      : "$i"
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for 30s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$pidf"
}

cmd_start() {
  "$ROOT/scripts/install-deps.sh"
  local ids
  ids="$(broker_ids)"
  say "cargo build --release"
  cargo build --release --quiet
  [ -x "$BIN" ] || die "no broker binary at $BIN"
  mkdir -p "$RUN"
  start_zookeeper
  local id bootstrap=()
  for id in $ids; do
    start_broker "$id"
    bootstrap+=("$(advertised_address "$id")")
  done
  echo
  echo "bootstrap servers: $(IFS=,; echo "${bootstrap[*]}")"
  echo "stop with: scripts/cluster.sh stop"
}

cmd_stop() {
  local id
  # brokers first (highest id first), then ZooKeeper
  for id in 3 2 1; do
    stop_pidfile "broker-$id" "$RUN/broker-$id.pid"
  done
  stop_pidfile zookeeper "$RUN/zookeeper.pid"
}

cmd_status() {
  local f name rc=0
  for f in "$RUN"/zookeeper.pid "$RUN"/broker-*.pid; do
    [ -f "$f" ] || continue
    name="$(basename "$f" .pid)"
    if pid_alive "$f"; then
      say "$name running (pid $(cat "$f"))"
    else
      say "$name NOT running (stale pid $(cat "$f"); log ${f%.pid}.log)"
      rc=1
    fi
  done
  [ -f "$RUN/zookeeper.pid" ] || { say "not started (scripts/cluster.sh start)"; rc=1; }
  return "$rc"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: scripts/cluster.sh start|stop|status   (ZKAFKA_BROKERS=3|1)" >&2; exit 2 ;;
esac
