"""Writes safetensors files for the importer tests, with the standard
library only.

  make_safetensors.py from-ir IR OUT [options]
      One tensor per distinct `tpc.weight` in the tpc IR file IR, with the
      IR's name and shape and deterministic values. Options bend the result:
        --dtype F32|F16|BF16      dtype of every tensor (default F32)
        --drop NAME               leave NAME out
        --reshape NAME=D0,D1,...  give NAME another shape
        --retype NAME=DTYPE       give NAME another dtype
        --extra NAME=D0,D1,...    add an F32 tensor the graph does not use
        --strip-prefix P          drop prefix P from every name
        --shards N                write OUT/ as N files plus
                                  model.safetensors.index.json
        --normal SEED             F32 values drawn from N(0, 0.05^2)
                                  (norm scales around 1) instead of a
                                  byte pattern

  make_safetensors.py raw OUT --header JSON [--data-bytes N] [--length N]
      A file with exactly this header text, N data bytes, and the 8-byte
      header length field set to --length (default: the header's length).
"""
import argparse
import json
import os
import re
import struct
import sys

DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8,
               "F64": 8}
WEIGHT = re.compile(r'tpc\.weight "([^"]+)"[^:]*: tensor<([0-9x]+)x[a-z0-9]+>')


def encode(header):
    # Padded with spaces so that the data starts 8-byte aligned, as the
    # safetensors library writes it (readers may then map tensors in place).
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text


def normal_values(name, count, rng):
    """Small normal values; norm scales (1-D, not a bias) around 1."""
    base = 1.0 if name.endswith(".weight") and "norm" in name or "ln_" in name and name.endswith(".weight") else 0.0
    return struct.pack("<%df" % count, *(base + rng.gauss(0.0, 0.05) for _ in range(count)))


def write_file(path, tensors, seed=None):
    """tensors: list of (name, dtype, shape). Values: a repeating byte ramp,
    or with `seed` normal F32 values."""
    import random
    rng = random.Random(seed)
    header, offset = {}, 0
    for name, dtype, shape in tensors:
        count = 1
        for d in shape:
            count *= d
        size = count * DTYPE_SIZES[dtype]
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    if seed is None:
        data = bytes((i * 37 + 11) % 251 for i in range(offset))
    else:
        data = b"".join(normal_values(name, (end - begin) // 4, rng)
                        for name, (begin, end) in
                        ((n, header[n]["data_offsets"]) for n, _, _ in tensors))
    with open(path, "wb") as f:
        f.write(encode(header) + data)


def shape_of(text):
    return [int(d) for d in text.split(",")] if text else []


def from_ir(args):
    seen, tensors = set(), []
    for name, dims in WEIGHT.findall(open(args.ir).read()):
        if name in seen:
            continue
        seen.add(name)
        tensors.append([name, args.dtype, [int(d) for d in dims.split("x")]])
    drops = set(args.drop)
    reshape = dict(r.split("=") for r in args.reshape)
    retype = dict(r.split("=") for r in args.retype)
    out = []
    for name, dtype, shape in tensors:
        if name in drops:
            continue
        shape = shape_of(reshape[name]) if name in reshape else shape
        dtype = retype.get(name, dtype)
        if args.strip_prefix and name.startswith(args.strip_prefix):
            name = name[len(args.strip_prefix):]
        out.append((name, dtype, shape))
    for e in args.extra:
        name, dims = e.split("=")
        out.append((name, "F32", shape_of(dims)))

    if args.normal is not None:
        if any(dtype != "F32" for _, dtype, _ in out):
            sys.exit("--normal writes F32 tensors only")
    if args.shards <= 1:
        write_file(args.out, out, args.normal)
        return
    os.makedirs(args.out, exist_ok=True)
    weight_map = {}
    for i in range(args.shards):
        fname = f"model-{i + 1:05d}-of-{args.shards:05d}.safetensors"
        part = out[i::args.shards]
        write_file(os.path.join(args.out, fname), part, args.normal)
        weight_map.update({name: fname for name, _, _ in part})
    with open(os.path.join(args.out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)


def raw(args):
    text = args.header.encode()
    length = len(text) if args.length is None else args.length
    with open(args.out, "wb") as f:
        f.write(struct.pack("<Q", length) + text + b"\0" * args.data_bytes)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("from-ir")
    a.add_argument("ir")
    a.add_argument("out")
    a.add_argument("--dtype", default="F32")
    a.add_argument("--drop", action="append", default=[])
    a.add_argument("--reshape", action="append", default=[])
    a.add_argument("--retype", action="append", default=[])
    a.add_argument("--extra", action="append", default=[])
    a.add_argument("--strip-prefix", default="")
    a.add_argument("--shards", type=int, default=1)
    a.add_argument("--normal", type=int)
    r = sub.add_parser("raw")
    r.add_argument("out")
    r.add_argument("--header", required=True)
    r.add_argument("--data-bytes", type=int, default=0)
    r.add_argument("--length", type=int)
    args = p.parse_args()
    from_ir(args) if args.mode == "from-ir" else raw(args)


if __name__ == "__main__":
    sys.exit(main())
