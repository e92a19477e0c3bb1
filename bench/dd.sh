#!/usr/bin/env bash
# Sequential write rate of the disk holding DIR: dd 512 MiB of zeros, with conv=fdatasync (data on
# the device) or without (page cache only, like the broker's unsynced appends). One JSON line.
#   bench/dd.sh DIR sync|nosync
set -euo pipefail
dir=$1; mode=$2
conv=(); [ "$mode" = sync ] && conv=(conv=fdatasync)
out=$(LC_ALL=C dd if=/dev/zero of="$dir/dd.tmp" bs=1M count=512 "${conv[@]}" 2>&1 | tail -1)
rm -f "$dir/dd.tmp"
# "536870912 bytes (537 MB, 512 MiB) copied, 0.51 s, 1.0 GB/s"
secs=$(sed -E 's/.*copied, ([0-9.]+) s.*/\1/' <<<"$out")
python3 -c "import json,sys; s=float(sys.argv[1]); print(json.dumps({'mode': sys.argv[2], 'bytes': 536870912, 'seconds': s, 'mb_per_sec': 512/s}))" "$secs" "$mode"
