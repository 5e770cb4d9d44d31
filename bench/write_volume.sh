#!/usr/bin/env bash
# write_volume: what durable PUTs cost the disk. Runs one or two kvs-server builds (A, then B,
# alternating by round) under the same wrk PUT load as bench/kvs_ab.sh (100,000 preloaded keys
# of 200-byte JSON, wrk -t2 at c=16 and c=64) and prints, besides req/s and p99, what the disk
# holding the data directories was asked to do per 1,000 PUTs: bytes written and cache
# flushes, read from /proc/diskstats around each run.
#
#   bench/write_volume.sh SERVER_A [SERVER_B] [SECONDS] [ROUNDS]
#
# Why: throughput on a shared two-core machine moves 10-15% between runs, but the bytes each
# PUT makes the disk write move little, and they are what every log sync queues behind (each
# LMDB transaction copies the B-tree pages it touches, and none of those copies is reused
# until the next checkpoint: docs/reliability.md). A change that writes fewer bytes per PUT
# shows here in one run. The counters are the whole device's: run it on an otherwise idle
# disk (TMPDIR chooses which). Listens on 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] || { echo "usage: $0 SERVER_A [SERVER_B] [SECONDS] [ROUNDS]" >&2; exit 2; }
sides=(a)
declare -A binary=([a]=$1)
shift
if [ $# -ge 1 ] && [ -x "$1" ]; then
  sides+=(b)
  binary[b]=$1
  shift
fi
seconds=${1:-10}
rounds=${2:-2}
keys=${KVS_AB_KEYS:-100000}  # override only to try the script quickly
bench_init write_volume wrk curl python3 df
for side in "${sides[@]}"; do bench_check_server "${binary[$side]}"; done

# The block device under $work, as /proc/diskstats names it.
device=$(basename "$(df --output=source "$work" | tail -1)")
grep -q " $device " /proc/diskstats || { echo "write_volume: $work is on $device, which /proc/diskstats does not list" >&2; exit 1; }
disk() {  # sectors written, flushes completed
  awk -v d="$device" '$3 == d {print $10, $19}' /proc/diskstats
}
puts() {
  curl -sf "http://127.0.0.1:$1/metrics" | awk '$1 == "kvs_writes_total{kind=\"put\"}" {print $2}'
}

declare -A port=([a]=18481 [b]=18482)
for side in "${sides[@]}"; do
  server=${binary[$side]}
  kvs_start "$side" "${port[$side]}" false "map_size_mb: 4096"
done
document='{"name":"'$(printf 'x%.0s' $(seq 179))'","n":12345}'
cat > "$work/put.lua" <<EOF
wrk.headers["Content-Type"] = "application/json"
request = function() return wrk.format("PUT", "/kv/bench/k" .. math.random(0, $keys - 1), nil, '$document') end
EOF
echo "write_volume: preloading $keys keys into each server; disk $device"
for side in "${sides[@]}"; do bench_preload kvs "${port[$side]}" 0 "$keys" "$document"; done
sleep 2  # the preload's last checkpoint

declare -A results
for round in $(seq "$rounds"); do
  for c in 16 64; do
    order="${sides[*]}"
    [ $((round % 2)) = 0 ] && [ ${#sides[@]} = 2 ] && order="b a"
    for side in $order; do
      read -r sectors0 flushes0 < <(disk)
      puts0=$(puts "${port[$side]}")
      read -r rps p99 < <(bench_wrk "$work/put.lua" "http://127.0.0.1:${port[$side]}" "$c" "$seconds")
      puts1=$(puts "${port[$side]}")
      read -r sectors1 flushes1 < <(disk)
      n=$((puts1 - puts0))
      kb=$(awk -v s=$((sectors1 - sectors0)) -v n="$n" 'BEGIN {printf "%.1f", s * 512 / 1024 / n}')
      fl=$(awk -v f=$((flushes1 - flushes0)) -v n="$n" 'BEGIN {printf "%.0f", f * 1000 / n}')
      printf 'round %d  c=%-3d %s %8.0f req/s  p99 %7.2f ms  %7s KiB written per PUT  %5s flushes per 1,000 PUTs\n' \
        "$round" "$c" "$side" "$rps" "$p99" "$kb" "$fl"
      results[$side,$c,rps]+="$rps "
      results[$side,$c,kb]+="$kb "
      results[$side,$c,fl]+="$fl "
    done
  done
done

echo
echo "medians over $rounds rounds of ${seconds}s; A=${binary[a]}${binary[b]:+ B=${binary[b]}}"
for c in 16 64; do
  for side in "${sides[@]}"; do
    printf 'c=%-3d %s %8.0f req/s  %7s KiB written per PUT  %5s flushes per 1,000 PUTs\n' "$c" "${side^^}" \
      "$(bench_median <<<"${results[$side,$c,rps]}")" "$(bench_median <<<"${results[$side,$c,kb]}")" \
      "$(bench_median <<<"${results[$side,$c,fl]}")"
  done
done
