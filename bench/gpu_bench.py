"""tpc against PyTorch and cuBLAS on one GPU: a Llama-3-8B-shaped model, bf16.

    python3 bench/gpu_bench.py BUNDLE [--sections forward,perrank,decode]

BUNDLE is what `scripts/gpu-check.sh prepare` built: tpc executables of
Llama-3-8B-shaped models (examples/models/llama3-8b with 4 and 32 layers,
and the 4-layer model at 1/N of its heads, MLP and vocabulary: one rank's
program at tp = N) and their plan reports. Everything is measured in this
one run, on this GPU:

1. peak: a bf16 8192^3 GEMM through torch.matmul (cuBLAS), the ceiling
   model FLOP/s are set against, and a device-to-device copy's bandwidth;
   attention: PyTorch's SDPA on one layer's attention shapes.
2. forward: time per forward pass (all logits) at 1 x 2048 and 1 x 8192
   tokens, 4 and 32 layers: tpc tp = 1 (--device cuda --bench), PyTorch
   eager and torch.compile of the same model written here from the Hugging
   Face definition (SDPA attention, random N(0, 0.02) weights); ratios and
   model FLOP/s against the GEMM peak.
3. perrank: tp = N per-rank programs (4 layers) against tp = 1:
   N x per-rank time / tp = 1 time, beside the collectives' time the plan
   report models for NVLink.
4. decode: time per output token at batch 1 and 8 (4 and 32 layers,
   prompt of 128 tokens), with the GEMV kernel and with cuBLAS, against
   the floor of reading the weights and cache once per token at the
   measured copy bandwidth.
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HIDDEN, HEADS, KV_HEADS, HEAD_DIM = 4096, 32, 8, 128
MLP, VOCAB, THETA, EPS = 14336, 128256, 500000.0, 1e-5


def log(*args):
    print(*args, flush=True)


def median_ms(fn, warmup=2, runs=5):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, stop = (torch.cuda.Event(enable_timing=True) for _ in range(2))
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return sorted(times)[len(times) // 2]


# --- the PyTorch peer: Llama as transformers defines it ----------------------
class Block(torch.nn.Module):
    def __init__(self, heads, kv_heads, mlp):
        super().__init__()
        self.heads, self.kv_heads = heads, kv_heads
        make = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.q = make(HIDDEN, heads * HEAD_DIM)
        self.k = make(HIDDEN, kv_heads * HEAD_DIM)
        self.v = make(HIDDEN, kv_heads * HEAD_DIM)
        self.o = make(heads * HEAD_DIM, HIDDEN)
        self.gate, self.up = make(HIDDEN, mlp), make(HIDDEN, mlp)
        self.down = make(mlp, HIDDEN)
        self.norm1 = torch.nn.Parameter(torch.ones(HIDDEN))
        self.norm2 = torch.nn.Parameter(torch.ones(HIDDEN))

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        h = F.rms_norm(x, (HIDDEN,), self.norm1, EPS)
        q = self.q(h).view(b, t, self.heads, HEAD_DIM).transpose(1, 2)
        k = self.k(h).view(b, t, self.kv_heads, HEAD_DIM).transpose(1, 2)
        v = self.v(h).view(b, t, self.kv_heads, HEAD_DIM).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           enable_gqa=True)
        x = x + self.o(a.transpose(1, 2).reshape(b, t, -1))
        h = F.rms_norm(x, (HIDDEN,), self.norm2, EPS)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


class Llama(torch.nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.embed = torch.nn.Embedding(VOCAB, HIDDEN)
        self.layers = torch.nn.ModuleList(
            Block(HEADS, KV_HEADS, MLP) for _ in range(layers))
        self.norm = torch.nn.Parameter(torch.ones(HIDDEN))
        self.head = torch.nn.Linear(HIDDEN, VOCAB, bias=False)

    def forward(self, ids):
        t = ids.shape[1]
        inv = 1.0 / THETA ** (torch.arange(0, HEAD_DIM, 2, device=ids.device,
                                           dtype=torch.float32) / HEAD_DIM)
        angles = torch.outer(torch.arange(t, device=ids.device).float(), inv)
        angles = torch.cat((angles, angles), dim=-1)
        cos, sin = angles.cos().to(torch.bfloat16), angles.sin().to(
            torch.bfloat16)
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.head(F.rms_norm(x, (HIDDEN,), self.norm, EPS))


def torch_model(layers):
    with torch.device("cuda"):
        model = Llama(layers).to(torch.bfloat16).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" not in name:
                p.normal_(0, 0.02)
    return model


def model_flops(layers, tokens, heads=HEADS, kv_heads=KV_HEADS, mlp=MLP,
                vocab=VOCAB):
    per_token = layers * 2 * HIDDEN * (
        (heads + 2 * kv_heads) * HEAD_DIM + heads * HEAD_DIM + 3 * mlp)
    per_token += 2 * HIDDEN * vocab
    # causal attention: QK^T and PV over the visible half, per head
    attention = layers * heads * 4 * HEAD_DIM * tokens * (tokens + 1) / 2
    return per_token * tokens + attention


# --- tpc -------------------------------------------------------------------
def tpc_run(exe, args, timeout=300, attention=None, gemv=None, split=None,
            wgmma=None):
    """attention, gemv, split, wgmma: TPC_FLASH_ATTENTION, TPC_GEMV,
    TPC_FLASH_DECODE_SPLIT, TPC_FLASH_WGMMA for the run (None: the
    default)."""
    t0 = time.time()
    env = dict(os.environ)
    for name, value in (("TPC_FLASH_ATTENTION", attention),
                        ("TPC_GEMV", gemv),
                        ("TPC_FLASH_DECODE_SPLIT", split),
                        ("TPC_FLASH_WGMMA", wgmma)):
        if value is not None:
            env[name] = value
    out = subprocess.run([exe, "--device", "cuda", "--random-weights", "1"] +
                         args, capture_output=True, text=True,
                         timeout=timeout, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"{exe} failed ({out.returncode}): "
                           f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    return out.stdout, time.time() - t0


def tpc_forward_ms(exe, tokens, passes=5, vocab=VOCAB // 8, attention=None,
                   wgmma=None):
    # ids below every per-rank program's vocabulary (VOCAB / 8)
    ids = ",".join(str((i * 7919) % vocab) for i in range(tokens))
    out, wall = tpc_run(exe, ["--tokens", ids, "--bench", str(passes)],
                        attention=attention, wgmma=wgmma)
    per_pass = float(re.search(r"bench: ([0-9.]+) s per pass", out).group(1))
    return per_pass * 1e3, wall


def section_peak(results):
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    ms = median_ms(lambda: a @ b, warmup=3, runs=10)
    results["gemm_peak_tflops"] = 2 * 8192**3 / ms / 1e9
    src = torch.empty(2 << 30, device="cuda", dtype=torch.uint8)
    dst = torch.empty_like(src)
    ms = median_ms(lambda: dst.copy_(src), warmup=2, runs=10)
    results["copy_tb_per_s"] = 2 * src.numel() / ms / 1e9
    log(f"peak: cuBLAS bf16 8192^3 GEMM {results['gemm_peak_tflops']:.0f} "
        f"TFLOP/s; device copy {results['copy_tb_per_s']:.2f} TB/s "
        f"(read + write)")
    del a, b, src, dst
    torch.cuda.empty_cache()


def section_attention(results):
    """PyTorch's scaled_dot_product_attention on the shapes of
    tpc-gpu-kernel-bench's attention rows (causal, 32 / 8 heads of 128)."""
    rows = results.setdefault("sdpa", [])
    log("\nattention, bf16, causal, 32 query / 8 KV heads of 128: PyTorch "
        "scaled_dot_product_attention (median ms)")
    log(f"{'T':>7} {'ms':>9} {'TFLOP/s':>9}")
    for t in (2048, 8192):
        q = torch.randn(1, HEADS, t, HEAD_DIM, device="cuda",
                        dtype=torch.bfloat16)
        k = torch.randn(1, KV_HEADS, t, HEAD_DIM, device="cuda",
                        dtype=torch.bfloat16)
        v = torch.randn_like(k)
        with torch.inference_mode():
            ms = median_ms(lambda: F.scaled_dot_product_attention(
                q, k, v, is_causal=True, enable_gqa=True), warmup=3, runs=10)
        flops = 4.0 * HEADS * HEAD_DIM * t * (t + 1) / 2
        rows.append(dict(tokens=t, ms=ms, tflops=flops / ms / 1e9))
        log(f"{t:>7} {ms:>9.3f} {flops / ms / 1e9:>9.1f}")


def section_forward(bundle, results, layer_counts, token_counts):
    peak = results.get("gemm_peak_tflops")
    rows = results.setdefault("forward", [])
    log("\nforward pass, bf16, 1 x T tokens, all logits (median ms); tpc "
        "as it runs (the wgmma attention kernel on compute capability 9.0), "
        "and with the mma.sync kernel (TPC_FLASH_WGMMA=0)")
    log(f"{'layers':>6} {'T':>6} {'tpc':>9} {'mma.sync':>9} {'eager':>9} "
        f"{'compile':>9} {'tpc/eager':>9} {'tpc/comp':>9} {'tpc %SOL':>8} "
        f"{'comp %SOL':>9}")
    for layers in layer_counts:
        exe = os.path.join(bundle, "exe", f"llama8b-L{layers}-tp1.exe")
        tpc = {t: tpc_forward_ms(exe, t) for t in token_counts}
        mma_sync = {t: tpc_forward_ms(exe, t, wgmma="0")[0]
                    for t in token_counts}

        model = torch_model(layers)
        ids = {t: torch.randint(0, VOCAB, (1, t), device="cuda")
               for t in token_counts}
        with torch.inference_mode():
            eager = {t: median_ms(lambda: model(ids[t])) for t in token_counts}
        # 32 layers: each block compiled once and reused (regional
        # compilation, PyTorch's recipe against long cold starts); 4 layers:
        # the whole model.
        if layers > 8:
            for layer in model.layers:
                layer.compile()
            compiled = model
        else:
            compiled = torch.compile(model, dynamic=False)
        for t in token_counts:
            with torch.inference_mode():
                c0 = time.time()
                compiled(ids[t])
                torch.cuda.synchronize()
                compile_s = time.time() - c0
                comp = median_ms(lambda: compiled(ids[t]))
            flops = model_flops(layers, t)
            tpc_ms, tpc_wall = tpc[t]
            row = dict(layers=layers, tokens=t, tpc_ms=tpc_ms,
                       tpc_mma_sync_ms=mma_sync[t],
                       eager_ms=eager[t],
                       compile_ms=comp, compile_s=compile_s,
                       tpc_wall_s=tpc_wall, flops=flops)
            rows.append(row)
            sol = lambda ms: 100 * flops / ms / 1e9 / peak if peak else math.nan
            log(f"{layers:>6} {t:>6} {tpc_ms:>9.2f} {mma_sync[t]:>9.2f} "
                f"{eager[t]:>9.2f} "
                f"{comp:>9.2f} {tpc_ms / eager[t]:>9.2f} "
                f"{tpc_ms / comp:>9.2f} "
                f"{sol(tpc_ms):>7.1f}% {sol(comp):>8.1f}%")
        del model, compiled
        torch._dynamo.reset()
        torch.cuda.empty_cache()


def section_perrank(bundle, results, token_counts):
    rows = results.setdefault("perrank", [])
    log("\nper-rank programs (4 layers, bf16): N x per-rank time / tp = 1 "
        "time, and the collectives the plan report models (NVLink)")
    log(f"{'N':>3} {'T':>6} {'rank ms':>9} {'tp1 ms':>9} {'N x rank/tp1':>13} "
        f"{'modelled coll ms':>17}")
    base = {t: tpc_forward_ms(os.path.join(bundle, "exe",
                                           "llama8b-L4-tp1.exe"), t)[0]
            for t in token_counts}
    for n in (2, 4, 8):
        exe = os.path.join(bundle, "exe", f"llama8b-L4-rank{n}.exe")
        for t in token_counts:
            ms, _ = tpc_forward_ms(exe, t)
            report = open(os.path.join(bundle, "ref",
                                       f"llama8b-L4-tp{n}-T{t}.report")).read()
            coll = float(re.search(r"collectives\s+([0-9.]+) ms",
                                   report).group(1))
            rows.append(dict(n=n, tokens=t, rank_ms=ms, tp1_ms=base[t],
                             modelled_collectives_ms=coll))
            log(f"{n:>3} {t:>6} {ms:>9.2f} {base[t]:>9.2f} "
                f"{n * ms / base[t]:>13.2f} {coll:>17.2f}")


def section_decode(bundle, results, layer_counts):
    rows = results.setdefault("decode", [])
    # HBM traffic a copy sustains (its reads and writes together)
    bandwidth = results.get("copy_tb_per_s", 4.2) * 1e12
    log("\ndecode, bf16, prompt 128, 128 new tokens (median ms per output "
        "token) against the floor of reading weights and cache once per "
        "token; 'cuBLAS' turns the GEMV kernel off (TPC_GEMV=0)")
    log(f"{'layers':>6} {'batch':>5} {'tpc ms':>8} {'cuBLAS ms':>10} "
        f"{'floor ms':>9} {'floor/tpc':>10}")
    for layers in layer_counts:
        exe = os.path.join(bundle, "exe", f"llama8b-L{layers}-tp1.exe")
        # bytes read per step: every layer's weights and the LM head (bf16)
        weights = 2 * (layers * HIDDEN * ((HEADS + 2 * KV_HEADS) * HEAD_DIM +
                                          HEADS * HEAD_DIM + 3 * MLP) +
                       HIDDEN * VOCAB)
        for batch in (1, 8):
            prompts = ";".join(",".join(str((b * 131 + i * 17) % VOCAB)
                                        for i in range(128))
                               for b in range(batch))

            ms, cublas = (decode_ms(exe, prompts, 128),
                          decode_ms(exe, prompts, 128, gemv="0"))
            cache = batch * layers * 2 * KV_HEADS * HEAD_DIM * 2 * (128 + 64)
            floor = (weights + cache) / bandwidth * 1e3
            rows.append(dict(layers=layers, batch=batch, tpc_ms=ms,
                             cublas_ms=cublas, floor_ms=floor))
            log(f"{layers:>6} {batch:>5} {ms:>8.2f} {cublas:>10.2f} "
                f"{floor:>9.2f} {floor / ms:>10.2f}")
    # A long context: the cache read per token grows with it; attention's
    # keys shared by several blocks (flash-decoding) and not.
    layers = max(layer_counts)
    exe = os.path.join(bundle, "exe", f"llama8b-L{layers}-tp1.exe")
    weights = 2 * (layers * HIDDEN * ((HEADS + 2 * KV_HEADS) * HEAD_DIM +
                                      HEADS * HEAD_DIM + 3 * MLP) +
                   HIDDEN * VOCAB)
    long_rows = results.setdefault("decode_long", [])
    log(f"\nlong context, {layers} layers, batch 1: ms per output token "
        "with the keys shared by several blocks / one block per head "
        "(TPC_FLASH_DECODE_SPLIT=0)")
    log(f"{'prompt':>6} {'shared ms':>10} {'unshared ms':>12} {'floor ms':>9}")
    for prompt in (4000,):
        ids = ",".join(str((i * 17) % VOCAB) for i in range(prompt))
        shared = decode_ms(exe, ids, 128, max_seq=prompt + 256)
        alone = decode_ms(exe, ids, 128, max_seq=prompt + 256, split="0")
        cache = layers * 2 * KV_HEADS * HEAD_DIM * 2 * (prompt + 64)
        floor = (weights + cache) / bandwidth * 1e3
        long_rows.append(dict(layers=layers, prompt=prompt, shared_ms=shared,
                              unshared_ms=alone, floor_ms=floor))
        log(f"{prompt:>6} {shared:>10.2f} {alone:>12.2f} {floor:>9.2f}")


def decode_ms(exe, prompts, new_tokens, max_seq=256, gemv=None, split=None):
    """Median ms per output token of `new_tokens` greedy tokens."""
    out, _ = tpc_run(exe, ["--tokens", prompts, "--generate", str(new_tokens),
                           "--ignore-eos", "--max-seq", str(max_seq),
                           "--bench", "3"], gemv=gemv, split=split)
    return float(re.search(r"time per output token ([0-9.]+) ms \(median\)",
                           out).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle")
    parser.add_argument("--sections",
                        default="peak,attention,forward,perrank,decode")
    parser.add_argument("--layers", default="4,32")
    parser.add_argument("--tokens", default="2048,8192")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = {"device": torch.cuda.get_device_name(),
               "torch": torch.__version__}
    log(f"device: {results['device']}, torch {results['torch']}")
    layers = [int(x) for x in args.layers.split(",")]
    tokens = [int(x) for x in args.tokens.split(",")]
    sections = {
        "peak": lambda: section_peak(results),
        "attention": lambda: section_attention(results),
        "forward": lambda: section_forward(args.bundle, results, layers,
                                           tokens),
        "perrank": lambda: section_perrank(args.bundle, results, tokens),
        "decode": lambda: section_decode(args.bundle, results, layers),
    }
    failed = 0
    for name in args.sections.split(","):
        try:
            sections[name]()
        except Exception as err:  # one section's failure keeps the others
            failed += 1
            log(f"{name}: FAILED: {err}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
