//===- HostValues.cpp - f32 values in and out of host tensors -------------===//
#include "runtime/program/HostValues.h"

#include "runtime/core/DType.h"
#include "runtime/cpu/Threads.h"
#include "runtime/cpu/Vector.h"

using namespace tpc;

void program::toF32(const Tensor &t, int64_t at, int64_t count, float *out) {
  if (t.dtype() == DType::BF16)
    cpu::vec::bf16ToF32(static_cast<const uint16_t *>(t.data()) + at, count,
                        out);
  else
    widen(t.dtype(),
          static_cast<const char *>(t.data()) + at * dtypeSize(t.dtype()),
          out, size_t(count));
}

void program::fromF32(const float *values, int64_t count, Tensor &t,
                      int64_t at) {
  if (t.dtype() == DType::BF16)
    cpu::vec::f32ToBf16(values, count,
                        static_cast<uint16_t *>(t.data()) + at);
  else
    narrow(values, t.dtype(),
           static_cast<char *>(t.data()) + at * dtypeSize(t.dtype()),
           size_t(count));
}

void program::allToF32(const Tensor &t, float *out) {
  cpu::parallelFor(t.numElements(), 1 << 15, [&](int64_t begin, int64_t end) {
    toF32(t, begin, end - begin, out + begin);
  });
}

void program::allFromF32(const float *values, Tensor &t) {
  cpu::parallelFor(t.numElements(), 1 << 15, [&](int64_t begin, int64_t end) {
    fromF32(values + begin, end - begin, t, begin);
  });
}
