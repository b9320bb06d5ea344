#!/usr/bin/env bash
# Every GPU check of tpc in one run on a GPU machine (docs/gpu.md).
#
#   scripts/gpu-check.sh prepare [BUNDLE]        # here (installs, builds)
#   scripts/gpu-check.sh run [BUNDLE] [OUTDIR]   # on the GPU machine
#
# prepare builds what the checks run, on a machine with the toolchain (the
# GPU machine has CUDA and PyTorch but no LLVM/MLIR, Gloo or OpenBLAS): the
# runtime's GPU tests, the e2e programs, tpc executables of the tiny models
# and of Llama-3-8B-shaped models, the weights and CPU outputs they are
# compared with, the plan reports, and the shared libraries they load apart
# from CUDA's and the C library -- one archive, BUNDLE.tar.xz (default
# .gpu/bundle.tar.xz).
#
# run unpacks it and runs each check with its own timeout: the CUDA kernel
# and NCCL tests, the e2e programs on the GPU, the executables of
# test/e2e/cuda.test, tpc against transformers (logits at tp = 1..4, f32
# and bf16; greedy generation on the GPU against the CPU and against
# transformers' generate), then the benchmarks (bench/gpu_bench.py,
# tpc-gpu-kernel-bench). OUTDIR (default $OUT, else gpu-check-out) gets
# summary.txt (one line per check: PASS/FAIL, seconds, command) and a log
# per check. TPC_GPU_CHECK_GROUPS (default: all of them) picks groups of
# checks: kernels, e2e, cuda, hf, bench (e.g. "kernels,bench" to try a
# kernel change in one short run).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODE="${1:-}"
BUNDLE="${2:-$ROOT/.gpu}"

TINY="llama gpt2 qwen2 mistral"
declare -A PROMPT=([llama]="3,1,4,1,5,9;2,6,5,3,5,8" [gpt2]="5,17,88,3,42;0,64,8,1,77"
                   [qwen2]="10,20,30,40,50,60,70" [mistral]="1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20")

prepare() {
  # What the README's commands install and configure, then the build.
  source "$ROOT/scripts/setup.sh" # sets $build
  cmake --build "$build" || exit 1
  local B="$BUNDLE" tc="$build/bin/tpc-compile"
  rm -rf "$B/stage" && mkdir -p "$B/stage"/{bin,lib,exe,data,ref,models,glibc}
  local S="$B/stage"
  cp "$build"/test/unit/tpc-runtime-tests "$build"/test/e2e/tpc-e2e-tiny-* \
     "$build"/bench/tpc-gpu-kernel-bench "$S/bin/"

  # test/e2e/cuda.test's programs, weights and CPU outputs.
  local py="python3 $ROOT/test/e2e/Inputs"
  for m in llama gpt2; do
    "$tc" "$ROOT/examples/models/tiny-$m" --emit=tpc -o "$S/data/$m.mlir" || exit 1
  done
  $py/../../import/Inputs/make_safetensors.py from-ir "$S/data/llama.mlir" "$S/data/llama.safetensors" --normal 2 || exit 1
  $py/../../import/Inputs/make_safetensors.py from-ir "$S/data/gpt2.mlir" "$S/data/gpt2.safetensors" --normal 1 || exit 1
  for tp in 1 2 4; do
    "$tc" "$ROOT/examples/models/tiny-llama" --tp $tp --dtype f32 -o "$S/exe/cuda-llama$tp.exe" || exit 1
  done
  "$tc" "$ROOT/examples/models/tiny-llama" --tp 4 --dtype bf16 -o "$S/exe/cuda-llama4-bf16.exe" || exit 1
  "$tc" "$ROOT/examples/models/tiny-gpt2" --tp 4 --sequence-parallel --dtype f32 -o "$S/exe/cuda-gpt2-sp4.exe" || exit 1
  "$S/exe/cuda-llama4.exe" --weights "$S/data/llama.safetensors" --tokens "${PROMPT[llama]}" \
    --device cpu --output "$S/ref/llama.cpu.out" >/dev/null || exit 1
  "$S/exe/cuda-llama4-bf16.exe" --weights "$S/data/llama.safetensors" --tokens "${PROMPT[llama]}" \
    --device cpu --output "$S/ref/llama-bf16.cpu.out" >/dev/null || exit 1

  # tpc against transformers: every tiny model at tp = 1..4 (f32, named:
  # tiny-qwen2's config says bfloat16, the default), tp = 1 and 4 in bf16
  # (checkpoints are made there, by transformers).
  for m in $TINY; do
    for tp in 1 2 3 4; do
      "$tc" "$ROOT/examples/models/tiny-$m" --tp $tp --dtype f32 -o "$S/exe/hf-$m-tp$tp.exe" || exit 1
    done
    for tp in 1 4; do
      "$tc" "$ROOT/examples/models/tiny-$m" --tp $tp --dtype bf16 -o "$S/exe/hf-$m-tp$tp-bf16.exe" || exit 1
    done
    cp -r "$ROOT/examples/models/tiny-$m" "$S/models/"
  done

  # Llama-3-8B-shaped: 4 and 32 layers at tp = 1, and one rank's program
  # at tp = N (1/N of the heads, MLP and vocabulary) for the per-rank times.
  local base="$ROOT/examples/models/llama3-8b/config.json"
  mk() { # NAME LAYERS N
    mkdir -p "$S/models/$1"
    python3 - "$base" "$S/models/$1/config.json" "$2" "$3" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1])); n = int(sys.argv[4])
c["num_hidden_layers"] = int(sys.argv[3])
c["num_attention_heads"] //= n; c["num_key_value_heads"] //= n
c["intermediate_size"] //= n; c["vocab_size"] //= n
c["head_dim"] = 128
if n > 1: c["bos_token_id"] = c["eos_token_id"] = 0
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF
  }
  mk llama8b-L4 4 1; mk llama8b-L32 32 1
  for L in 4 32; do
    "$tc" "$S/models/llama8b-L$L" --tp 1 --dtype bf16 -o "$S/exe/llama8b-L$L-tp1.exe" || exit 1
  done
  for n in 2 4 8; do
    mk "llama8b-L4-rank$n" 4 $n
    "$tc" "$S/models/llama8b-L4-rank$n" --tp 1 --dtype bf16 -o "$S/exe/llama8b-L4-rank$n.exe" || exit 1
    for t in 2048 8192; do
      "$tc" "$S/models/llama8b-L4" --tp $n --dtype bf16 --emit=report --tokens $t \
        -o "$S/ref/llama8b-L4-tp$n-T$t.report" || exit 1
    done
  done

  # Shared libraries: everything the binaries load except the C library
  # family and CUDA's (the GPU machine's own), which are found there. The
  # C library is kept aside in glibc/ in case that machine's is older.
  local files=("$S"/bin/* "$S"/exe/*)
  ldd "${files[@]}" "$build/lib/libtpc-runtime.so" 2>/dev/null | awk '/=> \//{print $3}' | sort -u |
    while read -r lib; do
      case "$(basename "$lib")" in
        libcudart.so*|libcublas*.so*|libnccl.so*|libcuda.so*) ;;
        libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*)
          cp -L "$lib" "$S/glibc/" ;;
        *) cp -L "$lib" "$S/lib/" ;;
      esac
    done
  cp -L /lib64/ld-linux-x86-64.so.2 "$S/glibc/"
  rm -f "$B/bundle.tar.xz"
  XZ_OPT="-6 -T0" tar -C "$S" -cJf "$B/bundle.tar.xz" . || exit 1
  rm -rf "$S"
  echo "gpu-check: bundle $(du -h "$B/bundle.tar.xz" | cut -f1) at $B/bundle.tar.xz"
}

# --- on the GPU machine ------------------------------------------------------
W=/tmp/tpc-gpu
OUTDIR=""
SUMMARY=""
failures=0

check() { # NAME TIMEOUT COMMAND...
  local name="$1" limit="$2"; shift 2
  local t0=$SECONDS rc
  timeout --kill-after=5 "$limit" bash -c "$*" >"$OUTDIR/$name.log" 2>&1
  rc=$?
  local verdict=PASS
  [ $rc -eq 0 ] || { verdict="FAIL(rc=$rc)"; failures=$((failures + 1)); }
  [ $rc -eq 124 ] && verdict="TIMEOUT(${limit}s)"
  printf '%-34s %-14s %4ds  %s\n' "$name" "$verdict" $((SECONDS - t0)) "$*" | tee -a "$SUMMARY"
  if [ $rc -ne 0 ]; then tail -n 15 "$OUTDIR/$name.log" | sed 's/^/    | /'; fi
}

find_cuda_libs() { # prints the directories holding CUDA's libraries
  local want=(libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libnccl.so.2) dirs=() lib hit
  for lib in "${want[@]}"; do
    hit=$(find /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda*/targets /usr/lib/x86_64-linux-gnu \
            /opt /usr/local/lib -name "$lib" 2>/dev/null | head -1)
    [ -n "$hit" ] && dirs+=("$(dirname "$hit")")
  done
  printf '%s\n' "${dirs[@]}" | sort -u | paste -sd:
}

run() {
  local final="${3:-${OUT:-$ROOT/gpu-check-out}}"
  rm -rf "$W" && mkdir -p "$W/out" "$final"
  OUTDIR="$W/out" SUMMARY="$W/out/summary.txt" && : >"$SUMMARY"
  tar -C "$W" -xJf "$BUNDLE/bundle.tar.xz" || { echo "cannot unpack $BUNDLE/bundle.tar.xz"; exit 1; }
  export PYTHONUNBUFFERED=1
  # Only tpc's binaries see the carried libraries (Python and PyTorch keep
  # the machine's own): each becomes a wrapper that sets the path. Built on
  # an older C library, they run on a newer one; otherwise through the
  # carried loader.
  local libs="$W/lib:$(find_cuda_libs)" loader=""
  echo "libraries: $libs" | tee -a "$SUMMARY"
  nvidia-smi -L 2>&1 | tee -a "$SUMMARY"
  if ! LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$W/bin/tpc-runtime-tests" --gtest_list_tests >/dev/null 2>"$OUTDIR/loader.log"; then
    echo "native start failed ($(head -c 300 "$OUTDIR/loader.log")); using the carried C library" | tee -a "$SUMMARY"
    libs="$W/glibc:$libs" loader="$W/glibc/ld-linux-x86-64.so.2 --library-path $W/glibc:$libs"
  fi
  for f in "$W"/bin/* "$W"/exe/*; do
    mv "$f" "$f.real"
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s %s.real "$@"\n' "$libs" "$loader" "$f" >"$f"
    chmod +x "$f"
  done
  local E="$W/exe" D="$W/data" R="$W/ref" I="$ROOT/test/e2e/Inputs"
  local cmp="python3 $I/compare_logits.py" ref="python3 $I/reference.py" hf="python3 $I/hf_compare.py"

  local groups=",${TPC_GPU_CHECK_GROUPS:-kernels,e2e,cuda,hf,bench},"
  want() { [[ "$groups" == *",$1,"* ]]; }

  # 1. The runtime's GPU tests and the e2e programs on the GPU.
  # (a test that skips itself here, where there is a GPU, fails the check)
  if want kernels; then
  check cuda-kernel-nccl-tests 180 "$W/bin/tpc-runtime-tests --gtest_filter='*Cuda*:*Nccl*:*Device*' > $OUTDIR/gtest.out 2>&1; rc=\$?; cat $OUTDIR/gtest.out; [ \$rc -eq 0 ] && ! grep -q 'SKIPPED \]' $OUTDIR/gtest.out"
  # 16-bit attention again without the fused kernel (the cuBLAS path).
  check cuda-attention-unfused 120 "TPC_FLASH_ATTENTION=0 $W/bin/tpc-runtime-tests --gtest_filter='*Attention*'"
  fi
  if want e2e; then
  for m in gpt2 llama qwen2 mistral; do
    check "e2e-tiny-$m-cuda" 180 "$W/bin/tpc-e2e-tiny-$m --device cuda"
  done
  fi

  # 2. test/e2e/cuda.test's runs.
  if want cuda; then
  local L="--weights $D/llama.safetensors --tokens '${PROMPT[llama]}'"
  check cuda-llama-tp1 60 "$E/cuda-llama1.exe $L --device cuda --output $OUTDIR/l1.out && $cmp $OUTDIR/l1.out $R/llama.cpu.out --max-rel 1e-5 && $ref $ROOT/examples/models/tiny-llama $D/llama.safetensors '${PROMPT[llama]}' $OUTDIR/l1.out"
  check cuda-llama-tp2-virtual 60 "$E/cuda-llama2.exe $L --device cuda --verify --output $OUTDIR/l2.out && $cmp $OUTDIR/l2.out $R/llama.cpu.out --max-rel 1e-5"
  check cuda-llama-tp4-virtual 60 "$E/cuda-llama4.exe $L --device cuda --verify --bench 3 --output $OUTDIR/l4.out && $cmp $OUTDIR/l4.out $R/llama.cpu.out --max-rel 1e-5 && $ref $ROOT/examples/models/tiny-llama $D/llama.safetensors '${PROMPT[llama]}' $OUTDIR/l4.out"
  check cuda-llama-tp4-bf16 60 "$E/cuda-llama4-bf16.exe $L --device cuda --verify --output $OUTDIR/lb.out && $cmp $OUTDIR/lb.out $R/llama-bf16.cpu.out --max-rel 0.03 && $ref $ROOT/examples/models/tiny-llama $D/llama.safetensors '${PROMPT[llama]}' $OUTDIR/lb.out --max-rel 0.03"
  check cuda-gpt2-sp4 60 "$E/cuda-gpt2-sp4.exe --weights $D/gpt2.safetensors --tokens '${PROMPT[gpt2]}' --device cuda --verify --output $OUTDIR/g.out && $ref $ROOT/examples/models/tiny-gpt2 $D/gpt2.safetensors '${PROMPT[gpt2]}' $OUTDIR/g.out"
  fi

  # 3. Against transformers: logits at tp = 1..4 (f32 within 1e-4, bf16
  # within 3%), on the GPU; greedy generation on the GPU equal to the
  # CPU's and to transformers' generate().
  # (transformers' side in two Python processes: imports cost seconds)
  if want hf; then
  local H="$OUTDIR/hf"; mkdir -p "$H"
  local seed=1 m tp
  : >"$H/make.jobs"; : >"$H/compare.jobs"
  for m in $TINY; do
    echo "make $W/models/tiny-$m $H/$m.safetensors --seed $seed" >>"$H/make.jobs"
    seed=$((seed + 1))
  done
  check hf-make-checkpoints 240 "$hf batch $H/make.jobs"
  for m in $TINY; do
    local M="$W/models/tiny-$m" P="${PROMPT[$m]}" C="$H/$m.safetensors"
    for tp in 1 2 3 4; do
      check "hf-$m-tp$tp-run" 60 "$E/hf-$m-tp$tp.exe --weights $C --tokens '$P' --device cuda --output $H/$m$tp.out"
      echo "compare $M $C '$P' $H/$m$tp.out --max-rel 1e-4" >>"$H/compare.jobs"
    done
    for tp in 1 4; do
      check "hf-$m-tp$tp-bf16-run" 60 "$E/hf-$m-tp$tp-bf16.exe --weights $C --tokens '$P' --device cuda --output $H/$m$tp.bf16.out"
      echo "compare $M $C '$P' $H/$m$tp.bf16.out --max-rel 0.03" >>"$H/compare.jobs"
    done
    local G="--weights $C --tokens '$P' --generate 8 --ignore-eos"
    check "generate-$m-tp2-cuda-vs-cpu" 120 "$E/hf-$m-tp2.exe $G --device cuda --verify --output $H/$m.gen.cuda && $E/hf-$m-tp2.exe $G --device cpu --output $H/$m.gen.cpu > /dev/null && python3 -c \"import sys; from safetensors.numpy import load_file as l; a, b = l(sys.argv[1])['tokens'], l(sys.argv[2])['tokens']; print('cuda', a.tolist(), 'cpu', b.tolist()); sys.exit(0 if (a == b).all() else 1)\" $H/$m.gen.cuda $H/$m.gen.cpu"
    echo "generate $M $C '$P' $H/$m.gen.cuda" >>"$H/compare.jobs"
  done
  check hf-compare-all 300 "$hf batch $H/compare.jobs"
  grep -E '^\$ |: (ok|MISMATCH)|greedy tokens|shapes differ' "$OUTDIR/hf-compare-all.log" >>"$SUMMARY"
  fi

  # 4. Benchmarks (issue: tpc against PyTorch and cuBLAS).
  if want bench; then
  check kernel-bench 120 "$W/bin/tpc-gpu-kernel-bench && TPC_FLASH_ATTENTION=0 $W/bin/tpc-gpu-kernel-bench | sed -n '/^attention/,/^$/p'"
  # whatever is left of the run's budget (the device tool's 10 minutes)
  local left=$(( ${TPC_GPU_CHECK_SECONDS:-560} - SECONDS ))
  [ $left -gt 30 ] || left=30
  check gpu-bench $left "python3 $ROOT/bench/gpu_bench.py $W --json $OUTDIR/gpu_bench.json ${TPC_GPU_BENCH_ARGS:-}"

  cat "$OUTDIR/kernel-bench.log" "$OUTDIR/gpu-bench.log" >>"$SUMMARY"
  fi
  echo "gpu-check: $failures failed; summary in $final/summary.txt, logs in $final/logs.tar.gz" | tee -a "$SUMMARY"
  # Few files back: the summary, the benchmark's numbers, every log in one.
  cp "$SUMMARY" "$final/"
  [ -f "$OUTDIR/gpu_bench.json" ] && cp "$OUTDIR/gpu_bench.json" "$final/"
  tar -C "$OUTDIR" -czf "$final/logs.tar.gz" --exclude='*.safetensors' --exclude='*.out' --exclude='*.gen.*' .
  [ "$failures" -eq 0 ]
}

case "$MODE" in
  prepare) prepare ;;
  run) run "$@" ;;
  *) echo "usage: $0 prepare|run [BUNDLE] [OUTDIR]" >&2; exit 2 ;;
esac
