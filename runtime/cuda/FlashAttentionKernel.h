//===- FlashAttentionKernel.h - what the fused kernels share ----*- C++ -*-===//
//
// Internal to the CUDA backend: the arguments every fused attention kernel
// takes (FlashAttention.cu's mma.sync kernel and FlashAttentionHopper.cu's
// wgmma kernel), and the Hopper kernel's entry points. FlashAttention.cu
// chooses the kernel, allocates the key shares' partial results and
// combines them. Also the device helpers both use.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CUDA_FLASHATTENTIONKERNEL_H
#define TPC_RUNTIME_CUDA_FLASHATTENTIONKERNEL_H

#include "runtime/core/DType.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace tpc::cuda {

/// One launch: grid (row blocks x splits, query heads, sequences). q and
/// out are [batch, seq, qHeads, D], k and v [batch, kvSeq, kvHeads, D];
/// sequence b's queries sit at positions offsets[b] (device memory, null
/// for zeros) onwards. With splits > 1 each block writes its share's
/// unnormalized output and (max, sum) per row to partialOut/partialStats.
struct FlashKernelArgs {
  const void *q, *k, *v;
  void *out;
  int64_t seq, kvSeq;
  int qHeads, kvHeads, qHeadBegin, kvHeadBegin, groups;
  int64_t window;
  const int32_t *offsets;
  float scaleLog2; // log2(e) / sqrt(D)
  int splits;
  float *partialOut;
  float2 *partialStats;
};

/// Whether this device runs the Hopper kernel (compute capability 9.0:
/// the kernel is built for sm_90a only).
bool hopperFlashRuns();

/// Whether the Hopper kernel exists for this element type, head
/// dimension, keys a step and warpgroups (of 64 query rows) a block.
bool hopperFlashHas(DType dtype, int64_t headDim, int keys, int warpgroups);

/// Launches it (hopperFlashHas must hold); `grid.x` counts row blocks of
/// 64 x warpgroups rows times the splits.
void launchHopperFlash(cudaStream_t stream, DType dtype, int64_t headDim,
                       int keys, int warpgroups, dim3 grid,
                       const FlashKernelArgs &args);

#ifdef __CUDACC__
/// Two floats as one register of two 16-bit elements (low, high).
template <typename T> __device__ inline uint32_t pack(float lo, float hi);
template <> __device__ inline uint32_t pack<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}
template <> __device__ inline uint32_t pack<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

/// The keys [begin, end) a block of `rows` query rows from row m0 walks,
/// KEYS a step: up to its last row's position (and the cache's length),
/// from its window's first key rounded down to a step, and with
/// splits > 1 only share `split` of those steps.
template <int KEYS>
__device__ inline void blockKeys(int64_t m0, int rows, int64_t seq,
                                 int64_t kvSeq, int64_t offset,
                                 int64_t window, int splits, int split,
                                 int64_t &begin, int64_t &end) {
  int64_t lastRow = (m0 + rows < seq ? m0 + rows : seq) - 1;
  end = offset + lastRow + 1 < kvSeq ? offset + lastRow + 1 : kvSeq;
  begin = 0;
  if (window > 0 && offset + m0 - window + 1 > 0)
    begin = (offset + m0 - window + 1) / KEYS * KEYS;
  if (splits > 1) {
    int64_t steps = (end - begin + KEYS - 1) / KEYS;
    int64_t share = (steps + splits - 1) / splits;
    begin += split * share * KEYS;
    end = begin + share * KEYS < end ? begin + share * KEYS : end;
  }
}

/// 16 bytes global -> shared without registers; zero-filled when !valid.
__device__ inline void copyAsync16(void *sharedDst, const void *src,
                                   bool valid) {
  unsigned dst = unsigned(__cvta_generic_to_shared(sharedDst));
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(src), "r"(bytes));
}
#endif

} // namespace tpc::cuda

#endif // TPC_RUNTIME_CUDA_FLASHATTENTIONKERNEL_H
