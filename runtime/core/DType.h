//===- DType.h - element types of runtime tensors ---------------*- C++ -*-===//
#ifndef TPC_RUNTIME_CORE_DTYPE_H
#define TPC_RUNTIME_CORE_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <string>

namespace tpc {

/// Element types of weights and activations; bf16 and f16 compute with f32
/// accumulation.
enum class DType { F32, BF16, F16 };

/// Bytes per element.
inline int64_t dtypeSize(DType dtype) { return dtype == DType::F32 ? 4 : 2; }
/// "f32", "bf16" or "f16".
std::string dtypeName(DType dtype);

/// Round-to-nearest-even conversions between f32 and the 16-bit types.
uint16_t floatToBf16(float value);
float bf16ToFloat(uint16_t bits);
uint16_t floatToF16(float value);
float f16ToFloat(uint16_t bits);

/// `count` elements of `dtype` at `src` widened to f32 at `dst`, and f32
/// values rounded to `dtype`: loops the compiler can vectorize, for whole
/// tensors.
void widen(DType dtype, const void *src, float *dst, size_t count);
void narrow(const float *src, DType dtype, void *dst, size_t count);

} // namespace tpc

#endif // TPC_RUNTIME_CORE_DTYPE_H
