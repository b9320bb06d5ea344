//===- Kernels.cpp - the CPU backend's kernels ----------------------------===//
#include "runtime/cpu/Kernels.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <thread>
#include <vector>

using namespace tpc;

void cpu::shareCores(int ranks) {
  const char *user = std::getenv("OPENBLAS_NUM_THREADS");
  if (user && *user)
    return;
  int cores = int(std::max(1u, std::thread::hardware_concurrency()));
  openblas_set_num_threads(std::max(1, cores / std::max(1, ranks)));
}

void cpu::linear(const float *x, int64_t rows, int64_t in, const float *weight,
                 bool inOut, int64_t out, const float *bias, float *y) {
  if (bias)
    for (int64_t r = 0; r < rows; ++r)
      std::copy(bias, bias + out, y + r * out);
  // y = x W (+ y): W is [in, out] row-major, or [out, in] used transposed.
  cblas_sgemm(CblasRowMajor, CblasNoTrans, inOut ? CblasNoTrans : CblasTrans,
              rows, out, in, 1.0f, x, in, weight, inOut ? out : in,
              bias ? 1.0f : 0.0f, y, out);
}

void cpu::lmHead(const float *x, int64_t rows, int64_t hidden,
                 const float *table, int64_t vocab, float *logits) {
  linear(x, rows, hidden, table, /*inOut=*/false, vocab, nullptr, logits);
}

int64_t cpu::embedding(const float *table, int64_t rowBegin, int64_t localRows,
                       int64_t hidden, int64_t vocab, const int32_t *ids,
                       int64_t count, float *out) {
  for (int64_t i = 0; i < count; ++i) {
    int64_t id = ids[i];
    if (id < 0 || id >= vocab)
      return i;
    float *row = out + i * hidden;
    if (id >= rowBegin && id < rowBegin + localRows)
      std::copy(table + (id - rowBegin) * hidden,
                table + (id - rowBegin + 1) * hidden, row);
    else
      std::fill(row, row + hidden, 0.0f);
  }
  return -1;
}

void cpu::add(const float *a, const float *b, int64_t n, float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = a[i] + b[i];
}

void cpu::mul(const float *a, const float *b, int64_t n, float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = a[i] * b[i];
}

void cpu::geluTanh(const float *x, int64_t n, float *out) {
  const float c = std::sqrt(2.0f / float(M_PI));
  for (int64_t i = 0; i < n; ++i) {
    float v = x[i];
    out[i] = 0.5f * v * (1.0f + std::tanh(c * (v + 0.044715f * v * v * v)));
  }
}

void cpu::silu(const float *x, int64_t n, float *out) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = x[i] / (1.0f + std::exp(-x[i]));
}

void cpu::layerNorm(const float *x, int64_t rows, int64_t hidden,
                    const float *scale, const float *shift, float eps,
                    float *y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * hidden;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < hidden; ++i)
      mean += row[i];
    mean /= hidden;
    for (int64_t i = 0; i < hidden; ++i)
      var += (row[i] - mean) * (row[i] - mean);
    float inv = float(1.0 / std::sqrt(var / hidden + eps));
    for (int64_t i = 0; i < hidden; ++i)
      y[r * hidden + i] = float(row[i] - mean) * inv * scale[i] + shift[i];
  }
}

void cpu::rmsNorm(const float *x, int64_t rows, int64_t hidden,
                  const float *scale, float eps, float *y) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * hidden;
    double sumSq = 0;
    for (int64_t i = 0; i < hidden; ++i)
      sumSq += double(row[i]) * row[i];
    float inv = float(1.0 / std::sqrt(sumSq / hidden + eps));
    for (int64_t i = 0; i < hidden; ++i)
      y[r * hidden + i] = row[i] * inv * scale[i];
  }
}

void cpu::rope(float *x, int64_t batch, int64_t seq, int64_t heads,
               int64_t headDim, double theta, const int32_t *offsets) {
  int64_t half = headDim / 2;
  std::vector<double> invFreq(half);
  for (int64_t i = 0; i < half; ++i)
    invFreq[i] = std::pow(theta, -2.0 * i / headDim);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq; ++s) {
      int64_t position = (offsets ? offsets[b] : 0) + s;
      for (int64_t h = 0; h < heads; ++h) {
        float *v = x + ((b * seq + s) * heads + h) * headDim;
        for (int64_t i = 0; i < half; ++i) {
          double angle = position * invFreq[i];
          float c = float(std::cos(angle)), sn = float(std::sin(angle));
          float x0 = v[i], x1 = v[i + half];
          v[i] = x0 * c - x1 * sn;
          v[i + half] = x1 * c + x0 * sn;
        }
      }
    }
}

void cpu::attention(const float *q, const float *k, const float *v,
                    int64_t batch, int64_t seq, int64_t kvSeq, int64_t qHeads,
                    int64_t kvHeads, int64_t headDim, int64_t qHeadBegin,
                    int64_t kvHeadBegin, int64_t groups, int64_t window,
                    const int32_t *offsets, float *out) {
  const float scale = 1.0f / std::sqrt(float(headDim));
  std::vector<float> scores(kvSeq);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < qHeads; ++h) {
      int64_t kvh = (qHeadBegin + h) / groups - kvHeadBegin;
      for (int64_t i = 0; i < seq; ++i) {
        const float *qi = q + ((b * seq + i) * qHeads + h) * headDim;
        int64_t position = (offsets ? offsets[b] : 0) + i;
        int64_t first =
            window > 0 ? std::max<int64_t>(0, position - window + 1) : 0;
        float best = -std::numeric_limits<float>::infinity();
        for (int64_t j = first; j <= position; ++j) {
          const float *kj = k + ((b * kvSeq + j) * kvHeads + kvh) * headDim;
          float dot = 0;
          for (int64_t d = 0; d < headDim; ++d)
            dot += qi[d] * kj[d];
          scores[j] = dot * scale;
          best = std::max(best, scores[j]);
        }
        float total = 0;
        for (int64_t j = first; j <= position; ++j) {
          scores[j] = std::exp(scores[j] - best);
          total += scores[j];
        }
        float *oi = out + ((b * seq + i) * qHeads + h) * headDim;
        std::fill(oi, oi + headDim, 0.0f);
        for (int64_t j = first; j <= position; ++j) {
          const float *vj = v + ((b * kvSeq + j) * kvHeads + kvh) * headDim;
          float p = scores[j] / total;
          for (int64_t d = 0; d < headDim; ++d)
            oi[d] += p * vj[d];
        }
      }
    }
}

namespace {
/// True when `a` beats `b`: larger, or equal and at a lower index; NaN and
/// missing entries (index -1) never win.
bool beats(const cpu::ArgmaxEntry &a, const cpu::ArgmaxEntry &b) {
  if (a.index < 0 || std::isnan(a.value))
    return false;
  if (b.index < 0 || std::isnan(b.value))
    return true;
  return a.value > b.value || (a.value == b.value && a.index < b.index);
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
