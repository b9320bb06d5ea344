//===- Vector.h - vectorized loops of the CPU kernels -----------*- C++ -*-===//
//
// The inner loops of the CPU kernels, written once with Highway and
// compiled for every x86 instruction set it targets (SSE4, AVX2,
// AVX-512, AVX-512 with BF16 on Zen 4 and Sapphire Rapids); the best one
// the running CPU supports is chosen at run time, so a binary built on one
// machine runs, at that machine's best, on another. Transcendentals (exp,
// tanh) are Highway's vector math, not libm per element.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_VECTOR_H
#define TPC_RUNTIME_CPU_VECTOR_H

#include <cstdint>

namespace tpc::cpu::vec {

void add(const float *a, const float *b, int64_t n, float *out);
void mul(const float *a, const float *b, int64_t n, float *out);
/// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
void geluTanh(const float *x, int64_t n, float *out);
/// x / (1 + exp(-x)).
void silu(const float *x, int64_t n, float *out);
/// out = silu(gate) * up.
void siluMul(const float *gate, const float *up, int64_t n, float *out);
/// dx = dy * geluTanh'(x), dy * silu'(x).
void geluTanhGrad(const float *x, const float *dy, int64_t n, float *dx);
void siluGrad(const float *x, const float *dy, int64_t n, float *dx);
/// y = (x - mean) / sqrt(var + eps) * scale + shift, over one row.
void layerNormRow(const float *x, int64_t n, const float *scale,
                  const float *shift, float eps, float *y);
/// y = x / sqrt(mean(x^2) + eps) * scale, over one row.
void rmsNormRow(const float *x, int64_t n, const float *scale, float eps,
                float *y);
/// x[i] = exp(x[i] - max); returns the sum.
float expShifted(float *x, int64_t n, float max);
/// The largest x[i].
float maxOf(const float *x, int64_t n);
/// y[i] *= s.
void scale(float *y, int64_t n, float s);
/// Rotates pairs (x[i], x[i + half]) by angles with cos c[i], sin s[i].
void rotateHalf(float *x, int64_t half, const float *c, const float *s);
/// f32 <-> bf16 / f16 storage (round to nearest even).
void bf16ToF32(const uint16_t *in, int64_t n, float *out);
void f32ToBf16(const float *in, int64_t n, uint16_t *out);

/// The instruction set the dispatch chose on this CPU ("AVX3_ZEN4", ...).
const char *target();

} // namespace tpc::cpu::vec

#endif // TPC_RUNTIME_CPU_VECTOR_H
