#!/usr/bin/env bash
# Broker-core benchmark (issue "broker core", item 9) on one ZooKeeper + one broker that this script
# starts on free loopback ports (bench/cluster.sh) and stops by pid.
#
#   ZKAFKA=path/to/zkafka scripts/bench-produce-consume.sh [runs] [records-per-run] [mem-records]
#
# Defaults: 5 runs, 500000 records of 1 KiB per produce run (~500 MB, the volume dd writes),
# 3000000 records (~3 GiB) for the memory run. Env: PARTITIONS (6), BENCH_TMP (parent of the broker's log dir; /tmp),
# CONSUME_ONLY=1 (per run only the loopback baseline, the acks=1 Kafka-defaults produce that the
# consumers read, and the two consumes; no dd, no other produces, no memory run: for comparing
# fetch paths quickly).
# Per run, in the same run as the produce/consume figures:
#   - baselines: dd 512 MiB into the log dir with conv=fdatasync (the disk's sequential write
#     rate: the produce goal's baseline) and without (page cache only); bench/loopback.py (one
#     TCP connection on 127.0.0.1 moving 1 GiB: the consume goal's baseline);
#     bench/loopback.py given the log dir ("TCP to file": 512 MiB over the same kind of
#     connection, every chunk written to a file there; a "broker" with no Kafka logic, the
#     ceiling for anything fed over TCP);
#   - produce 1 KiB records, acks=1 and acks=all: `zkafka perf produce` with Kafka's defaults
#     (batch.size 16384, linger.ms 0, 5 in flight) and with librdkafka's settings below
#     (batch 1 MiB, linger 5 ms); bench/ck_produce.py (confluent-kafka, linger.ms=5,
#     batch.size=1 MiB, latency = produce() to delivery callback); kcat (Debian's, librdkafka
#     2.0.2 with its defaults, batch.size 1000000 and linger.ms 5) producing the same records from
#     a file, rate = records over kcat's wall time (start-up and the final delivery wait included;
#     every record is counted back afterwards);
#   - consume the acks=1 topic from offset 0: `zkafka perf consume`, bench/ck_consume.py.
# Every measurement starts with `sync`, so none pays for writing back the one before it (500 MB
# stays far below the kernel's dirty limits, so a produce runs at page-cache speed, as Kafka's
# appends do), and each topic is deleted once measured (consumed), so that later measurements
# in a run do not find the page cache fuller than earlier ones.
# Then once: broker VmRSS/VmHWM after 10%, 50% and 100% of a large produce.
# Results: JSON lines in $OUT (default bench/results/produce-consume-<utc time>.jsonl), then
# Markdown tables (medians, min–max, ratios) on stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
runs=${1:-5}
records=${2:-500000}
mem_records=${3:-3000000}
size=1024
parts=${PARTITIONS:-6}
(( runs >= 1 && runs <= 20 )) || { echo "runs must be 1..20" >&2; exit 2; }
mkdir -p bench/results
OUT=${OUT:-bench/results/produce-consume-$(date -u +%Y%m%dT%H%M%SZ).jsonl}
source bench/cluster.sh
trap bench_stop EXIT
bench_start  # no extra broker properties
: >"$OUT"

# Broker CPU (user+system) in seconds, from /proc/<pid>/stat.
tck=$(getconf CLK_TCK)
cpu_s() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$BROKER_PID/stat"; }
# measured TAG... -- CMD...: runs CMD, tags its JSON line with TAG... and the broker's CPU seconds.
measured() {
    local tags=() out c0 c1
    while [[ $1 != -- ]]; do tags+=("$1"); shift; done; shift
    sync
    c0=$(cpu_s); out=$("$@"); c1=$(cpu_s)
    printf '%s\n' "$out" | python3 bench/tag.py "${tags[@]}" broker_cpu_s="$(python3 -c "print(round($c1 - $c0, 2))")" >>"$OUT"
}
create() { "$ZKAFKA" topics --bootstrap-server "$BOOTSTRAP" --create --topic "$1" --partitions "$parts" --replication-factor 1 >&2; }
# drop TOPIC: delete it, so its files leave the page cache before the next measurement.
drop() { "$ZKAFKA" topics --bootstrap-server "$BOOTSTRAP" --delete --if-exists --topic "$1" >&2; }
zk_produce() { # topic acks config-name [extra perf args]
    local topic=$1 acks=$2 name=$3; shift 3
    measured bench=produce client_name="zkafka perf" config="$name" acks="\"$acks\"" run="$run" -- \
        timeout 600 "$ZKAFKA" perf produce --bootstrap-server "$BOOTSTRAP" --topic "$topic" --num-records "$records" \
        --record-size "$size" --throughput -1 --acks "$acks" --json "$@"
}

# kcat_produce TOPIC ACKS: the records of $KCAT_FILE through kcat; one JSON line like perf's.
kcat_produce() {
    local t0 t1
    t0=$(date +%s.%N)
    kcat -P -b "$BOOTSTRAP" -t "$1" -X acks="$2" -l "$KCAT_FILE"
    t1=$(date +%s.%N)
    python3 -c "import json, sys; s = float(sys.argv[2]) - float(sys.argv[1]); n = int(sys.argv[3]); print(json.dumps({'records': n, 'records_per_sec': n / s, 'mb_per_sec': n * $size / s / 2**20}))" "$t0" "$t1" "$records"
}
# count_records TOPIC: fails unless TOPIC holds exactly $records records.
count_records() {
    local n
    n=$(kcat -C -b "$BOOTSTRAP" -t "$1" -o beginning -e -q -f '\n' | wc -l)
    [[ $n == "$records" ]] || { echo "bench: $1 holds $n of $records records" >&2; return 1; }
}

# Both consumers read the acks=1, Kafka-defaults topic of this run from offset 0.
consume() {
    measured bench=consume client_name="zkafka perf" run="$run" -- \
        timeout 600 "$ZKAFKA" perf consume --bootstrap-server "$BOOTSTRAP" --topic "zk-$run-1" --messages "$records" --json
    measured bench=consume client_name=confluent-kafka run="$run" -- \
        timeout 600 python3 bench/ck_consume.py "$BOOTSTRAP" "zk-$run-1" "$records" 300
}

if [[ -z ${CONSUME_ONLY:-} ]]; then
    KCAT_FILE="$BENCH_DIR/kcat-records.txt"
    python3 -c "import random, string, sys; n, size = int(sys.argv[1]), int(sys.argv[2]); line = ''.join(random.choice(string.ascii_uppercase) for _ in range(size)) + '\n'; sys.stdout.write(line * n)" "$records" "$size" >"$KCAT_FILE"
fi
for run in $(seq 1 "$runs"); do
    echo "bench-produce-consume: run $run of $runs" >&2
    if [[ -n ${CONSUME_ONLY:-} ]]; then
        timeout 120 python3 bench/loopback.py $((1 << 30)) | python3 bench/tag.py bench=loopback run="$run" >>"$OUT"
        create "zk-$run-1"; zk_produce "zk-$run-1" 1 "batch 16 KiB, linger 0"
        consume
        continue
    fi
    sync; bash bench/dd.sh "$LOG_DIR" sync | python3 bench/tag.py bench=dd run="$run" >>"$OUT"
    sync; bash bench/dd.sh "$LOG_DIR" nosync | python3 bench/tag.py bench=dd run="$run" >>"$OUT"
    timeout 120 python3 bench/loopback.py $((1 << 30)) | python3 bench/tag.py bench=loopback run="$run" >>"$OUT"
    sync; timeout 120 python3 bench/loopback.py $((1 << 29)) "$LOG_DIR" | python3 bench/tag.py bench=tcp_to_file run="$run" >>"$OUT"
    for acks in 1 all; do
        create "zk-$run-$acks"; zk_produce "zk-$run-$acks" "$acks" "batch 16 KiB, linger 0"
        # zk-<run>-1 stays for the consumers; every other topic goes as soon as it is measured.
        [[ $acks == 1 ]] || drop "zk-$run-$acks"
        create "zkb-$run-$acks"; zk_produce "zkb-$run-$acks" "$acks" "batch 1 MiB, linger 5 ms" --batch-size 1048576 --linger-ms 5
        drop "zkb-$run-$acks"
        create "ck-$run-$acks"
        measured bench=produce client_name=confluent-kafka config="batch 1 MiB, linger 5 ms" acks="\"$acks\"" run="$run" -- \
            timeout 600 python3 bench/ck_produce.py "$BOOTSTRAP" "ck-$run-$acks" "$records" "$size" "$acks"
        drop "ck-$run-$acks"
        create "kc-$run-$acks"
        measured bench=produce client_name=kcat config="librdkafka defaults (batch 1000000, linger 5 ms)" acks="\"$acks\"" run="$run" -- \
            kcat_produce "kc-$run-$acks" "$acks"
        count_records "kc-$run-$acks"
        drop "kc-$run-$acks"
    done
    consume
    drop "zk-$run-1"
done
if [[ -n ${CONSUME_ONLY:-} ]]; then
    echo "bench-produce-consume: broker $ZKAFKA, results in $OUT" >&2
    python3 bench/summarize.py produce-consume "$OUT"
    exit 0
fi

# Memory: one large produce in 10 equal steps; RSS after steps 1, 5 and 10.
echo "bench-produce-consume: memory run, $mem_records records" >&2
create bench-mem
step=$((mem_records / 10))
read -r rss0 hwm0 < <(rss_kb "$BROKER_PID")
python3 -c "import json; print(json.dumps({'bench':'rss','pct':0,'vmrss_kb':$rss0,'vmhwm_kb':$hwm0,'log_bytes':0}))" >>"$OUT"
for i in $(seq 1 10); do
    timeout 900 "$ZKAFKA" perf produce --bootstrap-server "$BOOTSTRAP" --topic bench-mem --num-records "$step" \
        --record-size "$size" --throughput -1 --acks 1 --json \
        | python3 bench/tag.py bench=mem_step step="$i" >>"$OUT"
    if [[ $i == 1 || $i == 5 || $i == 10 ]]; then
        read -r rss hwm < <(rss_kb "$BROKER_PID")
        bytes=$(du -sb "$LOG_DIR"/bench-mem-* | awk '{s+=$1} END{print s}')
        python3 -c "import json; print(json.dumps({'bench':'rss','pct':$((i * 10)),'vmrss_kb':$rss,'vmhwm_kb':$hwm,'log_bytes':$bytes}))" >>"$OUT"
    fi
done
echo "bench-produce-consume: broker $ZKAFKA, results in $OUT" >&2
python3 bench/summarize.py produce-consume "$OUT"
