#!/usr/bin/env bash
# Installs the Debian 12 packages kvs needs (only those missing) and builds it.
# Usage: scripts/setup.sh BUILD_DIR [extra cmake arguments...]
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  liblmdb-dev libsimdjson-dev libyaml-cpp-dev libcurl4-openssl-dev libcpp-httplib-dev
  libssl-dev zlib1g-dev libbrotli-dev libzstd-dev libsodium-dev libfmt-dev catch2
  python3 python3-jwt curl iproute2
)

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "kvs: installing missing packages: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${missing[@]}"
fi

build_dir=${1:?usage: setup.sh BUILD_DIR [cmake args...]}
shift
cmake -S "$(dirname "$0")/.." -B "$build_dir" "$@"
cmake --build "$build_dir" -j "$(nproc)"
