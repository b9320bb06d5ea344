"""Writes a training corpus: a random block of token ids repeated, as a flat
binary of uint16 (or uint32) ids.

usage: make_tokens.py OUT VOCAB BLOCK REPEATS [--uint32] [--seed S]
                      [--safetensors DTYPE [--extra]]

With --safetensors the ids are one tensor "ids" of DTYPE (I64, I32, U16,
F32 ...) in a safetensors file; --extra adds a second tensor.
"""
import json
import struct
import sys

import numpy as np


def main():
    out, vocab, block, repeats = sys.argv[1], *map(int, sys.argv[2:5])
    seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
    dtype = "<u4" if "--uint32" in sys.argv else "<u2"
    ids = np.tile(np.random.default_rng(seed).integers(0, vocab, size=block), repeats)
    if "--safetensors" in sys.argv:
        kind = sys.argv[sys.argv.index("--safetensors") + 1]
        numpy = {"I64": "<i8", "I32": "<i4", "U16": "<u2", "U32": "<u4",
                 "U8": "u1", "F32": "<f4"}[kind]
        data = ids.astype(numpy).tobytes()
        header = {"ids": {"dtype": kind, "shape": [len(ids)],
                          "data_offsets": [0, len(data)]}}
        if "--extra" in sys.argv:
            header["mask"] = {"dtype": "U8", "shape": [1],
                              "data_offsets": [len(data), len(data) + 1]}
            data += b"\x01"
        text = json.dumps(header).encode()
        text += b" " * (-(8 + len(text)) % 8)
        open(out, "wb").write(struct.pack("<Q", len(text)) + text + data)
        return
    ids.astype(dtype).tofile(out)


if __name__ == "__main__":
    main()
