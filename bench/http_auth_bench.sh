#!/usr/bin/env bash
# http_auth_bench: GET and PUT throughput of real kvs-server processes with auth on against
# auth off, in one run, measured with wrk over loopback keep-alive connections. The auth-on
# requests carry the bootstrap admin's bearer token, so every request pays token
# verification and the permission checks. Rate limiting is off on both servers.
#
#   bench/http_auth_bench.sh [KVS_SERVER_BINARY] [SECONDS] [CONNECTIONS]
#
# Needs wrk (Debian package wrk). Prints one line per figure and the on/off ratios.
set -euo pipefail

server=${1:-build/release/kvs-server/kvs-server}
seconds=${2:-5}
connections=${3:-64}
command -v wrk >/dev/null || { echo "http_auth_bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
[ -x "$server" ] || { echo "http_auth_bench: no kvs-server at $server" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start() {  # name port auth
  mkdir -p "$work/$1"
  cat > "$work/$1/config.yaml" <<EOF
node_id: bench-$1
port: $2
data_dir: $work/$1/data
log_level: warn
auth_enabled: $3
clustering_enabled: false
rate_limiting_enabled: false
tamper_logging_enabled: false
backup_enabled: false
EOF
  "$server" "$work/$1/config.yaml" 2>"$work/$1/stderr" &
  pids+=($!)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$2/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "http_auth_bench: $1 did not start: $(cat "$work/$1/stderr")" >&2
  exit 1
}

start open 18431 false
start auth 18432 true
token=$(cat "$work/auth/data/admin.token")

cat > "$work/get.lua" <<'EOF'
local token = os.getenv("KVS_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
request = function() return wrk.format("GET", "/kv/bench/" .. math.random(1, 1000)) end
EOF
cat > "$work/put.lua" <<'EOF'
local token = os.getenv("KVS_TOKEN")
if token and token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
wrk.headers["Content-Type"] = "application/json"
request = function()
  return wrk.format("PUT", "/kv/bench/" .. math.random(1, 1000), nil, '{"name":"someone","age":42}')
end
EOF

for i in $(seq 1 1000); do
  curl -sf -X PUT "http://127.0.0.1:18431/kv/bench/$i" -d '{"v":1}' >/dev/null
  curl -sf -X PUT -H "Authorization: Bearer $token" "http://127.0.0.1:18432/kv/bench/$i" -d '{"v":1}' >/dev/null
done

rate() {  # port script token
  KVS_TOKEN=$3 wrk -t2 -c"$connections" -d"${seconds}s" -s "$work/$2" "http://127.0.0.1:$1" |
    awk '/Requests\/sec/ {print $2} /Non-2xx/ {print "non2xx " $4 > "/dev/stderr"}'
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
