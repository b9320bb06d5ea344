//===- GradKernels.cpp - CPU kernels of the backward pass and loss --------===//
#include "runtime/cpu/GradKernels.h"
#include "runtime/cpu/Threads.h"
#include "runtime/cpu/Vector.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace tpc;

namespace {
constexpr int64_t kElementGrain = 16384;

/// Mean (0 for RMSNorm) and reciprocal standard deviation of each row.
void rowStats(const float *x, int64_t rows, int64_t hidden, float eps,
              bool centered, float *mean, float *rstd) {
  cpu::parallelFor(rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float *row = x + r * hidden;
      double mu = 0;
      if (centered) {
        for (int64_t j = 0; j < hidden; ++j)
          mu += row[j];
        mu /= double(hidden);
      }
      double var = 0;
      for (int64_t j = 0; j < hidden; ++j)
        var += (row[j] - mu) * (row[j] - mu);
      var /= double(hidden);
      mean[r] = float(mu);
      rstd[r] = float(1.0 / std::sqrt(var + eps));
    }
  });
}
} // namespace

void cpu::linearWeightGrad(const float *x, const float *dy, int64_t rows,
                           int64_t in, int64_t out, bool inOut, float *dw,
                           bool addInto) {
  // Each thread computes a block of dW's rows: a block of x's columns
  // (in_out) or of dy's (out_in), against all of the other operand.
  int64_t dwRows = inOut ? in : out, dwCols = inOut ? out : in;
  const float *a = inOut ? x : dy, *b = inOut ? dy : x;
  parallelFor(dwRows, 32, [&](int64_t begin, int64_t end) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, end - begin, dwCols,
                rows, 1.0f, a + begin, dwRows, b, dwCols,
                addInto ? 1.0f : 0.0f, dw + begin * dwCols, dwCols);
  });
}

void cpu::sumRows(const float *x, int64_t rows, int64_t n, float *out) {
  parallelFor(n, 256, [&](int64_t begin, int64_t end) {
    std::fill(out + begin, out + end, 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
      const float *row = x + r * n;
      for (int64_t j = begin; j < end; ++j)
        out[j] += row[j];
    }
  });
}

void cpu::embeddingGrad(const float *grad, const int32_t *ids, int64_t count,
                        int64_t hidden, int64_t rowBegin, int64_t localRows,
                        float *table, bool addInto) {
  // Threads own column blocks, so two tokens with one id never race.
  parallelFor(hidden, 64, [&](int64_t begin, int64_t end) {
    for (int64_t r = 0; r < localRows && !addInto; ++r)
      std::fill(table + r * hidden + begin, table + r * hidden + end, 0.0f);
    for (int64_t i = 0; i < count; ++i) {
      int64_t row = int64_t(ids[i]) - rowBegin;
      if (row < 0 || row >= localRows)
        continue;
      const float *g = grad + i * hidden;
      float *t = table + row * hidden;
      for (int64_t j = begin; j < end; ++j)
        t[j] += g[j];
    }
  });
}

void cpu::geluTanhGrad(const float *x, const float *dy, int64_t n,
                       float *dx) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::geluTanhGrad(x + begin, dy + begin, end - begin, dx + begin);
  });
}

void cpu::siluGrad(const float *x, const float *dy, int64_t n, float *dx) {
  parallelFor(n, kElementGrain, [&](int64_t begin, int64_t end) {
    vec::siluGrad(x + begin, dy + begin, end - begin, dx + begin);
  });
}

void cpu::normGrad(const float *x, const float *dy, const float *scale,
                   int64_t rows, int64_t hidden, float eps, bool centered,
                   float *dx) {
  // With xhat = (x - mean) rstd and g = dy * scale:
  // dx = rstd (g - mean(g) - xhat mean(g xhat)), without mean(g) for RMS.
  std::vector<float> mean(rows), rstd(rows);
  rowStats(x, rows, hidden, eps, centered, mean.data(), rstd.data());
  parallelFor(rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float *xr = x + r * hidden, *dr = dy + r * hidden;
      double mu = mean[r], s = rstd[r];
      double meanG = 0, meanGx = 0;
      for (int64_t j = 0; j < hidden; ++j) {
        double g = double(dr[j]) * scale[j];
        meanG += g;
        meanGx += g * (xr[j] - mu) * s;
      }
      meanG = centered ? meanG / double(hidden) : 0.0;
      meanGx /= double(hidden);
      float *out = dx + r * hidden;
      for (int64_t j = 0; j < hidden; ++j) {
        double g = double(dr[j]) * scale[j];
        double xhat = (xr[j] - mu) * s;
        out[j] = float(s * (g - meanG - xhat * meanGx));
      }
    }
  });
}

void cpu::normScaleGrad(const float *x, const float *dy, int64_t rows,
                        int64_t hidden, float eps, bool centered,
                        float *dscale) {
  std::vector<float> mean(rows), rstd(rows);
  rowStats(x, rows, hidden, eps, centered, mean.data(), rstd.data());
  parallelFor(hidden, 64, [&](int64_t begin, int64_t end) {
    std::vector<double> sum(end - begin, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float *xr = x + r * hidden, *dr = dy + r * hidden;
      for (int64_t j = begin; j < end; ++j)
        sum[j - begin] += double(dr[j]) * (xr[j] - mean[r]) * rstd[r];
    }
    for (int64_t j = begin; j < end; ++j)
      dscale[j] = float(sum[j - begin]);
  });
}

void cpu::attentionGrad(const float *q, const float *k, const float *v,
                        const float *dout, int64_t batch, int64_t seq,
                        int64_t qHeads, int64_t kvHeads, int64_t headDim,
                        int64_t qHeadBegin, int64_t kvHeadBegin,
                        int64_t groups, int64_t window, float *dq, float *dk,
                        float *dv) {
  // One task per (sequence, KV head): it owns that head's dk and dv and
  // handles every query head that reads it. Per query head, with
  // P = softmax(mask(Q K^T s)): dV += P^T dO, dP = dO V^T,
  // dS = P (dP - rowsum(P dP)) s, dQ = dS K, dK += dS^T Q.
  const int64_t qStride = qHeads * headDim, kvStride = kvHeads * headDim;
  const float scale = 1.0f / std::sqrt(float(headDim));
  const float lowest = -std::numeric_limits<float>::infinity();
  parallelFor(batch * kvHeads, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> p(seq * seq), dp(seq * seq);
    for (int64_t task = begin; task < end; ++task) {
      int64_t b = task / kvHeads, kvh = task % kvHeads;
      const float *kb = k + b * seq * kvStride + kvh * headDim;
      const float *vb = v + b * seq * kvStride + kvh * headDim;
      float *dkb = dk + b * seq * kvStride + kvh * headDim;
      float *dvb = dv + b * seq * kvStride + kvh * headDim;
      for (int64_t i = 0; i < seq; ++i) {
        std::fill(dkb + i * kvStride, dkb + i * kvStride + headDim, 0.0f);
        std::fill(dvb + i * kvStride, dvb + i * kvStride + headDim, 0.0f);
      }
      for (int64_t h = 0; h < qHeads; ++h) {
        if ((qHeadBegin + h) / groups - kvHeadBegin != kvh)
          continue;
        const float *qb = q + b * seq * qStride + h * headDim;
        const float *dob = dout + b * seq * qStride + h * headDim;
        float *dqb = dq + b * seq * qStride + h * headDim;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq,
                    headDim, scale, qb, qStride, kb, kvStride, 0.0f, p.data(),
                    seq);
        for (int64_t i = 0; i < seq; ++i) {
          float *row = p.data() + i * seq;
          float max = lowest;
          for (int64_t j = 0; j < seq; ++j) {
            bool masked = j > i || (window > 0 && i - j >= window);
            if (masked)
              row[j] = lowest;
            max = std::max(max, row[j]);
          }
          double sum = 0;
          for (int64_t j = 0; j < seq; ++j) {
            row[j] = row[j] == lowest ? 0.0f : std::exp(row[j] - max);
            sum += row[j];
          }
          for (int64_t j = 0; j < seq; ++j)
            row[j] = float(row[j] / sum);
        }
        // dV += P^T dO; dP = dO V^T.
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq, headDim,
                    seq, 1.0f, p.data(), seq, dob, qStride, 1.0f, dvb,
                    kvStride);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, seq, seq,
                    headDim, 1.0f, dob, qStride, vb, kvStride, 0.0f,
                    dp.data(), seq);
        for (int64_t i = 0; i < seq; ++i) {
          const float *pr = p.data() + i * seq;
          float *dr = dp.data() + i * seq;
          double dot = 0;
          for (int64_t j = 0; j <= i; ++j)
            dot += double(pr[j]) * dr[j];
          for (int64_t j = 0; j < seq; ++j)
            dr[j] = pr[j] * (dr[j] - float(dot)) * scale;
        }
        // dQ = dS K; dK += dS^T Q.
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, seq, headDim,
                    seq, 1.0f, dp.data(), seq, kb, kvStride, 0.0f, dqb,
                    qStride);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, seq, headDim,
                    seq, 1.0f, dp.data(), seq, qb, qStride, 1.0f, dkb,
                    kvStride);
      }
    }
  });
}

void cpu::rowMax(const float *logits, int64_t rows, int64_t localVocab,
                 float *max) {
  parallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      max[r] = vec::maxOf(logits + r * localVocab, localVocab);
  });
}

void cpu::sumExpAndTarget(const float *logits, int64_t rows,
                          int64_t localVocab, int64_t vocabBegin,
                          const float *max, const int32_t *targets,
                          float *sumExp, float *target) {
  parallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(localVocab));
    for (int64_t r = begin; r < end; ++r) {
      const float *logit = logits + r * localVocab;
      std::copy(logit, logit + localVocab, row.data());
      sumExp[r] = vec::expShifted(row.data(), localVocab, max[r]);
      int64_t t = int64_t(targets[r]) - vocabBegin;
      target[r] = t >= 0 && t < localVocab ? logit[t] : 0.0f;
    }
  });
}

void cpu::crossEntropyGrad(const float *logits, int64_t rows,
                           int64_t localVocab, int64_t vocabBegin,
                           const int32_t *targets, const float *lse,
                           const float *dloss, int64_t ignoreIndex,
                           float *dlogits) {
  parallelFor(rows, 4, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float *row = logits + r * localVocab;
      float *out = dlogits + r * localVocab;
      if (targets[r] == ignoreIndex) {
        std::fill(out, out + localVocab, 0.0f);
        continue;
      }
      // dloss * softmax, minus dloss at the target.
      std::copy(row, row + localVocab, out);
      vec::expShifted(out, localVocab, lse[r]);
      vec::scale(out, localVocab, dloss[r]);
      int64_t t = int64_t(targets[r]) - vocabBegin;
      if (t >= 0 && t < localVocab)
        out[t] -= dloss[r];
    }
  });
}
