#!/usr/bin/env python3
"""Compile-time benchmarks for tpc's tensor-parallel pipeline.

1. Whole-process time of `tpc-compile --emit=partitioned` on the
   GPT-3-175B-shaped config at 12, 24, 48 and 96 layers (best of N runs),
   with the time per layer and its ratio to the 12-layer run: linear growth
   keeps the ratio near 1.
2. `tpc-compile -o EXE` for GPT-2 small at tp = 1 and 2 (whole process: import, plan,
   partition, lower, the host compiler and the link), best of N, beside
   the time of a plain `c++ -O0` compile of a hello-world as the peer.
3. The same MLP and attention block through upstream MLIR
   (`sharding-propagation` + `shard-partition`, given the weight layouts it
   needs) and through tpc (given nothing): time and number of collectives,
   side by side.

usage: bench/compile_time.py [BUILD_DIR] [--tp N] [--runs N]
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLIR_OPT = "/usr/lib/llvm-22/bin/mlir-opt"
COLLECTIVE = re.compile(r"\b(tpc|shard)\.(all_reduce|all_gather|reduce_scatter|all_to_all)\b")


def best_time(cmd, runs):
    """Best wall time of `runs` runs, and the last run's stdout."""
    best, out = None, ""
    for _ in range(runs):
        start = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if run.returncode != 0:
            sys.exit(f"failed: {' '.join(cmd)}\n{run.stderr}")
        best = elapsed if best is None else min(best, elapsed)
        out = run.stdout
    return best, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    p.add_argument("--tp", type=int, default=8)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    compile_ = os.path.join(args.build, "bin", "tpc-compile")
    opt = os.path.join(args.build, "bin", "tpc-opt")
    model = os.path.join(ROOT, "examples", "models", "gpt3-175b-shape")

    print(f"tpc-compile --emit=partitioned --tp {args.tp}, GPT-3-175B shape "
          f"(whole process, best of {args.runs})")
    print("(marginal ms/layer: the time added per layer over the 12-layer run,"
          " free of process start-up; linear growth keeps it flat)")
    print(f"{'layers':>8}{'time ms':>10}{'ms/layer':>10}{'marginal ms/layer':>19}{'all-reduces':>13}")
    first = None
    for layers in (12, 24, 48, 96):
        t, out = best_time([compile_, model, "--num-layers", str(layers),
                            "--tp", str(args.tp), "--emit=partitioned"],
                           args.runs)
        marginal = "" if first is None else \
            f"{(t - first) / (layers - 12) * 1e3:.2f}"
        first = t if first is None else first
        print(f"{layers:>8}{t * 1e3:>10.1f}{t / layers * 1e3:>10.2f}"
              f"{marginal:>19}{out.count('tpc.all_reduce'):>13}")

    with tempfile.TemporaryDirectory() as tmp:
        hello = os.path.join(tmp, "hello.cpp")
        with open(hello, "w") as f:
            f.write("#include <cstdio>\nint main() { std::puts(\"hi\"); }\n")
        t_hello, _ = best_time(["c++", "-O0", hello, "-o",
                                os.path.join(tmp, "hello")], args.runs)
        t_exe = {}
        for tp in (1, 2):
            t_exe[tp], _ = best_time(
                [compile_, os.path.join(ROOT, "examples", "models", "gpt2"),
                 "--tp", str(tp), "-o", os.path.join(tmp, "gpt2")], args.runs)
    # tp = 1 compiles its programs once (they are their own tp = 1
    # reference); tp = 2 compiles the tp = 2 and tp = 1 programs.
    for tp, t in t_exe.items():
        print(f"{'' if tp > 1 else chr(10)}tpc-compile -o EXE, GPT-2 small, "
              f"tp = {tp}, best of {args.runs}: {t * 1e3:.0f} ms (c++ -O0 "
              f"hello world: {t_hello * 1e3:.0f} ms, ratio "
              f"{t / t_hello:.1f})")

    print("\nupstream mlir-opt (sharding-propagation + shard-partition) vs "
          "tpc-opt (tpc-tp-pipeline), tp = 4, best of", args.runs)
    print(f"{'block':>10}{'tool':>10}{'annotated weights':>19}{'time ms':>10}{'collectives':>13}")
    upstream_dir = os.path.join(ROOT, "bench", "upstream")
    for block in ("mlp", "attention"):
        up = os.path.join(upstream_dir, f"{block}.mlir")
        annotated = open(up).read().count("annotate_for_users")
        t_up, out_up = best_time(
            [MLIR_OPT, up, "--pass-pipeline=builtin.module(func.func("
             "sharding-propagation,shard-partition))"], args.runs)
        t_tpc, out_tpc = best_time(
            [opt, os.path.join(upstream_dir, f"{block}.tpc.mlir"),
             "--tpc-tp-pipeline=tp=4"], args.runs)
        print(f"{block:>10}{'upstream':>10}{annotated:>19}{t_up * 1e3:>10.1f}"
              f"{len(COLLECTIVE.findall(out_up)):>13}")
        print(f"{'':>10}{'tpc':>10}{0:>19}{t_tpc * 1e3:>10.1f}"
              f"{len(COLLECTIVE.findall(out_tpc)):>13}")


if __name__ == "__main__":
    main()
