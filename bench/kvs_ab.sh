#!/usr/bin/env bash
# kvs_ab: two kvs-server binaries under the same wrk load, interleaved, in one run: PUT and GET
# throughput and p99 of B as a ratio of A. For a change's before/after (A = the old build),
# and for the fsync ceiling:
#
#   bench/kvs_ab.sh [--nosync] SERVER_A SERVER_B [SECONDS] [ROUNDS]
#
# With --nosync, SERVER_B must be a build configured with -DKVS_BENCH_UNSAFE_NOSYNC=ON (its
# commits skip fsync: NOT durable; the script checks the server's start-up warning) and
# SERVER_A the normal durable build; the ratios printed are then durable / no-sync, which is
# what fsync costs. Setup as bench/etcd_compare.sh: both servers with auth, rate limiting,
# clustering, backups and audit off, each preloaded with the same 100,000 keys of 200-byte
# JSON, every request on a random one of them, wrk -t2 at c=16 and c=64, A and B alternating
# within each round. Needs wrk and curl. Listens on 127.0.0.1 only.
set -euo pipefail

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
for tool in wrk curl python3; do
  command -v "$tool" >/dev/null || { echo "kvs_ab: $tool is not installed" >&2; exit 1; }
done
for server in "$server_a" "$server_b"; do
  [ -x "$server" ] || { echo "kvs_ab: no kvs-server at $server" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

declare -A port=([a]=18471 [b]=18472)
declare -A binary=([a]="$server_a" [b]="$server_b")
for side in a b; do
  mkdir -p "$work/$side"
  cat > "$work/$side/config.yaml" <<EOF
node_id: bench-$side
port: ${port[$side]}
data_dir: $work/$side/data
log_level: warn
auth_enabled: false
clustering_enabled: false
rate_limiting_enabled: false
tamper_logging_enabled: false
backup_enabled: false
map_size_mb: 4096
EOF
  "${binary[$side]}" "$work/$side/config.yaml" >"$work/$side.log" 2>&1 &
  pids+=($!)
done
for side in a b; do
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:${port[$side]}/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -sf "http://127.0.0.1:${port[$side]}/health" >/dev/null || { echo "kvs_ab: server $side did not start:" >&2; cat "$work/$side.log" >&2; exit 1; }
done
# The unsafe build says so at start; a durable A must not.
if [ "$nosync" = 1 ]; then
  grep -q "MDB_NOSYNC" "$work/b.log" || { echo "kvs_ab: --nosync, but $server_b is not a KVS_BENCH_UNSAFE_NOSYNC build" >&2; exit 1; }
  if grep -q "MDB_NOSYNC" "$work/a.log"; then echo "kvs_ab: --nosync, but $server_a is not durable" >&2; exit 1; fi
fi

document='{"name":"'$(printf 'x%.0s' $(seq 179))'","n":12345}'
cat > "$work/put.lua" <<EOF
wrk.headers["Content-Type"] = "application/json"
request = function() return wrk.format("PUT", "/kv/bench/k" .. math.random(0, $keys - 1), nil, '$document') end
EOF
cat > "$work/get.lua" <<EOF
request = function() return wrk.format("GET", "/kv/bench/k" .. math.random(0, $keys - 1)) end
EOF
cat > "$work/preload.py" <<'EOF'
import http.client, sys, threading
port, keys, document = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
failures = []
def writer(first, stride):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for n in range(first, keys, stride):
        connection.request("PUT", "/kv/bench/k%d" % n, document, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append("k%d: %d" % (n, response.status))
            return
threads = [threading.Thread(target=writer, args=(i, 16)) for i in range(16)]
for thread in threads: thread.start()
for thread in threads: thread.join()
if failures:
    sys.exit("kvs_ab: preload failed: " + failures[0])
EOF
echo "kvs_ab: preloading $keys keys into each server"
for side in a b; do python3 "$work/preload.py" "${port[$side]}" "$keys" "$document"; done

measure() {  # script url connections
  local out
  out=$(wrk -t2 -c"$3" -d"${seconds}s" --latency -s "$1" "$2")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "kvs_ab: errors under load:" >&2
    echo "$out" >&2
    exit 1
  fi
  local rps p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/, "", v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v*=1000}; print v}' <<<"$out")
  echo "$rps $p99"
}

declare -A results
for round in $(seq "$rounds"); do
  for c in 16 64; do
    for op in put get; do
      # Alternate which side goes first, so that neither always runs on the warmer machine.
      order="a b"
      [ $((round % 2)) = 0 ] && order="b a"
      for side in $order; do
        read -r rps p99 < <(measure "$work/$op.lua" "http://127.0.0.1:${port[$side]}" "$c")
        printf 'round %d  c=%-3d %s %-4s %10.0f req/s  p99 %8.2f ms  (load %s)\n' "$round" "$c" "$side" "$op" "$rps" "$p99" \
          "$(cut -d' ' -f1 /proc/loadavg)"
        results[$side,$op,$c,rps]+="$rps "
        results[$side,$op,$c,p99]+="$p99 "
      done
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
label="B/A"
[ "$nosync" = 1 ] && label="durable/no-sync"
echo "medians over $rounds rounds of ${seconds}s; A=$server_a B=$server_b; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
for c in 16 64; do
  for op in put get; do
    ar=$(median <<<"${results[a,$op,$c,rps]}")
    br=$(median <<<"${results[b,$op,$c,rps]}")
    ap=$(median <<<"${results[a,$op,$c,p99]}")
    bp=$(median <<<"${results[b,$op,$c,p99]}")
    awk -v c="$c" -v op="$op" -v ar="$ar" -v br="$br" -v ap="$ap" -v bp="$bp" -v nosync="$nosync" -v label="$label" 'BEGIN {
      ratio = nosync ? ar / br : br / ar
      printf "c=%-3d %-4s A %9.0f req/s p99 %7.2f ms | B %9.0f req/s p99 %7.2f ms | %s throughput %.2fx\n",
             c, op, ar, ap, br, bp, label, ratio }'
  done
done
