"""Compares the logits two tpc executables wrote (--output), e.g. a bf16
program with the f32 one, or the GPU with the CPU.

usage: compare_logits.py GOT.safetensors EXPECTED.safetensors --max-rel R
                         [--min-rel M]

Prints the largest difference relative to the largest |expected logit|
and "ok" when it is at most R (and, with --min-rel, more than M: a 16-bit
program whose logits equal the f32 ones did not round); exits 1 otherwise.
"""
import argparse
import json
import struct
import sys


def read_logits(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    info = json.loads(data[8:8 + n])["logits"]
    begin, end = info["data_offsets"]
    values = struct.unpack("<%df" % ((end - begin) // 4),
                           data[8 + n + begin:8 + n + end])
    return info["shape"], values


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("got")
    parser.add_argument("expected")
    parser.add_argument("--max-rel", type=float, required=True)
    parser.add_argument("--min-rel", type=float)
    args = parser.parse_args()
    got_shape, got = read_logits(args.got)
    expected_shape, expected = read_logits(args.expected)
    if got_shape != expected_shape:
        print(f"MISMATCH: shapes {got_shape} and {expected_shape}")
        sys.exit(1)
    scale = max(abs(v) for v in expected)
    rel = max(abs(a - b) for a, b in zip(got, expected)) / scale
    ok = rel <= args.max_rel and (args.min_rel is None or rel > args.min_rel)
    print(f"max rel diff {rel:.3g}: {'ok' if ok else 'MISMATCH'}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
