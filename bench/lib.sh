# Sourced by the bench scripts (bash): what every one of them needs around its measurement.
#   bench_init NAME TOOL...        checks the tools, makes $work (removed on exit, with every
#                                  process started through bench_spawn)
#   bench_check_server PATH        exits unless PATH is an executable kvs-server
#   bench_spawn NAME COMMAND...    runs COMMAND in the background, output in $work/NAME.log
#   bench_wait NAME URL [CURL...]  waits (20 s at most) until URL answers 2xx; else prints the log
#   kvs_start NAME PORT AUTH [YAML...]
#                                  the kvs-server binary $server (set it anew before each call to
#                                  start another build) on 127.0.0.1:PORT with data in $work/NAME/data,
#                                  auth_enabled AUTH and everything else that costs off (rate
#                                  limiting, clustering, the audit log, backups); YAML lines are
#                                  appended to its config. Returns once /health answers.
#   bench_preload STORE PORT FIRST COUNT DOCUMENT [TOKEN]
#                                  writes keys bench/k<FIRST>..bench/k<FIRST+COUNT-1> with
#                                  DOCUMENT over 16 keep-alive connections; STORE is kvs or etcd
#                                  (its v3 JSON gateway); TOKEN: a kvs bearer token
#   bench_wrk SCRIPT URL CONNECTIONS SECONDS
#                                  runs wrk -t2 with the Lua SCRIPT and prints "<req/s> <p99 ms>";
#                                  exits when wrk saw a non-2xx answer or a socket error, since a
#                                  fast wrong answer is no figure. KVS_TOKEN passes to the script.
#   bench_proc_usage PID           prints "<CPU ticks> <context switches>" that PID has used so far,
#                                  all its threads together (ticks of 1/CLK_TCK s, user and
#                                  system; voluntary and involuntary switches): read before and
#                                  after a load to get its CPU and switches per request, figures
#                                  that move much less with a noisy machine than throughput does
#   bench_median                   the median of the numbers on stdin (separated by blanks or
#                                  newlines), for a figure measured over several rounds
# Everything listens on 127.0.0.1 only.

bench_init() {
  bench=$1
  shift
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "$bench: $tool is not installed" >&2; exit 1; }
  done
  work=$(mktemp -d)
  pids=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}

bench_check_server() {
  [ -x "$1" ] || { echo "$bench: no kvs-server at $1" >&2; exit 1; }
}

bench_spawn() {
  local name=$1
  shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}

bench_wait() {
  local name=$1 url=$2
  shift 2
  for _ in $(seq 200); do
    curl -sf "$@" "$url" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$bench: $name did not start; its log:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

kvs_start() {
  local name=$1 port=$2 auth=$3
  shift 3
  mkdir -p "$work/$name"
  {
    cat <<EOF
node_id: bench-$name
port: $port
data_dir: $work/$name/data
log_level: warn
auth_enabled: $auth
clustering_enabled: false
rate_limiting_enabled: false
tamper_logging_enabled: false
backup_enabled: false
EOF
    local line
    for line in "$@"; do echo "$line"; done
  } >"$work/$name/config.yaml"
  bench_spawn "$name" "$server" "$work/$name/config.yaml"
  bench_wait "$name" "http://127.0.0.1:$port/health"
}

bench_preload() {
  python3 - "$@" <<'EOF'
import base64, http.client, sys, threading
store, port, first, count, document = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
token = sys.argv[6] if len(sys.argv) > 6 else ""
value = base64.b64encode(document.encode()).decode()
headers = {"Content-Type": "application/json"}
if token:
    headers["Authorization"] = "Bearer " + token
failures = []
def writer(offset, stride):
    connection = http.client.HTTPConnection("127.0.0.1", port)
    for n in range(first + offset, first + count, stride):
        key = "bench/k%d" % n
        if store == "etcd":
            body = '{"key":"%s","value":"%s"}' % (base64.b64encode(key.encode()).decode(), value)
            connection.request("POST", "/v3/kv/put", body, headers)
        else:
            connection.request("PUT", "/kv/" + key, document, headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            failures.append("%s %s: %d" % (store, key, response.status))
            return
threads = [threading.Thread(target=writer, args=(i, 16)) for i in range(16)]
for thread in threads: thread.start()
for thread in threads: thread.join()
if failures:
    sys.exit("preload failed: " + failures[0])
EOF
}

bench_wrk() {
  local out rps p99
  out=$(wrk -t2 -c"$3" -d"$4s" --latency -s "$1" "$2")
  if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
    echo "$bench: errors under load:" >&2
    echo "$out" >&2
    exit 1
  fi
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/, "", v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/, "", v)} else if (v ~ /s$/) {sub(/s$/, "", v); v*=1000}; print v}' <<<"$out")
  echo "$rps $p99"
}

bench_proc_usage() {
  local ticks switches
  ticks=$(awk '{print $14 + $15}' "/proc/$1/stat")
  switches=$(cat /proc/"$1"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}')
  echo "$ticks $switches"
}

bench_median() {
  tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'
}
