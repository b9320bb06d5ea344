//===- Slice.cpp - one rank's part of a weight ----------------------------===//
#include "runtime/weights/Slice.h"
#include "runtime/core/HostThreads.h"
#include "runtime/weights/RandomDraw.h"

#include <algorithm>

#include <cstring>
#include <stdexcept>

using namespace tpc;
using namespace tpc::weights;

std::vector<int64_t> ShardSpec::localShape() const {
  std::vector<int64_t> shape;
  for (size_t d = 0; d < globalShape.size(); ++d)
    shape.push_back(splits[d] ? sharding::localSize(*splits[d], rank)
                              : globalShape[d]);
  return shape;
}

std::vector<int64_t> ShardSpec::indices(size_t d) const {
  std::vector<int64_t> out;
  if (!splits[d]) {
    for (int64_t i = 0; i < globalShape[d]; ++i)
      out.push_back(i);
    return out;
  }
  for (sharding::Range range : sharding::elementRanges(*splits[d], rank))
    for (int64_t i = range.begin; i < range.end; ++i)
      out.push_back(i);
  return out;
}

namespace {
/// Visits the rank's elements in local row-major order as runs contiguous
/// in the global tensor too: fn(local, global, length), with the flat
/// index of the run's first element in the shard and in the whole tensor.
/// A run is a range of the last dimension's indices (all of them when it
/// is not split), so a shard is read a row piece at a time, not element
/// by element.
template <typename Fn> void forEachRun(const ShardSpec &spec, Fn &&fn) {
  size_t rank = spec.globalShape.size();
  if (rank == 0) {
    fn(0, 0, 1);
    return;
  }
  size_t last = rank - 1;
  std::vector<sharding::Range> runs =
      spec.splits[last]
          ? sharding::elementRanges(*spec.splits[last], spec.rank)
          : std::vector<sharding::Range>{{0, spec.globalShape[last]}};
  std::vector<std::vector<int64_t>> indices;
  for (size_t d = 0; d < last; ++d) {
    indices.push_back(spec.indices(d));
    if (indices.back().empty())
      return;
  }
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank; d-- > 1;)
    strides[d - 1] = strides[d] * spec.globalShape[d];
  std::vector<size_t> at(last, 0);
  int64_t local = 0;
  while (true) {
    int64_t row = 0;
    for (size_t d = 0; d < last; ++d)
      row += indices[d][at[d]] * strides[d];
    for (sharding::Range run : runs) {
      fn(local, row + run.begin, run.length());
      local += run.length();
    }
    size_t d = last;
    while (d > 0) {
      --d;
      if (++at[d] < indices[d].size())
        break;
      at[d] = 0;
      if (d == 0)
        return;
    }
    if (last == 0)
      return;
  }
}

} // namespace

std::vector<float> tpc::weights::sliceTensor(const SafetensorsFile &file,
                                             const TensorInfo &tensor,
                                             const ShardSpec &spec) {
  if (tensor.shape != spec.globalShape)
    throw std::runtime_error(file.path().str() + ": tensor '" + tensor.name +
                             "' does not have the shape the program expects");
  llvm::ArrayRef<uint8_t> bytes = file.bytes(tensor);
  std::vector<int64_t> shape = spec.localShape();
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  std::vector<float> out(count);
  switch (tensor.dtype) {
  case DType::F32:
    forEachRun(spec, [&](int64_t local, int64_t global, int64_t n) {
      std::memcpy(&out[local], bytes.data() + 4 * global, 4 * n);
    });
    break;
  case DType::BF16:
  case DType::F16:
    forEachRun(spec, [&](int64_t local, int64_t global, int64_t n) {
      widen(tensor.dtype == DType::BF16 ? tpc::DType::BF16 : tpc::DType::F16,
            bytes.data() + 2 * global, &out[local], size_t(n));
    });
    break;
  default:
    throw std::runtime_error(file.path().str() + ": tensor '" + tensor.name +
                             "' has dtype " + dtypeName(tensor.dtype).str() +
                             ", expected F32, BF16 or F16");
  }
  return out;
}

uint64_t tpc::weights::randomKey(uint64_t seed, const std::string &name) {
  uint64_t key = splitmix64(seed);
  for (char c : name)
    key = splitmix64(key ^ uint8_t(c));
  return key;
}

bool tpc::weights::isWhole(const ShardSpec &spec) {
  return std::none_of(spec.splits.begin(), spec.splits.end(),
                      [](const auto &split) { return bool(split); });
}

std::vector<float> tpc::weights::randomShard(uint64_t seed,
                                             const std::string &name,
                                             const ShardSpec &spec,
                                             float scale) {
  uint64_t key = randomKey(seed, name);
  std::vector<int64_t> shape = spec.localShape();
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  std::vector<float> out(count);
  auto value = [&](int64_t global) {
    return randomElement(key, uint64_t(global), scale);
  };
  if (isWhole(spec)) // local is global: billions of weights on all cores
    forChunksOnAllCores(count, 1 << 20, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        out[i] = value(i);
    });
  else
    forEachRun(spec, [&](int64_t local, int64_t global, int64_t n) {
      for (int64_t i = 0; i < n; ++i)
        out[local + i] = value(global + i);
    });
  return out;
}
