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
/// Visits the rank's elements in local row-major order with their global
/// flat index.
template <typename Fn> void forEachElement(const ShardSpec &spec, Fn &&fn) {
  size_t rank = spec.globalShape.size();
  std::vector<std::vector<int64_t>> indices;
  for (size_t d = 0; d < rank; ++d)
    indices.push_back(spec.indices(d));
  std::vector<int64_t> strides(rank, 1);
  for (size_t d = rank; d-- > 1;)
    strides[d - 1] = strides[d] * spec.globalShape[d];
  std::vector<size_t> at(rank, 0);
  for (size_t d = 0; d < rank; ++d)
    if (indices[d].empty())
      return;
  int64_t local = 0;
  while (true) {
    int64_t global = 0;
    for (size_t d = 0; d < rank; ++d)
      global += indices[d][at[d]] * strides[d];
    fn(local++, global);
    size_t d = rank;
    while (d > 0) {
      --d;
      if (++at[d] < indices[d].size())
        break;
      at[d] = 0;
      if (d == 0)
        return;
    }
    if (rank == 0)
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
  auto load16 = [&](int64_t i) {
    uint16_t v;
    std::memcpy(&v, bytes.data() + 2 * i, 2);
    return v;
  };
  switch (tensor.dtype) {
  case DType::F32:
    forEachElement(spec, [&](int64_t local, int64_t global) {
      std::memcpy(&out[local], bytes.data() + 4 * global, 4);
    });
    break;
  case DType::BF16:
    forEachElement(spec, [&](int64_t local, int64_t global) {
      out[local] = bf16ToFloat(load16(global));
    });
    break;
  case DType::F16:
    forEachElement(spec, [&](int64_t local, int64_t global) {
      out[local] = f16ToFloat(load16(global));
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
    forEachElement(spec, [&](int64_t local, int64_t global) {
      out[local] = value(global);
    });
  return out;
}
