#!/usr/bin/env bash
# Shared by the README's commands: installs what is missing and configures
# the build directory once. Source it; it sets $root and $build.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TPC_BUILD_DIR:-$root/build}"

"$root/scripts/install-deps.sh"
"$root/scripts/install-npm.sh" "$build"
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    ${TPC_CMAKE_ARGS:-}
fi
