//===- GradKernels.h - CPU kernels of the backward pass and loss -*- C++ -*-===//
//
// The derivatives of runtime/cpu/Kernels.h's ops and the pieces of the
// vocab-parallel cross-entropy, f32, threaded over the rank's share of
// cores like the forward kernels (runtime/cpu/Threads.h).
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_GRADKERNELS_H
#define TPC_RUNTIME_CPU_GRADKERNELS_H

#include <cstdint>

namespace tpc::cpu {

/// Weight gradient of linear over `rows` tokens: dW = x^T dy, [in, out]
/// when `inOut`, else dy^T x, [out, in]; `addInto`: dW += that (a
/// gradient buffer).
void linearWeightGrad(const float *x, const float *dy, int64_t rows,
                      int64_t in, int64_t out, bool inOut, float *dw,
                      bool addInto = false);
/// out[j] = sum over rows of x[r, j].
void sumRows(const float *x, int64_t rows, int64_t n, float *out);
/// table [localRows, hidden] = 0 (unless `addInto`: the table keeps its
/// values), then row ids[i] - rowBegin += grad[i] for the ids this rank
/// holds.
void embeddingGrad(const float *grad, const int32_t *ids, int64_t count,
                   int64_t hidden, int64_t rowBegin, int64_t localRows,
                   float *table, bool addInto = false);
void geluTanhGrad(const float *x, const float *dy, int64_t n, float *dx);
void siluGrad(const float *x, const float *dy, int64_t n, float *dx);
/// Input gradient of LayerNorm (`centered`) or RMSNorm over rows of
/// `hidden`.
void normGrad(const float *x, const float *dy, const float *scale,
              int64_t rows, int64_t hidden, float eps, bool centered,
              float *dx);
/// Scale gradient: sum over rows of dy * normalized x.
void normScaleGrad(const float *x, const float *dy, int64_t rows,
                   int64_t hidden, float eps, bool centered, float *dscale);
/// Gradients of cpu::attention (no offsets: query i at position i) from
/// the output's gradient `dout`; probabilities are recomputed. dk and dv
/// sum over the query heads that share a KV head.
void attentionGrad(const float *q, const float *k, const float *v,
                   const float *dout, int64_t batch, int64_t seq,
                   int64_t qHeads, int64_t kvHeads, int64_t headDim,
                   int64_t qHeadBegin, int64_t kvHeadBegin, int64_t groups,
                   int64_t window, float *dq, float *dk, float *dv);

/// Per row of this rank's logits [rows, localVocab]: the largest value.
void rowMax(const float *logits, int64_t rows, int64_t localVocab,
            float *max);
/// Per row: sum of exp(logit - max[r]) over the rank's columns, and the
/// target's logit when the target is one of them (global columns
/// vocabBegin..), else 0.
void sumExpAndTarget(const float *logits, int64_t rows, int64_t localVocab,
                     int64_t vocabBegin, const float *max,
                     const int32_t *targets, float *sumExp, float *target);
/// dlogits = dloss[r] * (exp(logit - lse[r]) - [column is the target]),
/// zero rows where the target is `ignoreIndex`.
void crossEntropyGrad(const float *logits, int64_t rows, int64_t localVocab,
                      int64_t vocabBegin, const int32_t *targets,
                      const float *lse, const float *dloss,
                      int64_t ignoreIndex, float *dlogits);

} // namespace tpc::cpu

#endif // TPC_RUNTIME_CPU_GRADKERNELS_H
