"""Training speed of tpc on the CPU: GPT-2 small (or --model DIR), one
training step over --batch x --seq-len tokens at tp = 1 and tp = 2, against
the forward pass alone of the same tokens.

    /usr/bin/python3 bench/train_bench.py [--build build] [--model DIR]
                                          [--batch B] [--seq-len S] [--steps N]

Prints, per tp: time per training step (mean of the steps after the first),
tokens/s, time per forward pass (--bench of the inference executable), the
optimizer's time (gradient norm, AdamW update), and (step - optimizer -
forward) / forward: the backward pass against the forward pass (about 2 for
a healthy backward pass). PyTorch is not run
here yet: this bench has no peer, only tpc's own ratios.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}{out.stderr}")
    return out.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--model", default=os.path.join(ROOT, "examples/models/gpt2"))
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--steps", type=int, default=4)
    args = p.parse_args()
    compile_ = os.path.join(args.build, "bin/tpc-compile")
    tokens = args.batch * args.seq_len
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "tokens.u16")
        with open(data, "wb") as f:
            # Ids 0..999 repeated: valid for any vocabulary of 1000 or more.
            f.write(b"".join(int(i % 1000).to_bytes(2, "little")
                             for i in range(tokens * (args.steps + 1) + 1)))
        ids = ";".join(",".join(str((b * args.seq_len + s) % 1000)
                                for s in range(args.seq_len))
                       for b in range(args.batch))
        print(f"{os.path.basename(args.model)}, {args.batch} x {args.seq_len} "
              f"tokens per step, f32, {os.cpu_count()} cores")
        print("tp  step ms  tokens/s  forward ms  optimizer ms  backward / forward")
        rows = {}
        for tp in (1, 2):
            train = os.path.join(tmp, f"train{tp}")
            infer = os.path.join(tmp, f"infer{tp}")
            run([compile_, args.model, "--train", "--tp", str(tp), "--dtype", "f32", "-o", train])
            run([compile_, args.model, "--tp", str(tp), "--dtype", "f32", "-o", infer])
            out = run([train, "--random-weights", "0", "--data", data,
                       "--steps", str(args.steps), "--batch", str(args.batch),
                       "--seq-len", str(args.seq_len), "--lr", "1e-4"])
            steps = re.findall(r"\(([0-9.]+) ms: forward and backward ([0-9.]+), "
                               r"optimizer ([0-9.]+)\)", out)[1:]
            step = sum(float(s[0]) for s in steps) / len(steps) / 1e3
            fb = sum(float(s[1]) for s in steps) / len(steps) / 1e3
            opt = sum(float(s[2]) for s in steps) / len(steps) / 1e3
            out = run([infer, "--random-weights", "0", "--tokens", ids, "--bench", "3"])
            forward = float(re.search(r"bench: ([0-9.]+) s per pass", out).group(1))
            rows[tp] = step
            print(f"{tp:2d}  {step * 1e3:7.1f}  {tokens / step:8.1f}  {forward * 1e3:10.1f}"
                  f"  {opt * 1e3:12.1f}  {(fb - forward) / forward:6.2f}")
        print(f"tp = 2 step / tp = 1 step: {rows[2] / rows[1]:.2f} (two ranks "
              f"share the two cores)")


if __name__ == "__main__":
    main()
