//===- HostValues.h - f32 values in and out of host tensors -----*- C++ -*-===//
//
// Host tensors of any float dtype read as f32 and written from f32: bf16
// through the CPU's vector conversions (round to nearest even, the same
// rounding as the scalar widen/narrow), f16 through the scalar ones. The
// all* forms split the tensor over the calling rank's threads.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_PROGRAM_HOSTVALUES_H
#define TPC_RUNTIME_PROGRAM_HOSTVALUES_H

#include "runtime/core/Tensor.h"

#include <cstdint>

namespace tpc::program {

/// Elements [at, at + count) of `t` widened into `out`.
void toF32(const Tensor &t, int64_t at, int64_t count, float *out);
/// `count` values rounded into `t` from element `at` on.
void fromF32(const float *values, int64_t count, Tensor &t, int64_t at);

/// All of `t` widened into `out`, on every thread of the rank.
void allToF32(const Tensor &t, float *out);
/// All of `t` written from `values`, on every thread of the rank.
void allFromF32(const float *values, Tensor &t);

} // namespace tpc::program

#endif // TPC_RUNTIME_PROGRAM_HOSTVALUES_H
