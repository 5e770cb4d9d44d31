#!/usr/bin/env bash
# Sets up and builds kvs with its tests, then runs every test (labels unit, integration,
# cluster, slow) under ctest. Extra arguments go to ctest instead of the default selection
# (for example: -L unit). The long simulation sweeps (label sim-long: tens of thousands of
# seeds of the simulations that the unit run samples) run only when asked for: -L sim-long.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build/test"
"$root/scripts/setup.sh" "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "$#" -eq 0 ]; then set -- -LE sim-long; fi
ctest --test-dir "$build" --output-on-failure --timeout 600 -j "$(nproc)" "$@"
