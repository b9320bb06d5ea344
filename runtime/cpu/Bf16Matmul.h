//===- Bf16Matmul.h - bf16 linear layers through oneDNN --------*- C++ -*-===//
//
// A bf16 linear layer on the CPU without widening its weights: oneDNN's
// matmul (Debian's libdnnl) reads bf16 activations and weights as they are
// stored, accumulates in f32 (AVX512-BF16 / AMX instructions where the CPU
// has them, emulated on plain AVX-512) and writes bf16 rounded to nearest
// even, with the bias and a fused activation as its epilogue. One primitive
// per shape (the number of rows included: oneDNN's kernels for a known
// shape are faster) is made on first use and kept; each call brings its
// own scratchpad, since ranks are threads that run the same primitive at
// once. oneDNN runs on its OpenMP threads, as many as the rank's share of
// cores.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_BF16MATMUL_H
#define TPC_RUNTIME_CPU_BF16MATMUL_H

#include "runtime/core/Activation.h"

#include <cstdint>

namespace tpc::cpu {

/// y[rows, out] = act(x[rows, in] W + bias) on bf16 storage, W [in, out]
/// (`inOut`) or [out, in]. False when oneDNN cannot do it on this CPU (no
/// AVX-512): the caller computes in f32 instead.
bool linearBf16(const uint16_t *x, int64_t rows, int64_t in,
                const uint16_t *weight, bool inOut, int64_t out,
                const uint16_t *bias, uint16_t *y, Activation act);

} // namespace tpc::cpu

#endif // TPC_RUNTIME_CPU_BF16MATMUL_H
