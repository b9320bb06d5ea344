//===- FlashAttention.h - fused attention for 16-bit programs ---*- C++ -*-===//
//
// Causal (optionally sliding-window) GQA attention in one kernel, tiled the
// way FlashAttention-2 is: each block of four warps owns 64 or 128 query
// rows of one head of one sequence, walks the key blocks its rows can
// see, and keeps the scores, the online-softmax statistics and the output
// in registers (tensor cores on bf16/f16, f32 accumulation: wgmma on
// compute capability 9.0, mma.sync elsewhere). Nothing of size seq x keys is
// ever written to memory, and key blocks past a block's last position are
// never read.
//
// cuda::attention calls it for bf16 and f16 with a head dimension that is
// a multiple of 16 up to 256; f32 programs keep the cuBLAS path, whose
// results equal the CPU's within 1e-5. TPC_FLASH_ATTENTION=0 in the
// environment turns it off, TPC_FLASH_WGMMA=0 the wgmma kernel (to
// measure or bisect).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CUDA_FLASHATTENTION_H
#define TPC_RUNTIME_CUDA_FLASHATTENTION_H

#include "runtime/cuda/Kernels.h"

#include <cstdint>

namespace tpc::cuda {

/// Whether flashAttention handles this element type and head dimension
/// (and is not turned off).
bool flashAttentionApplies(DType dtype, int64_t headDim);

/// A kernel variant. The mma.sync kernel: `warps` warps of `rowTiles`
/// m16 row tiles (query rows a block: 16 x rowTiles x warps), `keys` keys
/// a step; every head dimension has {1, 64, 4}; 128 also {2, 64, 4},
/// {2, 32, 4} (two tiles' accumulators in fewer registers) and {1, 64,
/// 8}. The wgmma kernel (compute capability 9.0; head dimensions 64 and
/// 128): `warpgroups` > 0 warpgroups of 64 rows, `keys` keys a step:
/// {0, 128, 0, 2}, {0, 64, 0, 2}, {0, 64, 0, 3}. All zero rowTiles and
/// warpgroups: the default for the shape and device.
struct FlashTiles {
  int rowTiles = 0;
  int keys = 64;
  int warps = 4;
  int warpgroups = 0;
  constexpr bool operator==(const FlashTiles &o) const {
    return rowTiles == o.rowTiles && keys == o.keys && warps == o.warps &&
           warpgroups == o.warpgroups;
  }
};

/// Whether the wgmma kernel runs on the current device (and is not
/// turned off: TPC_FLASH_WGMMA=0).
bool flashAttentionHasWgmma();

/// The arguments and result of cuda::attention, all sequences in one
/// launch; `offsets` is in device memory (or null for zeros);
/// `visibleKeys`, the most keys any query sees (offset + seq at most).
/// When the row blocks are too few to fill the GPU (decoding one token
/// a sequence), several blocks share each one's keys and a second kernel
/// combines their partial results (flash-decoding). `tiles` and
/// `keySplits` (0: chosen) force a variant (tests and benchmarks compare
/// them).
void flashAttention(Context &ctx, DType dtype, const void *q, const void *k,
                    const void *v, int64_t batch, int64_t seq, int64_t kvSeq,
                    int64_t qHeads, int64_t kvHeads, int64_t headDim,
                    int64_t qHeadBegin, int64_t kvHeadBegin, int64_t groups,
                    int64_t window, const int32_t *offsets, void *out,
                    int64_t visibleKeys, FlashTiles tiles = {},
                    int keySplits = 0);

} // namespace tpc::cuda

#endif // TPC_RUNTIME_CUDA_FLASHATTENTION_H
