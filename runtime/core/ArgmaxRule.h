//===- ArgmaxRule.h - which logit wins greedy decoding ----------*- C++ -*-===//
//
// One definition of the argmax rule for the host (cpu::localArgmax,
// cpu::mergeArgmax) and the CUDA kernel (cuda::rowArgmax), so every device
// and every degree picks the same token: the larger value wins, the lower
// index on ties; NaN and missing entries (index -1) never win.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CORE_ARGMAXRULE_H
#define TPC_RUNTIME_CORE_ARGMAXRULE_H

#include <cstdint>

#ifdef __CUDACC__
#define TPC_HOST_DEVICE __host__ __device__
#else
#define TPC_HOST_DEVICE
#endif

namespace tpc {

/// Whether candidate (value a, index ia) beats (b, ib).
TPC_HOST_DEVICE inline bool argmaxBeats(float a, int64_t ia, float b,
                                        int64_t ib) {
  bool aIsNan = a != a, bIsNan = b != b;
  if (ia < 0 || aIsNan)
    return false;
  if (ib < 0 || bIsNan)
    return true;
  return a > b || (a == b && ia < ib);
}

} // namespace tpc

#undef TPC_HOST_DEVICE

#endif // TPC_RUNTIME_CORE_ARGMAXRULE_H
