"""The environment both sides of a CPU benchmark run in: tpc and its peer,
PyTorch, get the same OpenBLAS kernels and the same heap policy.

OpenBLAS: Debian 12's OpenBLAS 0.3.21 takes some AVX-512 Xeons
(virtualised ones report "Intel(R) Xeon(R) Processor") for a Prescott and
runs its SSE3 kernels, 3-4x slower; PyTorch's matmuls go through it. tpc's
runtime re-selects the kernels itself (runtime/cpu/BlasCore.h); the
benchmarks set OPENBLAS_CORETYPE to the best kernels for this CPU's
instruction sets for both. An inherited OPENBLAS_CORETYPE is overridden:
some machine images set Haswell's AVX2 kernels for every process, which
cuts PyTorch's f32 GEMMs by a third on an AVX-512 CPU.
TPC_BENCH_CORETYPE picks other kernels on purpose.

Heap: PyTorch's CPU tensors come from malloc, and glibc gives every block
over 32 MiB back to the kernel when it is freed, so the next one faults
in fresh pages: a 512-token TinyLlama pass spent most of its attention
time in page faults (1.1 s against 0.17 s for three layers' attention on
an AMD EPYC host). Raising glibc's mmap and trim thresholds keeps freed
memory in the heap, as a caching allocator (jemalloc, tcmalloc) would;
tpc plans its activations into one arena and does not depend on it.
`default_malloc` measures glibc's defaults instead.
"""
import os

KEPT_HEAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 32),
             "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}


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


def chosen():
    """The OpenBLAS core type both sides run, or None (OpenBLAS's own
    choice)."""
    return os.environ.get("TPC_BENCH_CORETYPE") or coretype()


def describe(default_malloc=False):
    """One phrase for a benchmark's header."""
    heap = "glibc's default heap" if default_malloc else "freed memory kept in the heap"
    return f"OpenBLAS kernels: {chosen() or 'its own choice'}; {heap}"


def bench_env(env, default_malloc=False):
    """`env` with chosen()'s OPENBLAS_CORETYPE and the heap policy."""
    core = chosen()
    env = {k: v for k, v in env.items() if k != "OPENBLAS_CORETYPE"}
    if core:
        env["OPENBLAS_CORETYPE"] = core
    if not default_malloc:
        env.update(KEPT_HEAP)
    return env
