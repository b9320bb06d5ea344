"""OpenBLAS's kernels for the peer (PyTorch) in the benchmarks.

Debian 12's OpenBLAS 0.3.21 takes some AVX-512 Xeons (virtualised ones
report "Intel(R) Xeon(R) Processor") for a Prescott and runs its SSE3
kernels, 3-4x slower; PyTorch's matmuls go through it. tpc's runtime
re-selects the kernels itself (runtime/cpu/BlasCore.h); for a fair peer
the benchmarks give PyTorch the same choice through OPENBLAS_CORETYPE
(unless the user set it).
"""
import os


def coretype():
    """The OpenBLAS core type for this CPU's instruction sets, or None."""
    try:
        flags = next(line for line in open("/proc/cpuinfo")
                     if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return None
    if all(f in flags for f in ("avx512f", "avx512bw", "avx512dq", "avx512vl")):
        return "SkylakeX"
    if "avx2" in flags and "fma" in flags:
        return "Haswell"
    return None


def peer_env(env):
    """`env` with OPENBLAS_CORETYPE set for this CPU when it is not set."""
    core = coretype()
    if core and "OPENBLAS_CORETYPE" not in env:
        return dict(env, OPENBLAS_CORETYPE=core)
    return env
