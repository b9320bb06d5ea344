//===- FlashAttentionHopper.cu - fused attention on Hopper's wgmma --------===//
//
// The fused attention of FlashAttention.cu for compute capability 9.0,
// with the warpgroup-wide asynchronous MMA (wgmma) instead of mma.sync:
// each warpgroup (four warps, 128 threads) owns 64 query rows and
// multiplies them by a whole key block in one instruction stream, its
// operands read by the tensor cores straight from shared memory (Q, K, V)
// or registers (P), not by ldmatrix into every warp.
//
// One block: WG warpgroups (64 x WG query rows of one head of one
// sequence, last rows first) walk the key blocks their rows can see, KEYS
// keys a step; K and V arrive by cp.async, double-buffered. Per step and
// warpgroup: S = Q K^T (D / 16 wgmma, A and B by descriptor), the mask
// (causal, window, cache end; only on blocks crossing an edge), the online
// softmax on S's registers, O += P V (KEYS / 16 wgmma, P from registers,
// V by descriptor, transposed).
//
// Shared-memory tiles are stored the way wgmma's 128-byte swizzle reads
// them: a tile of R rows x D columns is D / 64 panels of R rows x 128
// bytes; row r's 16-byte chunk c of a panel sits at chunk c ^ (r % 8).
// Descriptors (PTX ISA, "Matrix Descriptor"): Q and K are K-major (the
// head dimension is the reduction; 8-row groups 1024 bytes apart); V is
// N-major (the head dimension is the output; its panels KEYS x 128 bytes
// apart, 8-key groups 1024 bytes apart). Register layouts, with warp w of
// the warpgroup, g = lane / 4, t = lane % 4: accumulator element 4c + 2h + e
// is row 16w + g + 8h, column 8c + 2t + e; the A registers of a 16-wide
// k step are S's columns 16kk.. in the same order (mma.sync's layout).
//
// Built for sm_90a only (wgmma is not in sm_90's portable subset); on
// other devices FlashAttention.cu never launches it.
//
//===----------------------------------------------------------------------===//
#include "runtime/cuda/Check.h"
#include "runtime/cuda/FlashAttentionKernel.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <stdexcept>
#include <type_traits>

using namespace tpc;
using namespace tpc::cuda;

namespace {
#include "runtime/cuda/Wgmma.inc"

constexpr int kGroupRows = 64;    // query rows a warpgroup
constexpr int kPanelBytes = 128;  // one swizzled row of a panel

/// Byte offset of row r's 16-byte chunk c (of D / 8) in a swizzled tile of
/// ROWS rows.
template <int ROWS> __device__ inline int swizzled(int r, int c) {
  return (c / 8) * ROWS * kPanelBytes + r * kPanelBytes +
         (((c % 8) ^ (r % 8)) * 16);
}

/// A wgmma shared-memory descriptor: start address, leading and stride
/// byte offsets (each >> 4, 14 bits), 128-byte swizzle.
__device__ inline uint64_t descriptor(const void *tile, uint32_t leading,
                                      uint32_t stride) {
  uint32_t at = unsigned(__cvta_generic_to_shared(tile));
  return uint64_t((at & 0x3FFFF) >> 4) |
         uint64_t((leading & 0x3FFFF) >> 4) << 16 |
         uint64_t((stride & 0x3FFFF) >> 4) << 32 | uint64_t(1) << 62;
}
/// The same descriptor `bytes` further on (the start address is the low
/// field; tiles stay far below its 256 KiB).
__device__ inline uint64_t advanced(uint64_t desc, uint32_t bytes) {
  return desc + (bytes >> 4);
}

/// Keeps the compiler from moving accumulator registers while wgmma owns
/// them (else ptxas serializes the wgmma chain).
template <int N> __device__ inline void pinRegisters(float (&d)[N]) {
#pragma unroll
  for (int i = 0; i < N; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

__device__ inline void wgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ inline void wgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
/// Waits until at most `Pending` committed wgmma groups are unfinished.
template <int Pending> __device__ inline void wgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending)
               : "memory");
}

template <typename T, int D, int KEYS, int WG>
__global__ void __launch_bounds__(WG * 128, 1)
    hopperFlashKernel(const FlashKernelArgs args) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int kRows = kGroupRows * WG;
  constexpr int kQBytes = kGroupRows * D * 2; // one warpgroup's Q
  constexpr int kTileBytes = KEYS * D * 2;    // one K or V tile
  constexpr int kChunks = D / 8;              // 16-byte chunks a row
  extern __shared__ unsigned char rawShared[];
  // The swizzle is a function of address bits 4-9: tiles start at a
  // multiple of 1024 bytes (the launch asks for 1024 more).
  unsigned char *shared =
      rawShared +
      ((1024 - unsigned(__cvta_generic_to_shared(rawShared)) % 1024) % 1024);
  unsigned char *sQ = shared;                // [WG] tiles of 64 rows
  unsigned char *sK = sQ + WG * kQBytes;     // [2] tiles of KEYS rows
  unsigned char *sV = sK + 2 * kTileBytes;   // [2] tiles of KEYS rows

  const T *q = static_cast<const T *>(args.q);
  const T *k = static_cast<const T *>(args.k);
  const T *v = static_cast<const T *>(args.v);
  const int64_t seq = args.seq, kvSeq = args.kvSeq, window = args.window;
  const int h = blockIdx.y, tid = threadIdx.x, group = tid / 128,
            warp = tid % 128 / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int64_t b = blockIdx.z, offset = args.offsets ? args.offsets[b] : 0;
  const int splits = args.splits, split = blockIdx.x % splits;
  const int64_t m0 = int64_t(gridDim.x / splits - 1 - blockIdx.x / splits) *
                     kRows;
  const int kv = (args.qHeadBegin + h) / args.groups - args.kvHeadBegin;
  const int64_t qStride = int64_t(args.qHeads) * D,
                kvStride = int64_t(args.kvHeads) * D;
  const T *qBase = q + (b * seq * args.qHeads + h) * D;
  const T *kBase = k + (b * kvSeq * args.kvHeads + kv) * D;
  const T *vBase = v + (b * kvSeq * args.kvHeads + kv) * D;

  int64_t keyBegin, keyEnd;
  blockKeys<KEYS>(m0, kRows, seq, kvSeq, offset, window, splits, split,
                  keyBegin, keyEnd);

  // Q (first group of copies) and keys [n0, n0 + KEYS) of K and V into
  // buffer `stage`; rows past the end are zeros.
  for (int i = tid; i < kRows * kChunks; i += WG * 128) {
    int row = i / kChunks, c = i % kChunks;
    bool valid = m0 + row < seq;
    copyAsync16(sQ + row / kGroupRows * kQBytes +
                    swizzled<kGroupRows>(row % kGroupRows, c),
                qBase + (valid ? m0 + row : 0) * qStride + c * 8, valid);
  }
  auto load = [&](int stage, int64_t n0) {
    unsigned char *dk = sK + stage * kTileBytes, *dv = sV + stage * kTileBytes;
    for (int i = tid; i < KEYS * kChunks; i += WG * 128) {
      int r = i / kChunks, c = i % kChunks;
      bool valid = n0 + r < kvSeq;
      int64_t row = valid ? n0 + r : 0;
      int at = swizzled<KEYS>(r, c);
      copyAsync16(dk + at, kBase + row * kvStride + c * 8, valid);
      copyAsync16(dv + at, vBase + row * kvStride + c * 8, valid);
    }
    asm volatile("cp.async.commit_group;\n" ::);
  };
  if (keyBegin < keyEnd)
    load(0, keyBegin);
  else
    asm volatile("cp.async.commit_group;\n" ::);

  // This warpgroup's rows; a warpgroup skips the steps none of its rows
  // sees (all-padding rows, keys past its last row or before its window).
  const int64_t groupRow0 = m0 + group * kGroupRows;
  const int64_t groupLast =
      offset + (groupRow0 + kGroupRows < seq ? groupRow0 + kGroupRows : seq) -
      1;
  const int64_t rowPos = offset + groupRow0 + warp * 16 + g; // (+8: row 2)
  const uint64_t qDesc = descriptor(sQ + group * kQBytes, 16, 1024);

  float o[D / 2];
  float rowMax[2] = {-INFINITY, -INFINITY}, rowSum[2] = {0.0f, 0.0f};
#pragma unroll
  for (int i = 0; i < D / 2; ++i)
    o[i] = 0.0f;

  int stage = 0;
  for (int64_t n0 = keyBegin; n0 < keyEnd; n0 += KEYS, stage ^= 1) {
    bool more = n0 + KEYS < keyEnd;
    if (more) {
      load(stage ^ 1, n0 + KEYS);
      asm volatile("cp.async.wait_group 1;\n" ::);
    } else {
      asm volatile("cp.async.wait_group 0;\n" ::);
    }
    // cp.async wrote through the generic proxy; wgmma reads through the
    // async proxy.
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();

    bool sees = groupRow0 < seq && n0 <= groupLast &&
                (window <= 0 || n0 + KEYS - 1 > offset + groupRow0 - window);
    if (sees) {
      // S = Q K^T: k step kk reads panel kk / 4, 32 bytes a step in it.
      const uint64_t kDesc = descriptor(sK + stage * kTileBytes, 16, 1024);
      float s[KEYS / 2];
#pragma unroll
      for (int i = 0; i < KEYS / 2; ++i)
        s[i] = 0.0f;
      pinRegisters(s);
      wgmmaFence();
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t qAt = (kk / 4) * kGroupRows * kPanelBytes + (kk % 4) * 32;
        uint32_t kAt = (kk / 4) * KEYS * kPanelBytes + (kk % 4) * 32;
        Wgmma<T, KEYS>::ss(s, advanced(qDesc, qAt), advanced(kDesc, kAt),
                           kk > 0);
      }
      wgmmaCommit();
      wgmmaWait<0>();
      pinRegisters(s);

      // Only blocks on the diagonal, past the cache's end or at the
      // window's edge are masked.
      bool whole = n0 + KEYS - 1 <= offset + groupRow0 && n0 + KEYS <= kvSeq &&
                   (window <= 0 ||
                    n0 > offset + groupRow0 + kGroupRows - 1 - window);
      if (!whole) {
#pragma unroll
        for (int i = 0; i < KEYS / 2; ++i) {
          int64_t pos = rowPos + 8 * (i / 2 % 2);
          int64_t j = n0 + 8 * (i / 4) + 2 * t + i % 2;
          bool visible =
              j <= pos && j < kvSeq && (window <= 0 || j > pos - window);
          if (!visible)
            s[i] = -INFINITY;
        }
      }

      float scaledMax[2], correction[2];
#pragma unroll
      for (int row = 0; row < 2; ++row) {
        float stepMax = -INFINITY;
#pragma unroll
        for (int c = 0; c < KEYS / 8; ++c)
          stepMax = fmaxf(stepMax, fmaxf(s[4 * c + 2 * row],
                                         s[4 * c + 2 * row + 1]));
        stepMax = fmaxf(stepMax, __shfl_xor_sync(0xffffffff, stepMax, 1));
        stepMax = fmaxf(stepMax, __shfl_xor_sync(0xffffffff, stepMax, 2));
        float newMax = fmaxf(rowMax[row], stepMax);
        // A row that has seen no visible key yet keeps everything at 0.
        bool none = newMax == -INFINITY;
        scaledMax[row] = none ? 0.0f : newMax * args.scaleLog2;
        correction[row] =
            none ? 1.0f : exp2f((rowMax[row] - newMax) * args.scaleLog2);
        rowMax[row] = newMax;
        rowSum[row] *= correction[row];
      }
      // p = 2^(s * scale - max * scale): one FFMA and one exp2 each (a
      // masked -inf gives 0).
#pragma unroll
      for (int i = 0; i < KEYS / 2; ++i) {
        int row = i / 2 % 2;
        s[i] = exp2f(fmaf(s[i], args.scaleLog2, -scaledMax[row]));
        rowSum[row] += s[i];
      }
#pragma unroll
      for (int i = 0; i < D / 2; ++i)
        o[i] *= correction[i / 2 % 2];

      // O += P V: P's A registers are S's accumulators of each 16-key
      // step, all packed before the fence (a register written between two
      // wgmma of a chain makes ptxas wait for the first); V's descriptor
      // steps 16 keys (2048 bytes) at a time.
      uint32_t p[KEYS / 16][4];
#pragma unroll
      for (int kk = 0; kk < KEYS / 16; ++kk) {
        p[kk][0] = pack<T>(s[8 * kk], s[8 * kk + 1]);
        p[kk][1] = pack<T>(s[8 * kk + 2], s[8 * kk + 3]);
        p[kk][2] = pack<T>(s[8 * kk + 4], s[8 * kk + 5]);
        p[kk][3] = pack<T>(s[8 * kk + 6], s[8 * kk + 7]);
#pragma unroll
        for (int e = 0; e < 4; ++e)
          asm volatile("" : "+r"(p[kk][e])::"memory");
      }
      const uint64_t vDesc =
          descriptor(sV + stage * kTileBytes, KEYS * kPanelBytes, 1024);
      pinRegisters(o);
      wgmmaFence();
#pragma unroll
      for (int kk = 0; kk < KEYS / 16; ++kk)
        Wgmma<T, D>::rs(o, p[kk], advanced(vDesc, kk * 16 * kPanelBytes), 1);
      wgmmaCommit();
      wgmmaWait<0>();
      pinRegisters(o);
    }
    __syncthreads(); // this stage is loaded again two steps on
  }

  if (groupRow0 >= seq)
    return;
#pragma unroll
  for (int row = 0; row < 2; ++row) {
    float sum = rowSum[row];
    sum += __shfl_xor_sync(0xffffffff, sum, 1);
    sum += __shfl_xor_sync(0xffffffff, sum, 2);
    int64_t r = groupRow0 + warp * 16 + g + 8 * row;
    if (r >= seq)
      continue;
    if (splits > 1) {
      size_t at = ((size_t(split) * gridDim.z + b) * seq + r) * args.qHeads + h;
      float *dst = args.partialOut + at * D + 2 * t;
#pragma unroll
      for (int c = 0; c < D / 8; ++c)
        *reinterpret_cast<float2 *>(dst + c * 8) =
            make_float2(o[4 * c + 2 * row], o[4 * c + 2 * row + 1]);
      if (t == 0)
        args.partialStats[at] = make_float2(rowMax[row], sum);
      continue;
    }
    float inv = 1.0f / sum;
    T *dst = static_cast<T *>(args.out) + (b * seq + r) * qStride + h * D +
             2 * t;
#pragma unroll
    for (int c = 0; c < D / 8; ++c)
      *reinterpret_cast<uint32_t *>(dst + c * 8) = pack<T>(
          o[4 * c + 2 * row] * inv, o[4 * c + 2 * row + 1] * inv);
  }
#endif
}

template <typename T, int D, int KEYS, int WG>
void launch(cudaStream_t stream, dim3 grid, const FlashKernelArgs &args) {
  constexpr size_t shared =
      size_t(WG * kGroupRows + 4 * KEYS) * D * 2 + 1024;
  auto kernel = hopperFlashKernel<T, D, KEYS, WG>;
  // (per launch: the setting belongs to the current device)
  check(cudaFuncSetAttribute(kernel,
                             cudaFuncAttributeMaxDynamicSharedMemorySize,
                             int(shared)),
        "flash attention (wgmma) shared memory");
  kernel<<<grid, WG * 128, shared, stream>>>(args);
  check(cudaGetLastError(), "flash attention (wgmma)");
}

/// Calls fn(T, D, KEYS, WG as integral constants) for the variants that
/// exist; false for the others.
template <typename Fn>
bool withVariant(DType dtype, int64_t headDim, int keys, int warpgroups,
                 Fn &&fn) {
  auto withTiles = [&](auto type, auto d) {
    if (keys == 128 && warpgroups == 2)
      fn(type, d, std::integral_constant<int, 128>(),
         std::integral_constant<int, 2>());
    else if (keys == 64 && warpgroups == 2)
      fn(type, d, std::integral_constant<int, 64>(),
         std::integral_constant<int, 2>());
    else if (keys == 64 && warpgroups == 3)
      fn(type, d, std::integral_constant<int, 64>(),
         std::integral_constant<int, 3>());
    else
      return false;
    return true;
  };
  auto withDim = [&](auto type) {
    if (headDim == 64)
      return withTiles(type, std::integral_constant<int, 64>());
    if (headDim == 128)
      return withTiles(type, std::integral_constant<int, 128>());
    return false;
  };
  if (dtype == DType::BF16)
    return withDim(__nv_bfloat16());
  if (dtype == DType::F16)
    return withDim(__half());
  return false;
}
} // namespace

bool tpc::cuda::hopperFlashRuns() {
  int device = 0, major = 0, minor = 0;
  check(cudaGetDevice(&device), "device");
  check(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor,
                               device),
        "compute capability");
  check(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor,
                               device),
        "compute capability");
  return major == 9 && minor == 0;
}

bool tpc::cuda::hopperFlashHas(DType dtype, int64_t headDim, int keys,
                               int warpgroups) {
  return withVariant(dtype, headDim, keys, warpgroups,
                     [](auto, auto, auto, auto) {});
}

void tpc::cuda::launchHopperFlash(cudaStream_t stream, DType dtype,
                                  int64_t headDim, int keys, int warpgroups,
                                  dim3 grid, const FlashKernelArgs &args) {
  bool launched = withVariant(
      dtype, headDim, keys, warpgroups,
      [&](auto type, auto d, auto keySteps, auto groups) {
        launch<decltype(type), d(), keySteps(), groups()>(stream, grid, args);
      });
  if (!launched)
    throw std::runtime_error("flash attention (wgmma): no kernel for this "
                             "type, head dimension and tiles");
}
