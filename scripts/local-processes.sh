#!/usr/bin/env bash
# What scripts/cluster.sh (zkafka) and scripts/kafka-reference.sh (Apache Kafka) share: a
# standalone ZooKeeper from Debian's package and processes tracked by pid files in a run
# directory. Sourced, not run; the caller sets WHO (its name, the prefix of every message).

ZK_CP="/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar"

say() { printf '%s: %s\n' "$WHO" "$*"; }
die() { printf '%s: error: %s\n' "$WHO" "$*" >&2; exit 1; }

# prop FILE KEY: the last value of KEY in a .properties file (empty if absent)
prop() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tail -n 1 | tr -d '\r'; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# listener_parts FILE KEY: "PROTO|HOST|PORT" of the first listener in KEY (in `listeners` when
# KEY is not set); HOST is empty for a listener on every address
listener_parts() {
  local listener host
  listener="$(prop "$1" "$2")"
  [ -n "$listener" ] || listener="$(prop "$1" listeners)"
  listener="${listener%%,*}"
  host="${listener#*://}"
  echo "${listener%%://*}|${host%:*}|${host##*:}"
}

# broker_running ID CONF PIDFILE: dies without CONF; true (and says so) when that broker runs
broker_running() {
  [ -f "$2" ] || die "missing $2"
  pid_alive "$3" || return 1
  say "broker $1 already running (pid $(cat "$3"))"
}

# zk_ruok PORT: whether a ZooKeeper on 127.0.0.1:PORT answers "imok"
zk_ruok() {
  local reply
  reply="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf ruok >&3 && cat <&3" 2>/dev/null || true)"
  [ "$reply" = "imok" ]
}

# start_zookeeper RUN CONF: a ZooKeeper from CONF (a zoo.cfg-style file) with its pid and log in RUN
start_zookeeper() {
  local run="$1" conf="$2" port i
  port="$(prop "$conf" clientPort)"
  if pid_alive "$run/zookeeper.pid"; then
    say "ZooKeeper already running (pid $(cat "$run/zookeeper.pid"))"
    return
  fi
  if zk_ruok "$port"; then
    die "something else already answers on ZooKeeper's port $port; stop it or change $conf"
  fi
  mkdir -p "$(prop "$conf" dataDir)"
  nohup java -Dzookeeper.log.dir="$run" -cp "$ZK_CP" \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$conf" >"$run/zookeeper.log" 2>&1 &
  echo $! >"$run/zookeeper.pid"
  for i in $(seq 1 150); do
    if zk_ruok "$port"; then
      say "ZooKeeper up on 127.0.0.1:$port (pid $(cat "$run/zookeeper.pid"))"
      return
    fi
    pid_alive "$run/zookeeper.pid" || break
    sleep 0.2
    : "$i"
  done
  tail -n 30 "$run/zookeeper.log" >&2 || true
  die "ZooKeeper did not answer ruok (log: $run/zookeeper.log)"
}

# stop_pidfile NAME PIDFILE [SECONDS]: SIGTERM, then SIGKILL after SECONDS (30) if still running
stop_pidfile() {
  local name="$1" pidf="$2" seconds="${3:-30}" pid i
  [ -f "$pidf" ] || return 0
  pid="$(cat "$pidf")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for i in $(seq 1 $((seconds * 5))); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
      : "$i"
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "$name (pid $pid) ignored SIGTERM for ${seconds}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$pidf"
}

# stop_all RUN [SECONDS]: brokers 3, 2, 1 (highest id first), then ZooKeeper
stop_all() {
  local id
  for id in 3 2 1; do
    stop_pidfile "broker-$id" "$1/broker-$id.pid" "${2:-30}"
  done
  stop_pidfile zookeeper "$1/zookeeper.pid"
}

# status_of RUN START_COMMAND: each process by pid; non-zero if one is not running or none started
status_of() {
  local f name rc=0
  for f in "$1"/zookeeper.pid "$1"/broker-*.pid; do
    [ -f "$f" ] || continue
    name="$(basename "$f" .pid)"
    if pid_alive "$f"; then
      say "$name running (pid $(cat "$f"))"
    else
      say "$name NOT running (stale pid $(cat "$f"); log ${f%.pid}.log)"
      rc=1
    fi
  done
  [ -f "$1/zookeeper.pid" ] || { say "not started ($2)"; rc=1; }
  return "$rc"
}
