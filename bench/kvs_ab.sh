#!/usr/bin/env bash
# kvs_ab: two kvs-server binaries under the same wrk load, interleaved, in one run: PUT and GET
# throughput and p99 of B as a ratio of A. For a change's before/after (A = the old build),
# and for the fsync ceiling:
#
#   bench/kvs_ab.sh [--nosync] SERVER_A SERVER_B [SECONDS] [ROUNDS]
#
# With --nosync, SERVER_B must be a build configured with -DKVS_BENCH_UNSAFE_NOSYNC=ON (the
# same server, redo log, held transaction and checkpoints included, with every sync skipped:
# NOT durable; the script checks the server's start-up warning) and SERVER_A the normal
# durable build; the ratios printed are then durable / no-sync, which is what syncing costs.
# KVS_BENCH_SYNC_DELAY_US=N in the environment makes each fdatasync of B (the redo log's,
# chiefly) a sleep of N µs instead (the no-sync build alone reads it): what the durable build
# would do on a device whose syncs took that long.
#
# Setup as bench/etcd_compare.sh: both servers with auth, rate limiting, clustering, backups
# and audit off, each preloaded with the same 100,000 keys of 200-byte JSON, every request on
# a random one of them, wrk -t2 at c=16 and c=64, A and B alternating within each round.
# Besides throughput and p99 it prints each server's CPU time and context switches per request
# (all its threads; bench_proc_usage in lib.sh): on a shared machine throughput moves by 10-15%
# from run to run, CPU per request far less. Needs wrk and curl. Listens on 127.0.0.1 only.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

nosync=0
if [ "${1:-}" = "--nosync" ]; then
  nosync=1
  shift
fi
[ $# -ge 2 ] || { echo "usage: $0 [--nosync] SERVER_A SERVER_B [SECONDS] [ROUNDS]" >&2; exit 2; }
server_a=$1
server_b=$2
seconds=${3:-10}
rounds=${4:-3}
keys=${KVS_AB_KEYS:-100000}  # override only to try the script quickly
bench_init kvs_ab wrk curl python3
bench_check_server "$server_a"
bench_check_server "$server_b"

declare -A port=([a]=18471 [b]=18472)
declare -A binary=([a]="$server_a" [b]="$server_b")
declare -A pid
for side in a b; do
  server=${binary[$side]}
  kvs_start "$side" "${port[$side]}" false "map_size_mb: 4096"
  pid[$side]=${pids[-1]}
done
tick_us=$((1000000 / $(getconf CLK_TCK)))
# The unsafe build says so at start; a durable A must not.
if [ "$nosync" = 1 ]; then
  grep -q "KVS_BENCH_UNSAFE_NOSYNC" "$work/b.log" || { echo "kvs_ab: --nosync, but $server_b is not a KVS_BENCH_UNSAFE_NOSYNC build" >&2; exit 1; }
  if grep -q "KVS_BENCH_UNSAFE_NOSYNC" "$work/a.log"; then echo "kvs_ab: --nosync, but $server_a is not durable" >&2; exit 1; fi
fi

document='{"name":"'$(printf 'x%.0s' $(seq 179))'","n":12345}'
cat > "$work/put.lua" <<EOF
wrk.headers["Content-Type"] = "application/json"
request = function() return wrk.format("PUT", "/kv/bench/k" .. math.random(0, $keys - 1), nil, '$document') end
EOF
cat > "$work/get.lua" <<EOF
request = function() return wrk.format("GET", "/kv/bench/k" .. math.random(0, $keys - 1)) end
EOF
echo "kvs_ab: preloading $keys keys into each server"
for side in a b; do bench_preload kvs "${port[$side]}" 0 "$keys" "$document"; done

declare -A results
for round in $(seq "$rounds"); do
  for c in 16 64; do
    for op in put get; do
      # Alternate which side goes first, so that neither always runs on the warmer machine.
      order="a b"
      [ $((round % 2)) = 0 ] && order="b a"
      for side in $order; do
        read -r ticks0 switches0 < <(bench_proc_usage "${pid[$side]}")
        read -r rps p99 < <(bench_wrk "$work/$op.lua" "http://127.0.0.1:${port[$side]}" "$c" "$seconds")
        read -r ticks1 switches1 < <(bench_proc_usage "${pid[$side]}")
        read -r cpu cs < <(awk -v t="$((ticks1 - ticks0))" -v s="$((switches1 - switches0))" -v n="$rps" \
          -v secs="$seconds" -v tick="$tick_us" 'BEGIN { n *= secs; printf "%.1f %.2f\n", t * tick / n, s / n }')
        printf 'round %d  c=%-3d %s %-4s %10.0f req/s  p99 %8.2f ms  CPU %6.1f us/req  %5.2f switches/req  (load %s)\n' \
          "$round" "$c" "$side" "$op" "$rps" "$p99" "$cpu" "$cs" "$(cut -d' ' -f1 /proc/loadavg)"
        results[$side,$op,$c,rps]+="$rps "
        results[$side,$op,$c,p99]+="$p99 "
        results[$side,$op,$c,cpu]+="$cpu "
        results[$side,$op,$c,cs]+="$cs "
      done
    done
  done
done

echo
label="B/A"
[ "$nosync" = 1 ] && label="durable/no-sync"
echo "medians over $rounds rounds of ${seconds}s; A=$server_a B=$server_b; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "(us: the server's CPU time per request; sw: its context switches per request)"
for c in 16 64; do
  for op in put get; do
    ar=$(bench_median <<<"${results[a,$op,$c,rps]}")
    br=$(bench_median <<<"${results[b,$op,$c,rps]}")
    ap=$(bench_median <<<"${results[a,$op,$c,p99]}")
    bp=$(bench_median <<<"${results[b,$op,$c,p99]}")
    ac=$(bench_median <<<"${results[a,$op,$c,cpu]}")
    bc=$(bench_median <<<"${results[b,$op,$c,cpu]}")
    as=$(bench_median <<<"${results[a,$op,$c,cs]}")
    bs=$(bench_median <<<"${results[b,$op,$c,cs]}")
    awk -v c="$c" -v op="$op" -v ar="$ar" -v br="$br" -v ap="$ap" -v bp="$bp" -v ac="$ac" -v bc="$bc" -v as="$as" -v bs="$bs" \
      -v nosync="$nosync" -v label="$label" 'BEGIN {
      ratio = nosync ? ar / br : br / ar
      cpu_ratio = nosync ? ac / bc : bc / ac
      printf "c=%-3d %-4s A %9.0f req/s p99 %7.2f ms %6.1f us %5.2f sw | B %9.0f req/s p99 %7.2f ms %6.1f us %5.2f sw | %s throughput %.2fx, CPU per request %.2fx\n",
             c, op, ar, ap, ac, as, br, bp, bc, bs, label, ratio, cpu_ratio }'
  done
done
