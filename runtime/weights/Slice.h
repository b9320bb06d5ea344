//===- Slice.h - one rank's part of a weight ---------------------*- C++
//-*-===//
//
// Cuts a rank's shard out of a checkpoint tensor (or makes it up from a
// seed) for a layout given per dimension: whole, or split by the shared
// rule of runtime/sharding/Split.h (whole units, fused sections, grouped KV
// heads, uneven counts). The shard comes out as row-major f32, converted
// from the checkpoint's F32, BF16 or F16.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_WEIGHTS_SLICE_H
#define TPC_RUNTIME_WEIGHTS_SLICE_H

#include "runtime/core/DType.h"
#include "runtime/sharding/Split.h"
#include "runtime/weights/Safetensors.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tpc::weights {

/// The layout of a weight on one rank: per dimension, the split (or none
/// for a whole dimension) and the rank.
struct ShardSpec {
  std::vector<int64_t> globalShape;
  /// One entry per dimension; at most one is set.
  std::vector<std::optional<sharding::DimSplit>> splits;
  int64_t rank = 0;

  /// The rank's shape.
  std::vector<int64_t> localShape() const;
  /// The global indices the rank holds along dimension `d`, in local order.
  std::vector<int64_t> indices(size_t d) const;
};

/// The rank's shard of `tensor` (in `file`) as f32. Throws
/// std::runtime_error when the checkpoint's shape is not `spec.globalShape`
/// or its dtype is not F32, BF16 or F16.
std::vector<float> sliceTensor(const SafetensorsFile &file,
                               const TensorInfo &tensor, const ShardSpec &spec);

/// The rank's shard of a weight made up from `seed` and its `name`: every
/// element is a fixed function of (seed, name, global index), uniform in
/// [-scale, scale), so every rank and every degree sees the same model.
std::vector<float> randomShard(uint64_t seed, const std::string &name,
                               const ShardSpec &spec, float scale);

/// What randomShard draws from: a key per (seed, name), and element
/// `global` is uniform in [-scale, scale) from splitmix64(key ^ global).
/// Device kernels (cuda::randomFill) compute the same values.
uint64_t randomKey(uint64_t seed, const std::string &name);

/// Whether `spec` is the whole tensor (no dimension split): local indices
/// are global ones.
bool isWhole(const ShardSpec &spec);

} // namespace tpc::weights

#endif // TPC_RUNTIME_WEIGHTS_SLICE_H
