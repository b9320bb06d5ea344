#!/usr/bin/env bash
# Builds the libFuzzer harnesses (clang-22, ASan + UBSan, in build-fuzz/)
# and runs each for SECONDS (default 60) from a seed corpus made of the
# repository's examples, with a dictionary of its format's keywords. Prints
# one line per harness (runs, crashes, leaks, timeouts) and writes them to
# build-fuzz/fuzz-summary.txt; a crashing input is saved under
# build-fuzz/crashes/HARNESS/ (make it a regression test).
#
#   scripts/fuzz.sh [SECONDS] [HARNESS...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TPC_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-60}"
shift || true

"$root/scripts/install-deps.sh"
# clang-22 with libFuzzer, and its OpenMP runtime (the CPU kernels' oneDNN
# threads).
if ! command -v clang++-22 >/dev/null || [ ! -d /usr/lib/llvm-22/lib/clang ] ||
   ! ls /usr/lib/llvm-22/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 ||
   ! dpkg -s libomp-22-dev >/dev/null 2>&1; then
  echo "tpc: installing clang-22, libclang-rt-22-dev and libomp-22-dev for libFuzzer"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y clang-22 libclang-rt-22-dev libomp-22-dev
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake -G Ninja -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
    -DTPC_FUZZ=ON -DTPC_CUDA_ROOT=/nonexistent
fi
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=(Ir Config Safetensors ShardIndex Tokens TrainingData TokenizerJson TokenizerText)
targets=()
for h in "${harnesses[@]}"; do targets+=("tpc-fuzz-$h"); done
cmake --build "$build" --target "${targets[@]}"

# Seed corpora from the repository's examples (and files generated from
# them); dictionaries from test/fuzz/dict/.
corpus="$build/corpus"
mkdir -p "$corpus"
seed() { # HARNESS FILES...
  local dir="$corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do cp "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"; done
}
seed Ir "$root"/examples/mlir/*.mlir "$root"/test/dialect/ops.mlir "$root"/test/passes/derive-generation.mlir
seed Config "$root"/examples/models/*/config.json
seed TokenizerJson "$root"/test/fuzz/seeds/*.tokenizer.json
seed TokenizerText "$root"/test/tokenizer/Inputs/texts.json
seed Tokens "$root"/test/fuzz/seeds/*.tokens
seed ShardIndex "$root"/test/fuzz/seeds/*.index.json
mkdir -p "$corpus/Safetensors"
/usr/bin/python3 "$root/test/import/Inputs/make_safetensors.py" raw "$corpus/Safetensors/small.safetensors" \
  --header '{"a":{"dtype":"F32","shape":[3,2],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}}' --data-bytes 32
/usr/bin/python3 "$root/test/import/Inputs/make_safetensors.py" raw "$corpus/Safetensors/meta.safetensors" \
  --header '{"__metadata__":{"format":"pt"},"w":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}}' --data-bytes 8

mkdir -p "$corpus/TrainingData"
/usr/bin/python3 "$root/test/e2e/Inputs/make_tokens.py" "$corpus/TrainingData/block.u16" 1000 40 3
/usr/bin/python3 "$root/test/import/Inputs/make_safetensors.py" raw "$corpus/TrainingData/ids.safetensors" \
  --header '{"ids":{"dtype":"I64","shape":[4],"data_offsets":[0,32]}}' --data-bytes 32

summary="$build/fuzz-summary.txt"
: > "$summary"
printf '%-14s %8s %12s %8s %7s %9s\n' harness seconds runs crashes leaks timeouts | tee -a "$summary"
status=0
for h in "${harnesses[@]}"; do
  crashes="$build/crashes/$h"
  mkdir -p "$crashes" "$corpus/$h"
  dict="$root/test/fuzz/dict/$h.dict"
  dictArg=(); [ -f "$dict" ] && dictArg=(-dict="$dict")
  log="$build/fuzz-$h.log"
  # Text costs per byte (every byte is a BPE symbol under ASan): short
  # inputs find the same paths far faster.
  maxLen=65536; [ "$h" = TokenizerText ] && maxLen=4096
  set +e
  ASAN_OPTIONS=detect_leaks=1:allow_user_poisoning=0 "$build/fuzz/tpc-fuzz-$h" "$corpus/$h" "${dictArg[@]}" \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 -max_len="$maxLen" \
    -artifact_prefix="$crashes/" -print_final_stats=1 > "$log" 2>&1
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  nCrash=$(ls "$crashes" | grep -c '^crash-' || true)
  nLeak=$(ls "$crashes" | grep -c '^leak-' || true)
  nTimeout=$(ls "$crashes" | grep -c '^timeout-' || true)
  printf '%-14s %8s %12s %8s %7s %9s\n' "$h" "$seconds" "${runs:-?}" "$nCrash" "$nLeak" "$nTimeout" | tee -a "$summary"
  [ $((nCrash + nLeak + nTimeout)) -gt 0 ] && status=1
done
exit $status
