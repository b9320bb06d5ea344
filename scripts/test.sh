#!/usr/bin/env bash
# The README's test command: installs what is missing, configures and builds
# tpc, then runs every suite (lit, gtest, end-to-end) through ctest, which
# ends with its summary line. Quick when everything is already there.
#
#   scripts/test.sh            # build dir: build/ (TPC_BUILD_DIR overrides)
#   scripts/test.sh --sanitize # everything with ASan + UBSan, in build-sanitize/
set -euo pipefail
if [ "${1:-}" = "--sanitize" ]; then
  export TPC_BUILD_DIR="${TPC_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/build-sanitize}"
  export TPC_CMAKE_ARGS="-DTPC_SANITIZE=ON"
  # Leaks are reported at exit; MLIR's and LLVM's process-lifetime
  # singletons are not leaks of tpc's.
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allow_user_poisoning=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lsan.supp"
fi
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cmake --build "$build"

# ctest lists skipped tests (GPU tests on machines without a GPU) after its
# summary; the closing line counts everything in one place.
log="$build/ctest.log"
set +e
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
total=$(sed -n 's/.* tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -1)
failed=$(sed -n 's/.*, \([0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
skipped=$(grep -c '(Skipped)$' "$log" || true)
if [ -n "$total" ] && [ -n "$failed" ]; then
  echo "tests: $((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"
