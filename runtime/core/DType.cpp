//===- DType.cpp - element types of runtime tensors -----------------------===//
#include "runtime/core/DType.h"

#include <cmath>
#include <cstring>

using namespace tpc;

std::string tpc::dtypeName(DType dtype) {
  switch (dtype) {
  case DType::F32:
    return "f32";
  case DType::BF16:
    return "bf16";
  case DType::F16:
    return "f16";
  }
  return "?";
}

uint16_t tpc::floatToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  if (std::isnan(value))
    return uint16_t((bits >> 16) | 0x40); // stay a (quiet) NaN
  bits += 0x7fff + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}

float tpc::bf16ToFloat(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float f;
  std::memcpy(&f, &word, 4);
  return f;
}

uint16_t tpc::floatToF16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  uint16_t sign = uint16_t((bits >> 16) & 0x8000);
  int32_t exponent = int32_t((bits >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = bits & 0x7fffff;
  if (std::isnan(value))
    return uint16_t(sign | 0x7e00);
  if (exponent >= 31) // overflow and infinity
    return uint16_t(sign | 0x7c00);
  if (exponent <= 0) { // subnormal or zero
    if (exponent < -10)
      return sign;
    mantissa |= 0x800000;
    int shift = 14 - exponent;
    uint32_t half = mantissa >> shift;
    uint32_t rest = mantissa & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1)))
      ++half;
    return uint16_t(sign | half);
  }
  uint32_t half = (uint32_t(exponent) << 10) | (mantissa >> 13);
  uint32_t rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (half & 1)))
    ++half; // may carry into the exponent, up to infinity: correct
  return uint16_t(sign | half);
}

float tpc::f16ToFloat(uint16_t bits) {
  uint32_t sign = uint32_t(bits & 0x8000) << 16;
  uint32_t exponent = (bits >> 10) & 0x1f, mantissa = bits & 0x3ff;
  uint32_t word;
  if (exponent == 0) {
    if (mantissa == 0) {
      word = sign;
    } else { // subnormal: normalize
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        --exponent;
      }
      word = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    word = sign | 0x7f800000 | (mantissa << 13);
  } else {
    word = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &word, 4);
  return f;
}

void tpc::widen(DType dtype, const void *src, float *dst, size_t count) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, count * sizeof(float));
    return;
  }
  const auto *in = static_cast<const uint16_t *>(src);
  if (dtype == DType::BF16) {
    // The top half of an f32: a shift, vectorized.
    for (size_t i = 0; i < count; ++i) {
      uint32_t word = uint32_t(in[i]) << 16;
      std::memcpy(dst + i, &word, 4);
    }
    return;
  }
  for (size_t i = 0; i < count; ++i)
    dst[i] = f16ToFloat(in[i]);
}

void tpc::narrow(const float *src, DType dtype, void *dst, size_t count) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, count * sizeof(float));
    return;
  }
  auto *out = static_cast<uint16_t *>(dst);
  if (dtype == DType::BF16) {
    for (size_t i = 0; i < count; ++i)
      out[i] = floatToBf16(src[i]);
    return;
  }
  for (size_t i = 0; i < count; ++i)
    out[i] = floatToF16(src[i]);
}
