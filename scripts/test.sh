#!/usr/bin/env bash
# The README's test command: installs what is missing, configures and builds
# tpc, then runs every suite (lit, gtest, end-to-end) through ctest, which
# ends with its summary line. Quick when everything is already there.
#
#   scripts/test.sh            # build dir: build/ (TPC_BUILD_DIR overrides)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TPC_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh"
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release
fi
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j "$(nproc)"
