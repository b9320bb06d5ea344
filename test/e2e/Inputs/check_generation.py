"""Checks a generation output file written by a tpc executable.

usage: check_generation.py OUT.safetensors PROMPTS STEPS [--top-k K]

PROMPTS are the prompts' ids ("1,2,3;4,5"). `tokens` [batch, width] must
hold each prompt, then its generated tokens, then -1; `logits` [batch,
STEPS, vocab] must give each generated token a finite logit (it was drawn
from that distribution), with at most K finite entries per step under
top-k, and NaN rows past a sequence's end.
"""
import sys

import numpy as np

from reference import read_tensors


def main():
    path, prompts, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    top_k = int(sys.argv[5]) if sys.argv[4:5] == ["--top-k"] else None
    prompts = [[int(t) for t in p.split(",")] for p in prompts.split(";")]
    tensors = read_tensors(path)
    tokens, logits = tensors["tokens"], tensors["logits"]
    assert tokens.dtype == np.int64 and logits.dtype == np.float32
    batch = len(prompts)
    assert tokens.shape[0] == batch and logits.shape[:2] == (batch, steps), (
        tokens.shape, logits.shape)
    for b, prompt in enumerate(prompts):
        row = tokens[b]
        assert list(row[:len(prompt)]) == prompt, (b, row)
        generated = row[len(prompt):]
        count = int((generated >= 0).sum())
        assert count <= steps and all(generated[count:] == -1), (b, row)
        assert all(generated[:count] >= 0), (b, row)
        for step in range(steps):
            dist = logits[b, step]
            if step >= count:
                assert np.isnan(dist).all(), (b, step)
                continue
            assert np.isfinite(dist[generated[step]]), (b, step)
            if top_k is not None:
                assert np.isfinite(dist).sum() <= top_k, (b, step)
    print(f"tokens ok: {batch} sequences, prompts kept, padding -1")
    print("logits ok: each token is allowed by its distribution"
          + (f"; at most {top_k} candidates per step" if top_k else ""))


if __name__ == "__main__":
    main()
