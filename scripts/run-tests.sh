#!/usr/bin/env bash
# Sets up and builds kvs with its tests, then runs every test (labels unit, integration,
# cluster, slow) under ctest. Extra arguments go to ctest (for example: -L unit).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/test"
"$root/scripts/setup.sh" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
ctest --test-dir "$build" --output-on-failure --timeout 600 -j "$(nproc)" "$@"
