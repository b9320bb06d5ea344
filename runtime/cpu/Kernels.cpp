//===- Kernels.cpp - the CPU backend's kernels ----------------------------===//
#include "runtime/cpu/Kernels.h"
#include "runtime/core/ArgmaxRule.h"
#include "runtime/cpu/DnnlLinear.h"
#include "runtime/cpu/Threads.h"
#include "runtime/cpu/Vector.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace tpc;

namespace {
/// Elements per chunk below which splitting an elementwise loop over
/// threads costs more than it saves.
constexpr int64_t kElementGrain = 16384;
} // namespace

void cpu::linear(const float *x, int64_t rows, int64_t in, const float *weight,
                 bool inOut, int64_t out, const float *bias, float *y,
                 Activation act) {
  if (linearDnnl(x, rows, in, weight, inOut, out, bias, y, act))
    return;
  // Where oneDNN has no JIT kernel: y = x W (+ bias), W [in, out]
  // row-major, or [out, in] used transposed. Each thread computes a block
  // of output columns (a block of W's columns, or of its rows when
  // transposed), single-threaded BLAS.
  parallelFor(out, 64, [&](int64_t begin, int64_t end) {
    int64_t width = end - begin;
    if (bias)
      for (int64_t r = 0; r < rows; ++r)
        std::copy(bias + begin, bias + end, y + r * out + begin);
    const float *w = inOut ? weight + begin : weight + begin * in;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, inOut ? CblasNoTrans : CblasTrans,
                rows, width, in, 1.0f, x, in, w, inOut ? out : in,
                bias ? 1.0f : 0.0f, y + begin, out);
    if (act == Activation::None)
      return;
    for (int64_t r = 0; r < rows; ++r) {
      float *row = y + r * out + begin;
      if (act == Activation::Gelu)
        vec::geluTanh(row, width, row);
      else
        vec::silu(row, width, row);
    }
  });
}

void cpu::lmHead(const float *x, int64_t rows, int64_t hidden,
                 const float *table, int64_t vocab, float *logits) {
  linear(x, rows, hidden, table, /*inOut=*/false, vocab, nullptr, logits);
}

int64_t cpu::embedding(const float *table, int64_t rowBegin, int64_t localRows,
                       int64_t hidden, int64_t vocab, const int32_t *ids,
                       int64_t count, float *out) {
  for (int64_t i = 0; i < count; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      return i;
  parallelFor(count, std::max<int64_t>(1, kElementGrain / hidden),
              [&](int64_t begin, int64_t end) {
                for (int64_t i = begin; i < end; ++i) {
                  int64_t id = ids[i];
                  float *row = out + i * hidden;
                  if (id >= rowBegin && id < rowBegin + localRows)
                    std::copy(table + (id - rowBegin) * hidden,
                              table + (id - rowBegin + 1) * hidden, row);
                  else
                    std::fill(row, row + hidden, 0.0f);
                }
              });
  return -1;
}

void cpu::add(const float *a, const float *b, int64_t n, float *out) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::add(a + begin, b + begin, end - begin, out + begin);
  });
}

void cpu::mul(const float *a, const float *b, int64_t n, float *out) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::mul(a + begin, b + begin, end - begin, out + begin);
  });
}

void cpu::geluTanh(const float *x, int64_t n, float *out) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::geluTanh(x + begin, end - begin, out + begin);
  });
}

void cpu::silu(const float *x, int64_t n, float *out) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::silu(x + begin, end - begin, out + begin);
  });
}

void cpu::siluMul(const float *gate, const float *up, int64_t n, float *out) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::siluMul(gate + begin, up + begin, end - begin, out + begin);
  });
}

void cpu::layerNorm(const float *x, int64_t rows, int64_t hidden,
                    const float *scale, const float *shift, float eps,
                    float *y) {
  parallelFor(rows, std::max<int64_t>(1, kElementGrain / hidden),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r)
                  vec::layerNormRow(x + r * hidden, hidden, scale, shift, eps,
                                    y + r * hidden);
              });
}

void cpu::rmsNorm(const float *x, int64_t rows, int64_t hidden,
                  const float *scale, float eps, float *y) {
  parallelFor(rows, std::max<int64_t>(1, kElementGrain / hidden),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r)
                  vec::rmsNormRow(x + r * hidden, hidden, scale, eps,
                                  y + r * hidden);
              });
}

void cpu::addNorm(const float *a, const float *b, int64_t rows,
                  int64_t hidden, const float *scale, const float *shift,
                  float eps, float *sum, float *y) {
  parallelFor(rows, std::max<int64_t>(1, kElementGrain / hidden),
              [&](int64_t begin, int64_t end) {
                for (int64_t r = begin; r < end; ++r) {
                  float *s = sum + r * hidden;
                  vec::add(a + r * hidden, b + r * hidden, hidden, s);
                  if (shift)
                    vec::layerNormRow(s, hidden, scale, shift, eps,
                                      y + r * hidden);
                  else
                    vec::rmsNormRow(s, hidden, scale, eps, y + r * hidden);
                }
              });
}

void cpu::rope(float *x, int64_t batch, int64_t seq, int64_t heads,
               int64_t headDim, double theta, const int32_t *offsets,
               bool inverse) {
  int64_t half = headDim / 2;
  std::vector<double> invFreq(half);
  for (int64_t i = 0; i < half; ++i)
    invFreq[i] = std::pow(theta, -2.0 * i / headDim);
  // One token's angles serve all its heads.
  parallelFor(batch * seq, std::max<int64_t>(1, 256 / heads),
              [&](int64_t begin, int64_t end) {
                std::vector<float> c(half), sn(half);
                for (int64_t t = begin; t < end; ++t) {
                  int64_t b = t / seq, s = t % seq;
                  int64_t position = (offsets ? offsets[b] : 0) + s;
                  for (int64_t i = 0; i < half; ++i) {
                    double angle = position * invFreq[i];
                    c[i] = float(std::cos(angle));
                    sn[i] = float(inverse ? -std::sin(angle)
                                          : std::sin(angle));
                  }
                  for (int64_t h = 0; h < heads; ++h)
                    vec::rotateHalf(x + (t * heads + h) * headDim, half,
                                    c.data(), sn.data());
                }
              });
}

namespace {
/// The keys and values of one sequence's KV head that a task reads, as f32
/// rows `ld` apart (row j of the head at key(j) / value(j)). f32 storage
/// is read in place. bf16 is widened into buffers of the thread's, once per
/// head and range: a task that reads the same head up to a later key (the
/// next block of queries) widens only the new rows, and one that reads the
/// same range (another query head of the group, in decode) none.
template <typename KV> class KvRows;

template <> class KvRows<float> {
public:
  void load(const float *k, const float *v, int64_t from, int64_t to,
            int64_t stride, int64_t headDim) {
    keys = k, values = v, ld = stride;
  }
  const float *key(int64_t j) const { return keys + j * ld; }
  const float *value(int64_t j) const { return values + j * ld; }
  int64_t ld = 0;

private:
  const float *keys = nullptr, *values = nullptr;
};

template <> class KvRows<uint16_t> {
public:
  void load(const uint16_t *k, const uint16_t *v, int64_t from, int64_t to,
            int64_t stride, int64_t headDim) {
    int64_t next = from; // the first row still to widen
    if (k == head && from == first && to >= last)
      next = last + 1;
    keys.resize(size_t((to - from + 1) * headDim));
    values.resize(keys.size());
    for (int64_t j = next; j <= to; ++j) {
      cpu::vec::bf16ToF32(k + j * stride, headDim,
                          keys.data() + (j - from) * headDim);
      cpu::vec::bf16ToF32(v + j * stride, headDim,
                          values.data() + (j - from) * headDim);
    }
    head = k, first = from, last = to, ld = headDim;
  }
  const float *key(int64_t j) const {
    return keys.data() + (j - first) * ld;
  }
  const float *value(int64_t j) const {
    return values.data() + (j - first) * ld;
  }
  int64_t ld = 0;

private:
  std::vector<float> keys, values;
  const uint16_t *head = nullptr;
  int64_t first = 0, last = -1;
};

template <typename KV>
void attentionOf(const float *q, const KV *k, const KV *v, int64_t batch,
                 int64_t seq, int64_t kvSeq, int64_t qHeads, int64_t kvHeads,
                 int64_t headDim, int64_t qHeadBegin, int64_t kvHeadBegin,
                 int64_t groups, int64_t window, const int32_t *offsets,
                 float *out) {
  // A rank holds the KV heads of all its query heads (the planner's rule):
  // a call that breaks it would read past k and v. (The KV head grows
  // with the query head: the first and the last decide.)
  for (int64_t h : {int64_t(0), qHeads - 1}) {
    int64_t kv = (qHeadBegin + h) / groups - kvHeadBegin;
    if (h >= 0 && (kv < 0 || kv >= kvHeads))
      throw std::invalid_argument(
          "attention: query head " + std::to_string(qHeadBegin + h) +
          " uses KV head " + std::to_string(kv + kvHeadBegin) +
          ", which this rank does not hold");
  }
  // Flash-style: per (sequence, head, block of queries), the keys in
  // blocks; scores of a block by a GEMM, an online softmax (running max
  // and sum per query), the output accumulated by a second GEMM and scaled
  // at the end. Only keys a query may see are read.
  constexpr int64_t kQueries = 32, kKeys = 256;
  const float scale = 1.0f / std::sqrt(float(headDim));
  const int64_t qStride = qHeads * headDim, kvStride = kvHeads * headDim;
  int64_t queryBlocks = (seq + kQueries - 1) / kQueries;
  cpu::parallelFor(batch * qHeads * queryBlocks, 1, [&](int64_t begin,
                                                   int64_t end) {
    std::vector<float> scores(kQueries * kKeys), acc(kQueries * headDim);
    std::vector<float> maxes(kQueries), sums(kQueries);
    KvRows<KV> kvRows;
    for (int64_t task = begin; task < end; ++task) {
      int64_t block = task % queryBlocks;
      int64_t h = (task / queryBlocks) % qHeads;
      int64_t b = task / (queryBlocks * qHeads);
      int64_t kvh = (qHeadBegin + h) / groups - kvHeadBegin;
      int64_t i0 = block * kQueries, rows = std::min(kQueries, seq - i0);
      int64_t offset = offsets ? offsets[b] : 0;
      // Positions of the block's first and last query; the keys they see.
      int64_t first = offset + i0, last = offset + i0 + rows - 1;
      int64_t keyBegin = window > 0 ? std::max<int64_t>(0, first - window + 1)
                                    : 0;
      const float *qb = q + (b * seq + i0) * qStride + h * headDim;
      std::fill(maxes.begin(), maxes.end(),
                -std::numeric_limits<float>::infinity());
      std::fill(sums.begin(), sums.end(), 0.0f);
      std::fill(acc.begin(), acc.end(), 0.0f);
      kvRows.load(k + b * kvSeq * kvStride + kvh * headDim,
                  v + b * kvSeq * kvStride + kvh * headDim, keyBegin, last,
                  kvStride, headDim);
      for (int64_t j0 = keyBegin; j0 <= last; j0 += kKeys) {
        int64_t keys = std::min(kKeys, last + 1 - j0);
        const float *kb = kvRows.key(j0), *vb = kvRows.value(j0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, keys,
                    headDim, scale, qb, qStride, kb, kvRows.ld, 0.0f,
                    scores.data(), kKeys);
        for (int64_t r = 0; r < rows; ++r) {
          float *row = scores.data() + r * kKeys;
          int64_t position = first + r;
          // Keys this query may not see: after it, or before the window.
          int64_t lo = window > 0 ? position - window + 1 - j0 : 0;
          int64_t hi = position - j0; // Last visible key in this block.
          int64_t from = std::max<int64_t>(lo, 0);
          int64_t to = std::min<int64_t>(hi, keys - 1);
          std::fill(row, row + std::max<int64_t>(from, 0),
                    -std::numeric_limits<float>::infinity());
          if (to + 1 < keys)
            std::fill(row + std::max<int64_t>(to + 1, 0), row + keys,
                      -std::numeric_limits<float>::infinity());
          if (from > to) { // Nothing visible here: contribute nothing.
            std::fill(row, row + keys, 0.0f);
            continue;
          }
          float blockMax = cpu::vec::maxOf(row + from, to - from + 1);
          float newMax = std::max(maxes[r], blockMax);
          float correction = std::exp(maxes[r] - newMax);
          float blockSum = cpu::vec::expShifted(row, keys, newMax);
          sums[r] = sums[r] * correction + blockSum;
          if (correction != 1.0f)
            cpu::vec::scale(acc.data() + r * headDim, headDim, correction);
          maxes[r] = newMax;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, headDim,
                    keys, 1.0f, scores.data(), kKeys, vb, kvRows.ld, 1.0f,
                    acc.data(), headDim);
      }
      for (int64_t r = 0; r < rows; ++r) {
        float *o = out + ((b * seq + i0 + r) * qHeads + h) * headDim;
        float inv = 1.0f / sums[r];
        for (int64_t e = 0; e < headDim; ++e)
          o[e] = acc[r * headDim + e] * inv;
      }
    }
  });
}
} // namespace

void cpu::attention(const float *q, const float *k, const float *v,
                    int64_t batch, int64_t seq, int64_t kvSeq, int64_t qHeads,
                    int64_t kvHeads, int64_t headDim, int64_t qHeadBegin,
                    int64_t kvHeadBegin, int64_t groups, int64_t window,
                    const int32_t *offsets, float *out) {
  attentionOf(q, k, v, batch, seq, kvSeq, qHeads, kvHeads, headDim,
              qHeadBegin, kvHeadBegin, groups, window, offsets, out);
}

void cpu::attentionBf16Kv(const float *q, const uint16_t *k,
                          const uint16_t *v, int64_t batch, int64_t seq,
                          int64_t kvSeq, int64_t qHeads, int64_t kvHeads,
                          int64_t headDim, int64_t qHeadBegin,
                          int64_t kvHeadBegin, int64_t groups, int64_t window,
                          const int32_t *offsets, float *out) {
  attentionOf(q, k, v, batch, seq, kvSeq, qHeads, kvHeads, headDim,
              qHeadBegin, kvHeadBegin, groups, window, offsets, out);
}

namespace {
/// True when `a` beats `b` (runtime/core/ArgmaxRule.h).
bool beats(const cpu::ArgmaxEntry &a, const cpu::ArgmaxEntry &b) {
  return argmaxBeats(a.value, a.index, b.value, b.index);
}
} // namespace

void cpu::localArgmax(const float *logits, int64_t rows, int64_t localVocab,
                      int64_t vocabBegin, ArgmaxEntry *out) {
  for (int64_t r = 0; r < rows; ++r) {
    ArgmaxEntry best{0.0f, -1};
    for (int64_t v = 0; v < localVocab; ++v) {
      ArgmaxEntry candidate{logits[r * localVocab + v], vocabBegin + v};
      if (beats(candidate, best))
        best = candidate;
    }
    out[r] = best;
  }
}

void cpu::mergeArgmax(const ArgmaxEntry *candidates, int64_t ranks,
                      int64_t rows, int64_t *ids) {
  for (int64_t r = 0; r < rows; ++r) {
    ArgmaxEntry best{0.0f, -1};
    for (int64_t k = 0; k < ranks; ++k)
      if (beats(candidates[k * rows + r], best))
        best = candidates[k * rows + r];
    ids[r] = best.index;
  }
}
