#!/usr/bin/env bash
# The README's main job: installs what is missing, builds tpc, lets it plan
# GPT-2 small (examples/models/gpt2, 124M) at tp = 4, compiles the plan to an
# executable for the CPU, and runs a short prompt on 4 ranks with random
# weights, checking the logits against the tp = 1 program in the same run.
#
#   scripts/demo.sh            # build dir: build/ (TPC_BUILD_DIR overrides)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cmake --build "$build" --target tpc-compile

model="$root/examples/models/gpt2"
exe="$build/gpt2-tp4"
# "The quick brown fox jumps over the lazy dog" in GPT-2's vocabulary.
tokens="464,2068,7586,21831,18045,625,262,16931,3290"

echo "== the plan tpc chose (tp = 4)"
"$build/bin/tpc-compile" "$model" --tp 4 --emit=report | sed -n '1,4p;/^total/p;/estimated/,$p'

echo
echo "== compile: $model -> $exe"
start=$(date +%s.%N)
"$build/bin/tpc-compile" "$model" --tp 4 -o "$exe"
printf 'compiled in %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

echo
echo "== run on 4 ranks, random weights, verified against tp = 1"
"$exe" --device cpu --random-weights 0 --tokens "$tokens" --verify --bench 3 --output "$build/gpt2-tp4.logits.safetensors"
