# shellcheck shell=bash
# Sourced by scripts/bench-*.sh: one ZooKeeper and one zkafka broker in a temporary directory,
# on free loopback ports, stopped by pid on exit.
#
#   source bench/cluster.sh; bench_start [extra broker properties...]
#   -> BENCH_DIR, ZK_PORT, ZK_PID, BROKER_PORT, BROKER_PID, BOOTSTRAP, LOG_DIR, ZKAFKA
# Env: ZKAFKA (binary; default: cargo build --release, target/release/zkafka), BENCH_TMP (parent
# dir; default the system's temporary directory).

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${ZKAFKA:-}" ]; then
  (cd "$BENCH_ROOT" && cargo build --release --quiet)
  ZKAFKA="$BENCH_ROOT/target/release/zkafka"
fi
ZK_CP="/etc/zookeeper/conf_example:/usr/share/java/zookeeper.jar"
ZK_PID=""
BROKER_PID=""

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

bench_stop() {
    local p
    for p in "$BROKER_PID" "$ZK_PID"; do
        [ -n "$p" ] || continue
        kill "$p" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    BROKER_PID=""; ZK_PID=""
    if [ -n "${BENCH_DIR:-}" ] && [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$BENCH_DIR"; fi
}

# bench_start [key=value ...]: extra lines for the broker's properties file
bench_start() {
    BENCH_DIR="$(mktemp -d "${BENCH_TMP:-/tmp}/zkafka-bench.XXXXXX")"
    ZK_PORT="$(free_port)"
    BROKER_PORT="$(free_port)"
    BOOTSTRAP="127.0.0.1:$BROKER_PORT"
    LOG_DIR="$BENCH_DIR/kafka-logs"
    mkdir -p "$BENCH_DIR/zk" "$LOG_DIR"
    cat >"$BENCH_DIR/zoo.cfg" <<CFG
tickTime=2000
dataDir=$BENCH_DIR/zk
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=*
maxClientCnxns=0
CFG
    java -Dzookeeper.log.dir="$BENCH_DIR" -cp "$ZK_CP" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$BENCH_DIR/zoo.cfg" >"$BENCH_DIR/zookeeper.log" 2>&1 &
    ZK_PID=$!
    local reply=""
    for _ in $(seq 1 150); do
        reply="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$ZK_PORT && printf ruok >&3 && cat <&3" 2>/dev/null || true)"
        [ "$reply" = imok ] && break
        kill -0 "$ZK_PID" 2>/dev/null || break
        sleep 0.2
    done
    [ "$reply" = imok ] || { tail -20 "$BENCH_DIR/zookeeper.log" >&2; echo "bench: ZooKeeper did not start" >&2; return 1; }
    {
        echo "broker.id=1"
        echo "listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$BROKER_PORT"
        echo "log.dirs=$LOG_DIR"
        echo "zookeeper.connect=127.0.0.1:$ZK_PORT/zkafka"
        echo "num.partitions=1"
        echo "default.replication.factor=1"
        echo "offsets.topic.replication.factor=1"
        echo "min.insync.replicas=1"
        echo "auto.create.topics.enable=true"
        echo "log.segment.bytes=1073741824"
        echo "message.max.bytes=1048588"
        echo "socket.request.max.bytes=104857600"
        local kv; for kv in "$@"; do echo "$kv"; done
    } >"$BENCH_DIR/server.properties"
    "$ZKAFKA" server "$BENCH_DIR/server.properties" >"$BENCH_DIR/broker.log" 2>&1 &
    BROKER_PID=$!
    python3 "$BENCH_ROOT/scripts/wait-broker.py" "127.0.0.1:$ZK_PORT/zkafka" 1 127.0.0.1 "$BROKER_PORT" "$BROKER_PID" 60 >&2 \
        || { tail -30 "$BENCH_DIR/broker.log" >&2; echo "bench: broker did not start" >&2; return 1; }
    echo "bench: ZooKeeper pid $ZK_PID on 127.0.0.1:$ZK_PORT, broker pid $BROKER_PID on $BOOTSTRAP, dir $BENCH_DIR" >&2
}

# rss_kb PID: "VmRSS VmHWM" in kB
rss_kb() { awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{print r, h}' "/proc/$1/status"; }
