#!/usr/bin/env bash
# The README's main job: installs what is missing, builds tpc, lets it plan
# GPT-2 small (examples/models/gpt2, 124M) at tp = 4, compiles the plan to an
# executable for the CPU, and generates text on 4 ranks with random weights
# through GPT-2's real tokenizer: the prompt prefilled once, then 32 tokens
# decoded one at a time against the KV caches, checked against the tp = 1
# programs in the same run, and timed. Then one forward pass over the same
# prompt, checked the same way.
#
#   scripts/demo.sh            # build dir: build/ (TPC_BUILD_DIR overrides)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cmake --build "$build" --target tpc-compile tpc-tokenizers

model="$root/examples/models/gpt2"
exe="$build/gpt2-tp4"
tokenizer="$build/tokenizers/gpt2/tokenizer.json"
prompt="The quick brown fox jumps over the lazy dog"

echo "== the plan tpc chose (tp = 4): the forward pass"
"$build/bin/tpc-compile" "$model" --tp 4 --emit=report | sed -n '1,4p;/^total/p;/estimated/,$p'
echo
echo "== ... and decode, one token per sequence"
"$build/bin/tpc-compile" "$model" --tp 4 --program decode --emit=report | sed -n '/^total/p;/decode, per/,$p'

echo
echo "== compile: $model -> $exe"
start=$(date +%s.%N)
"$build/bin/tpc-compile" "$model" --tp 4 -o "$exe"
printf 'compiled in %.1f s\n' "$(echo "$(date +%s.%N) - $start" | bc)"

echo
echo "== generate 32 tokens on 4 ranks, random weights, GPT-2's tokenizer, verified against tp = 1"
"$exe" --device cpu --random-weights 0 --tokenizer "$tokenizer" \
  --prompt "$prompt" --generate 32 --ignore-eos --verify --bench 2

echo
echo "== one forward pass over the prompt, verified against tp = 1"
# "The quick brown fox jumps over the lazy dog" in GPT-2's vocabulary.
tokens="$("$build/bin/tpc-tokenize" "$tokenizer" "$prompt" | tr ' ' ',')"
"$exe" --device cpu --random-weights 0 --tokens "$tokens" --verify --bench 3 --output "$build/gpt2-tp4.logits.safetensors"
