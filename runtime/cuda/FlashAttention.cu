//===- FlashAttention.cu - fused attention for 16-bit programs ------------===//
//
// One block: 4 warps of MT m16 tiles of query rows (16 x MT rows each) of
// one head of one sequence, started last rows first (they see the most
// keys). Per key block of 64, K and V arrive in shared memory by cp.async,
// double-buffered (the next block loads while this one computes); each
// warp computes its (16 x MT) x 64 scores with mma.sync m16n8k16 (Q
// fragments held in registers when they fit, else read again by ldmatrix;
// each K fragment feeds all MT tiles), masks them (causal, window, cache
// length: only blocks that cross one of those edges), updates its rows'
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
#include "runtime/cuda/FlashAttentionKernel.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <type_traits>

using namespace tpc;
using namespace tpc::cuda;

namespace {
constexpr int kPad = 8;      // elements of padding per shared row (banks)
// The default tiles (FlashAttention.h): every head dimension has the first.
constexpr FlashTiles kFewBlocks = {1, 64, 4};
constexpr FlashTiles kManyBlocks = {2, 64, 4};
// The wgmma kernel's default (compute capability 9.0, head dimensions 64
// and 128).
constexpr FlashTiles kHopper = {0, 128, 0, 2};

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

/// One block: WARPS warps of MT m16 row tiles each (16 * MT * WARPS
/// query rows) of head blockIdx.y of sequence blockIdx.z, KEYS keys a
/// step.
template <typename T, int D, int MT, int KEYS, int WARPS>
__global__ void __launch_bounds__(WARPS * 32)
    flashKernel(const FlashKernelArgs args) {
  const T *__restrict__ q = static_cast<const T *>(args.q);
  const T *__restrict__ k = static_cast<const T *>(args.k);
  const T *__restrict__ v = static_cast<const T *>(args.v);
  T *__restrict__ out = static_cast<T *>(args.out);
  const int64_t seq = args.seq, kvSeq = args.kvSeq, window = args.window;
  const int qHeads = args.qHeads, kvHeads = args.kvHeads,
            groups = args.groups, splits = args.splits;
  const int32_t *__restrict__ offsets = args.offsets;
  const float scaleLog2 = args.scaleLog2;
  float *__restrict__ partialOut = args.partialOut;
  float2 *__restrict__ partialStats = args.partialStats;
  constexpr int kRows = 16 * MT * WARPS;
  constexpr int S = D + kPad; // shared row stride of every tile
  // Q's fragments stay in registers when they leave room for the output
  // accumulators; otherwise ldmatrix reads them again per key block.
  constexpr bool kQInRegisters = MT * D <= 128;
  extern __shared__ __align__(16) unsigned char shared[];
  T *sQ = reinterpret_cast<T *>(shared);
  T *sK = sQ + kRows * S;     // [2][KEYS][S]
  T *sV = sK + 2 * KEYS * S; // [2][KEYS][S]

  const int h = blockIdx.y, tid = threadIdx.x, warp = tid / 32,
            lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t b = blockIdx.z, offset = offsets ? offsets[b] : 0;
  // With `splits` > 1 the blocks of a row block share its keys: block
  // `split` takes the split-th share of its key steps (flash-decoding).
  const int split = blockIdx.x % splits;
  const int64_t m0 = int64_t(gridDim.x / splits - 1 - blockIdx.x / splits) *
                     kRows;
  const int64_t warpRow0 = m0 + warp * 16 * MT;
  // A warp whose rows are all padding (decode's one query) loads and
  // waits with the others but computes nothing.
  const bool warpActive = warpRow0 < seq;
  const int kv = (args.qHeadBegin + h) / groups - args.kvHeadBegin;
  const int64_t qStride = int64_t(qHeads) * D, kvStride = int64_t(kvHeads) * D;
  const T *qBase = q + (b * seq * qHeads + h) * D;
  const T *kBase = k + (b * kvSeq * kvHeads + kv) * D;
  const T *vBase = v + (b * kvSeq * kvHeads + kv) * D;
  constexpr int kVec = 8;

  int64_t keyBegin, keyEnd;
  blockKeys<KEYS>(m0, kRows, seq, kvSeq, offset, window, splits, split,
                  keyBegin, keyEnd);

  // Keys [n0, n0 + KEYS) of K and V into buffer `stage`.
  auto load = [&](int stage, int64_t n0) {
    T *dk = sK + stage * KEYS * S, *dv = sV + stage * KEYS * S;
    for (int i = tid; i < KEYS * D / kVec; i += WARPS * 32) {
      int r = i / (D / kVec), c = i % (D / kVec) * kVec;
      bool valid = n0 + r < kvSeq;
      int64_t row = valid ? n0 + r : 0;
      copyAsync16(dk + r * S + c, kBase + row * kvStride + c, valid);
      copyAsync16(dv + r * S + c, vBase + row * kvStride + c, valid);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  if (keyBegin < keyEnd)
    load(0, keyBegin);

  for (int i = tid; i < kRows * D / kVec; i += WARPS * 32) {
    int r = i / (D / kVec), c = i % (D / kVec) * kVec;
    int4 val = make_int4(0, 0, 0, 0);
    if (m0 + r < seq)
      val = *reinterpret_cast<const int4 *>(qBase + (m0 + r) * qStride + c);
    *reinterpret_cast<int4 *>(sQ + r * S + c) = val;
  }
  __syncthreads();

  // ldmatrix row addresses of this lane: Q (A operand) and V (transposed)
  // rows are query rows / keys (lanes 8..15, 24..31 the upper 8), columns
  // dims (lanes 16.. the second 8); K (not transposed) rows are keys
  // (lanes 16.. the second 8-key tile), columns dims (lanes 8..15, 24..31
  // the upper 8).
  const int aRow = (lane & 7) + ((lane >> 3) & 1) * 8, aCol = (lane >> 4) * 8;
  const int kRow = (lane & 7) + (lane >> 4) * 8, kCol = ((lane >> 3) & 1) * 8;
  const T *warpQ = sQ + (warp * 16 * MT) * S;
  uint32_t qFrag[kQInRegisters ? MT : 1][kQInRegisters ? D / 16 : 1][4];
  if constexpr (kQInRegisters) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        loadMatrices<false>(qFrag[mt][kk],
                            warpQ + (mt * 16 + aRow) * S + kk * 16 + aCol);
  }

  float rowMax[MT][2], rowSum[MT][2]; // raw (unscaled) scores' maximum
  float o[MT][D / 8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    rowMax[mt][0] = rowMax[mt][1] = -INFINITY;
    rowSum[mt][0] = rowSum[mt][1] = 0.0f;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.0f;
  }

  int stage = 0;
  for (int64_t n0 = keyBegin; n0 < keyEnd; n0 += KEYS, stage ^= 1) {
    bool more = n0 + KEYS < keyEnd;
    if (more)
      load(stage ^ 1, n0 + KEYS);
    if (more)
      asm volatile("cp.async.wait_group 1;\n" ::);
    else
      asm volatile("cp.async.wait_group 0;\n" ::);
    __syncthreads();
    const T *tk = sK + stage * KEYS * S, *tv = sV + stage * KEYS * S;

    if (warpActive) {
      float s[MT][KEYS / 8][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int n = 0; n < KEYS / 8; ++n)
          s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.0f;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t a[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          if constexpr (kQInRegisters) {
#pragma unroll
            for (int e = 0; e < 4; ++e)
              a[mt][e] = qFrag[mt][kk][e];
          } else {
            loadMatrices<false>(a[mt],
                                warpQ + (mt * 16 + aRow) * S + kk * 16 + aCol);
          }
        }
#pragma unroll
        for (int n = 0; n < KEYS / 8; n += 2) {
          uint32_t f[4];
          loadMatrices<false>(f, tk + (n * 8 + kRow) * S + kk * 16 + kCol);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma<T>(s[mt][n], a[mt], f[0], f[1]);
            mma<T>(s[mt][n + 1], a[mt], f[2], f[3]);
          }
        }
      }

      // Only blocks on the diagonal, past the cache's end or at the
      // window's edge are masked: every key of the others is visible to
      // every row of the block.
      bool whole = n0 + KEYS - 1 <= offset + m0 && n0 + KEYS <= kvSeq &&
                   (window <= 0 || n0 > offset + m0 + kRows - 1 - window);
      if (!whole) {
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int n = 0; n < KEYS / 8; ++n)
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              int64_t pos = offset + warpRow0 + mt * 16 + g + 8 * (e / 2);
              int64_t j = n0 + n * 8 + 2 * t + e % 2;
              bool visible = j <= pos && j < kvSeq &&
                             (window <= 0 || j > pos - window);
              if (!visible)
                s[mt][n][e] = -INFINITY;
            }
      }

#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        float scaledMax[2], correction[2];
#pragma unroll
        for (int row = 0; row < 2; ++row) {
          float stepMax = -INFINITY;
#pragma unroll
          for (int n = 0; n < KEYS / 8; ++n)
            stepMax = fmaxf(stepMax,
                            fmaxf(s[mt][n][2 * row], s[mt][n][2 * row + 1]));
          stepMax = fmaxf(stepMax, __shfl_xor_sync(0xffffffff, stepMax, 1));
          stepMax = fmaxf(stepMax, __shfl_xor_sync(0xffffffff, stepMax, 2));
          float newMax = fmaxf(rowMax[mt][row], stepMax);
          // A row that has seen no visible key yet keeps everything at 0.
          bool none = newMax == -INFINITY;
          scaledMax[row] = none ? 0.0f : newMax * scaleLog2;
          correction[row] =
              none ? 1.0f : exp2f((rowMax[mt][row] - newMax) * scaleLog2);
          rowMax[mt][row] = newMax;
          rowSum[mt][row] *= correction[row];
        }
        // p = 2^(s * scale - max * scale): one FFMA and one exp2 each
        // (a masked -inf gives 0).
#pragma unroll
        for (int n = 0; n < KEYS / 8; ++n)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            int row = e / 2;
            s[mt][n][e] =
                exp2f(fmaf(s[mt][n][e], scaleLog2, -scaledMax[row]));
            rowSum[mt][row] += s[mt][n][e];
          }
#pragma unroll
        for (int n = 0; n < D / 8; ++n) {
          o[mt][n][0] *= correction[0];
          o[mt][n][1] *= correction[0];
          o[mt][n][2] *= correction[1];
          o[mt][n][3] *= correction[1];
        }
      }

      // P straight from the score registers (S's accumulator layout is
      // P's A-operand layout), V by transposing ldmatrix.
#pragma unroll
      for (int kk = 0; kk < KEYS / 16; ++kk) {
        uint32_t p[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          p[mt][0] = pack<T>(s[mt][2 * kk][0], s[mt][2 * kk][1]);
          p[mt][1] = pack<T>(s[mt][2 * kk][2], s[mt][2 * kk][3]);
          p[mt][2] = pack<T>(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
          p[mt][3] = pack<T>(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
        }
#pragma unroll
        for (int n = 0; n < D / 8; n += 2) {
          uint32_t f[4];
          loadMatrices<true>(f, tv + (kk * 16 + aRow) * S + n * 8 + aCol);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            mma<T>(o[mt][n], p[mt], f[0], f[1]);
            mma<T>(o[mt][n + 1], p[mt], f[2], f[3]);
          }
        }
      }
    }
    __syncthreads(); // this stage is loaded again two steps on
  }

  if (!warpActive)
    return;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int row = 0; row < 2; ++row) {
      float sum = rowSum[mt][row];
      sum += __shfl_xor_sync(0xffffffff, sum, 1);
      sum += __shfl_xor_sync(0xffffffff, sum, 2);
      int64_t r = warpRow0 + mt * 16 + g + 8 * row;
      if (r >= seq)
        continue;
      if (splits > 1) {
        // This share's unnormalized output, maximum and sum, for
        // combineSplits (a share without keys: 0, -inf, 0).
        size_t at = ((size_t(split) * gridDim.z + b) * seq + r) * qHeads + h;
        float *dst = partialOut + at * D + 2 * t;
#pragma unroll
        for (int n = 0; n < D / 8; ++n)
          *reinterpret_cast<float2 *>(dst + n * 8) =
              make_float2(o[mt][n][2 * row], o[mt][n][2 * row + 1]);
        if (t == 0)
          partialStats[at] = make_float2(rowMax[mt][row], sum);
        continue;
      }
      float inv = 1.0f / sum;
      T *dst = out + (b * seq + r) * qStride + h * D + 2 * t;
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        *reinterpret_cast<uint32_t *>(dst + n * 8) =
            pack<T>(o[mt][n][2 * row] * inv, o[mt][n][2 * row + 1] * inv);
    }
}

/// out[i] = the shares' outputs of query row i (one block each: sequence,
/// position, head), each weighted by 2^(its max - the overall max), over
/// the weighted sum of their sums.
template <typename T, int D>
__global__ void combineSplits(const float *__restrict__ partialOut,
                              const float2 *__restrict__ partialStats,
                              int splits, int64_t rows, float scaleLog2,
                              T *__restrict__ out) {
  int64_t i = blockIdx.x;
  float best = -INFINITY;
  for (int s = 0; s < splits; ++s)
    best = fmaxf(best, partialStats[s * rows + i].x);
  float sum = 0.0f;
  for (int s = 0; s < splits; ++s) {
    float2 stats = partialStats[s * rows + i];
    if (stats.x != -INFINITY)
      sum += stats.y * exp2f((stats.x - best) * scaleLog2);
  }
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float value = 0.0f;
    for (int s = 0; s < splits; ++s) {
      float2 stats = partialStats[s * rows + i];
      if (stats.x != -INFINITY)
        value += partialOut[(s * rows + i) * D + d] *
                 exp2f((stats.x - best) * scaleLog2);
    }
    out[i * D + d] = T(value / sum);
  }
}

/// Launches the mma.sync kernel.
template <typename T, int D, int MT, int KEYS, int WARPS>
void launchMmaSync(cudaStream_t stream, dim3 grid,
                   const FlashKernelArgs &args) {
  constexpr size_t shared =
      sizeof(T) * (16 * MT * WARPS + 4 * KEYS) * (D + kPad);
  // (per launch: the setting belongs to the current device)
  check(cudaFuncSetAttribute(flashKernel<T, D, MT, KEYS, WARPS>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(shared)),
        "flash attention shared memory");
  flashKernel<T, D, MT, KEYS, WARPS><<<grid, WARPS * 32, shared, stream>>>(
      args);
  check(cudaGetLastError(), "flash attention");
}

/// Runs `kernel(grid, args)` over blocks of `rows` query rows, `splits`
/// blocks a row block; with more than one, the shares' partial outputs
/// and (max, sum) per query row go to buffers that combineSplits reduces
/// into args.out.
template <typename T, int D, typename Kernel>
void launchWithShares(cudaStream_t stream, FlashKernelArgs args,
                      int64_t batch, int64_t rows, int splits,
                      Kernel &&kernel) {
  dim3 grid(unsigned((args.seq + rows - 1) / rows * splits),
            unsigned(args.qHeads), unsigned(batch));
  args.splits = splits;
  int64_t queryRows = batch * args.seq * args.qHeads;
  if (splits > 1) {
    check(cudaMallocAsync(reinterpret_cast<void **>(&args.partialOut),
                          sizeof(float) * splits * queryRows * D, stream),
          "flash attention shares");
    check(cudaMallocAsync(reinterpret_cast<void **>(&args.partialStats),
                          sizeof(float2) * splits * queryRows, stream),
          "flash attention shares");
  }
  kernel(grid, args);
  if (splits > 1) {
    combineSplits<T, D><<<unsigned(queryRows), 128, 0, stream>>>(
        args.partialOut, args.partialStats, splits, queryRows,
        args.scaleLog2, static_cast<T *>(args.out));
    check(cudaGetLastError(), "flash attention shares");
    check(cudaFreeAsync(args.partialOut, stream), "flash attention shares");
    check(cudaFreeAsync(args.partialStats, stream), "flash attention shares");
  }
}

/// How many blocks share each row block's keys: 1 unless the row blocks
/// (heads x sequences x blocks of `rows` queries: few when decoding) would
/// leave most multiprocessors idle while each walks many keys; then
/// enough shares for two blocks a multiprocessor, each of at least four
/// key steps (TPC_FLASH_DECODE_SPLIT=0 turns this off).
int splitsFor(int64_t seq, int64_t rows, int64_t heads, int64_t visibleKeys,
              int keys) {
  static const bool enabled = [] {
    const char *env = std::getenv("TPC_FLASH_DECODE_SPLIT");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  int device = 0, sms = 0;
  check(cudaGetDevice(&device), "device");
  check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device),
        "multiprocessors");
  int64_t blocks = (seq + rows - 1) / rows * heads;
  if (!enabled || blocks >= sms)
    return 1;
  int64_t wanted = (2 * sms + blocks - 1) / blocks;
  int64_t most = visibleKeys / (4 * keys);
  return int(std::max<int64_t>(1, std::min<int64_t>({wanted, most, 64})));
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

bool tpc::cuda::flashAttentionHasWgmma() {
  static const bool enabled = [] {
    const char *env = std::getenv("TPC_FLASH_WGMMA");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  return enabled && hopperFlashRuns();
}

void tpc::cuda::flashAttention(Context &ctx, DType dtype, const void *q,
                               const void *k, const void *v, int64_t batch,
                               int64_t seq, int64_t kvSeq, int64_t qHeads,
                               int64_t kvHeads, int64_t headDim,
                               int64_t qHeadBegin, int64_t kvHeadBegin,
                               int64_t groups, int64_t window,
                               const int32_t *offsets, void *out,
                               int64_t visibleKeys, FlashTiles tiles,
                               int keySplits) {
  auto stream = cudaStream_t(ctx.stream());
  FlashKernelArgs args{q,
                       k,
                       v,
                       out,
                       seq,
                       kvSeq,
                       int(qHeads),
                       int(kvHeads),
                       int(qHeadBegin),
                       int(kvHeadBegin),
                       int(groups),
                       window,
                       offsets,
                       float(1.4426950408889634 / std::sqrt(double(headDim))),
                       1,
                       nullptr,
                       nullptr};
  bool launched = withHeadDim(headDim, [&](auto d) {
    constexpr int D = d();
    if (tiles.rowTiles == 0 && tiles.warpgroups == 0) {
      // Measured on an H200 (docs/benchmarks.md): the wgmma kernel
      // wherever it runs, for prompts (decoding's one row would fill 1 of
      // its 64); else 64-row blocks while there are few blocks (the
      // causal triangle leaves the last wave uneven), blocks of 128 rows
      // once there are many.
      if (seq >= 64 &&
          hopperFlashHas(dtype, D, kHopper.keys, kHopper.warpgroups) &&
          flashAttentionHasWgmma()) {
        tiles = kHopper;
      } else {
        int64_t blocksOf128 = (seq + 127) / 128 * qHeads * batch;
        tiles = D == 128 && blocksOf128 >= 1024 ? kManyBlocks : kFewBlocks;
      }
    }
    int64_t rows = tiles.warpgroups > 0 ? 64 * tiles.warpgroups
                                        : 16 * tiles.rowTiles * tiles.warps;
    int splits = keySplits > 0 ? keySplits
                               : splitsFor(seq, rows, qHeads * batch,
                                           visibleKeys, tiles.keys);
    auto withType = [&](auto type, auto &&kernel) {
      using T = decltype(type);
      launchWithShares<T, D>(stream, args, batch, rows, splits, kernel);
    };
    auto run = [&](auto &&kernel) {
      if (dtype == DType::BF16)
        withType(__nv_bfloat16(), kernel);
      else
        withType(__half(), kernel);
    };
    if (tiles.warpgroups > 0) {
      if (!hopperFlashHas(dtype, D, tiles.keys, tiles.warpgroups))
        throw std::runtime_error(
            "flash attention: no wgmma kernel of " +
            std::to_string(tiles.warpgroups) + " warpgroups and " +
            std::to_string(tiles.keys) + " keys a step for head dimension " +
            std::to_string(headDim));
      if (!hopperFlashRuns())
        throw std::runtime_error("flash attention: the wgmma kernel needs a "
                                 "device of compute capability 9.0");
      return run([&](dim3 grid, const FlashKernelArgs &a) {
        launchHopperFlash(stream, dtype, D, tiles.keys, tiles.warpgroups,
                          grid, a);
      });
    }
    auto mmaSync = [&](auto mt, auto keys, auto warps) {
      run([&](dim3 grid, const FlashKernelArgs &a) {
        if (dtype == DType::BF16)
          launchMmaSync<__nv_bfloat16, D, mt(), keys(), warps()>(stream, grid,
                                                                 a);
        else
          launchMmaSync<__half, D, mt(), keys(), warps()>(stream, grid, a);
      });
    };
    using I = std::integral_constant<int, 1>;
    using II = std::integral_constant<int, 2>;
    using W4 = std::integral_constant<int, 4>;
    using W8 = std::integral_constant<int, 8>;
    using K32 = std::integral_constant<int, 32>;
    using K64 = std::integral_constant<int, 64>;
    if (tiles == kFewBlocks)
      return mmaSync(I(), K64(), W4());
    if constexpr (D == 128) {
      if (tiles == FlashTiles{2, 64, 4})
        return mmaSync(II(), K64(), W4());
      if (tiles == FlashTiles{2, 32, 4})
        return mmaSync(II(), K32(), W4());
      if (tiles == FlashTiles{1, 64, 8})
        return mmaSync(I(), K64(), W8());
    }
    throw std::runtime_error(
        "flash attention: no kernel of " + std::to_string(tiles.warps) +
        " warps of " + std::to_string(tiles.rowTiles) + " row tiles and " +
        std::to_string(tiles.keys) + " keys a step for head dimension " +
        std::to_string(headDim));
  });
  if (!launched)
    throw std::runtime_error("flash attention: head dimension " +
                             std::to_string(headDim) + " has no kernel");
}
