//===- Kernels.h - the CUDA backend's kernels -------------------*- C++ -*-===//
//
// The ops of the tpc dialect on one rank's shard, on a CUDA device, in f32,
// bf16 or f16 with f32 accumulation: GEMMs through cuBLAS (cublasGemmEx),
// attention in one fused kernel for 16-bit programs (FlashAttention.h), else
// as strided-batched GEMMs with a causal softmax kernel between them, the
// rest as kernels. Same shapes and conventions as the CPU kernels
// (runtime/cpu/Kernels.h); pointers are device pointers, calls are
// asynchronous on the context's stream. Errors throw std::runtime_error.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CUDA_KERNELS_H
#define TPC_RUNTIME_CUDA_KERNELS_H

#include "runtime/core/Activation.h"
#include "runtime/core/DType.h"

#include <cstdint>
#include <memory>
#include <string>

namespace tpc::cuda {

using tpc::DType;
using tpc::dtypeSize;

/// True when a CUDA device can be used; otherwise `why` says why not.
bool deviceAvailable(std::string *why = nullptr);
/// How many CUDA devices can be used (0 without a driver or a device).
int deviceCount();
/// Makes `device` current for the calling thread.
void setDevice(int device);

/// A stream and a cuBLAS handle on the current device.
class Context {
public:
  Context();
  ~Context();
  Context(const Context &) = delete;
  Context &operator=(const Context &) = delete;
  /// Waits for everything queued.
  void synchronize();
  void *stream() const;
  void *cublas() const;
  /// `values` copied to device memory for work queued next on this
  /// context's stream, uploaded only when they differ from the last call's
  /// (a decode step hands the same offsets to every layer). The pointer is
  /// valid until the next call; stream order keeps kernels queued before
  /// it reading the values they were given.
  const int32_t *deviceInts(const int32_t *values, int64_t n);
  /// RoPE's (cos, sin) of position p and pair i at [p * headDim / 2 + i]
  /// for positions [0, positions) at least, in device memory (float2),
  /// computed once per (theta, headDim) and grown as needed.
  const void *ropeTable(double theta, int64_t headDim, int64_t positions);

private:
  struct Impl;
  std::unique_ptr<Impl> impl;
};

/// out[i] = x[i] converted from `from` to `to` (round to nearest even).
void convert(Context &ctx, DType from, const void *x, DType to, int64_t n,
             void *out);
/// out[i] = the random weight element i of weights::randomShard for a
/// whole tensor with key `key` (weights::randomKey), plus `offset`: the
/// same splitmix64 draw, computed on the device.
void randomFill(Context &ctx, DType dtype, uint64_t key, float scale,
                float offset, int64_t n, void *out);
/// y = act(x W + bias): the GEMM, then one kernel that adds the bias and
/// applies the activation (none: the bias is the GEMM's C input). A few
/// rows (decode) against a [out, in] weight take one memory-bound kernel
/// with the bias and activation in it instead (TPC_GEMV=0 turns it off).
void linear(Context &ctx, DType dtype, const void *x, int64_t rows, int64_t in,
            const void *weight, bool inOut, int64_t out, const void *bias,
            Activation act, void *y);
void lmHead(Context &ctx, DType dtype, const void *x, int64_t rows,
            int64_t hidden, const void *table, int64_t vocab, void *logits);
void embedding(Context &ctx, DType dtype, const void *table, int64_t rowBegin,
               int64_t localRows, int64_t hidden, const int32_t *ids,
               int64_t count, void *out);
void add(Context &ctx, DType dtype, const void *a, const void *b, int64_t n,
         void *out);
void mul(Context &ctx, DType dtype, const void *a, const void *b, int64_t n,
         void *out);
void geluTanh(Context &ctx, DType dtype, const void *x, int64_t n, void *out);
void silu(Context &ctx, DType dtype, const void *x, int64_t n, void *out);
/// out = silu(gate) * up.
void siluMul(Context &ctx, DType dtype, const void *gate, const void *up,
             int64_t n, void *out);
void layerNorm(Context &ctx, DType dtype, const void *x, int64_t rows,
               int64_t hidden, const void *scale, const void *shift, float eps,
               void *y);
void rmsNorm(Context &ctx, DType dtype, const void *x, int64_t rows,
             int64_t hidden, const void *scale, float eps, void *y);
/// Fused residual + LayerNorm: sum = a + b, y = layerNorm(sum).
void addLayerNorm(Context &ctx, DType dtype, const void *a, const void *b,
                  int64_t rows, int64_t hidden, const void *scale,
                  const void *shift, float eps, void *sum, void *y);
/// Fused residual + RMSNorm: sum = a + b, y = rmsNorm(sum).
void addRmsNorm(Context &ctx, DType dtype, const void *a, const void *b,
                int64_t rows, int64_t hidden, const void *scale, float eps,
                void *sum, void *y);
/// `offsets` (host memory, [batch], or null for zeros): the position of
/// each sequence's first token. The angles' cosines and sines come from a
/// table the context keeps per (theta, headDim), computed once as the
/// CPU kernel computes them (in double precision).
void rope(Context &ctx, DType dtype, void *x, int64_t batch, int64_t seq,
          int64_t heads, int64_t headDim, double theta,
          const int32_t *offsets = nullptr);
/// Writes x [batch, seq, width] into cache [batch, capacity, width] at row
/// offsets[b] of each sequence (`offsets` in device memory; the caller has
/// checked that every sequence fits).
void writeCache(Context &ctx, DType dtype, const void *x, int64_t batch,
                int64_t seq, int64_t width, void *cache, int64_t capacity,
                const int32_t *offsets);
/// Each row's best column of x [rows, cols]: the largest value, the lowest
/// column on ties, NaN never (index -1 when every value is NaN), as
/// cpu::localArgmax; `values` and `indices` are host arrays of `rows`.
/// Waits for the result.
void rowArgmax(Context &ctx, DType dtype, const void *x, int64_t rows,
               int64_t cols, float *values, int64_t *indices);
/// k and v hold `kvSeq` positions per sequence; `offsets` (host memory,
/// [batch], or null for zeros with kvSeq = seq) places the queries.
void attention(Context &ctx, DType dtype, const void *q, const void *k,
               const void *v, int64_t batch, int64_t seq, int64_t kvSeq,
               int64_t qHeads, int64_t kvHeads, int64_t headDim,
               int64_t qHeadBegin, int64_t kvHeadBegin, int64_t groups,
               int64_t window, const int32_t *offsets, void *out);

} // namespace tpc::cuda

#endif // TPC_RUNTIME_CUDA_KERNELS_H
