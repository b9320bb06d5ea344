"""Compares the logits two tpc executables wrote (--output), e.g. a bf16
program with the f32 one, or the GPU with the CPU.

usage: compare_logits.py GOT.safetensors EXPECTED.safetensors --max-rel R
                         [--min-rel M]

Prints the largest difference relative to the largest |expected logit|
and "ok" when it is at most R (and, with --min-rel, more than M: a 16-bit
program whose logits equal the f32 ones did not round); exits 1 otherwise.
"""
import argparse
import sys

from reference import read_safetensors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("got")
    parser.add_argument("expected")
    parser.add_argument("--max-rel", type=float, required=True)
    parser.add_argument("--min-rel", type=float)
    args = parser.parse_args()
    got = read_safetensors(args.got)["logits"]
    expected = read_safetensors(args.expected)["logits"]
    if got.shape != expected.shape:
        print(f"MISMATCH: shapes {list(got.shape)} and {list(expected.shape)}")
        sys.exit(1)
    scale = abs(expected).max()
    rel = abs(got - expected).max() / scale
    ok = rel <= args.max_rel and (args.min_rel is None or rel > args.min_rel)
    print(f"max rel diff {rel:.3g}: {'ok' if ok else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
