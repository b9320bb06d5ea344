"""Training speed of tpc on the CPU: GPT-2 small (or --model DIR), one
training step over --batch x --seq-len tokens at tp = 1 and tp = 2, against
the forward pass alone of the same tokens.

    /usr/bin/python3 bench/train_bench.py [--build build] [--model DIR]
                                          [--batch B] [--seq-len S] [--steps N]

Prints, per tp: time per training step (mean of the steps after the first),
tokens/s, time per forward pass (--bench of the inference executable), the
optimizer's time (gradient norm, AdamW update), and (step - optimizer -
forward) / forward: the backward pass against the forward pass (about 2 for
a healthy backward pass). The peer: PyTorch eager (Debian's python3-torch,
same threads, OMP_WAIT_POLICY=PASSIVE) training the same GPT-2 on the
same tokens with torch.optim.AdamW and clip_grad_norm_, timed the same way;
the last column is tpc's step time over PyTorch's.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import run_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


TORCH_STEP = r"""
import json, sys, time
import torch
import torch.nn.functional as F
model, batch, seq, steps, threads = sys.argv[1], *map(int, sys.argv[2:6])
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = json.load(open(model + "/config.json"))
h, heads, layers = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
vocab, positions = cfg["vocab_size"], cfg["n_positions"]
def param(*shape, one=False):
    t = torch.ones(*shape) if one else torch.randn(*shape) * 0.02
    return t.requires_grad_()
w = {"wte": param(vocab, h), "wpe": param(positions, h),
     "lnf.g": param(h, one=True), "lnf.b": param(h)}
for l in range(layers):
    for name, shape in [("ln1.g", (h,)), ("ln1.b", (h,)), ("attn.w", (h, 3 * h)),
                        ("attn.b", (3 * h,)), ("proj.w", (h, h)), ("proj.b", (h,)),
                        ("ln2.g", (h,)), ("ln2.b", (h,)), ("fc.w", (h, 4 * h)),
                        ("fc.b", (4 * h,)), ("mlp.w", (4 * h, h)), ("mlp.b", (h,))]:
        w[f"{l}.{name}"] = param(*shape, one=name.endswith(".g"))
def forward(ids):
    b, s = ids.shape
    x = w["wte"][ids] + w["wpe"][torch.arange(s)]
    mask = torch.full((s, s), float("-inf")).triu(1)
    for l in range(layers):
        p = lambda n: w[f"{l}.{n}"]
        a = F.layer_norm(x, (h,), p("ln1.g"), p("ln1.b"), 1e-5)
        q, k, v = (a @ p("attn.w") + p("attn.b")).split(h, -1)
        q, k, v = (t.view(b, s, heads, h // heads).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / (h // heads) ** 0.5 + mask, -1)
        o = (att @ v).transpose(1, 2).reshape(b, s, h)
        x = x + o @ p("proj.w") + p("proj.b")
        m = F.layer_norm(x, (h,), p("ln2.g"), p("ln2.b"), 1e-5)
        x = x + F.gelu(m @ p("fc.w") + p("fc.b"), approximate="tanh") @ p("mlp.w") + p("mlp.b")
    x = F.layer_norm(x, (h,), w["lnf.g"], w["lnf.b"], 1e-5)
    return x @ w["wte"].T
tokens = torch.arange(batch * (seq + 1) * (steps + 1)) % 1000
opt = torch.optim.AdamW(list(w.values()), lr=1e-4, weight_decay=0.0)
times = []
for i in range(steps):
    chunk = tokens[i * batch * (seq + 1):(i + 1) * batch * (seq + 1)].view(batch, seq + 1)
    start = time.perf_counter()
    loss = F.cross_entropy(forward(chunk[:, :-1]).reshape(-1, vocab), chunk[:, 1:].reshape(-1))
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
    opt.step()
    times.append(time.perf_counter() - start)
with torch.no_grad():
    ids = tokens[:batch * seq].view(batch, seq)
    forward(ids)
    start = time.perf_counter()
    for _ in range(3):
        forward(ids)
    fwd = (time.perf_counter() - start) / 3
print(json.dumps({"step": sum(times[1:]) / len(times[1:]), "forward": fwd,
                  "version": torch.__version__}))
"""


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
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
    p.add_argument("--default-malloc", action="store_true",
                   help="glibc's default heap policy for both sides (bench/run_env.py)")
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
              f"tokens per step, f32, {os.cpu_count()} cores; "
              f"{run_env.describe(args.default_malloc)}")
        # Both sides: the same OpenBLAS kernels and heap policy (run_env.py).
        env = run_env.bench_env(dict(os.environ, OMP_WAIT_POLICY="PASSIVE"), args.default_malloc)
        peer = None
        if json.load(open(os.path.join(args.model, "config.json")))["model_type"] == "gpt2":
            try:
                import torch  # noqa: F401
                peer = json.loads(run([sys.executable, "-c", TORCH_STEP, args.model,
                                       str(args.batch), str(args.seq_len),
                                       str(args.steps), str(os.cpu_count() or 1)],
                                      env).strip().splitlines()[-1])
                print(f"PyTorch {peer['version']} eager: {peer['step'] * 1e3:.1f} ms per "
                      f"step (AdamW, clipping), {peer['forward'] * 1e3:.1f} ms per "
                      f"forward pass, step / forward {peer['step'] / peer['forward']:.2f}")
            except ImportError:
                print("no PyTorch (apt-get install python3-torch): no peer")
        print("tp  step ms  tokens/s  forward ms  optimizer ms  backward / forward  step / torch step")
        rows = {}
        for tp in (1, 2):
            train = os.path.join(tmp, f"train{tp}")
            infer = os.path.join(tmp, f"infer{tp}")
            run([compile_, args.model, "--train", "--tp", str(tp), "--dtype", "f32", "-o", train])
            run([compile_, args.model, "--tp", str(tp), "--dtype", "f32", "-o", infer])
            out = run([train, "--random-weights", "0", "--data", data,
                       "--steps", str(args.steps), "--batch", str(args.batch),
                       "--seq-len", str(args.seq_len), "--lr", "1e-4"],
                      run_env.bench_env(dict(os.environ), args.default_malloc))
            steps = re.findall(r"\(([0-9.]+) ms: forward and backward ([0-9.]+), "
                               r"optimizer ([0-9.]+)\)", out)[1:]
            step = sum(float(s[0]) for s in steps) / len(steps) / 1e3
            fb = sum(float(s[1]) for s in steps) / len(steps) / 1e3
            opt = sum(float(s[2]) for s in steps) / len(steps) / 1e3
            out = run([infer, "--random-weights", "0", "--tokens", ids, "--bench", "3"],
                      run_env.bench_env(dict(os.environ), args.default_malloc))
            forward = float(re.search(r"bench: ([0-9.]+) s per pass", out).group(1))
            rows[tp] = step
            ratio = f"{step / peer['step']:17.2f}" if peer else " " * 14 + "n/a"
            print(f"{tp:2d}  {step * 1e3:7.1f}  {tokens / step:8.1f}  {forward * 1e3:10.1f}"
                  f"  {opt * 1e3:12.1f}  {(fb - forward) / forward:18.2f}  {ratio}")
        print(f"tp = 2 step / tp = 1 step: {rows[2] / rows[1]:.2f} (two ranks "
              f"share the two cores)")


if __name__ == "__main__":
    main()
