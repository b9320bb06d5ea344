//===- Kernels.h - the CPU backend's kernels --------------------*- C++ -*-===//
//
// The ops of the tpc dialect on one rank's shard, in f32 on the host.
// Linear layers go through oneDNN (DnnlLinear.h; OpenBLAS where oneDNN has
// no JIT kernel), split by output columns over the rank's threads
// (Threads.h); the rest are Highway vector loops (Vector.h) over rows or
// chunks; attention is flash-style (blocks of queries and keys, online
// softmax, GEMMs for the blocks). Shapes are passed
// explicitly; activations are row-major [rows, features] where rows are
// batch x sequence. Every kernel takes the rank's view of a split op: the
// global index of its first local head or vocabulary row where that
// changes the result.
//
//===----------------------------------------------------------------------===//
#ifndef TPC_RUNTIME_CPU_KERNELS_H
#define TPC_RUNTIME_CPU_KERNELS_H

#include "runtime/core/Activation.h"
#include "runtime/cpu/Threads.h"

#include <cstdint>

namespace tpc::cpu {

/// y[rows, out] = x[rows, in] W (+ bias[out]). `inOut` weights are stored
/// [in, out] (GPT-2 Conv1D), otherwise [out, in] (torch.nn.Linear).
/// A null `bias` adds nothing (also how a rank other than the first handles
/// a row-split linear's bias, so that the sum over ranks adds it once).
/// `act` is applied to each block of columns right after its GEMM, while
/// it is in cache (tpc-fuse's linear + activation).
void linear(const float *x, int64_t rows, int64_t in, const float *weight,
            bool inOut, int64_t out, const float *bias, float *y,
            Activation act = Activation::None);

/// logits[rows, vocab] = x[rows, hidden] table[vocab, hidden]^T.
void lmHead(const float *x, int64_t rows, int64_t hidden, const float *table,
            int64_t vocab, float *logits);

/// out[i, :] = table[ids[i] - rowBegin, :] for ids this rank holds
/// ([rowBegin, rowBegin + localRows)), zeros for the others, so that the sum
/// over ranks of a vocabulary-split table is the full lookup. Returns the
/// index of the first id outside [0, vocab), or -1.
int64_t embedding(const float *table, int64_t rowBegin, int64_t localRows,
                  int64_t hidden, int64_t vocab, const int32_t *ids,
                  int64_t count, float *out);

void add(const float *a, const float *b, int64_t n, float *out);
void mul(const float *a, const float *b, int64_t n, float *out);
/// GeLU, tanh form (GPT-2's gelu_new).
void geluTanh(const float *x, int64_t n, float *out);
void silu(const float *x, int64_t n, float *out);
/// out = silu(gate) * up.
void siluMul(const float *gate, const float *up, int64_t n, float *out);

void layerNorm(const float *x, int64_t rows, int64_t hidden, const float *scale,
               const float *shift, float eps, float *y);
void rmsNorm(const float *x, int64_t rows, int64_t hidden, const float *scale,
             float eps, float *y);
/// sum = a + b and y = norm(sum), row by row in one pass: LayerNorm with
/// `shift`, RMSNorm without (tpc-fuse's residual add + norm).
void addNorm(const float *a, const float *b, int64_t rows, int64_t hidden,
             const float *scale, const float *shift, float eps, float *sum,
             float *y);

/// Rotary embedding in place on x[batch, seq, heads * headDim], rotate-half
/// convention (Hugging Face Llama). Token s of sequence b is at position
/// offsets[b] + s (s when `offsets` is null). `inverse` rotates by the
/// opposite angles (the transpose: RoPE's gradient).
void rope(float *x, int64_t batch, int64_t seq, int64_t heads, int64_t headDim,
          double theta, const int32_t *offsets = nullptr,
          bool inverse = false);

/// Causal attention of this rank's query heads. q and out are
/// [batch, seq, qHeads * headDim], k and v [batch, kvSeq, kvHeads * headDim]
/// with key j at position j. Query i of sequence b is at position
/// p = offsets[b] + i (i when `offsets` is null, where kvSeq is seq) and
/// attends to keys 0..p; `window` > 0 also masks keys more than window - 1
/// positions back. Global query head `qHeadBegin + h` uses global KV head
/// `(qHeadBegin + h) / groups`, found locally at that minus `kvHeadBegin`.
void attention(const float *q, const float *k, const float *v, int64_t batch,
               int64_t seq, int64_t kvSeq, int64_t qHeads, int64_t kvHeads,
               int64_t headDim, int64_t qHeadBegin, int64_t kvHeadBegin,
               int64_t groups, int64_t window, const int32_t *offsets,
               float *out);
/// The same with k and v stored in bf16 (a 16-bit KV cache, or a 16-bit
/// program's keys and values): each block of keys is widened as it is
/// read, into a buffer of the thread's, instead of the whole of k and v.
void attentionBf16Kv(const float *q, const uint16_t *k, const uint16_t *v,
                     int64_t batch, int64_t seq, int64_t kvSeq,
                     int64_t qHeads, int64_t kvHeads, int64_t headDim,
                     int64_t qHeadBegin, int64_t kvHeadBegin, int64_t groups,
                     int64_t window, const int32_t *offsets, float *out);

/// For each row of this rank's logits [rows, localVocab] (global columns
/// vocabBegin..), the best (value, global index): the largest finite value,
/// the lowest index on ties; NaN never wins. Rows with no finite value get
/// index -1.
struct ArgmaxEntry {
  float value;
  int64_t index;
};
void localArgmax(const float *logits, int64_t rows, int64_t localVocab,
                 int64_t vocabBegin, ArgmaxEntry *out);
/// Merges per-rank candidates [ranks][rows] into the global argmax ids,
/// by the same rule.
void mergeArgmax(const ArgmaxEntry *candidates, int64_t ranks, int64_t rows,
                 int64_t *ids);

} // namespace tpc::cpu

#endif // TPC_RUNTIME_CPU_KERNELS_H
