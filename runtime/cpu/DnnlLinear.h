//===- DnnlLinear.h - linear layers through oneDNN's matmul -----*- C++ -*-===//
//
// Linear layers (and the LM head) in f32 and bf16 through oneDNN's matmul
// (Debian's libdnnl): its JIT kernels for the CPU that runs the program
// (brgemm on AVX-512) are 10-80% faster than OpenBLAS's SGEMM for the
// row counts of inference (1-512), and read bf16 weights as stored.
//
// The work is split over the rank's own threads (Threads.h) by blocks of
// output columns, and oneDNN runs single-threaded inside each: no OpenMP
// pool is started beside the rank's, so none spins against it. A block of
// [out, in] weights is dense, and goes to a brgemm kernel that writes a
// dense scratch block, copied into y's columns; a block of [in, out]
// weights is strided, and goes to oneDNN's strided GEMM, which writes y in
// place. The bias is the kernel's epilogue, and so is a fused activation
// in bf16; in f32 the activation is applied by the vector loop the unfused
// op uses, so that fusing never changes an f32 result.
//
// Weights that never change (an inference program's) can be packed once,
// at load, into the blocked layout brgemm reads (PackedLinearWeight): a call
// on plain weights copies every block it reads into that layout first,
// which at 1-16 rows costs more than the multiplication.
//
// One primitive per shape (row count included: oneDNN's kernels for a
// known shape are faster) is made on first use and kept; each call brings
// its own scratchpad, since ranks are threads that run the same primitive
// at once.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_DNNLLINEAR_H
#define TPC_RUNTIME_CPU_DNNLLINEAR_H

#include "runtime/core/Activation.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace tpc::cpu {

/// y[rows, out] = act(x[rows, in] W + bias) in f32, W [in, out] (`inOut`)
/// or [out, in]. False when oneDNN has no JIT kernel for it on this CPU
/// (only its reference code): the caller uses OpenBLAS instead.
bool linearDnnl(const float *x, int64_t rows, int64_t in, const float *weight,
                bool inOut, int64_t out, const float *bias, float *y,
                Activation act);

/// The same on bf16 storage, f32 accumulation, results rounded to nearest
/// even. False when oneDNN cannot do it on this CPU (no AVX-512): the
/// caller computes in f32 instead.
bool linearBf16(const uint16_t *x, int64_t rows, int64_t in,
                const uint16_t *weight, bool inOut, int64_t out,
                const uint16_t *bias, uint16_t *y, Activation act);

/// A linear layer's weight in oneDNN's blocked layout: blocks of 64 output
/// columns, each whole over `in` in panels of 16 rows (pairs of rows
/// interleaved in bf16), padded with zeros to whole blocks. Made once by
/// packLinearF32 / packLinearBf16 and only read after.
struct PackedLinearWeight {
  bool bf16 = false;
  int64_t in = 0, out = 0;
  /// Bytes of one block of 64 columns.
  size_t blockBytes = 0;
  std::shared_ptr<uint8_t> data;
};

/// Given when the source is a view of a mapped file: told of each range
/// of it that packing has read for the last time ([out, in] sources are
/// read a range at a time), and the packed copy gets a mapping of its own
/// (in 2 MiB pages). Without it the source is a heap copy about to be
/// freed, and the packed copy comes from the heap too, which then reuses
/// the copies' memory from one weight to the next.
using ConsumedBytes = std::function<void(const void *begin, size_t bytes)>;

/// W ([in, out] when `inOut`, else [out, in]) packed, on the rank's
/// threads; null where oneDNN has no JIT kernel for the packed layout on
/// this CPU (the plain weights are then used as they are), f32 linears
/// are on OpenBLAS (TPC_DNNL=0), or TPC_PACK=0 asks for plain weights.
std::shared_ptr<const PackedLinearWeight>
packLinearF32(const float *weight, bool inOut, int64_t in, int64_t out,
              const ConsumedBytes &consumed = {});
std::shared_ptr<const PackedLinearWeight>
packLinearBf16(const uint16_t *weight, bool inOut, int64_t in, int64_t out,
               const ConsumedBytes &consumed = {});

/// y[rows, out] = act(x[rows, in] W + bias) with W packed; x, bias and y in
/// W's type (bias may be null).
void linearPacked(const void *x, int64_t rows, const PackedLinearWeight &weight,
                  const void *bias, void *y, Activation act);

} // namespace tpc::cpu

#endif // TPC_RUNTIME_CPU_DNNLLINEAR_H
