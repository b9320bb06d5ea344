//===- RandomDraw.h - the draw of seeded random weights ---------*- C++ -*-===//
//
// One definition of --random-weights' values for the host
// (weights::randomShard) and CUDA kernels (cuda::randomFill): element
// `index` of a weight is splitmix64(key ^ index) as a double in [0, 1),
// scaled to [-scale, scale) in double and rounded to f32, so every device
// and every degree sees the same model.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_WEIGHTS_RANDOMDRAW_H
#define TPC_RUNTIME_WEIGHTS_RANDOMDRAW_H

#include <cstdint>

#ifdef __CUDACC__
#define TPC_HOST_DEVICE __host__ __device__
#else
#define TPC_HOST_DEVICE
#endif

namespace tpc::weights {

TPC_HOST_DEVICE inline uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Element `index` of the weight whose key is `key` (weights::randomKey).
TPC_HOST_DEVICE inline float randomElement(uint64_t key, uint64_t index,
                                           float scale) {
  double unit = double(splitmix64(key ^ index) >> 11) * 0x1.0p-53;
  return float((2 * unit - 1) * scale);
}

} // namespace tpc::weights

#undef TPC_HOST_DEVICE

#endif // TPC_RUNTIME_WEIGHTS_RANDOMDRAW_H
