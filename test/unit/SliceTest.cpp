//===- SliceTest.cpp - each rank's part of a weight -----------------------===//
#include "runtime/weights/Slice.h"

#include "llvm/Support/Endian.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstring>

using tpc::sharding::DimSplit;
using namespace tpc::weights;

namespace {
/// A one-tensor safetensors file whose element i holds the value i (in the
/// given dtype; exact for the small values used here).
SafetensorsFile fileOf(const std::vector<int64_t> &shape, DType dtype) {
  int64_t count = 1;
  for (int64_t d : shape)
    count *= d;
  std::string data;
  for (int64_t i = 0; i < count; ++i) {
    float f = float(i);
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    if (dtype == DType::F32) {
      data.append(reinterpret_cast<const char *>(&f), 4);
    } else if (dtype == DType::BF16) {
      uint16_t h = bits >> 16; // exact for integers below 256
      data.append(reinterpret_cast<const char *>(&h), 2);
    } else { // F16, integers below 2048 are exact
      uint16_t h = uint16_t(((bits >> 16) & 0x8000) |
                            ((((bits >> 23) & 0xff) - 112) << 10) |
                            ((bits >> 13) & 0x3ff));
      if (i == 0)
        h = 0;
      data.append(reinterpret_cast<const char *>(&h), 2);
    }
  }
  std::string shapeText;
  for (size_t d = 0; d < shape.size(); ++d)
    shapeText += (d ? "," : "") + std::to_string(shape[d]);
  std::string header = "{\"w\":{\"dtype\":\"" + dtypeName(dtype).str() +
                       "\",\"shape\":[" + shapeText + "],\"data_offsets\":[0," +
                       std::to_string(data.size()) + "]}}";
  std::string file(8, '\0');
  llvm::support::endian::write64le(file.data(), header.size());
  file += header + data;
  auto parsed = SafetensorsFile::fromBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(file), "mem.safetensors");
  if (!parsed)
    ADD_FAILURE() << llvm::toString(parsed.takeError());
  return std::move(*parsed);
}

/// The values of the shard: with element i holding i, the global indices.
std::vector<float> shard(const SafetensorsFile &file, ShardSpec spec) {
  return sliceTensor(file, *file.find("w"), spec);
}

TEST(Slice, ColumnAndRowSplitsInEveryDtype) {
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    SafetensorsFile file = fileOf({4, 6}, dtype);
    // Columns 2..3 of [4, 6] on rank 1 of 3.
    ShardSpec col{{4, 6}, {std::nullopt, DimSplit{6, 1, 1, 1, 3}}, 1};
    EXPECT_EQ(col.localShape(), std::vector<int64_t>({4, 2}));
    EXPECT_EQ(shard(file, col),
              std::vector<float>({2, 3, 8, 9, 14, 15, 20, 21}));
    // Rows 2..3 on rank 1 of 2.
    ShardSpec row{{4, 6}, {DimSplit{4, 1, 1, 1, 2}, std::nullopt}, 1};
    EXPECT_EQ(shard(file, row), std::vector<float>({12, 13, 14, 15, 16, 17, 18,
                                                    19, 20, 21, 22, 23}));
  }
}

TEST(Slice, FusedSectionsOfWholeHeads) {
  // [q|k|v] with 2 heads of 2 per section on 2 ranks: rank 1 holds head 1
  // of q, of k and of v.
  SafetensorsFile file = fileOf({1, 12}, DType::F32);
  ShardSpec spec{{1, 12}, {std::nullopt, DimSplit{12, 2, 3, 1, 2}}, 1};
  EXPECT_EQ(shard(file, spec), std::vector<float>({2, 3, 6, 7, 10, 11}));
}

TEST(Slice, UnevenHeadsAndSharedKvHeads) {
  // 3 query heads of 1 on 2 ranks: 2/1. 1 KV head serving all 3: both ranks
  // hold it.
  SafetensorsFile q = fileOf({3, 2}, DType::F32);
  ShardSpec r0{{3, 2}, {DimSplit{3, 1, 1, 1, 2}, std::nullopt}, 0};
  ShardSpec r1 = r0;
  r1.rank = 1;
  EXPECT_EQ(shard(q, r0), std::vector<float>({0, 1, 2, 3}));
  EXPECT_EQ(shard(q, r1), std::vector<float>({4, 5}));
  SafetensorsFile kv = fileOf({1, 2}, DType::F32);
  ShardSpec kv0{{1, 2}, {DimSplit{1, 1, 1, 3, 2}, std::nullopt}, 0};
  ShardSpec kv1 = kv0;
  kv1.rank = 1;
  EXPECT_EQ(shard(kv, kv0), shard(kv, kv1));
  EXPECT_EQ(shard(kv, kv1), std::vector<float>({0, 1}));
}

TEST(Slice, WrongShapeOrDtypeIsAnError) {
  SafetensorsFile file = fileOf({4, 6}, DType::F32);
  ShardSpec spec{{6, 4}, {std::nullopt, std::nullopt}, 0};
  EXPECT_THROW(shard(file, spec), std::runtime_error);
}

TEST(Slice, HalfPrecisionConversions) {
  using tpc::bf16ToFloat;
  using tpc::f16ToFloat;
  EXPECT_EQ(bf16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(bf16ToFloat(0xc000), -2.0f);
  EXPECT_EQ(f16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(f16ToFloat(0xc400), -4.0f);
  EXPECT_EQ(f16ToFloat(0x0001), 5.960464477539063e-08f); // smallest subnormal
  EXPECT_TRUE(std::isinf(f16ToFloat(0x7c00)));
}

TEST(Slice, RandomShardsAgreeWithTheWholeWeight) {
  // The shards of every rank at tp = 3 are the matching elements of the
  // tp = 1 weight: the model does not depend on the degree.
  std::vector<int64_t> shape = {5, 7};
  ShardSpec whole{shape, {std::nullopt, std::nullopt}, 0};
  std::vector<float> full = randomShard(42, "w", whole, 0.5f);
  for (float v : full)
    ASSERT_TRUE(v >= -0.5f && v < 0.5f);
  for (int64_t r = 0; r < 3; ++r) {
    ShardSpec spec{shape, {std::nullopt, DimSplit{7, 1, 1, 1, 3}}, r};
    std::vector<float> part = randomShard(42, "w", spec, 0.5f);
    std::vector<int64_t> cols = spec.indices(1);
    for (int64_t i = 0; i < 5; ++i)
      for (size_t c = 0; c < cols.size(); ++c)
        ASSERT_EQ(part[i * cols.size() + c], full[i * 7 + cols[c]]);
  }
  EXPECT_NE(randomShard(43, "w", whole, 0.5f), full);
  EXPECT_NE(randomShard(42, "w2", whole, 0.5f), full);
}
} // namespace
