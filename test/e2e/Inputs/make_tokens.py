"""Writes a training corpus: a random block of token ids repeated, as a flat
binary of uint16 (or uint32) ids.

usage: make_tokens.py OUT VOCAB BLOCK REPEATS [--uint32] [--seed S]
"""
import sys

import numpy as np


def main():
    out, vocab, block, repeats = sys.argv[1], *map(int, sys.argv[2:5])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    dtype = "<u4" if "--uint32" in sys.argv else "<u2"
    ids = np.random.default_rng(seed).integers(0, vocab, size=block)
    np.tile(ids, repeats).astype(dtype).tofile(out)


if __name__ == "__main__":
    main()
