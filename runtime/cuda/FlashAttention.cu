//===- FlashAttention.cu - fused attention for 16-bit programs ------------===//
//
// One block: 4 warps, 64 query rows of one head (16 per warp), started
// last rows first (they see the most keys). Per key block of 64, K and V
// arrive in shared memory by cp.async, double-buffered (the next block
// loads while this one computes); each warp computes its 16 x 64 scores
// with mma.sync m16n8k16 (Q fragments held in registers, K fragments by
// ldmatrix), masks them (causal, window, cache length), updates its rows'
// running max and sum, rescales its output accumulators and adds P V: P
// straight from the score registers (S's accumulator layout is P's
// A-operand layout), V by transposing ldmatrix from its row-major tile.
// Register layouts are PTX's for mma.m16n8k16: with g = lane / 4 and
// t = lane % 4, A holds rows g and g + 8, columns 2t, 2t + 1, 2t + 8,
// 2t + 9; B rows 2t, 2t + 1, 2t + 8, 2t + 9 of column g; C rows g and
// g + 8, columns 2t and 2t + 1.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/FlashAttention.h"
#include "runtime/cuda/Check.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

using namespace tpc;
using namespace tpc::cuda;

namespace {
constexpr int kRows = 64;    // query rows per block
constexpr int kKeys = 64;    // keys per step
constexpr int kWarps = 4;    // 16 query rows each
constexpr int kPad = 8;      // elements of padding per shared row (banks)

template <typename T> __device__ inline uint32_t pack(float lo, float hi);
template <> __device__ inline uint32_t pack<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}
template <> __device__ inline uint32_t pack<__half>(float lo, float hi) {
  __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t *>(&v);
}

/// d += a b for one m16n8k16 tile, f32 accumulation.
template <typename T>
__device__ inline void mma(float (&d)[4], const uint32_t (&a)[4],
                           uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>)
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                   "r"(b1));
  else
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                   "r"(b1));
}

__device__ inline uint32_t word(const void *p) {
  return *static_cast<const uint32_t *>(p);
}

__device__ inline void copyAsync16(void *sharedDst, const void *src,
                                   bool valid) {
  // 16 bytes global -> shared without registers; zero-filled when !valid.
  unsigned dst = unsigned(__cvta_generic_to_shared(sharedDst));
  int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(src), "r"(bytes));
}

/// Four 8x8 16-bit matrices from shared memory, one row address per lane
/// (lanes 8i..8i+7 give matrix i's rows); `Trans` loads them transposed.
template <bool Trans>
__device__ inline void loadMatrices(uint32_t (&r)[4], const void *row) {
  unsigned at = unsigned(__cvta_generic_to_shared(row));
  if constexpr (Trans)
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 "
                 "{%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(at));
  else
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 "
                 "{%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(at));
}

template <typename T, int D>
__global__ void __launch_bounds__(kWarps * 32)
    flashKernel(const T *__restrict__ q, const T *__restrict__ k,
                    const T *__restrict__ v, T *__restrict__ out, int64_t b,
                    int64_t seq, int64_t kvSeq, int qHeads, int kvHeads,
                    int qHeadBegin, int kvHeadBegin, int groups,
                    int64_t window, int64_t offset, float scaleLog2) {
  constexpr int S = D + kPad; // shared row stride of every tile
  extern __shared__ __align__(16) unsigned char shared[];
  T *sQ = reinterpret_cast<T *>(shared);
  T *sK = sQ + kRows * S;     // [2][kKeys][S]
  T *sV = sK + 2 * kKeys * S; // [2][kKeys][S]

  const int h = blockIdx.y, tid = threadIdx.x, warp = tid / 32,
            lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t m0 = int64_t(gridDim.x - 1 - blockIdx.x) * kRows;
  const int kv = (qHeadBegin + h) / groups - kvHeadBegin;
  const int64_t qStride = int64_t(qHeads) * D, kvStride = int64_t(kvHeads) * D;
  const T *qBase = q + (b * seq * qHeads + h) * D;
  const T *kBase = k + (b * kvSeq * kvHeads + kv) * D;
  const T *vBase = v + (b * kvSeq * kvHeads + kv) * D;
  constexpr int kVec = 8;

  int64_t lastRow = (m0 + kRows < seq ? m0 + kRows : seq) - 1;
  int64_t keyEnd = offset + lastRow + 1 < kvSeq ? offset + lastRow + 1 : kvSeq;
  int64_t keyBegin = 0;
  if (window > 0 && offset + m0 - window + 1 > 0)
    keyBegin = (offset + m0 - window + 1) / kKeys * kKeys;

  // Keys [n0, n0 + kKeys) of K and V into buffer `stage`.
  auto load = [&](int stage, int64_t n0) {
    T *dk = sK + stage * kKeys * S, *dv = sV + stage * kKeys * S;
    for (int i = tid; i < kKeys * D / kVec; i += kWarps * 32) {
      int r = i / (D / kVec), c = i % (D / kVec) * kVec;
      bool valid = n0 + r < kvSeq;
      int64_t row = valid ? n0 + r : 0;
      copyAsync16(dk + r * S + c, kBase + row * kvStride + c, valid);
      copyAsync16(dv + r * S + c, vBase + row * kvStride + c, valid);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  load(0, keyBegin);

  for (int i = tid; i < kRows * D / kVec; i += kWarps * 32) {
    int r = i / (D / kVec), c = i % (D / kVec) * kVec;
    int4 val = make_int4(0, 0, 0, 0);
    if (m0 + r < seq)
      val = *reinterpret_cast<const int4 *>(qBase + (m0 + r) * qStride + c);
    *reinterpret_cast<int4 *>(sQ + r * S + c) = val;
  }
  __syncthreads();
  uint32_t qFrag[D / 16][4];
  const T *qRows = sQ + (warp * 16) * S;
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    qFrag[kk][0] = word(qRows + g * S + kk * 16 + 2 * t);
    qFrag[kk][1] = word(qRows + (g + 8) * S + kk * 16 + 2 * t);
    qFrag[kk][2] = word(qRows + g * S + kk * 16 + 2 * t + 8);
    qFrag[kk][3] = word(qRows + (g + 8) * S + kk * 16 + 2 * t + 8);
  }

  int64_t pos[2];
  pos[0] = offset + m0 + warp * 16 + g;
  pos[1] = pos[0] + 8;
  float rowMax[2] = {-INFINITY, -INFINITY}, rowSum[2] = {0.0f, 0.0f};
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
    o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;

  // ldmatrix row addresses of this lane: K (not transposed) rows are keys
  // (lanes 16.. the second 8-key tile), columns dims (lanes 8..15, 24..31
  // the upper 8); V (transposed) rows are keys (lanes 8..15, 24..31 the
  // upper 8 keys), columns dims (lanes 16.. the second 8 dims).
  const int kRow = (lane & 7) + (lane >> 4) * 8, kCol = ((lane >> 3) & 1) * 8;
  const int vRow = (lane & 7) + ((lane >> 3) & 1) * 8, vCol = (lane >> 4) * 8;

  int stage = 0;
  for (int64_t n0 = keyBegin; n0 < keyEnd; n0 += kKeys, stage ^= 1) {
    bool more = n0 + kKeys < keyEnd;
    if (more)
      load(stage ^ 1, n0 + kKeys);
    if (more)
      asm volatile("cp.async.wait_group 1;\n" ::);
    else
      asm volatile("cp.async.wait_group 0;\n" ::);
    __syncthreads();
    const T *tk = sK + stage * kKeys * S, *tv = sV + stage * kKeys * S;

    float s[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int n = 0; n < kKeys / 8; n += 2)
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t f[4];
        loadMatrices<false>(f, tk + (n * 8 + kRow) * S + kk * 16 + kCol);
        mma<T>(s[n], qFrag[kk], f[0], f[1]);
        mma<T>(s[n + 1], qFrag[kk], f[2], f[3]);
      }

    float stepMax[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int row = e / 2;
        int64_t j = n0 + n * 8 + 2 * t + e % 2;
        bool visible = j <= pos[row] && j < kvSeq &&
                       (window <= 0 || j > pos[row] - window);
        s[n][e] = visible ? s[n][e] * scaleLog2 : -INFINITY;
        stepMax[row] = fmaxf(stepMax[row], s[n][e]);
      }
    float correction[2];
#pragma unroll
    for (int row = 0; row < 2; ++row) {
      stepMax[row] = fmaxf(stepMax[row],
                           __shfl_xor_sync(0xffffffff, stepMax[row], 1));
      stepMax[row] = fmaxf(stepMax[row],
                           __shfl_xor_sync(0xffffffff, stepMax[row], 2));
      float newMax = fmaxf(rowMax[row], stepMax[row]);
      correction[row] =
          newMax == -INFINITY ? 1.0f : exp2f(rowMax[row] - newMax);
      rowMax[row] = newMax;
      rowSum[row] *= correction[row];
    }
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int row = e / 2;
        s[n][e] = s[n][e] == -INFINITY ? 0.0f : exp2f(s[n][e] - rowMax[row]);
        rowSum[row] += s[n][e];
      }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= correction[0];
      o[n][1] *= correction[0];
      o[n][2] *= correction[1];
      o[n][3] *= correction[1];
    }

#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      uint32_t p[4] = {pack<T>(s[2 * kk][0], s[2 * kk][1]),
                       pack<T>(s[2 * kk][2], s[2 * kk][3]),
                       pack<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                       pack<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t f[4];
        loadMatrices<true>(f, tv + (kk * 16 + vRow) * S + n * 8 + vCol);
        mma<T>(o[n], p, f[0], f[1]);
        mma<T>(o[n + 1], p, f[2], f[3]);
      }
    }
    __syncthreads(); // this stage is loaded again two steps on
  }

#pragma unroll
  for (int row = 0; row < 2; ++row) {
    rowSum[row] += __shfl_xor_sync(0xffffffff, rowSum[row], 1);
    rowSum[row] += __shfl_xor_sync(0xffffffff, rowSum[row], 2);
  }
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    int64_t r = m0 + warp * 16 + g + 8 * row;
    if (r >= seq)
      continue;
    float inv = 1.0f / rowSum[row];
    T *dst = out + (b * seq + r) * qStride + h * D + 2 * t;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<uint32_t *>(dst + n * 8) =
          pack<T>(o[n][2 * row] * inv, o[n][2 * row + 1] * inv);
  }
}

template <typename T, int D>
void launch(Context &ctx, const void *q, const void *k, const void *v,
            int64_t b, int64_t seq, int64_t kvSeq, int64_t qHeads,
            int64_t kvHeads, int64_t qHeadBegin, int64_t kvHeadBegin,
            int64_t groups, int64_t window, int64_t offset, void *out) {
  constexpr size_t shared = sizeof(T) * (kRows + 4 * kKeys) * (D + kPad);
  // (per launch: the setting belongs to the current device)
  check(cudaFuncSetAttribute(flashKernel<T, D>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(shared)),
        "flash attention shared memory");
  dim3 grid(unsigned((seq + kRows - 1) / kRows), unsigned(qHeads));
  float scaleLog2 = float(1.4426950408889634 / std::sqrt(double(D)));
  flashKernel<T, D><<<grid, kWarps * 32, shared,
                      cudaStream_t(ctx.stream())>>>(
      static_cast<const T *>(q), static_cast<const T *>(k),
      static_cast<const T *>(v), static_cast<T *>(out), b, seq, kvSeq,
      int(qHeads), int(kvHeads), int(qHeadBegin), int(kvHeadBegin),
      int(groups), window, offset, scaleLog2);
  check(cudaGetLastError(), "flash attention");
}

/// Calls fn(std::integral_constant<int, D>()) for the head dimensions
/// that have a kernel; false for the others.
template <typename Fn> bool withHeadDim(int64_t headDim, Fn &&fn) {
  switch (headDim) {
#define TPC_FLASH_HEAD_DIM(D)                                                  \
  case D:                                                                      \
    fn(std::integral_constant<int, D>());                                      \
    return true;
    TPC_FLASH_HEAD_DIM(16)
    TPC_FLASH_HEAD_DIM(32)
    TPC_FLASH_HEAD_DIM(64)
    TPC_FLASH_HEAD_DIM(80)
    TPC_FLASH_HEAD_DIM(96)
    TPC_FLASH_HEAD_DIM(128)
    TPC_FLASH_HEAD_DIM(256)
#undef TPC_FLASH_HEAD_DIM
  }
  return false;
}
} // namespace

bool tpc::cuda::flashAttentionApplies(DType dtype, int64_t headDim) {
  static const bool enabled = [] {
    const char *env = std::getenv("TPC_FLASH_ATTENTION");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return enabled && dtype != DType::F32 && withHeadDim(headDim, [](auto) {});
}

void tpc::cuda::flashAttention(Context &ctx, DType dtype, const void *q,
                               const void *k, const void *v, int64_t b,
                               int64_t seq, int64_t kvSeq, int64_t qHeads,
                               int64_t kvHeads, int64_t headDim,
                               int64_t qHeadBegin, int64_t kvHeadBegin,
                               int64_t groups, int64_t window, int64_t offset,
                               void *out) {
  bool launched = withHeadDim(headDim, [&](auto d) {
    if (dtype == DType::BF16)
      launch<__nv_bfloat16, d()>(ctx, q, k, v, b, seq, kvSeq, qHeads, kvHeads,
                                 qHeadBegin, kvHeadBegin, groups, window,
                                 offset, out);
    else
      launch<__half, d()>(ctx, q, k, v, b, seq, kvSeq, qHeads, kvHeads,
                          qHeadBegin, kvHeadBegin, groups, window, offset,
                          out);
  });
  if (!launched)
    throw std::runtime_error("flash attention: head dimension " +
                             std::to_string(headDim) + " has no kernel");
}
