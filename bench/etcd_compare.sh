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
# etcd-server), curl and python3. Everything listens on 127.0.0.1 only.
#
# Reading the p99: wrk 4.1 corrects its latencies for coordinated omission. After the run it
# takes the mean time per request of one connection as the interval a steady client would
# have kept, and for every request slower than that adds samples of what the requests it held
# back would have waited. A server that stalls now and then for a few ms is charged for each
# stall many times over, and its p99 (and mean) come out well above what its closed-loop
# clients saw; a server with smooth latencies is charged little. So the p99 here rewards short
# stalls: it is the figure to compare, not the one to quote as a client's wait. For that, run
# build/bench/closed_loop against either store (bench/closed_loop.cpp).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

server=${1:-build/release/kvs-server/kvs-server}
seconds=${2:-10}
rounds=${3:-3}
keys=${ETCD_COMPARE_KEYS:-100000}  # override only to try the script quickly
bench_init etcd_compare wrk etcd curl python3
bench_check_server "$server"

kvs_port=18461
etcd_port=18462
etcd_peer_port=18463

kvs_start kvs "$kvs_port" false "map_size_mb: 4096"

bench_spawn etcd etcd --name bench-etcd --data-dir "$work/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "bench-etcd=http://127.0.0.1:$etcd_peer_port" --quota-backend-bytes 4294967296 \
  --log-level error
bench_wait etcd "http://127.0.0.1:$etcd_port/health"

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
echo "etcd_compare: preloading $keys keys into each store"
bench_preload kvs "$kvs_port" 0 "$keys" "$(document_json)"
bench_preload etcd "$etcd_port" 0 "$keys" "$(document_json)"
kvs_count=$(curl -s "http://127.0.0.1:$kvs_port/health" | sed -n 's/.*"keys":\([0-9]*\).*/\1/p')
echo "etcd_compare: kvs holds ${kvs_count:-?} keys"

declare -A results
for round in $(seq "$rounds"); do
  for c in 16 64; do
    for op in put get; do
      for store in kvs etcd; do
        port=$kvs_port
        [ "$store" = etcd ] && port=$etcd_port
        read -r rps p99 < <(bench_wrk "$work/${store}_${op}.lua" "http://127.0.0.1:$port" "$c" "$seconds")
        printf 'round %d  c=%-3d %-4s %-4s %10.0f req/s  p99 %8.2f ms\n' "$round" "$c" "$store" "$op" "$rps" "$p99"
        results[$store,$op,$c,rps]+="$rps "
        results[$store,$op,$c,p99]+="$p99 "
      done
    done
  done
done

echo
echo "medians over $rounds rounds of ${seconds}s (kvs/etcd: throughput ratio, p99 ratio)"
for c in 16 64; do
  for op in put get; do
    kr=$(bench_median <<<"${results[kvs,$op,$c,rps]}")
    er=$(bench_median <<<"${results[etcd,$op,$c,rps]}")
    kp=$(bench_median <<<"${results[kvs,$op,$c,p99]}")
    ep=$(bench_median <<<"${results[etcd,$op,$c,p99]}")
    awk -v c="$c" -v op="$op" -v kr="$kr" -v er="$er" -v kp="$kp" -v ep="$ep" 'BEGIN {
      printf "c=%-3d %-4s kvs %9.0f req/s p99 %7.2f ms | etcd %9.0f req/s p99 %7.2f ms | throughput %.2fx  p99 %.2fx\n",
             c, op, kr, kp, er, ep, kr / er, kp / ep }'
  done
done
