//===- gpu_kernel_bench.cpp - tpc's GPU kernels of a Llama-3-8B layer -----===//
//
// 1. Each GEMM shape of a Llama-3-8B layer and its LM head, bf16, at 2k
//    and 8k tokens: tpc::cuda::linear (what a compiled program calls)
//    against a direct cublasLtMatmul with the heuristic's first algorithm
//    and a 32 MiB workspace (what PyTorch's bf16 matmul does). Ratio = tpc
//    time / direct time; 1.00 means tpc's path adds nothing.
// 2. The same GEMMs at decode's 1 to 8 rows, where reading the weight is
//    the whole cost: GB/s of weights read, tpc against cublasLt.
// 3. Causal GQA attention of one layer (32 query heads, 8 KV heads of
//    128), bf16, through tpc::cuda::attention, in TFLOP/s of the visible
//    half (TPC_FLASH_ATTENTION picks the kernel; bench/gpu_bench.py times
//    PyTorch's scaled_dot_product_attention on the same shapes), then each
//    variant of the fused kernel's tiles.
// 4. Decode attention: one query per sequence over caches of 1k to 16k
//    positions, the keys shared by several blocks (flash-decoding) and
//    not.
// Needs a GPU.
//
//   build/bench/tpc-gpu-kernel-bench
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/FlashAttention.h"
#include "runtime/cuda/Kernels.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

namespace {
void check(cudaError_t err, const char *what) {
  if (err != cudaSuccess) {
    std::fprintf(stderr, "tpc-gpu-kernel-bench: %s: %s\n", what,
                 cudaGetErrorString(err));
    std::exit(1);
  }
}
void check(cublasStatus_t status, const char *what) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    std::fprintf(stderr, "tpc-gpu-kernel-bench: %s: cuBLAS status %d\n", what,
                 int(status));
    std::exit(1);
  }
}

/// `elements` bf16 values on the device, each 1.0 + 2^-6 (bytes 0x3c3c:
/// timings do not depend on the values), freed with the buffer.
class DeviceBf16 {
public:
  explicit DeviceBf16(int64_t elements) {
    check(cudaMalloc(&data, elements * 2), "cudaMalloc");
    check(cudaMemset(data, 0x3c, elements * 2), "cudaMemset");
  }
  ~DeviceBf16() { cudaFree(data); }
  DeviceBf16(const DeviceBf16 &) = delete;
  DeviceBf16 &operator=(const DeviceBf16 &) = delete;
  operator void *() const { return data; }

private:
  void *data = nullptr;
};

/// Median milliseconds of `runs` calls after `warmup`, by CUDA events.
template <typename Fn>
double medianMs(cudaStream_t stream, int warmup, int runs, Fn &&fn) {
  for (int i = 0; i < warmup; ++i)
    fn();
  std::vector<float> times;
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  for (int i = 0; i < runs; ++i) {
    check(cudaEventRecord(start, stream), "record");
    fn();
    check(cudaEventRecord(stop, stream), "record");
    check(cudaEventSynchronize(stop), "sync");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "elapsed");
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// y[rows, out] = x[rows, in] W^T with W [out, in] row-major (a Hugging
/// Face linear), through cublasLt in column-major terms: y^T = W x^T.
struct DirectLt {
  cublasLtHandle_t handle;
  void *workspace;
  size_t workspaceBytes = 32 << 20;
  DirectLt() {
    check(cublasLtCreate(&handle), "cublasLtCreate");
    check(cudaMalloc(&workspace, workspaceBytes), "workspace");
  }
  ~DirectLt() {
    cudaFree(workspace);
    cublasLtDestroy(handle);
  }
  void run(cudaStream_t stream, const void *x, int64_t rows, int64_t in,
           const void *w, int64_t out, void *y) {
    cublasLtMatmulDesc_t op;
    check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F),
          "desc");
    cublasOperation_t transA = CUBLAS_OP_T, transB = CUBLAS_OP_N;
    check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA,
                                         &transA, sizeof(transA)),
          "transa");
    check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB,
                                         &transB, sizeof(transB)),
          "transb");
    cublasLtMatrixLayout_t a, b, c;
    check(cublasLtMatrixLayoutCreate(&a, CUDA_R_16BF, in, out, in), "a");
    check(cublasLtMatrixLayoutCreate(&b, CUDA_R_16BF, in, rows, in), "b");
    check(cublasLtMatrixLayoutCreate(&c, CUDA_R_16BF, out, rows, out), "c");
    cublasLtMatmulPreference_t pref;
    check(cublasLtMatmulPreferenceCreate(&pref), "pref");
    check(cublasLtMatmulPreferenceSetAttribute(
              pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspaceBytes,
              sizeof(workspaceBytes)),
          "workspace pref");
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    check(cublasLtMatmulAlgoGetHeuristic(handle, op, a, b, c, c, pref, 1,
                                         &result, &found),
          "heuristic");
    float alpha = 1, beta = 0;
    check(cublasLtMatmul(handle, op, &alpha, w, a, x, b, &beta, y, c, y, c,
                         found ? &result.algo : nullptr, workspace,
                         workspaceBytes, stream),
          "matmul");
    cublasLtMatmulPreferenceDestroy(pref);
    cublasLtMatrixLayoutDestroy(a);
    cublasLtMatrixLayoutDestroy(b);
    cublasLtMatrixLayoutDestroy(c);
    cublasLtMatmulDescDestroy(op);
  }
};
} // namespace

int main() {
  if (!tpc::cuda::deviceAvailable()) {
    std::printf("tpc-gpu-kernel-bench: no GPU, nothing measured\n");
    return 77;
  }
  tpc::cuda::Context ctx;
  auto stream = cudaStream_t(ctx.stream());
  DirectLt direct;
  struct Shape {
    const char *name;
    int64_t in, out;
  };
  // Llama-3-8B: hidden 4096, 32 query and 8 KV heads of 128, MLP 14336,
  // vocabulary 128256.
  const Shape shapes[] = {{"q_proj", 4096, 4096},   {"k_proj", 4096, 1024},
                          {"v_proj", 4096, 1024},   {"o_proj", 4096, 4096},
                          {"gate_proj", 4096, 14336}, {"up_proj", 4096, 14336},
                          {"down_proj", 14336, 4096}, {"lm_head", 4096, 128256}};
  std::printf("GEMM, bf16 in and out, f32 accumulation, y[T, out] = x[T, in] "
              "W^T (median of 20 after 5 warm-ups)\n");
  std::printf("%-10s%7s%7s%8s%12s%12s%10s%10s%8s\n", "gemm", "T", "in", "out",
              "tpc ms", "cublasLt ms", "tpc TF/s", "Lt TF/s", "ratio");
  // Median ms of y[rows, out] = x W^T through tpc's path and through
  // cublasLt directly.
  auto compare = [&](const Shape &s, int64_t rows, int warmup, int runs) {
    DeviceBf16 x(rows * s.in), w(s.in * s.out), y(rows * s.out);
    double viaTpc = medianMs(stream, warmup, runs, [&] {
      tpc::cuda::linear(ctx, tpc::DType::BF16, x, rows, s.in, w,
                        /*inOut=*/false, s.out, nullptr,
                        tpc::Activation::None, y);
    });
    double viaLt = medianMs(stream, warmup, runs, [&] {
      direct.run(stream, x, rows, s.in, w, s.out, y);
    });
    return std::make_pair(viaTpc, viaLt);
  };
  for (int64_t tokens : {2048, 8192})
    for (const Shape &s : shapes) {
      auto [viaTpc, viaLt] = compare(s, tokens, 5, 20);
      double flops = 2.0 * tokens * s.in * s.out;
      std::printf("%-10s%7lld%7lld%8lld%12.3f%12.3f%10.1f%10.1f%8.2f\n",
                  s.name, (long long)tokens, (long long)s.in,
                  (long long)s.out, viaTpc, viaLt, flops / viaTpc / 1e9,
                  flops / viaLt / 1e9, viaTpc / viaLt);
    }

  std::printf("\nGEMV-sized: the same weights at decode's rows, GB/s of "
              "weights read (median of 50 after 10 warm-ups)\n");
  std::printf("%-10s%7s%12s%12s%10s%10s%8s\n", "gemm", "rows", "tpc ms",
              "cublasLt ms", "tpc GB/s", "Lt GB/s", "ratio");
  for (const Shape &s : shapes) {
    if (s.out == 1024 && s.name[0] == 'v')
      continue; // as k_proj
    for (int64_t rows : {1, 2, 4, 8}) {
      auto [viaTpc, viaLt] = compare(s, rows, 10, 50);
      double bytes = 2.0 * s.in * s.out;
      std::printf("%-10s%7lld%12.4f%12.4f%10.0f%10.0f%8.2f\n", s.name,
                  (long long)rows, viaTpc, viaLt, bytes / viaTpc / 1e6,
                  bytes / viaLt / 1e6, viaTpc / viaLt);
    }
  }

  const char *variant = std::getenv("TPC_FLASH_ATTENTION");
  std::printf("\nattention, bf16, causal, 32 query and 8 KV heads of 128, "
              "TPC_FLASH_ATTENTION=%s (median of 10 after 3 warm-ups)\n",
              variant ? variant : "default");
  std::printf("%7s%12s%12s\n", "T", "ms", "TFLOP/s");
  for (int64_t tokens : {2048, 8192}) {
    const int64_t heads = 32, kvHeads = 8, d = 128;
    DeviceBf16 q(tokens * heads * d), k(tokens * kvHeads * d),
        v(tokens * kvHeads * d), o(tokens * heads * d);
    double ms = medianMs(stream, 3, 10, [&] {
      tpc::cuda::attention(ctx, tpc::DType::BF16, q, k, v, 1, tokens, tokens,
                           heads, kvHeads, d, 0, 0, heads / kvHeads, 0,
                           nullptr, o);
    });
    // QK^T and PV over the visible half of the scores.
    double flops = 4.0 * heads * d * tokens * (tokens + 1) / 2;
    std::printf("%7lld%12.3f%12.1f\n", (long long)tokens, ms,
                flops / ms / 1e9);
    std::vector<tpc::cuda::FlashTiles> variants = {
        {1, 64, 4}, {2, 64, 4}, {2, 32, 4}, {1, 64, 8}};
    if (tpc::cuda::flashAttentionHasWgmma())
      variants.insert(variants.end(),
                      {{0, 128, 0, 2}, {0, 64, 0, 2}, {0, 64, 0, 3}});
    if (!variant || std::strcmp(variant, "0") != 0)
      for (tpc::cuda::FlashTiles tiles : variants) {
        double t = medianMs(stream, 3, 10, [&] {
          tpc::cuda::flashAttention(ctx, tpc::DType::BF16, q, k, v, 1, tokens,
                                    tokens, heads, kvHeads, d, 0, 0,
                                    heads / kvHeads, 0, nullptr, o, tokens,
                                    tiles);
        });
        if (tiles.warpgroups > 0)
          std::printf("%7s%12.3f%12.1f   fused wgmma, %d warpgroups, %d "
                      "keys a step\n",
                      "", t, flops / t / 1e9, tiles.warpgroups, tiles.keys);
        else
          std::printf("%7s%12.3f%12.1f   fused, %d warps of %d row tile(s), "
                      "%d keys a step\n",
                      "", t, flops / t / 1e9, tiles.warps, tiles.rowTiles,
                      tiles.keys);
      }
  }

  // Decode: one new query per sequence over a cache (the keys shared by
  // several blocks, as cuda::attention chooses, and without sharing).
  std::printf("\ndecode attention, bf16, 1 query per sequence over a "
              "cache, 32 query and 8 KV heads of 128: GB/s of keys and "
              "values read (median of 20 after 5 warm-ups)\n");
  std::printf("%6s%8s%14s%10s%14s%10s\n", "batch", "cache", "shared us",
              "GB/s", "unshared us", "GB/s");
  for (int64_t batch : {1, 8})
    for (int64_t cache : {1024, 4096, 16384}) {
      const int64_t heads = 32, kvHeads = 8, d = 128;
      DeviceBf16 q(batch * heads * d), k(batch * cache * kvHeads * d),
          v(batch * cache * kvHeads * d), o(batch * heads * d);
      std::vector<int32_t> offsets(size_t(batch), int32_t(cache - 1));
      const int32_t *deviceOffsets = ctx.deviceInts(offsets.data(), batch);
      auto time = [&](int splits) {
        return medianMs(stream, 5, 20, [&] {
          tpc::cuda::flashAttention(ctx, tpc::DType::BF16, q, k, v, batch, 1,
                                    cache, heads, kvHeads, d, 0, 0,
                                    heads / kvHeads, 0, deviceOffsets, o,
                                    cache, {}, splits);
        });
      };
      double shared = time(0), alone = time(1);
      double bytes = 2.0 * 2 * batch * cache * kvHeads * d;
      std::printf("%6lld%8lld%14.1f%10.0f%14.1f%10.0f\n", (long long)batch,
                  (long long)cache, shared * 1e3, bytes / shared / 1e6,
                  alone * 1e3, bytes / alone / 1e6);
    }
  return 0;
}
