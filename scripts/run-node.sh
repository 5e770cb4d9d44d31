#!/usr/bin/env bash
# Sets up and builds kvs, then starts one node. The configuration file (default ./config.yaml)
# is written with every default on first start. Extra arguments go to kvs-server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh" "$root/build/release" -DCMAKE_BUILD_TYPE=Release \
  -DKVS_BUILD_TESTS=OFF -DKVS_BUILD_BENCH=OFF
exec "$root/build/release/kvs-server/kvs-server" "$@"
