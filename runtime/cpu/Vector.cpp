//===- Vector.cpp - vectorized loops of the CPU kernels -------------------===//
//
// Highway's foreach_target compiles this file once per instruction set;
// HWY_DYNAMIC_DISPATCH picks the best the CPU has at the first call. Every
// loop runs whole vectors, then the remainder through a padded vector, so
// that every element goes through the same arithmetic.
//
//===----------------------------------------------------------------------===//
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "runtime/cpu/Vector.cpp"
#include "hwy/foreach_target.h" // IWYU pragma: keep

#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace tpc::cpu::vec::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;

/// Applies `op` (vector in, vector out) to x[0, n) into out, the tail
/// through a padded buffer.
template <typename Op>
HWY_INLINE void unary(const float *x, int64_t n, float *out, Op op) {
  const DF d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(op(d, hn::LoadU(d, x + i)), d, out + i);
  if (i < n) {
    HWY_ALIGN float buf[hn::MaxLanes(d)] = {};
    std::copy(x + i, x + n, buf);
    hn::Store(op(d, hn::Load(d, buf)), d, buf);
    std::copy(buf, buf + (n - i), out + i);
  }
}

template <typename Op>
HWY_INLINE void binary(const float *a, const float *b, int64_t n, float *out,
                       Op op) {
  const DF d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(op(hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, out + i);
  for (; i < n; ++i) {
    HWY_ALIGN float x[hn::MaxLanes(d)] = {a[i]}, y[hn::MaxLanes(d)] = {b[i]};
    out[i] = hn::GetLane(op(hn::Load(d, x), hn::Load(d, y)));
  }
}

/// Sum over lanes of op(x[i]) for i < n (padding contributes `pad`).
template <typename Op>
HWY_INLINE float reduceSum(const float *x, int64_t n, float pad, Op op) {
  const DF d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    acc = hn::Add(acc, op(hn::LoadU(d, x + i)));
  if (i < n) {
    HWY_ALIGN float buf[hn::MaxLanes(d)];
    std::fill(buf, buf + lanes, pad);
    std::copy(x + i, x + n, buf);
    auto mask = hn::FirstN(d, size_t(n - i));
    acc = hn::Add(acc, hn::IfThenElseZero(mask, op(hn::Load(d, buf))));
  }
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

void Add(const float *a, const float *b, int64_t n, float *out) {
  binary(a, b, n, out, [](auto x, auto y) { return hn::Add(x, y); });
}

void Mul(const float *a, const float *b, int64_t n, float *out) {
  binary(a, b, n, out, [](auto x, auto y) { return hn::Mul(x, y); });
}

void GeluTanh(const float *x, int64_t n, float *out) {
  unary(x, n, out, [](DF d, auto v) {
    const auto c = hn::Set(d, 0.7978845608028654f); // sqrt(2 / pi)
    const auto k = hn::Set(d, 0.044715f);
    const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f);
    auto inner = hn::Mul(c, hn::MulAdd(hn::Mul(k, hn::Mul(v, v)), v, v));
    return hn::Mul(hn::Mul(half, v), hn::Add(one, hn::Tanh(d, inner)));
  });
}

void Silu(const float *x, int64_t n, float *out) {
  unary(x, n, out, [](DF d, auto v) {
    const auto one = hn::Set(d, 1.0f);
    return hn::Div(v, hn::Add(one, hn::Exp(d, hn::Neg(v))));
  });
}

void SiluMul(const float *gate, const float *up, int64_t n, float *out) {
  binary(gate, up, n, out, [](auto g, auto u) {
    const DF d;
    const auto one = hn::Set(d, 1.0f);
    return hn::Mul(hn::Div(g, hn::Add(one, hn::Exp(d, hn::Neg(g)))), u);
  });
}

void GeluTanhGrad(const float *x, const float *dy, int64_t n, float *dx) {
  // d/dx 0.5 x (1 + tanh(u)), u = c (x + k x^3), times dy.
  binary(x, dy, n, dx, [](auto v, auto g) {
    const DF d;
    const auto c = hn::Set(d, 0.7978845608028654f), k = hn::Set(d, 0.044715f);
    const auto half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f),
               three = hn::Set(d, 3.0f);
    auto v2 = hn::Mul(v, v);
    auto t = hn::Tanh(d, hn::Mul(c, hn::MulAdd(hn::Mul(k, v2), v, v)));
    auto du = hn::Mul(c, hn::MulAdd(hn::Mul(three, k), v2, one));
    auto outer = hn::Mul(half, hn::Add(one, t));
    auto inner = hn::Mul(hn::Mul(half, v), hn::Mul(hn::NegMulAdd(t, t, one), du));
    return hn::Mul(g, hn::Add(outer, inner));
  });
}

void SiluGrad(const float *x, const float *dy, int64_t n, float *dx) {
  // s = sigmoid(x): d/dx x s = s (1 + x (1 - s)), times dy.
  binary(x, dy, n, dx, [](auto v, auto g) {
    const DF d;
    const auto one = hn::Set(d, 1.0f);
    auto sig = hn::Div(one, hn::Add(one, hn::Exp(d, hn::Neg(v))));
    return hn::Mul(g, hn::Mul(sig, hn::MulAdd(v, hn::Sub(one, sig), one)));
  });
}

void LayerNormRow(const float *x, int64_t n, const float *scale,
                  const float *shift, float eps, float *y) {
  const DF d;
  float mean = reduceSum(x, n, 0.0f, [](auto v) { return v; }) / float(n);
  const auto m = hn::Set(d, mean);
  float var = reduceSum(x, n, mean, [&](auto v) {
                auto c = hn::Sub(v, m);
                return hn::Mul(c, c);
              }) /
              float(n);
  const float inv = 1.0f / std::sqrt(var + eps);
  const auto vi = hn::Set(d, inv);
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    auto v = hn::Mul(hn::Sub(hn::LoadU(d, x + i), m), vi);
    hn::StoreU(hn::MulAdd(v, hn::LoadU(d, scale + i), hn::LoadU(d, shift + i)),
               d, y + i);
  }
  for (; i < n; ++i)
    y[i] = (x[i] - mean) * inv * scale[i] + shift[i];
}

void RmsNormRow(const float *x, int64_t n, const float *scale, float eps,
                float *y) {
  const DF d;
  float meanSq =
      reduceSum(x, n, 0.0f, [](auto v) { return hn::Mul(v, v); }) / float(n);
  const float inv = 1.0f / std::sqrt(meanSq + eps);
  const auto vi = hn::Set(d, inv);
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(d, x + i), vi),
                       hn::LoadU(d, scale + i)),
               d, y + i);
  for (; i < n; ++i)
    y[i] = x[i] * inv * scale[i];
}

float MaxOf(const float *x, int64_t n) {
  const DF d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  auto best = hn::Set(d, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes)
    best = hn::Max(best, hn::LoadU(d, x + i));
  float result = hn::GetLane(hn::MaxOfLanes(d, best));
  for (; i < n; ++i)
    result = std::max(result, x[i]);
  return result;
}

float ExpShifted(float *x, int64_t n, float max) {
  const DF d;
  const auto m = hn::Set(d, max);
  unary(x, n, x, [&](DF dd, auto v) { return hn::Exp(dd, hn::Sub(v, m)); });
  return reduceSum(x, n, 0.0f, [](auto v) { return v; });
}

void Scale(float *y, int64_t n, float s) {
  const DF d;
  const auto vs = hn::Set(d, s);
  unary(y, n, y, [&](DF, auto v) { return hn::Mul(v, vs); });
}

void RotateHalf(float *x, int64_t half, const float *c, const float *s) {
  const DF d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  int64_t i = 0;
  for (; i + lanes <= half; i += lanes) {
    auto x0 = hn::LoadU(d, x + i), x1 = hn::LoadU(d, x + half + i);
    auto vc = hn::LoadU(d, c + i), vs = hn::LoadU(d, s + i);
    hn::StoreU(hn::NegMulAdd(x1, vs, hn::Mul(x0, vc)), d, x + i);
    hn::StoreU(hn::MulAdd(x0, vs, hn::Mul(x1, vc)), d, x + half + i);
  }
  for (; i < half; ++i) {
    float x0 = x[i], x1 = x[i + half];
    x[i] = x0 * c[i] - x1 * s[i];
    x[i + half] = x1 * c[i] + x0 * s[i];
  }
}

void Bf16ToF32(const uint16_t *in, int64_t n, float *out) {
  const hn::ScalableTag<uint32_t> du;
  const hn::Rebind<uint16_t, decltype(du)> d16;
  const int64_t lanes = int64_t(hn::Lanes(du));
  int64_t i = 0;
  for (; i + lanes <= n; i += lanes) {
    auto wide = hn::ShiftLeft<16>(hn::PromoteTo(du, hn::LoadU(d16, in + i)));
    hn::StoreU(wide, du, reinterpret_cast<uint32_t *>(out + i));
  }
  for (; i < n; ++i) {
    uint32_t bits = uint32_t(in[i]) << 16;
    std::memcpy(out + i, &bits, 4);
  }
}

void F32ToBf16(const float *in, int64_t n, uint16_t *out) {
  // Round to nearest even; NaN stays a (quiet) NaN.
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, in + i, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u)
      out[i] = uint16_t((bits >> 16) | 0x40);
    else
      out[i] = uint16_t((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
  }
}

const char *Target() { return hwy::TargetName(HWY_TARGET); }

} // namespace tpc::cpu::vec::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "runtime/cpu/Vector.h"

namespace tpc::cpu::vec {
HWY_EXPORT(Add);
HWY_EXPORT(Mul);
HWY_EXPORT(GeluTanh);
HWY_EXPORT(Silu);
HWY_EXPORT(SiluMul);
HWY_EXPORT(GeluTanhGrad);
HWY_EXPORT(SiluGrad);
HWY_EXPORT(LayerNormRow);
HWY_EXPORT(RmsNormRow);
HWY_EXPORT(MaxOf);
HWY_EXPORT(ExpShifted);
HWY_EXPORT(Scale);
HWY_EXPORT(RotateHalf);
HWY_EXPORT(Bf16ToF32);
HWY_EXPORT(F32ToBf16);
HWY_EXPORT(Target);

void add(const float *a, const float *b, int64_t n, float *out) {
  HWY_DYNAMIC_DISPATCH(Add)(a, b, n, out);
}
void mul(const float *a, const float *b, int64_t n, float *out) {
  HWY_DYNAMIC_DISPATCH(Mul)(a, b, n, out);
}
void geluTanh(const float *x, int64_t n, float *out) {
  HWY_DYNAMIC_DISPATCH(GeluTanh)(x, n, out);
}
void silu(const float *x, int64_t n, float *out) {
  HWY_DYNAMIC_DISPATCH(Silu)(x, n, out);
}
void siluMul(const float *gate, const float *up, int64_t n, float *out) {
  HWY_DYNAMIC_DISPATCH(SiluMul)(gate, up, n, out);
}
void geluTanhGrad(const float *x, const float *dy, int64_t n, float *dx) {
  HWY_DYNAMIC_DISPATCH(GeluTanhGrad)(x, dy, n, dx);
}
void siluGrad(const float *x, const float *dy, int64_t n, float *dx) {
  HWY_DYNAMIC_DISPATCH(SiluGrad)(x, dy, n, dx);
}
void layerNormRow(const float *x, int64_t n, const float *scale,
                  const float *shift, float eps, float *y) {
  HWY_DYNAMIC_DISPATCH(LayerNormRow)(x, n, scale, shift, eps, y);
}
void rmsNormRow(const float *x, int64_t n, const float *scale, float eps,
                float *y) {
  HWY_DYNAMIC_DISPATCH(RmsNormRow)(x, n, scale, eps, y);
}
float maxOf(const float *x, int64_t n) {
  return HWY_DYNAMIC_DISPATCH(MaxOf)(x, n);
}
float expShifted(float *x, int64_t n, float max) {
  return HWY_DYNAMIC_DISPATCH(ExpShifted)(x, n, max);
}
void scale(float *y, int64_t n, float s) {
  HWY_DYNAMIC_DISPATCH(Scale)(y, n, s);
}
void rotateHalf(float *x, int64_t half, const float *c, const float *s) {
  HWY_DYNAMIC_DISPATCH(RotateHalf)(x, half, c, s);
}
void bf16ToF32(const uint16_t *in, int64_t n, float *out) {
  HWY_DYNAMIC_DISPATCH(Bf16ToF32)(in, n, out);
}
void f32ToBf16(const float *in, int64_t n, uint16_t *out) {
  HWY_DYNAMIC_DISPATCH(F32ToBf16)(in, n, out);
}
const char *target() { return HWY_DYNAMIC_DISPATCH(Target)(); }
} // namespace tpc::cpu::vec
#endif
