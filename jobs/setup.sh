#!/usr/bin/env bash
# setup.sh - install what ovatool needs from Debian 12 and build it.
#   bash jobs/setup.sh [BUILD_DIR [extra cmake args...]]
# Run as root (or with sudo available) on a fresh machine; safe to re-run.
# Builds RelWithDebInfo with warnings as errors (the developers' setting;
# later cmake args win). EXTRA_PKGS names more Debian packages to install
# (jobs/test.sh adds what only the tests need).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true

PKGS="build-essential cmake pkg-config libopenmpi-dev openmpi-bin libhwloc-dev hwloc libcmocka-dev
      libssl-dev zlib1g-dev libdeflate-dev libisal-dev libxml2-dev libxml2-utils qemu-utils libvmdk-utils
      ${EXTRA_PKGS:-}"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 $missing >/dev/null
fi

cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DOVATOOL_WERROR=ON "$@" >/dev/null
cmake --build "$build" -j"$(nproc)"
