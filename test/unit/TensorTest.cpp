//===- TensorTest.cpp - runtime tensors and element types -----------------===//
#include "runtime/core/Tensor.h"

#include "gtest/gtest.h"

#include <cmath>
#include <limits>

using namespace tpc;

namespace {
TEST(DType, Bf16RoundsToNearestEven) {
  EXPECT_EQ(floatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between two bf16 values: ties go to even (1.0).
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(std::nanf("")))));
}

TEST(DType, F16RoundTripsAndSaturates) {
  for (float v :
       {0.0f, 1.0f, -2.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f})
    EXPECT_EQ(f16ToFloat(floatToF16(v)), v) << v;
  EXPECT_TRUE(std::isinf(f16ToFloat(floatToF16(1e6f))));
  EXPECT_EQ(floatToF16(1e-9f), 0);
  EXPECT_EQ(f16ToFloat(floatToF16(1.0f + std::ldexp(1.0f, -11))), 1.0f);
}

TEST(Tensor, HostConversions) {
  std::vector<float> values = {1.0f, -0.5f, 3.25f, 100.0f};
  for (DType dtype : {DType::F32, DType::BF16, DType::F16}) {
    Tensor t = Tensor::fromFloats(values, {2, 2}, dtype, Device::Host);
    EXPECT_EQ(t.bytes(), 4 * dtypeSize(dtype));
    EXPECT_EQ(t.toFloats(), values) << dtypeName(dtype);
    EXPECT_EQ(t.to(Device::Host, DType::F32).toFloats(), values);
  }
  EXPECT_THROW(Tensor::fromFloats(values, {3}, DType::F32, Device::Host),
               std::runtime_error);
}

TEST(Tensor, DeviceRoundTrip) {
  std::vector<float> values = {1.0f, 2.0f, 3.0f};
  try {
    Tensor d = Tensor::fromFloats(values, {3}, DType::BF16, Device::Cuda);
    EXPECT_EQ(d.device(), Device::Cuda);
    EXPECT_EQ(d.toFloats(), values);
  } catch (const std::runtime_error &e) {
    GTEST_SKIP() << "no usable CUDA device: " << e.what();
  }
}
} // namespace
