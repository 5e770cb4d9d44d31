#!/usr/bin/env bash
# http_auth_bench: GET and PUT throughput of real kvs-server processes with auth on against
# auth off, in one run, measured with wrk over loopback keep-alive connections. The auth-on
# requests carry the bootstrap admin's bearer token, so every request pays token
# verification and the permission checks. Rate limiting is off on both servers.
#
#   bench/http_auth_bench.sh [KVS_SERVER_BINARY] [SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian package wrk), curl and python3. Prints one line per figure and the on/off
# ratios.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

server=${1:-build/release/kvs-server/kvs-server}
seconds=${2:-5}
connections=${3:-64}
bench_init http_auth_bench wrk curl python3
bench_check_server "$server"

kvs_start open 18431 false
kvs_start auth 18432 true
token=$(cat "$work/auth/data/admin.token")

cat > "$work/get.lua" <<'EOF'
local token = os.getenv("KVS_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
request = function() return wrk.format("GET", "/kv/bench/k" .. math.random(1, 1000)) end
EOF
cat > "$work/put.lua" <<'EOF'
local token = os.getenv("KVS_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format("PUT", "/kv/bench/k" .. math.random(1, 1000), nil, '{"name":"someone","age":42}')
end
EOF

bench_preload kvs 18431 1 1000 '{"v":1}'
bench_preload kvs 18432 1 1000 '{"v":1}' "$token"

rate() {  # port script token
  local rps _
  read -r rps _ < <(KVS_TOKEN=$3 bench_wrk "$work/$2" "http://127.0.0.1:$1" "$connections" "$seconds") || exit 1
  echo "$rps"
}

# Alternate the two servers so that drift in the machine's load affects both alike.
get_off=$(rate 18431 get.lua "")
get_on=$(rate 18432 get.lua "$token")
put_off=$(rate 18431 put.lua "")
put_on=$(rate 18432 put.lua "$token")
get_off2=$(rate 18431 get.lua "")
get_on2=$(rate 18432 get.lua "$token")
put_off2=$(rate 18431 put.lua "")
put_on2=$(rate 18432 put.lua "$token")

awk -v a="$get_off" -v b="$get_on" -v c="$get_off2" -v d="$get_on2" -v n="$connections" \
  'BEGIN { off=(a+c)/2; on=(b+d)/2; printf "GET %d conns: auth off %.0f req/s  auth on %.0f req/s  on/off %.1f%%\n", n, off, on, 100*on/off }'
awk -v a="$put_off" -v b="$put_on" -v c="$put_off2" -v d="$put_on2" -v n="$connections" \
  'BEGIN { off=(a+c)/2; on=(b+d)/2; printf "PUT %d conns: auth off %.0f req/s  auth on %.0f req/s  on/off %.1f%%\n", n, off, on, 100*on/off }'
