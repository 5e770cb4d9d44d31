#!/usr/bin/env bash
# etcd_compare: durable PUT and GET throughput and p99 of one kvs-server against one etcd
# (Debian's etcd-server, a single node, through its v3 JSON gateway), under the same wrk load,
# in one run. Both stores sync every write before answering. kvs-server runs with auth, rate
# limiting, clustering, backups and the audit log off, so that the store is what is measured.
#
#   bench/etcd_compare.sh [KVS_SERVER_BINARY] [SECONDS] [ROUNDS]
#
# Each round runs, for c=16 and c=64 connections (wrk -t2): kvs PUT, etcd PUT, kvs GET, etcd
# GET, interleaved so that a noisy neighbour hurts both sides alike. Both stores are first
# preloaded with the same 100,000 keys of 200-byte JSON documents, and every request picks one
# of those keys at random. Prints one line per measurement, then each figure's median over
# the rounds and the kvs/etcd ratios. Needs wrk and etcd-server (apt-get install wrk
# etcd-server) and curl. Everything listens on 127.0.0.1 only.
set -euo pipefail

server=${1:-build/release/kvs-server/kvs-server}
seconds=${2:-10}
rounds=${3:-3}
keys=${ETCD_COMPARE_KEYS:-100000}  # override only to try the script quickly
for tool in wrk etcd curl; do
  command -v "$tool" >/dev/null || { echo "etcd_compare: $tool is not installed (apt-get install wrk etcd-server curl)" >&2; exit 1; }
done
[ -x "$server" ] || { echo "etcd_compare: no kvs-server at $server" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

kvs_port=18461
etcd_port=18462
etcd_peer_port=18463

wait_for() {  # name url [curl args...]
  local name=$1 url=$2
  shift 2
  for _ in $(seq 200); do
    curl -sf "$@" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "etcd_compare: $name did not start; its log:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

mkdir -p "$work/kvs"
cat > "$work/kvs/config.yaml" <<EOF
node_id: bench-kvs
port: $kvs_port
data_dir: $work/kvs/data
log_level: warn
auth_enabled: false
clustering_enabled: false
rate_limiting_enabled: false
tamper_logging_enabled: false
backup_enabled: false
map_size_mb: 4096
EOF
"$server" "$work/kvs/config.yaml" >"$work/kvs.log" 2>&1 &
pids+=($!)
wait_for kvs "http://127.0.0.1:$kvs_port/health"

etcd --name bench-etcd --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "bench-etcd=http://127.0.0.1:$etcd_peer_port" --quota-backend-bytes 4294967296 \
  --log-level error >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_for etcd "http://127.0.0.1:$etcd_port/health"

# The document every PUT writes: 200 bytes of JSON.
document_json() { printf '{"name":"%s","n":12345}' "$(printf 'x%.0s' $(seq 179))"; }

# The wrk scripts. Keys are bench/k<N>, N in [0, keys); etcd's gateway takes keys and values
# in base64, precomputed per thread so that encoding is not what is measured.
cat > "$work/common.lua" <<EOF
keys = $keys
document = '$(document_json)'
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return alphabet:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end
EOF
cat > "$work/kvs_put.lua" <<EOF
dofile("$work/common.lua")
wrk.headers["Content-Type"] = "application/json"
request = function() return wrk.format("PUT", "/kv/bench/k" .. math.random(0, keys - 1), nil, document) end
EOF
cat > "$work/kvs_get.lua" <<EOF
dofile("$work/common.lua")
request = function() return wrk.format("GET", "/kv/bench/k" .. math.random(0, keys - 1)) end
EOF
cat > "$work/etcd_put.lua" <<EOF
dofile("$work/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local value = base64(document)
local bodies = {}
request = function()
  local n = math.random(0, keys - 1)
  local body = bodies[n]
  if not body then
    body = '{"key":"' .. base64("bench/k" .. n) .. '","value":"' .. value .. '"}'
    bodies[n] = body
  end
  return wrk.format("POST", "/v3/kv/put", nil, body)
end
EOF
cat > "$work/etcd_get.lua" <<EOF
dofile("$work/common.lua")
wrk.headers["Content-Type"] = "application/json"
local bodies = {}
request = function()
  local n = math.random(0, keys - 1)
  local body = bodies[n]
  if not body then
    body = '{"key":"' .. base64("bench/k" .. n) .. '"}'
    bodies[n] = body
  end
  return wrk.format("POST", "/v3/kv/range", nil, body)
end
EOF
# Preload: 16 keep-alive connections, each writing its share of the keys once.
cat > "$work/preload.py" <<'EOF'
import base64, http.client, sys, threading
store, port, keys, document = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
value = base64.b64encode(document.encode()).decode()
failures = []
def writer(first, stride):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for n in range(first, keys, stride):
        key = "bench/k%d" % n
        if store == "etcd":
            body = '{"key":"%s","value":"%s"}' % (base64.b64encode(key.encode()).decode(), value)
            connection.request("POST", "/v3/kv/put", body, {"Content-Type": "application/json"})
        else:
            connection.request("PUT", "/kv/" + key, document, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append("%s %s: %d" % (store, key, response.status))
            return
threads = [threading.Thread(target=writer, args=(i, 16)) for i in range(16)]
for thread in threads: thread.start()
for thread in threads: thread.join()
if failures:
    sys.exit("etcd_compare: preload failed: " + failures[0])
EOF

echo "etcd_compare: preloading $keys keys into each store"
python3 "$work/preload.py" kvs "$kvs_port" "$keys" "$(document_json)"
python3 "$work/preload.py" etcd "$etcd_port" "$keys" "$(document_json)"
kvs_count=$(curl -s "http://127.0.0.1:$kvs_port/health" | sed -n 's/.*"keys":\([0-9]*\).*/\1/p')
echo "etcd_compare: kvs holds ${kvs_count:-?} keys"

# Runs one measurement; prints "<req/s> <p99 ms>" and checks that wrk saw no errors.
measure() {  # script url connections
  local out
  out=$(wrk -t2 -c"$3" -d"${seconds}s" --latency -s "$1" "$2")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "etcd_compare: errors under load:" >&2
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
      for store in kvs etcd; do
        port=$kvs_port
        [ "$store" = etcd ] && port=$etcd_port
        read -r rps p99 < <(measure "$work/${store}_${op}.lua" "http://127.0.0.1:$port" "$c")
        printf 'round %d  c=%-3d %-4s %-4s %10.0f req/s  p99 %8.2f ms\n' "$round" "$c" "$store" "$op" "$rps" "$p99"
        results[$store,$op,$c,rps]+="$rps "
        results[$store,$op,$c,p99]+="$p99 "
      done
    done
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
echo
echo "medians over $rounds rounds of ${seconds}s (kvs/etcd: throughput ratio, p99 ratio)"
for c in 16 64; do
  for op in put get; do
    kr=$(median <<<"${results[kvs,$op,$c,rps]}")
    er=$(median <<<"${results[etcd,$op,$c,rps]}")
    kp=$(median <<<"${results[kvs,$op,$c,p99]}")
    ep=$(median <<<"${results[etcd,$op,$c,p99]}")
    awk -v c="$c" -v op="$op" -v kr="$kr" -v er="$er" -v kp="$kp" -v ep="$ep" 'BEGIN {
      printf "c=%-3d %-4s kvs %9.0f req/s p99 %7.2f ms | etcd %9.0f req/s p99 %7.2f ms | throughput %.2fx  p99 %.2fx\n",
             c, op, kr, kp, er, ep, kr / er, kp / ep }'
  done
done
