"""Decode on the CPU: time per output token of compiled executables.

    /usr/bin/python3 bench/decode_bench.py [--build build] [--quick]

For GPT-2 small and a 4-layer TinyLlama (random weights), at tp = 1 and 2,
batch 1 and 8, with the KV cache at 128 and 1024 positions: each run
prefills a prompt that fills the cache up to 16 tokens short of the context
and decodes those 16 tokens (--ignore-eos, --bench 2). Prints per row the
time to first token, the time per output token (median, p90), tokens/s,
the first-tenth and last-tenth step times of a long generation (flat: no
recomputation of the prefix), and the peer the cache replaces: a full
forward pass over a 512-token prefix, as a ratio to one decode step.
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stderr}")
    return out.stdout


def compile_model(build, model, tp, layers, out):
    cmd = [f"{build}/bin/tpc-compile", f"{ROOT}/examples/models/{model}",
           "--tp", str(tp), "--dtype", "f32", "-o", out]
    if layers:
        cmd += ["--num-layers", str(layers)]
    run(cmd)


def tokens(count, batch, vocab=1000):
    seq = ",".join(str((i * 7919 + 13) % vocab + 1) for i in range(count))
    return ";".join([seq] * batch)


def generate(exe, prompt, batch, steps, context, bench=2):
    out = run([exe, "--device", "cpu", "--random-weights", "1", "--ignore-eos",
               "--tokens", tokens(prompt, batch), "--generate", str(steps),
               "--max-seq", str(context), "--bench", str(bench)])
    m = re.search(r"time to first token ([0-9.]+) ms \(median\), time per "
                  r"output token ([0-9.]+) ms \(median\), ([0-9.]+) ms \(p90\), "
                  r"([0-9.]+) tokens/s", out)
    tenth = re.search(r"first tenth of the steps ([0-9.]+) ms, over the last "
                      r"tenth ([0-9.]+) ms", out)
    return [float(x) for x in m.groups()], [float(x) for x in tenth.groups()]


def forward(exe, length):
    out = run([exe, "--device", "cpu", "--random-weights", "1", "--tokens",
               tokens(length, 1), "--bench", "2"])
    return float(re.search(r"bench: ([0-9.]+) s per pass", out).group(1)) * 1e3


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=f"{ROOT}/build")
    parser.add_argument("--quick", action="store_true",
                        help="batch 1, cache 128 only")
    args = parser.parse_args()
    work = f"{args.build}/bench-decode"
    os.makedirs(work, exist_ok=True)
    models = [("gpt2", "gpt2", None), ("tinyllama-4l", "tinyllama-1.1b", 4)]
    print("decode on the CPU (random weights, f32, 16 decode steps after a "
          "prompt that fills the cache; medians of 2 runs)")
    print(f"{'model':<13}{'tp':>3}{'batch':>6}{'cache':>6}{'TTFT ms':>9}"
          f"{'TPOT ms':>9}{'p90 ms':>8}{'tok/s':>8}")
    exes = {}
    for name, model, layers in models:
        for tp in (1, 2):
            exe = f"{work}/{name}-tp{tp}"
            compile_model(args.build, model, tp, layers, exe)
            exes[(name, tp)] = exe
            for batch in ((1,) if args.quick else (1, 8)):
                for context in ((128,) if args.quick else (128, 1024)):
                    (ttft, tpot, p90, rate), _ = generate(
                        exe, context - 16, batch, 16, context)
                    print(f"{name:<13}{tp:>3}{batch:>6}{context:>6}"
                          f"{ttft:>9.1f}{tpot:>9.2f}{p90:>8.2f}{rate:>8.1f}")
    print()
    print("flat cost per token: one sequence, 8-token prompt, 256 tokens "
          "generated; and a full forward pass over 512 tokens (what decode "
          "without a cache would do per token), tp = 1")
    print(f"{'model':<13}{'first 10% ms':>13}{'last 10% ms':>12}"
          f"{'forward(512) ms':>16}{'forward/TPOT':>13}")
    for name, _, _ in models:
        exe = exes[(name, 1)]
        (_, tpot, _, _), (early, late) = generate(exe, 8, 1, 256, 1024, bench=1)
        full = forward(exe, 512)
        print(f"{name:<13}{early:>13.2f}{late:>12.2f}{full:>16.1f}"
              f"{full / tpot:>13.1f}")


if __name__ == "__main__":
    main()
