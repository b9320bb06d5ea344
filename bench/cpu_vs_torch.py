"""tpc against PyTorch eager on the CPU: the same model, weights and tokens.

    /usr/bin/python3 bench/cpu_vs_torch.py [--build build] [--quick]

For GPT-2 small and a 4-layer TinyLlama (random normal weights written to
one safetensors file that both read), at 1x16, 1x128 and 1x512 tokens, in
f32 and bf16: a tpc executable at tp = 1 (--bench) and a PyTorch eager
implementation of the same forward pass (written here from the Hugging
Face definitions, weights memory-mapped like tpc's, torch.inference_mode,
torch.set_num_threads(cores),
OMP_WAIT_POLICY=PASSIVE so that its OpenMP pool does not spin against
other threads), each in its own process. Prints the time per pass of
each (the median of --passes timed passes after a warm-up: a pass that
another process on this shared host slowed does not move it; with
--rounds R, tpc and PyTorch run in turn R times and each side's time is
the median of its R medians, so that a slow spell lasting a whole run
falls on both sides), their
ratio (tpc / torch: below 1 is tpc faster), each process's peak RSS and
their ratio, and the largest logit difference between them.
With --openblas, f32 rows also time tpc with its linear layers on OpenBLAS
(TPC_DNNL=0) instead of oneDNN, and print that time's ratio to PyTorch's;
with --unpacked, tpc with its weights as loaded instead of packed once for
oneDNN (TPC_PACK=0): time, ratio and peak RSS.
With --decode, the rows are greedy generation with a KV cache instead (the
same PyTorch model with a cache of its own, extended by torch.cat each
step as Hugging Face's DynamicCache does): a prompt 16 tokens short of a
128- or 1024-position cache, then 16 tokens; the median time per output
token of each, their ratio, and how many of the 16 tokens agree.

Installs python3-torch (Debian) when it is missing.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile

import run_env

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORES = os.cpu_count() or 1


def ensure_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run(sudo + ["apt-get", "install", "-y", "python3-torch"],
                       check=True, env=dict(os.environ,
                                            DEBIAN_FRONTEND="noninteractive"))


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    return out.stdout


def measured(cmd, env=None):
    """Runs cmd in a helper process that reports the child's peak RSS."""
    helper = ("import resource,subprocess,sys,json;"
              "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
              "sys.stderr.write(p.stderr);"
              "print(json.dumps({'rc':p.returncode,'out':p.stdout,"
              "'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    out = run([sys.executable, "-c", helper] + cmd, env)
    result = json.loads(out.strip().splitlines()[-1])
    if result["rc"] != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{result['out']}")
    return result["out"], result["rss"] / 1024.0


TORCH_MODEL = r'''
import json, struct, sys, time, math
import numpy as np
import torch
torch.set_num_threads(int(sys.argv[5]))
cfg = json.load(open(sys.argv[1]))
dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[sys.argv[4]]

def read(path):
    # Mapped, as tpc maps it (copy-on-write: torch wants writable arrays;
    # nothing writes them): f32 tensors use the file's pages, bf16 ones are
    # converted once.
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="c", offset=8 + n)
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        array = raw[b:e].view(np.float32).reshape(info["shape"])
        out[name] = torch.from_numpy(array).to(dtype)
    return out

w = read(sys.argv[2])
ids = torch.tensor([[int(t) for t in sys.argv[3].split(",")]])

def cached(cache, layer, k, v):
    """Keys and values of every position so far: a decode step appends its
    own to the layer's cache (torch.cat, as Hugging Face's DynamicCache)."""
    if cache is None:
        return k, v
    if layer < len(cache):
        k = torch.cat([cache[layer][0], k], 1)
        v = torch.cat([cache[layer][1], v], 1)
        cache[layer] = (k, v)
    else:
        cache.append((k, v))
    return k, v

def attention(q, k, v, heads, kv):
    """Causal attention of the last q.shape[1] positions over all of k, v."""
    b, s, _ = q.shape
    t = k.shape[1]
    d = q.shape[-1] // heads
    q = q.view(b, s, heads, d).transpose(1, 2)
    k = k.view(b, t, kv, d).transpose(1, 2).repeat_interleave(heads // kv, 1)
    v = v.view(b, t, kv, d).transpose(1, 2).repeat_interleave(heads // kv, 1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    mask = torch.ones(s, t, dtype=torch.bool).triu(t - s + 1)
    scores = scores.masked_fill(mask, float("-inf")).softmax(-1)
    return (scores @ v).transpose(1, 2).reshape(b, s, heads * d)

def gpt2(ids, cache=None, start=0):
    p = "transformer."
    h, heads = cfg["n_embd"], cfg["n_head"]
    x = w[p + "wte.weight"][ids] + w[p + "wpe.weight"][torch.arange(start, start + ids.shape[1])]
    for l in range(cfg["n_layer"]):
        q = p + f"h.{l}."
        a = torch.nn.functional.layer_norm(x, (h,), w[q + "ln_1.weight"], w[q + "ln_1.bias"], 1e-5)
        qkv = torch.addmm(w[q + "attn.c_attn.bias"], a.view(-1, h), w[q + "attn.c_attn.weight"]).view(1, -1, 3 * h)
        qh, kh, vh = qkv.split(h, -1)
        o = attention(qh, *cached(cache, l, kh, vh), heads, heads)
        x = x + torch.addmm(w[q + "attn.c_proj.bias"], o.view(-1, h), w[q + "attn.c_proj.weight"]).view(x.shape)
        m = torch.nn.functional.layer_norm(x, (h,), w[q + "ln_2.weight"], w[q + "ln_2.bias"], 1e-5)
        m = torch.nn.functional.gelu(torch.addmm(w[q + "mlp.c_fc.bias"], m.view(-1, h), w[q + "mlp.c_fc.weight"]), approximate="tanh")
        x = x + torch.addmm(w[q + "mlp.c_proj.bias"], m, w[q + "mlp.c_proj.weight"]).view(x.shape)
    x = torch.nn.functional.layer_norm(x, (h,), w[p + "ln_f.weight"], w[p + "ln_f.bias"], 1e-5)
    return x @ w[p + "wte.weight"].T

def rms(x, g, eps):
    return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps).to(x.dtype) * g

def rope(x, heads, d, theta, start):
    b, s, _ = x.shape
    x = x.view(b, s, heads, d)
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = torch.arange(start, start + s, dtype=torch.float32)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos()] * 2, -1)[None, :, None, :].to(x.dtype)
    sin = torch.cat([ang.sin()] * 2, -1)[None, :, None, :].to(x.dtype)
    rot = torch.cat([-x[..., d // 2:], x[..., :d // 2]], -1)
    return (x * cos + rot * sin).view(b, s, heads * d)

def llama(ids, cache=None, start=0):
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    h = cfg["hidden_size"]
    d = h // heads
    eps, theta = cfg.get("rms_norm_eps", 1e-6), cfg.get("rope_theta", 1e4)
    x = w["model.embed_tokens.weight"][ids]
    lin = lambda t, n: t @ w[n + ".weight"].T
    for l in range(int(sys.argv[6])):
        p = f"model.layers.{l}."
        a = rms(x, w[p + "input_layernorm.weight"], eps)
        q = rope(lin(a, p + "self_attn.q_proj"), heads, d, theta, start)
        k = rope(lin(a, p + "self_attn.k_proj"), kv, d, theta, start)
        v = lin(a, p + "self_attn.v_proj")
        x = x + lin(attention(q, *cached(cache, l, k, v), heads, kv), p + "self_attn.o_proj")
        m = rms(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + lin(torch.nn.functional.silu(lin(m, p + "mlp.gate_proj")) * lin(m, p + "mlp.up_proj"), p + "mlp.down_proj")
    x = rms(x, w["model.norm.weight"], eps)
    return lin(x, "lm_head")

forward = gpt2 if cfg["model_type"] == "gpt2" else llama
median = lambda times: sorted(times)[(len(times) - 1) // 2]

def generate(steps):
    """Greedy decoding with a KV cache: the prompt, then one token a step.
    Returns the tokens and each decode step's seconds."""
    cache, tokens, times = [], [], []
    logits = forward(ids, cache)
    position = ids.shape[1]
    for step in range(steps):
        tokens.append(int(logits[0, -1].float().argmax()))
        if step + 1 == steps:
            break
        start = time.perf_counter()
        logits = forward(torch.tensor([[tokens[-1]]]), cache, position)
        times.append(time.perf_counter() - start)
        position += 1
    return tokens, times

with torch.inference_mode():
    steps = int(sys.argv[9]) if len(sys.argv) > 9 else 0
    if steps > 0:
        generate(steps)  # warm-up
        times = []
        for _ in range(int(sys.argv[7])):
            tokens, run = generate(steps)
            times += run
        print("generated: " + " ".join(map(str, tokens)))
        print(f"torch: time per output token {median(times) * 1e3:.3f} ms (median)")
        sys.exit(0)
    logits = forward(ids)
    passes = int(sys.argv[7])
    times = []
    for _ in range(passes):
        start = time.perf_counter()
        logits = forward(ids)
        times.append(time.perf_counter() - start)
    per = sum(times) / passes
np.save(sys.argv[8], logits.float().numpy())
print(f"torch: {per:.6f} s per pass (median {median(times):.6f} s)")
'''


DECODE_STEPS = 16


def agreeing(tokens, reference):
    """How many tokens agree with the reference before the first that
    does not."""
    same = 0
    while (same < len(tokens) and same < len(reference)
           and tokens[same] == reference[same]):
        same += 1
    return same


def decode_row(args, exe, config, weights, script, torch_env, name, dtype,
               layers, cache, reference):
    """One row of --decode: tpc's and PyTorch's median time per output token,
    and how many of their greedy tokens agree with PyTorch's f32 ones
    (`reference`, by model and cache: filled by the f32 row)."""
    prompt = ",".join(str((i * 7919 + 13) % 30000 + 1)
                      for i in range(cache - DECODE_STEPS))
    out = run([exe, "--device", "cpu", "--weights", weights, "--tokens", prompt,
               "--generate", str(DECODE_STEPS), "--ignore-eos", "--max-seq",
               str(cache), "--bench", str(args.passes)],
              run_env.bench_env(dict(os.environ), args.default_malloc))
    tpc_ms = float(re.search(r"time per output token ([0-9.]+) ms \(median\)",
                             out).group(1))
    tpc_tokens = re.search(r"generated: ([0-9 ]+)", out).group(1).split()
    out = run(["/usr/bin/python3", script, f"{config}/config.json", weights,
               prompt, dtype, str(CORES), str(layers), str(args.passes), "-",
               str(DECODE_STEPS)], torch_env)
    torch_ms = float(re.search(r"time per output token ([0-9.]+) ms", out)
                     .group(1))
    torch_tokens = re.search(r"generated: ([0-9 ]+)", out).group(1).split()
    if dtype == "f32":
        reference[(name, cache)] = torch_tokens
    want = reference.get((name, cache))
    agree = (f"{agreeing(tpc_tokens, want):>5}{agreeing(torch_tokens, want):>7}"
             if want else f"{'-':>5}{'-':>7}")
    print(f"{name:<13}{dtype:>6}{cache:>6}{tpc_ms:>8.2f}{torch_ms:>9.2f}"
          f"{tpc_ms / torch_ms:>7.2f}{agree}", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default=f"{ROOT}/build")
    parser.add_argument("--quick", action="store_true",
                        help="GPT-2 at 1x128, f32 only")
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="forward rows: run tpc and PyTorch in turn this "
                        "many times and take the median of each side's "
                        "medians (a slow spell of this shared host then "
                        "falls on both sides)")
    parser.add_argument("--model", action="append", choices=["gpt2", "tinyllama-4l"],
                        help="only these models (repeatable)")
    parser.add_argument("--dtype", action="append", choices=["f32", "bf16"],
                        help="only these element types (repeatable)")
    parser.add_argument("--length", action="append", type=int,
                        help="only these token counts (repeatable)")
    parser.add_argument("--openblas", action="store_true",
                        help="f32: also tpc with OpenBLAS linears (TPC_DNNL=0)")
    parser.add_argument("--unpacked", action="store_true",
                        help="also tpc with its weights as loaded, not "
                        "packed for oneDNN (TPC_PACK=0)")
    parser.add_argument("--decode", action="store_true",
                        help="time per output token of greedy decoding with "
                        "a KV cache instead (cache of --length positions: "
                        "128 and 1024 by default)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="glibc's default heap policy for both sides "
                        "(bench/run_env.py)")
    args = parser.parse_args()
    ensure_torch()
    import numpy as np
    work = f"{args.build}/bench-torch"
    os.makedirs(work, exist_ok=True)
    script = f"{work}/torch_model.py"
    open(script, "w").write(TORCH_MODEL)
    # Both sides: the same OpenBLAS kernels and heap policy (run_env.py).
    torch_env = run_env.bench_env(dict(os.environ, OMP_WAIT_POLICY="PASSIVE",
                                       OMP_NUM_THREADS=str(CORES)),
                                  args.default_malloc)
    tpc_env = run_env.bench_env(dict(os.environ), args.default_malloc)
    models = [("gpt2", "gpt2", 12), ("tinyllama-4l", "tinyllama-1.1b", 4)]
    lengths = ([128] if args.quick else [16, 128, 512]) if not args.decode \
        else [128, 1024]
    if args.decode and args.dtype and "f32" not in args.dtype:
        args.dtype.insert(0, "f32")  # the tokens bf16 rows are checked against
    dtypes = ["f32"] if args.quick else ["f32", "bf16"]
    if args.quick:
        models = models[:1]
    if args.model:
        models = [m for m in models if m[0] in args.model]
    if args.dtype:
        dtypes = args.dtype
    if args.length:
        lengths = args.length
    if args.decode:
        print(f"decode: tpc tp = 1 against PyTorch "
              f"{__import__('torch').__version__} eager (its own KV cache, "
              f"torch.cat per step), {CORES} threads each, same weights; a "
              f"prompt {DECODE_STEPS} tokens short of the cache, then "
              f"{DECODE_STEPS} greedy tokens (median step of {args.passes} "
              f"runs after a warm-up); then how many of the {DECODE_STEPS} "
              f"tokens each gives agree with PyTorch's f32 tokens; "
              f"{run_env.describe(args.default_malloc)}")
        print(f"{'model':<13}{'dtype':>6}{'cache':>6}{'tpc ms':>8}"
              f"{'torch ms':>9}{'ratio':>7}{'tpc':>5}{'torch':>7}")
    else:
        print(f"tpc tp = 1 against PyTorch {__import__('torch').__version__} eager, "
              f"{CORES} threads each, same weights and tokens (median of "
              f"{args.passes} passes after a warm-up"
              + (f", median of {args.rounds} alternating runs of each"
                 if args.rounds > 1 else "")
              + f"; {run_env.describe(args.default_malloc)})")
        print(f"{'model':<13}{'dtype':>6}{'tokens':>7}{'tpc ms':>9}{'torch ms':>10}"
              f"{'ratio':>7}{'tpc MiB':>9}{'torch MiB':>10}{'ratio':>7}{'max |diff|':>12}"
              + (f"{'blas ms':>9}{'ratio':>7}{'|diff|':>10}" if args.openblas else "")
              + (f"{'plain ms':>10}{'ratio':>7}{'MiB':>9}" if args.unpacked else ""))
    reference = {}  # --decode: PyTorch's f32 tokens by (model, cache)
    for name, model, layers in models:
        config = f"{ROOT}/examples/models/{model}"
        ir = f"{work}/{name}.mlir"
        weights = f"{work}/{name}.safetensors"
        if not os.path.exists(weights):
            run([f"{args.build}/bin/tpc-compile", config, "--num-layers",
                 str(layers), "--dtype", "f32", "--emit=tpc", "-o", ir])
            run(["/usr/bin/python3",
                 f"{ROOT}/test/import/Inputs/make_safetensors.py", "from-ir",
                 ir, weights, "--normal", "1"])
        for dtype in dtypes:
            exe = f"{work}/{name}-{dtype}"
            run([f"{args.build}/bin/tpc-compile", config, "--num-layers",
                 str(layers), "--dtype", dtype, "-o", exe])
            if args.decode:
                for cache in lengths:
                    decode_row(args, exe, config, weights, script, torch_env,
                               name, dtype, layers, cache, reference)
                continue
            for length in lengths:
                tokens = ",".join(str((i * 7919 + 13) % 30000 + 1)
                                  for i in range(length))
                out_tpc = f"{work}/tpc.safetensors"

                def run_tpc(output, env=tpc_env):
                    out, rss = measured(
                        [exe, "--device", "cpu", "--weights", weights,
                         "--tokens", tokens, "--bench", str(args.passes),
                         "--output", output], env)
                    return float(re.search(r"median ([0-9.]+) s\)",
                                           out).group(1)) * 1e3, rss
                out_torch = f"{work}/torch.npy"

                def run_torch():
                    out, rss = measured(
                        ["/usr/bin/python3", script, f"{config}/config.json",
                         weights, tokens, dtype, str(CORES), str(layers),
                         str(args.passes), out_torch], torch_env)
                    return float(re.search(r"median ([0-9.]+) s\)",
                                           out).group(1)) * 1e3, rss
                rounds = [(run_tpc(out_tpc), run_torch())
                          for _ in range(max(1, args.rounds))]
                tpc_ms = statistics.median(r[0][0] for r in rounds)
                tpc_rss = max(r[0][1] for r in rounds)
                torch_ms = statistics.median(r[1][0] for r in rounds)
                torch_rss = max(r[1][1] for r in rounds)
                sys.path.insert(0, f"{ROOT}/test/e2e/Inputs")
                from reference import read_tensors
                got = read_tensors(out_tpc)["logits"].astype(np.float64)
                want = np.load(out_torch).astype(np.float64)
                diff = float(np.abs(got - want).max())
                blas = ""
                if args.openblas and dtype == "f32":
                    out_blas = f"{work}/tpc-openblas.safetensors"
                    blas_ms, _ = run_tpc(out_blas,
                                         dict(tpc_env, TPC_DNNL="0"))
                    blas_diff = float(np.abs(
                        read_tensors(out_blas)["logits"].astype(np.float64)
                        - want).max())
                    blas = (f"{blas_ms:>9.1f}{blas_ms / torch_ms:>7.2f}"
                            f"{blas_diff:>10.3g}")
                if args.unpacked:
                    plain_ms, plain_rss = run_tpc(
                        f"{work}/tpc-unpacked.safetensors",
                        dict(tpc_env, TPC_PACK="0"))
                    blas += (f"{plain_ms:>10.1f}{plain_ms / torch_ms:>7.2f}"
                             f"{plain_rss:>9.0f}")
                print(f"{name:<13}{dtype:>6}{length:>7}{tpc_ms:>9.1f}"
                      f"{torch_ms:>10.1f}{tpc_ms / torch_ms:>7.2f}"
                      f"{tpc_rss:>9.0f}{torch_rss:>10.0f}"
                      f"{tpc_rss / torch_rss:>7.2f}{diff:>12.3g}" + blas,
                      flush=True)


if __name__ == "__main__":
    main()
